// distill/history.h: an epoch record survives JSON exactly (terms by name), bad records are
// ValueErrors naming the field, and metrics.csv keeps its columns aligned when records come back
// from JSON with their terms in another (sorted) order.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/error.h"
#include "distill/history.h"
#include "tests/support/temp_dir.h"
#include "tests/support/checks.h"

namespace kdcu {
namespace {

namespace fs = std::filesystem;
using distill::EpochRecord;
using testing::throws_with;

struct TempDir : testing::TempDir {
  TempDir() : testing::TempDir("history") {}
};

EpochRecord record(std::int64_t epoch) {
  EpochRecord r;
  r.epoch = epoch;
  r.lr = 0.1 / 3.0 * static_cast<double>(epoch);
  r.temperature = 4.0;
  r.kd_weight = 0.9;
  r.train_loss = 1.0 / 7.0 + static_cast<double>(epoch);
  r.train_terms = {{"kd", 0.25 * static_cast<double>(epoch)},
                   {"ce", 2.0 + static_cast<double>(epoch)},
                   {"hint@conv2=layer3:1", 100.0 + static_cast<double>(epoch)}};
  r.train_accuracy = 0.6 + 0.01 * static_cast<double>(epoch);
  r.eval_loss = 0.3 + static_cast<double>(epoch);
  r.eval_accuracy = 0.5 + 0.01 * static_cast<double>(epoch);
  r.train_seconds = 1.5;
  r.eval_seconds = 0.25;
  r.images_per_second = 12345.678;
  return r;
}

double term_of(const EpochRecord& r, const std::string& name) {
  for (const auto& [n, v] : r.train_terms)
    if (n == name) return v;
  return std::nan("");
}

std::vector<std::string> split(const std::string& line) {
  std::vector<std::string> out;
  std::stringstream ss(line);
  std::string cell;
  while (std::getline(ss, cell, ',')) out.push_back(cell);
  return out;
}

std::vector<std::vector<std::string>> read_csv(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::vector<std::string>> rows;
  std::string line;
  while (std::getline(in, line)) rows.push_back(split(line));
  return rows;
}

TEST(DistillHistory, JsonRoundTrip) {
  const EpochRecord r = record(3);
  const nlohmann::ordered_json j = distill::to_json(r);
  EXPECT_EQ(j.at("epoch"), 3);
  EXPECT_TRUE(j.at("train_terms").is_object());
  // Through text, as the files hold it: every double back exactly.
  const EpochRecord b = distill::epoch_from_json(nlohmann::ordered_json::parse(j.dump()));
  EXPECT_EQ(b.epoch, r.epoch);
  EXPECT_EQ(b.lr, r.lr);
  EXPECT_EQ(b.temperature, r.temperature);
  EXPECT_EQ(b.kd_weight, r.kd_weight);
  EXPECT_EQ(b.train_loss, r.train_loss);
  EXPECT_EQ(b.train_accuracy, r.train_accuracy);
  EXPECT_EQ(b.eval_loss, r.eval_loss);
  EXPECT_EQ(b.eval_accuracy, r.eval_accuracy);
  EXPECT_EQ(b.train_seconds, r.train_seconds);
  EXPECT_EQ(b.eval_seconds, r.eval_seconds);
  EXPECT_EQ(b.images_per_second, r.images_per_second);
  ASSERT_EQ(b.train_terms.size(), 3u);
  for (const auto& [n, v] : r.train_terms) EXPECT_EQ(term_of(b, n), v) << n;
  // The order comes back as recorded (ordered_json), not sorted by name.
  for (size_t i = 0; i < r.train_terms.size(); ++i) EXPECT_EQ(b.train_terms[i].first, r.train_terms[i].first);

  const std::vector<EpochRecord> h = {record(1), record(2)};
  const std::vector<EpochRecord> back =
      distill::history_from_json(nlohmann::ordered_json::parse(distill::history_to_json(h).dump()));
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[1].train_loss, h[1].train_loss);
  EXPECT_TRUE(distill::history_from_json(nlohmann::json::array()).empty());
  // A record written before train accuracy was logged reads back with NaN there.
  nlohmann::ordered_json old = distill::to_json(record(1));
  old.erase("train_accuracy");
  EXPECT_TRUE(std::isnan(distill::epoch_from_json(old).train_accuracy));
}

TEST(DistillHistory, BadRecordsNameTheField) {
  const nlohmann::ordered_json good = distill::to_json(record(1));
  nlohmann::ordered_json j = good;
  j.erase("lr");
  EXPECT_TRUE(
      throws_with<ValueError>([&] { (void)distill::epoch_from_json(j); }, "field 'lr' is missing or not a number"));
  j = good;
  j["eval_accuracy"] = "high";
  EXPECT_TRUE(throws_with<ValueError>([&] { (void)distill::epoch_from_json(j); }, "field 'eval_accuracy'"));
  j = good;
  j.erase("train_terms");
  EXPECT_TRUE(throws_with<ValueError>([&] { (void)distill::epoch_from_json(j); }, "'train_terms' is missing"));
  j = good;
  j["train_terms"] = nlohmann::json::array();
  EXPECT_TRUE(throws_with<ValueError>([&] { (void)distill::epoch_from_json(j); }, "not an object"));
  j = good;
  j["train_terms"]["kd"] = "x";
  EXPECT_TRUE(throws_with<ValueError>([&] { (void)distill::epoch_from_json(j); }, "train term 'kd' is not a number"));
  EXPECT_TRUE(
      throws_with<ValueError>([&] { (void)distill::epoch_from_json(nlohmann::json::array()); }, "field 'epoch'"));
  EXPECT_TRUE(throws_with<ValueError>([&] { (void)distill::history_from_json(good); }, "expected a JSON array"));
}

TEST(DistillHistory, CsvColumnsStayAlignedAcrossTermOrders) {
  TempDir tmp;
  const std::string dir = tmp.path.string();
  // Epoch 1 as recorded (kd, ce, hint), epoch 2 back from JSON (ce, hint, kd).
  const std::vector<EpochRecord> h = {
      record(1), distill::epoch_from_json(nlohmann::ordered_json::parse(distill::to_json(record(2)).dump()))};
  distill::write_metrics(dir, h);
  const auto rows = read_csv(dir + "/metrics.csv");
  ASSERT_EQ(rows.size(), 3u);
  const std::vector<std::string> header = rows[0];
  EXPECT_EQ(header, (std::vector<std::string>{"epoch", "lr", "temperature", "kd_weight", "train_loss", "train_kd",
                                              "train_ce", "train_hint@conv2=layer3:1", "train_accuracy", "eval_loss",
                                              "eval_accuracy",
                                              "train_seconds", "eval_seconds", "images_per_second"}));
  for (size_t r = 1; r < rows.size(); ++r) {
    SCOPED_TRACE(r);
    ASSERT_EQ(rows[r].size(), header.size());
    const EpochRecord want = record(static_cast<std::int64_t>(r));
    const auto col = [&](const std::string& name) {
      for (size_t i = 0; i < header.size(); ++i)
        if (header[i] == name) return std::stod(rows[r][i]);
      return std::nan("");
    };
    const auto near = [](double a, double b) { return std::abs(a - b) <= 1e-7 * std::abs(b); };  // 8 digits
    EXPECT_EQ(col("epoch"), static_cast<double>(want.epoch));
    EXPECT_TRUE(near(col("lr"), want.lr));
    EXPECT_TRUE(near(col("train_loss"), want.train_loss));
    EXPECT_TRUE(near(col("train_kd"), term_of(want, "kd"))) << col("train_kd");
    EXPECT_TRUE(near(col("train_ce"), term_of(want, "ce"))) << col("train_ce");
    EXPECT_TRUE(near(col("train_hint@conv2=layer3:1"), term_of(want, "hint@conv2=layer3:1")));
    EXPECT_TRUE(near(col("eval_accuracy"), want.eval_accuracy));
    EXPECT_TRUE(near(col("train_accuracy"), want.train_accuracy));
    EXPECT_TRUE(near(col("images_per_second"), want.images_per_second));
  }
  // metrics.jsonl: one record per line, each reading back.
  std::ifstream in(dir + "/metrics.jsonl");
  std::string line;
  std::int64_t n = 0;
  while (std::getline(in, line)) EXPECT_EQ(distill::epoch_from_json(nlohmann::ordered_json::parse(line)).epoch, ++n);
  EXPECT_EQ(n, 2);
  // Rewriting replaces the files; an empty history leaves a header only.
  distill::write_metrics(dir, {});
  EXPECT_EQ(read_csv(dir + "/metrics.csv").size(), 1u);
  EXPECT_EQ(fs::file_size(dir + "/metrics.jsonl"), 0u);
  // A term missing from a later record leaves its cell empty, the other columns in place.
  EpochRecord partial = record(2);
  partial.train_terms.erase(partial.train_terms.begin());  // no kd
  distill::write_metrics(dir, {record(1), partial});
  const auto rows2 = read_csv(dir + "/metrics.csv");
  ASSERT_EQ(rows2.size(), 3u);
  std::ifstream in2(dir + "/metrics.csv");
  std::string l1, l2, l3;
  std::getline(in2, l1);
  std::getline(in2, l2);
  std::getline(in2, l3);
  EXPECT_NE(l3.find(",,"), std::string::npos) << l3;
  EXPECT_EQ(std::count(l3.begin(), l3.end(), ','), std::count(l1.begin(), l1.end(), ','));
}

// The column order follows the first record's term order, so the same run's metrics.csv has its
// term columns in another order after a resume (the resumed history comes back from JSON, sorted).
TEST(DistillHistory, CsvColumnOrderSurvivesJson) {
  TempDir tmp;
  const std::string a = (tmp.path / "a").string(), b = (tmp.path / "b").string();
  fs::create_directories(a);
  fs::create_directories(b);
  const std::vector<EpochRecord> h = {record(1), record(2)};
  distill::write_metrics(a, h);
  distill::write_metrics(b,
                         distill::history_from_json(nlohmann::ordered_json::parse(distill::history_to_json(h).dump())));
  const auto ha = read_csv(a + "/metrics.csv")[0], hb = read_csv(b + "/metrics.csv")[0];
  EXPECT_EQ(ha, hb);
}

}  // namespace
}  // namespace kdcu
