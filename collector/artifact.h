#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "collector/trace_state.h"
#include "collector/trace_store.h"
#include "meshtrace/v1/artifact.pb.h"
#include "meshtrace/v1/query.pb.h"

namespace meshtrace::collector {

struct ArtifactOptions {
  Timeouts timeouts;
  // The runtime socket named in replay commands (the Asya default).
  std::string runtime_socket = "/var/run/asya/asya-runtime.sock";
};

// Builds the execution artifact of one trace from its stored events (captures filled in):
// hops per envelope, actor and attempt with timings corrected for clock skew, edges, anomalies,
// the planned and the taken route, and a replay command per failed hop. The verdict is the
// stored one when given (the assembler's decision), else evaluated at `now_ns`.
v1::TraceArtifact BuildArtifact(const std::string& trace_id, const std::vector<StoredEvent>& events,
                                const std::optional<v1::TraceSummary>& stored, int64_t now_ns,
                                const ArtifactOptions& options);

// The JSON forms served by the HTTP API. Captures are embedded as JSON when they parse, else
// as text; times as RFC 3339 plus nanoseconds; durations in milliseconds.
nlohmann::json ArtifactJson(const v1::TraceArtifact& artifact);
nlohmann::json CaptureJson(const v1::Capture& capture);
nlohmann::json HopJson(const v1::Hop& hop);

}  // namespace meshtrace::collector
