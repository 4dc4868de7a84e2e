// A run's per-epoch records as JSON (one object per epoch) and the metrics files written beside
// its checkpoints: metrics.jsonl (one line per epoch) and metrics.csv (a header, one row per
// epoch). JSON objects keep their insertion order (ordered_json), so a record read back lists its
// loss terms in the order they were computed, and a resumed run's columns stay in that order.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "distill/trainer.h"

namespace kdcu {
namespace distill {

nlohmann::ordered_json to_json(const EpochRecord& r);
// ValueError naming the missing or mistyped field.
EpochRecord epoch_from_json(const nlohmann::ordered_json& j);

nlohmann::ordered_json history_to_json(const std::vector<EpochRecord>& history);
std::vector<EpochRecord> history_from_json(const nlohmann::ordered_json& j);

// Rewrites `dir`/metrics.jsonl and `dir`/metrics.csv from the whole history, atomically.
void write_metrics(const std::string& dir, const std::vector<EpochRecord>& history);

}  // namespace distill
}  // namespace kdcu
