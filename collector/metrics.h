#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/time/time.h"

namespace meshtrace::collector {

// meshtrace_collector_* (DESIGN.md §7). No label holds an id: reasons are a fixed set,
// verdicts and outcomes are enums, actors are the mesh's actor names. Thread-safe.
class CollectorMetrics {
 public:
  CollectorMetrics();
  ~CollectorMetrics();

  void Ingested(uint64_t n);
  void Duplicates(uint64_t n);
  void Rejected(const std::string& reason, uint64_t n = 1);
  // Open traces held by one writer shard (the gauge shows the sum).
  void SetOpenTraces(size_t shard, size_t n);
  void Settled(const std::string& verdict, const std::string& outcome);
  void StalledTransit(const std::string& from_actor, const std::string& to_actor);
  void IngestBatch(absl::Duration received_to_ack);
  void StoreWrite(absl::Duration write, size_t events);
  void HttpRequest(const std::string& route, int status);

  // The Prometheus text exposition.
  std::string Render() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace meshtrace::collector
