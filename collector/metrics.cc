#include "collector/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <array>
#include <atomic>
#include <map>

#include "absl/synchronization/mutex.h"

namespace meshtrace::collector {

using prometheus::Counter;
using prometheus::Family;
using prometheus::Gauge;
using prometheus::Histogram;

namespace {
const Histogram::BucketBoundaries kLatencyBuckets = {.0005, .001, .0025, .005, .01, .025,
                                                     .05,   .1,   .25,   .5,   1,   2.5};
}  // namespace

struct CollectorMetrics::Impl {
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  Family<Counter>& ingested = prometheus::BuildCounter()
                                  .Name("meshtrace_collector_events_ingested_total")
                                  .Help("Lifecycle events stored (after deduplication)")
                                  .Register(*registry);
  Family<Counter>& duplicates = prometheus::BuildCounter()
                                    .Name("meshtrace_collector_events_duplicate_total")
                                    .Help("Lifecycle events dropped as already stored (resends)")
                                    .Register(*registry);
  Family<Counter>& rejected = prometheus::BuildCounter()
                                  .Name("meshtrace_collector_events_rejected_total")
                                  .Help("Lifecycle events refused, by reason")
                                  .Register(*registry);
  Family<Gauge>& open = prometheus::BuildGauge()
                            .Name("meshtrace_collector_traces_open")
                            .Help("Traces with a branch still in flight")
                            .Register(*registry);
  Family<Counter>& settled = prometheus::BuildCounter()
                                 .Name("meshtrace_collector_traces_settled_total")
                                 .Help("Traces that left the open state, by verdict and outcome")
                                 .Register(*registry);
  Family<Counter>& stalled = prometheus::BuildCounter()
                                 .Name("meshtrace_collector_stalled_transits_total")
                                 .Help("Envelopes sent but never received within the stall timeout")
                                 .Register(*registry);
  Family<Histogram>& batch = prometheus::BuildHistogram()
                                 .Name("meshtrace_collector_ingest_batch_seconds")
                                 .Help("From a batch read off the stream to its ack")
                                 .Register(*registry);
  Family<Histogram>& write = prometheus::BuildHistogram()
                                 .Name("meshtrace_collector_store_write_seconds")
                                 .Help("One durable (synced) store write")
                                 .Register(*registry);
  Family<Counter>& write_events = prometheus::BuildCounter()
                                      .Name("meshtrace_collector_store_written_events_total")
                                      .Help("Events written by store writes")
                                      .Register(*registry);
  Family<Counter>& http = prometheus::BuildCounter()
                              .Name("meshtrace_collector_http_requests_total")
                              .Help("HTTP API requests by route and status code")
                              .Register(*registry);
  Counter& ingested_c = ingested.Add({});
  Counter& duplicates_c = duplicates.Add({});
  Gauge& open_g = open.Add({});
  Histogram& batch_h = batch.Add({}, kLatencyBuckets);
  Histogram& write_h = write.Add({}, kLatencyBuckets);
  Counter& write_events_c = write_events.Add({});
  static constexpr size_t kMaxShards = 16;
  std::array<std::atomic<size_t>, kMaxShards> open_per_shard{};
};

CollectorMetrics::CollectorMetrics() : impl_(std::make_unique<Impl>()) {
  // Known reasons start at zero so that rate() works from the first rejection.
  for (const char* reason : {"missing_source_id", "missing_sequence", "missing_trace_id",
                             "missing_envelope_id", "missing_actor", "missing_body", "bad_id",
                             "bad_time", "bad_routed", "event_too_large", "unauthenticated"}) {
    impl_->rejected.Add({{"reason", reason}});
  }
}
CollectorMetrics::~CollectorMetrics() = default;

void CollectorMetrics::Ingested(uint64_t n) { impl_->ingested_c.Increment(static_cast<double>(n)); }
void CollectorMetrics::Duplicates(uint64_t n) {
  impl_->duplicates_c.Increment(static_cast<double>(n));
}
void CollectorMetrics::Rejected(const std::string& reason, uint64_t n) {
  impl_->rejected.Add({{"reason", reason}}).Increment(static_cast<double>(n));
}
void CollectorMetrics::SetOpenTraces(size_t shard, size_t n) {
  std::atomic<size_t>& slot = impl_->open_per_shard[shard % Impl::kMaxShards];
  slot.store(n);
  size_t total = 0;
  for (const auto& s : impl_->open_per_shard) total += s.load();
  impl_->open_g.Set(static_cast<double>(total));
}
void CollectorMetrics::Settled(const std::string& verdict, const std::string& outcome) {
  impl_->settled.Add({{"verdict", verdict}, {"outcome", outcome}}).Increment();
}
void CollectorMetrics::StalledTransit(const std::string& from_actor, const std::string& to_actor) {
  impl_->stalled.Add({{"from_actor", from_actor}, {"to_actor", to_actor}}).Increment();
}
void CollectorMetrics::IngestBatch(absl::Duration d) {
  impl_->batch_h.Observe(absl::ToDoubleSeconds(d));
}
void CollectorMetrics::StoreWrite(absl::Duration d, size_t events) {
  impl_->write_h.Observe(absl::ToDoubleSeconds(d));
  impl_->write_events_c.Increment(static_cast<double>(events));
}
void CollectorMetrics::HttpRequest(const std::string& route, int status) {
  impl_->http.Add({{"route", route}, {"code", std::to_string(status)}}).Increment();
}

std::string CollectorMetrics::Render() const {
  return prometheus::TextSerializer().Serialize(impl_->registry->Collect());
}

}  // namespace meshtrace::collector
