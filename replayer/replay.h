#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/runtime_client.h"
#include "meshtrace/v1/artifact.pb.h"

namespace meshtrace::replayer {

constexpr char kReplayHeaderName[] = "x-meshtrace-replay";

// The outcome of replaying one captured hop against a runtime.
struct ReplayResult {
  std::string trace_id;
  std::string actor;
  std::string envelope_id;
  int attempt = 0;
  std::string replay_id;  // the x-meshtrace-replay value sent
  std::string refused;    // non-empty: not replayed, and why
  bool dry_run = false;
  std::string sent;  // the envelope sent (or that would be sent)
  // What happened originally.
  bool original_failed = false;
  int original_http = 0;
  std::string original_error;  // "ValueError: ..."
  int original_outputs = 0;
  // What happens now.
  RuntimeReply reply;
  bool now_succeeds = false;
  bool same = false;                 // frames equal the original outputs (route + payload)
  std::vector<std::string> changes;  // per frame: "frame 1 $.payload.x: 1 → 2", "2 frames, was 1"
};

// True for a hop that failed: an error, a rejection, or an output to x-sump / phase failed.
// End-actor hops (x-sink / x-sump consuming) are not failed hops.
bool IsFailedHop(const v1::Hop& hop);

// The hops to replay: those of `envelope_id` (and `actor` if given), else those at `actor`,
// else every failed hop. End-actor hops (x-sink/x-sump consuming) are never chosen.
std::vector<const v1::Hop*> SelectHops(const v1::TraceArtifact& trace,
                                       const std::string& envelope_id, const std::string& actor);

// Why a capture cannot be replayed faithfully: truncated, payload not captured, or redacted
// fields (unless `allow_redacted`), naming the fields. OK when it can.
absl::Status CheckReplayable(const v1::Capture& input, bool allow_redacted);

// The captured input with headers["x-meshtrace-replay"] = `replay_id`, everything else as
// captured. InvalidArgument when the capture is not a JSON object.
absl::StatusOr<std::string> ReplayEnvelope(const v1::Capture& input, const std::string& replay_id);

// Replays `hop` through `runtime` (nullptr with `dry_run`) and compares with the original.
ReplayResult ReplayHop(const std::string& trace_id, const v1::Hop& hop, RuntimeClient* runtime,
                       absl::Duration timeout, bool dry_run, bool allow_redacted);

nlohmann::json ReplayResultJson(const ReplayResult& result);

}  // namespace meshtrace::replayer
