#include "common/trace_view.h"

#include "absl/time/time.h"
#include "common/clock.h"

namespace meshtrace {

const char* VerdictName(v1::Verdict verdict) {
  switch (verdict) {
    case v1::VERDICT_OPEN:
      return "open";
    case v1::VERDICT_COMPLETE:
      return "complete";
    case v1::VERDICT_STALLED:
      return "stalled";
    case v1::VERDICT_PARTIAL:
      return "partial";
    default:
      return "unknown";
  }
}

const char* OutcomeName(v1::Outcome outcome) {
  switch (outcome) {
    case v1::OUTCOME_SUCCEEDED:
      return "succeeded";
    case v1::OUTCOME_FAILED:
      return "failed";
    case v1::OUTCOME_MIXED:
      return "mixed";
    default:
      return "unknown";
  }
}

bool ParseVerdict(const std::string& name, v1::Verdict* out) {
  for (v1::Verdict v :
       {v1::VERDICT_OPEN, v1::VERDICT_COMPLETE, v1::VERDICT_STALLED, v1::VERDICT_PARTIAL}) {
    if (name == VerdictName(v)) {
      *out = v;
      return true;
    }
  }
  return false;
}

bool ParseOutcome(const std::string& name, v1::Outcome* out) {
  for (v1::Outcome o : {v1::OUTCOME_SUCCEEDED, v1::OUTCOME_FAILED, v1::OUTCOME_MIXED}) {
    if (name == OutcomeName(o)) {
      *out = o;
      return true;
    }
  }
  return false;
}

std::string TimeText(int64_t ns) { return ns == 0 ? "" : FormatRfc3339(absl::FromUnixNanos(ns)); }

nlohmann::json SummaryJson(const v1::TraceSummary& s) {
  nlohmann::json j = {{"trace_id", s.trace_id()},
                      {"verdict", VerdictName(s.verdict())},
                      {"outcome", OutcomeName(s.outcome())},
                      {"started_at", TimeText(s.started_at_ns())},
                      {"duration_ms", s.duration_ms()},
                      {"ended_at_actor", s.ended_at_actor()},
                      {"error_type", s.error_type()},
                      {"error_message", s.error_message()},
                      {"reason", s.reason()},
                      {"headline", s.headline()},
                      {"hops", s.hops()},
                      {"actors", std::vector<std::string>(s.actors().begin(), s.actors().end())}};
  if (s.tapped_hops() > 0) j["tapped_hops"] = s.tapped_hops();
  return j;
}

nlohmann::json DiffJson(const std::string& a, const std::string& b, const v1::DiffResponse& diff) {
  nlohmann::json differences = nlohmann::json::array();
  for (const v1::Difference& d : diff.differences()) {
    differences.push_back({{"kind", d.kind()},
                           {"actor", d.actor()},
                           {"lineage", d.lineage()},
                           {"path", d.path()},
                           {"a", d.a()},
                           {"b", d.b()}});
  }
  return {{"a", a}, {"b", b}, {"same", diff.same()}, {"differences", std::move(differences)}};
}

}  // namespace meshtrace
