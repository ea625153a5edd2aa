#include "tap/tap_metrics.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

namespace meshtrace::tap {
namespace {

using prometheus::Counter;
using prometheus::Family;
using prometheus::Gauge;
using prometheus::Histogram;

// The tap's own latency is microseconds; a slow forward (a full socket buffer) milliseconds.
const Histogram::BucketBoundaries kAddedBuckets = {5e-6, 1e-5, 2e-5, 5e-5,   1e-4, 2.5e-4,
                                                   5e-4, 1e-3, 5e-3, 2.5e-2, 0.1};

}  // namespace

struct TapMetrics::Families {
  Family<Counter>* requests;
  Family<Counter>* bytes;
  Family<Histogram>* added;
  Family<Counter>* connect_failures;
  Family<Counter>* faults;
  Family<Gauge>* connections;
  Family<Counter>* emitted;
  Family<Counter>* dropped;
  Family<Gauge>* depth;
  Family<Counter>* capture;
  Histogram* added_hist;
};

TapMetrics::TapMetrics()
    : registry_(std::make_shared<prometheus::Registry>()), f_(std::make_unique<Families>()) {
  auto& r = *registry_;
  f_->requests = &prometheus::BuildCounter()
                      .Name("meshtrace_tap_requests_total")
                      .Help("Requests forwarded to the runtime, by outcome")
                      .Register(r);
  f_->bytes = &prometheus::BuildCounter()
                   .Name("meshtrace_tap_bytes_total")
                   .Help("Bytes forwarded, by direction (request: to the runtime)")
                   .Register(r);
  f_->added = &prometheus::BuildHistogram()
                   .Name("meshtrace_tap_added_latency_seconds")
                   .Help("The tap's own time in one /invoke exchange (connect and forwarding)")
                   .Register(r);
  f_->connect_failures = &prometheus::BuildCounter()
                              .Name("meshtrace_tap_upstream_connect_failures_total")
                              .Help("Connections to the runtime's socket that failed")
                              .Register(r);
  f_->faults = &prometheus::BuildCounter()
                    .Name("meshtrace_tap_protocol_faults_total")
                    .Help("Requests or replies that broke the protocol (forwarded as they were)")
                    .Register(r);
  f_->connections = &prometheus::BuildGauge()
                         .Name("meshtrace_tap_connections")
                         .Help("Client connections open")
                         .Register(r);
  f_->emitted = &prometheus::BuildCounter()
                     .Name("meshtrace_tap_events_emitted_total")
                     .Help("Lifecycle events acknowledged by the collector")
                     .Register(r);
  f_->dropped = &prometheus::BuildCounter()
                     .Name("meshtrace_tap_events_dropped_total")
                     .Help("Lifecycle events dropped, by reason")
                     .Register(r);
  f_->depth = &prometheus::BuildGauge()
                   .Name("meshtrace_tap_event_queue_depth")
                   .Help("Lifecycle events buffered, not yet acknowledged")
                   .Register(r);
  f_->capture = &prometheus::BuildCounter()
                     .Name("meshtrace_tap_capture_bytes_total")
                     .Help("Bytes of envelope captures put into events")
                     .Register(r);
  f_->added_hist = &f_->added->Add({}, kAddedBuckets);
  f_->connections->Add({});
  f_->emitted->Add({});
  f_->depth->Add({});
  f_->capture->Add({});
  f_->connect_failures->Add({});
}

TapMetrics::~TapMetrics() = default;

void TapMetrics::Exchange(const std::string& outcome, absl::Duration added) {
  f_->requests->Add({{"outcome", outcome}}).Increment();
  f_->added_hist->Observe(absl::ToDoubleSeconds(added));
}

void TapMetrics::OtherRequest() { f_->requests->Add({{"outcome", "other"}}).Increment(); }

void TapMetrics::Bytes(const std::string& direction, uint64_t n) {
  f_->bytes->Add({{"direction", direction}}).Increment(static_cast<double>(n));
}

void TapMetrics::UpstreamConnectFailure() { f_->connect_failures->Add({}).Increment(); }

void TapMetrics::ProtocolFault(const std::string& reason) {
  f_->faults->Add({{"reason", reason}}).Increment();
}

void TapMetrics::Connections(int64_t open) {
  f_->connections->Add({}).Set(static_cast<double>(open));
}

void TapMetrics::EventsEmitted(uint64_t n) {
  f_->emitted->Add({}).Increment(static_cast<double>(n));
}

void TapMetrics::EventsDropped(const std::string& reason, uint64_t n) {
  f_->dropped->Add({{"reason", reason}}).Increment(static_cast<double>(n));
}

void TapMetrics::EventQueueDepth(int64_t n) { queue_depth_.store(n, std::memory_order_relaxed); }

void TapMetrics::CaptureBytes(uint64_t n) {
  f_->capture->Add({}).Increment(static_cast<double>(n));
}

std::string TapMetrics::Render() const {
  f_->depth->Add({}).Set(static_cast<double>(queue_depth_.load(std::memory_order_relaxed)));
  return prometheus::TextSerializer().Serialize(registry_->Collect());
}

}  // namespace meshtrace::tap
