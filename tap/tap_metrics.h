#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/time/time.h"
#include "events/event_emitter.h"

namespace prometheus {
class Registry;
}  // namespace prometheus

namespace meshtrace::tap {

// meshtrace_tap_*: what the tap forwarded and what it cost, and its event pipeline. Not the
// asya_actor_* catalog: the stock sidecar beside it exports that. Thread-safe.
class TapMetrics : public events::EventMetrics {
 public:
  TapMetrics();
  ~TapMetrics() override;

  // One /invoke exchange ended with `outcome` (frames, no_content, handler_error, bad_reply,
  // upstream_unavailable, client_gone); `added` is the tap's own share of its latency.
  void Exchange(const std::string& outcome, absl::Duration added);
  void OtherRequest();  // a request that is not POST /invoke (e.g. GET /healthz), forwarded
  void Bytes(const std::string& direction, uint64_t n);  // "request" or "reply"
  void UpstreamConnectFailure();
  void ProtocolFault(const std::string& reason);
  void Connections(int64_t open);

  void EventsEmitted(uint64_t n) override;
  void EventsDropped(const std::string& reason, uint64_t n) override;
  void EventQueueDepth(int64_t n) override;
  void CaptureBytes(uint64_t n) override;

  // The Prometheus text exposition.
  std::string Render() const;

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  struct Families;
  std::unique_ptr<Families> f_;
  std::atomic<int64_t> queue_depth_{0};
};

}  // namespace meshtrace::tap
