#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "meshtrace/v1/artifact.pb.h"
#include "meshtrace/v1/query.pb.h"

namespace meshtrace {

// How verdicts, outcomes, times and trace rows read to people and scripts, the same in the
// collector's HTTP API and the CLI's JSON output.
const char* VerdictName(v1::Verdict verdict);  // "open", "complete", ...; "unknown"
const char* OutcomeName(v1::Outcome outcome);  // "succeeded", "failed", "mixed"; "unknown"
// Parses "complete", "failed", ...; false when the name is unknown.
bool ParseVerdict(const std::string& name, v1::Verdict* out);
bool ParseOutcome(const std::string& name, v1::Outcome* out);

// "2026-11-23T14:01:02.345Z" for a time in ns since the epoch ("" for 0).
std::string TimeText(int64_t ns);

// One row of a trace list.
nlohmann::json SummaryJson(const v1::TraceSummary& summary);

// The comparison of traces `a` and `b`: {a, b, same, differences: [{kind, actor, lineage,
// path, a, b}]}.
nlohmann::json DiffJson(const std::string& a, const std::string& b, const v1::DiffResponse& diff);

}  // namespace meshtrace
