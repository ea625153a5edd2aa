#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/time/time.h"
#include "common/clock.h"
#include "common/envelope.h"
#include "common/envelope_status.h"
#include "common/runtime_client.h"

namespace meshtrace::sidecar {

struct RouterConfig {
  std::string actor;
  std::string ns;
  std::string sink = "x-sink";
  std::string sump = "x-sump";
  size_t max_envelope_bytes = kDefaultMaxEnvelopeBytes;
};

// One envelope to send.
struct Outgoing {
  std::string topic;
  std::string to_actor;      // the logical actor behind the topic
  std::string message_type;  // routing, sink, sump (the asya metric label)
  Envelope envelope;
  std::string phase;   // status.phase of `envelope`
  std::string reason;  // status.reason of `envelope`
};

// An envelope that passed intake: parsed, validated, addressed to this actor, with its status
// stamped for processing and its trace identity settled.
struct Accepted {
  Envelope envelope;
  std::string trace_id;
  std::string incoming_status_json;
  EnvelopeStatus status;  // as stamped
  std::optional<absl::Time> deadline;
  // The envelope's fields of the sidecar's lifecycle events, encoded once (empty when the
  // events are off): trace id, envelope and parent ids, route.
  std::string event_fields;
};

// What to do with one message, and what to count.
struct Decision {
  std::vector<Outgoing> outgoing;
  std::string processed_status;    // messages_processed_total{status}; empty = not counted
  std::string failed_reason;       // messages_failed_total{reason}; empty = not a failure
  std::string runtime_error_type;  // runtime_errors_total{error_type}; empty = none
  std::optional<RuntimeError> error;
  std::string summary;      // one line for logs: what happened
  bool exit_after = false;  // runtime timeout: crash after routing (asya-protocol.md §2.6)
  bool paused = false;      // a frame carried x-asya-pause: nothing routed
};

// The sidecar's routing rules (asya-protocol.md §3 with meshtrace's choices of §12), free of
// I/O so every row of the outcome table is testable. Thread-compatible (const methods).
class Router {
 public:
  Router(RouterConfig config, Clock* clock);

  // Parses and validates one queue message. Returns the envelope stamped for processing, or
  // the decision for a message that cannot be processed (parse_error, validation_error,
  // route_mismatch: an error envelope to x-sump).
  std::variant<Accepted, Decision> Accept(std::string_view raw) const;

  // End-actor intake (x-sink / x-sump consume): any route is accepted; nothing is stamped.
  // Unparseable messages are counted and dropped (there is nowhere further to send them).
  std::variant<Accepted, Decision> AcceptAtEnd(std::string_view raw) const;

  // SLA: when `deadline_at` has passed or less than 1 s remains, the runtime must not be
  // called and the envelope goes to x-sink as failed/Timeout. Otherwise sets `*timeout` to
  // min(actor_timeout, deadline - now).
  std::optional<Decision> CheckDeadline(const Accepted& accepted, absl::Duration actor_timeout,
                                        absl::Duration* timeout) const;

  // Routes the runtime's reply.
  Decision Route(const Accepted& accepted, const RuntimeReply& reply) const;

  // An end actor consumed the envelope: nothing is routed.
  Decision Terminate(const Accepted& accepted, const RuntimeReply& reply) const;

  const RouterConfig& config() const { return config_; }

 private:
  Outgoing ToSump(const Envelope* original, std::string_view raw, std::string_view code,
                  const StatusError& error, std::string_view reason,
                  const EnvelopeStatus* status) const;
  EnvelopeStatus NextStatus(const EnvelopeStatus& current, std::string_view next_actor,
                            std::string_view phase, std::string_view reason) const;
  Decision Reject(std::string_view raw, const Envelope* parsed, std::string_view reason_label,
                  std::string_view status_reason, std::string message) const;

  RouterConfig config_;
  Clock* clock_;
};

}  // namespace meshtrace::sidecar
