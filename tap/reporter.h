#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/envelope.h"
#include "common/runtime_client.h"
#include "events/event_writer.h"

namespace meshtrace::tap {

// Which actor the tap stands in front of, and the names of the end actors.
struct TapIdentity {
  std::string actor;  // MESHTRACE_ACTOR; empty: each envelope's route.curr
  bool end_actor = false;
  std::string sink = "x-sink";
  std::string sump = "x-sump";
};

// One /invoke request as the tap reported it.
struct Invocation {
  bool reported = false;  // false: the body was not an envelope; nothing is reported of it
  Envelope envelope;
  std::string actor;
  std::string trace_id;
  std::string event_fields;  // EventWriter::EnvelopeFields of it
};

// How an /invoke exchange ended, as far as the tap can tell.
struct InvokeEnd {
  enum class Kind {
    kFrames,               // frames went onward (already reported one by one)
    kNoFrames,             // 204, or no frame: the input goes to x-sink
    kHandlerError,         // the input goes to x-sump
    kBadReply,             // garbage, a cut-off reply: x-sump
    kUpstreamUnavailable,  // the runtime's socket refused or was missing: x-sump
    kClientGone,           // the sidecar hung up first (its deadline): x-sump, and it exits
  };
  Kind kind = Kind::kBadReply;
  int http_status = 0;
  int frames = 0;
  std::optional<RuntimeError> error;
  absl::Duration duration;  // from the request's end to the reply's end
};

// The outcome label of `kind` for meshtrace_tap_requests_total.
const char* OutcomeName(InvokeEnd::Kind kind);

// Turns what passes through the tap into lifecycle events marked as observed by a tap, and
// infers from each reply, by the stock sidecar's rules (asya-pod.md §3), where the envelope
// went: those sends are `inferred` (the collector matches them against arrivals downstream).
// Thread-safe: connections report from their own threads.
class Reporter {
 public:
  Reporter(TapIdentity identity, std::unique_ptr<events::EventWriter> writer);

  // A complete POST /invoke request body, read at `at`.
  Invocation Received(std::string_view body, absl::Time at);
  // One downstream frame of the reply (index 0 keeps the input's id; later ones get fresh ids
  // from the sidecar, with the input as their parent).
  void Frame(const Invocation& in, std::string_view frame_json, int index, absl::Time at);
  // The exchange ended.
  void End(const Invocation& in, const InvokeEnd& end, absl::Time at);

  events::EventWriter& writer() { return *writer_; }
  const TapIdentity& identity() const { return identity_; }

 private:
  void EmitSend(const Invocation& in, std::string_view id, std::string_view to_actor,
                std::string_view message_type, std::string_view phase, std::string_view reason,
                int index, std::string_view capture_json, const Envelope* capture_parsed,
                absl::Time at) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void EmitTerminated(const Invocation& in, std::string_view phase, std::string_view reason,
                      const std::optional<RuntimeError>& error, absl::Time at)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const TapIdentity identity_;
  absl::Mutex mu_;
  std::unique_ptr<events::EventWriter> writer_ ABSL_GUARDED_BY(mu_);
};

}  // namespace meshtrace::tap
