#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "meshtrace/v1/events.pb.h"

namespace meshtrace::testing {

// Builds the lifecycle events sidecars emit for a trace, step by step, as the sidecar does:
// each actor's pod is one source with its own sequence; time advances 1 ms per event unless
// set. Captures are envelopes with the given payload and the route the runtime would give them
// (an output's prev gains the actor; curr is the next actor, "" towards x-sink).
// Thread-compatible.
class TraceBuilder {
 public:
  TraceBuilder(std::string trace_id, int64_t start_ns = 1'700'000'000'000'000'000);

  // `prev` non-empty or a parent marks a hop that has an upstream.
  TraceBuilder& Receive(const std::string& envelope_id, const std::string& actor,
                        const std::vector<std::string>& prev = {}, const std::string& parent = "",
                        int64_t offset = -1);
  TraceBuilder& Result(const std::string& envelope_id, const std::string& actor,
                       int http_status = 200, const std::string& error_type = "",
                       const std::string& message = "", int64_t duration_ns = 2'000'000);
  TraceBuilder& Route(const std::string& envelope_id, const std::string& actor,
                      const std::string& new_id, const std::string& to_actor,
                      const std::string& message_type = "routing",
                      const std::string& phase = "pending", const std::string& reason = "",
                      const std::string& parent = "");
  TraceBuilder& Terminate(const std::string& envelope_id, const std::string& actor,
                          const std::string& phase, const std::string& reason);
  TraceBuilder& Reject(const std::string& envelope_id, const std::string& actor,
                       const std::string& reason, const std::string& message);

  // A whole successful chain: the first envelope `id` goes through `actors` then x-sink.
  TraceBuilder& Chain(const std::string& id, const std::vector<std::string>& actors);

  // Marks the last received envelope as replayed/redriven (headers.x-meshtrace-replay).
  TraceBuilder& Replay(const std::string& replay_id);

  TraceBuilder& SetTime(int64_t ns);
  TraceBuilder& SetPayload(std::string payload_json);

  const std::vector<v1::LifecycleEvent>& events() const { return events_; }
  std::vector<v1::LifecycleEvent> Take() { return std::move(events_); }
  const std::string& trace_id() const { return trace_id_; }

 private:
  v1::LifecycleEvent& Next(const std::string& envelope_id, const std::string& actor);
  std::string CaptureJson(const std::string& id, const std::vector<std::string>& prev,
                          const std::string& curr) const;

  std::string trace_id_;
  int64_t now_;
  std::string payload_ = R"({"n":1})";
  std::map<std::string, uint64_t> sequences_;
  std::map<std::string, int64_t> offsets_;
  std::map<std::string, std::vector<std::string>> prev_;  // envelope \0 actor → route.prev
  std::vector<v1::LifecycleEvent> events_;
};

}  // namespace meshtrace::testing
