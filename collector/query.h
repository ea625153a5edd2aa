#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "collector/artifact.h"
#include "collector/trace_store.h"
#include "common/clock.h"
#include "meshtrace/v1/query.pb.h"

namespace meshtrace::collector {

// The read side shared by the gRPC Query service and the HTTP API: list, get (by trace or
// envelope id), one hop's captures, and the diff of two traces. Errors: InvalidArgument names
// the bad parameter, NotFound names the unknown id. Thread-safe.
class QueryEngine {
 public:
  QueryEngine(const TraceStore* store, ArtifactOptions options, Clock* clock);

  absl::StatusOr<v1::ListTracesResponse> List(const v1::ListTracesRequest& request) const;
  absl::StatusOr<v1::TraceArtifact> Get(const v1::GetTraceRequest& request) const;
  absl::StatusOr<v1::HopCapture> HopCapture(const v1::GetHopCaptureRequest& request) const;
  absl::StatusOr<v1::DiffResponse> Diff(const v1::DiffRequest& request) const;

  // The trace id of an id that is a trace id or an envelope id; NotFound otherwise.
  absl::StatusOr<std::string> ResolveTraceId(const std::string& id) const;

 private:
  const TraceStore* store_;
  ArtifactOptions options_;
  Clock* clock_;
};

// Aligns two traces by actor and envelope lineage (not position) and lists what differs:
// hop_missing / hop_added, reordered, status_changed, payload_changed (JSON paths, ids and
// timestamps ignored by default, plus `ignore_paths`), timing_changed (runtime more than 2x
// and 100 ms apart).
v1::DiffResponse DiffArtifacts(const v1::TraceArtifact& a, const v1::TraceArtifact& b,
                               const std::vector<std::string>& ignore_paths);

}  // namespace meshtrace::collector
