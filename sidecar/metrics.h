#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "events/event_emitter.h"

namespace prometheus {
class Registry;
class Counter;
class Gauge;
class Histogram;
template <typename T>
class Family;
}  // namespace prometheus

namespace meshtrace::sidecar {

// The Asya sidecar metric catalog (asya-protocol.md §5: same names, types, labels, label values
// and buckets, under `ns_prefix`, default "asya_actor") plus meshtrace_sidecar_* for the event
// pipeline. The per-envelope methods are called by the processing thread only; the event
// methods and Render() from any thread.
class SidecarMetrics : public events::EventMetrics {
 public:
  SidecarMetrics(std::string ns_prefix, std::string actor, std::string transport = "kafka");
  ~SidecarMetrics() override;

  void Received(size_t bytes, absl::Duration receive_wait);
  void Processed(const std::string& status);
  void Failed(const std::string& reason);
  void Sent(const std::string& destination_queue, const std::string& message_type, size_t bytes,
            absl::Duration send_time);
  void ProcessingTime(absl::Duration d);
  void RuntimeTime(absl::Duration d);
  void RuntimeError(const std::string& error_type);
  void SetActive(int64_t n);

  void EventsEmitted(uint64_t n) override;
  void EventsDropped(const std::string& reason, uint64_t n) override;
  void EventQueueDepth(int64_t n) override;
  void CaptureBytes(uint64_t n) override;  // from one thread (the processing loop)

  // The Prometheus text exposition of every metric.
  std::string Render() const;

 private:
  prometheus::Counter& CounterFor(prometheus::Family<prometheus::Counter>& family,
                                  std::map<std::string, prometheus::Counter*>& cache,
                                  const std::string& label, const std::string& value);

  std::string actor_;
  std::string transport_;
  std::shared_ptr<prometheus::Registry> registry_;
  struct Families;
  std::unique_ptr<Families> f_;
  // Set for every event, copied into its gauge when rendered: prometheus' Gauge::Set is a
  // sequentially consistent store, whose fence was a third of the cost of emitting an event.
  std::atomic<int64_t> event_queue_depth_{0};
  // Likewise the capture bytes (two captures per envelope): a Counter's Increment is a
  // compare-and-swap loop. One writer, so a relaxed load and store; Render adds what is new.
  std::atomic<uint64_t> capture_bytes_{0};
  mutable absl::Mutex render_mu_;
  mutable uint64_t capture_bytes_counted_ ABSL_GUARDED_BY(render_mu_) = 0;
};

}  // namespace meshtrace::sidecar
