#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

#include "absl/functional/function_ref.h"
#include "absl/time/time.h"

namespace meshtrace::events {

// Where the event pipeline counts what it did: the sidecar and the tap each export these under
// their own metric names. Thread-safe: called from the emitter's threads and the caller's.
class EventMetrics {
 public:
  virtual ~EventMetrics() = default;
  virtual void EventsEmitted(uint64_t n) = 0;
  virtual void EventsDropped(const std::string& reason, uint64_t n) = 0;
  virtual void EventQueueDepth(int64_t n) = 0;
  // Bytes of captures put into events (from one thread: the one that builds the events).
  virtual void CaptureBytes(uint64_t n) = 0;
};

struct EmitterOptions {
  std::string collector;         // gRPC host:port
  std::string token;             // bearer token, empty = none
  std::string tls_ca_pem;        // non-empty: TLS to the collector, trusting these CA certificates
  size_t buffer_events = 65536;  // queued + unacknowledged events at most
  // Their encoded bytes at most: with 64 KiB captures, 65,536 events would be ~4 GiB.
  size_t buffer_bytes = 32u << 20;
  // Events per batch at most (a batch is also sealed at 3 MiB, or every flush_interval). Fewer,
  // larger writes cost the sidecar less: 2,048 against 512 took ~0.4 us of CPU per envelope off
  // the events overhead in alternating sidecar_bench runs; with ~600-byte events the 3 MiB seal
  // comes first.
  size_t max_batch = 8192;
  // A batch not full by then is sent anyway. Each batch costs the sidecar a gRPC write and its
  // wake-ups: at 10,000 envelopes/s, 100 ms against 20 ms took the sender threads from 1.2-1.6
  // to 0.4-0.8 % of a core (~0.6 us per envelope). The collector sees an event within ~100 ms.
  absl::Duration flush_interval = absl::Milliseconds(100);
  absl::Duration max_backoff = absl::Seconds(2);
};

// Sends lifecycle events to the collector in the background. Emit() never blocks: events are
// encoded into a bounded buffer that a sender thread drains into `Collector.Ingest` batches;
// batches stay buffered until acknowledged and are resent after a reconnect (the collector drops
// duplicates). When the buffer is full (buffer_events events or buffer_bytes bytes), new events
// are dropped and counted (the `buffer_full` reason of EventMetrics::EventsDropped).
// Thread-safe.
class EventEmitter {
 public:
  virtual ~EventEmitter() = default;
  // Buffers one `LifecycleEvent` of `size` wire bytes, which `write` writes to the `size` bytes
  // it is given (in the open batch, under the emitter's lock: it must not block or emit) and
  // returns how many it wrote, at most `size`. An event that is not `size` bytes long is
  // dropped and counted (reason "encoding").
  virtual void Emit(size_t size, absl::FunctionRef<size_t(char*)> write) = 0;
  // Buffers one encoded `LifecycleEvent` (its wire bytes; the caller may reuse them).
  void Emit(std::string_view event) {
    Emit(event.size(), [event](char* out) {
      std::memcpy(out, event.data(), event.size());
      return event.size();
    });
  }
  // Sends what is buffered for up to `timeout`, then stops the sender. Events still
  // unacknowledged are dropped and counted (reason "shutdown").
  virtual void Stop(absl::Duration timeout) = 0;
  virtual uint64_t acknowledged() const = 0;
};

std::unique_ptr<EventEmitter> NewGrpcEventEmitter(const EmitterOptions& options,
                                                  EventMetrics* metrics);

}  // namespace meshtrace::events
