#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "meshtrace/v1/events.pb.h"

namespace meshtrace::testing {

// A real gRPC Collector server on loopback that records every event it receives and acks every
// batch (duplicates by (source_id, sequence) are counted, not stored). Thread-safe.
class CollectorStub {
 public:
  // Listens on 127.0.0.1:`port` (0 = any free port). Without `keep_events` it only counts
  // them (a load driver's stand-in collector: no copies of every capture).
  explicit CollectorStub(int port = 0, bool keep_events = true);
  ~CollectorStub();

  int port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

  std::vector<v1::LifecycleEvent> events() const;
  size_t count() const;  // distinct events received
  // Waits until at least `n` distinct events arrived; false on timeout.
  bool WaitForEvents(size_t n, absl::Duration timeout) const;
  size_t duplicates() const;
  size_t largest_batch_bytes() const;  // of the EventBatch messages received so far

 private:
  class Service;
  std::unique_ptr<Service> service_;
  struct Server;
  std::unique_ptr<Server> server_;
  int port_ = 0;
};

}  // namespace meshtrace::testing
