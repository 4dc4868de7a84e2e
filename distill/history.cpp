// Epoch records <-> JSON, and the metrics.jsonl / metrics.csv writers.
#include "distill/history.h"

#include <sstream>

#include "core/error.h"
#include "datasets/file_io.h"

namespace kdcu {
namespace distill {
namespace {

double number_field(const nlohmann::ordered_json& j, const char* key) {
  require<ValueError>(j.is_object() && j.contains(key) && j.at(key).is_number(), "epoch record: field '", key,
                      "' is missing or not a number in ", j.dump());
  return j.at(key).get<double>();
}

void write_text(const std::string& path, const std::string& text) {
  datasets::write_file_atomic(path, text.data(), text.size());
}

}  // namespace

nlohmann::ordered_json to_json(const EpochRecord& r) {
  nlohmann::ordered_json terms = nlohmann::ordered_json::object();
  for (const auto& [n, v] : r.train_terms) terms[n] = v;
  return {{"epoch", r.epoch},
          {"lr", r.lr},
          {"temperature", r.temperature},
          {"kd_weight", r.kd_weight},
          {"train_loss", r.train_loss},
          {"train_terms", terms},
          {"train_accuracy", r.train_accuracy},
          {"eval_loss", r.eval_loss},
          {"eval_accuracy", r.eval_accuracy},
          {"train_seconds", r.train_seconds},
          {"eval_seconds", r.eval_seconds},
          {"images_per_second", r.images_per_second}};
}

EpochRecord epoch_from_json(const nlohmann::ordered_json& j) {
  EpochRecord r;
  r.epoch = static_cast<std::int64_t>(number_field(j, "epoch"));
  r.lr = number_field(j, "lr");
  r.temperature = number_field(j, "temperature");
  r.kd_weight = number_field(j, "kd_weight");
  r.train_loss = number_field(j, "train_loss");
  // Absent from records written before it was logged (and null for NaN): NaN.
  r.train_accuracy = j.contains("train_accuracy") && j.at("train_accuracy").is_number()
                         ? j.at("train_accuracy").get<double>()
                         : std::nan("");
  r.eval_loss = number_field(j, "eval_loss");
  r.eval_accuracy = number_field(j, "eval_accuracy");
  r.train_seconds = number_field(j, "train_seconds");
  r.eval_seconds = number_field(j, "eval_seconds");
  r.images_per_second = number_field(j, "images_per_second");
  require<ValueError>(j.contains("train_terms") && j.at("train_terms").is_object(),
                      "epoch record: 'train_terms' is missing or not an object");
  // nlohmann's object iterates keys sorted; the record keeps them in that order.
  for (const auto& [k, v] : j.at("train_terms").items()) {
    require<ValueError>(v.is_number(), "epoch record: train term '", k, "' is not a number");
    r.train_terms.emplace_back(k, v.get<double>());
  }
  return r;
}

nlohmann::ordered_json history_to_json(const std::vector<EpochRecord>& history) {
  nlohmann::ordered_json a = nlohmann::ordered_json::array();
  for (const EpochRecord& r : history) a.push_back(to_json(r));
  return a;
}

std::vector<EpochRecord> history_from_json(const nlohmann::ordered_json& j) {
  require<ValueError>(j.is_array(), "history: expected a JSON array of epoch records");
  std::vector<EpochRecord> out;
  for (const auto& e : j) out.push_back(epoch_from_json(e));
  return out;
}

void write_metrics(const std::string& dir, const std::vector<EpochRecord>& history) {
  std::ostringstream jsonl, csv;
  // The columns are the first epoch's terms (every epoch of a run has the same), looked up by
  // name: a record read back from JSON lists its terms in another order.
  std::vector<std::string> names;
  if (!history.empty())
    for (const auto& [n, v] : history.front().train_terms) names.push_back(n);
  csv << "epoch,lr,temperature,kd_weight,train_loss";
  for (const std::string& n : names) csv << ",train_" << n;
  csv << ",train_accuracy,eval_loss,eval_accuracy,train_seconds,eval_seconds,images_per_second\n";
  csv.precision(8);
  for (const EpochRecord& r : history) {
    jsonl << to_json(r).dump() << "\n";
    csv << r.epoch << "," << r.lr << "," << r.temperature << "," << r.kd_weight << "," << r.train_loss;
    for (const std::string& n : names) {
      csv << ",";
      for (const auto& [m, v] : r.train_terms)
        if (m == n) csv << v;
    }
    csv << "," << r.train_accuracy << "," << r.eval_loss << "," << r.eval_accuracy << "," << r.train_seconds << "," << r.eval_seconds << ","
        << r.images_per_second << "\n";
  }
  write_text(datasets::join_path(dir, "metrics.jsonl"), jsonl.str());
  write_text(datasets::join_path(dir, "metrics.csv"), csv.str());
}

}  // namespace distill
}  // namespace kdcu
