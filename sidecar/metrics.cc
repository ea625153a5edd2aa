#include "sidecar/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

namespace meshtrace::sidecar {
namespace {

using prometheus::Counter;
using prometheus::Family;
using prometheus::Gauge;
using prometheus::Histogram;

const Histogram::BucketBoundaries kDurationBuckets = {.005, .01, .025, .05, .1, .25, .5,
                                                      1,    2.5, 5,    10,  30, 60,  120};
const Histogram::BucketBoundaries kReceiveBuckets = {.001, .005, .01, .025, .05, .1,
                                                     .25,  .5,   1,   2,    5,   10};
const Histogram::BucketBoundaries kSendBuckets = {.001, .005, .01, .025, .05, .1, .25, .5, 1, 2, 5};
const Histogram::BucketBoundaries kSizeBuckets = {1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9};

double Seconds(absl::Duration d) { return absl::ToDoubleSeconds(d); }

}  // namespace

struct SidecarMetrics::Families {
  Family<Counter>* received;
  Family<Counter>* processed;
  Family<Counter>* sent;
  Family<Counter>* failed;
  Family<Histogram>* processing;
  Family<Histogram>* runtime;
  Family<Histogram>* receive;
  Family<Histogram>* send;
  Family<Histogram>* size;
  Family<Gauge>* active;
  Family<Counter>* runtime_errors;
  Family<Counter>* events_emitted;
  Family<Counter>* events_dropped;
  Family<Gauge>* event_queue_depth;
  Family<Counter>* capture_bytes;

  Counter* received_counter;
  Histogram* processing_hist;
  Histogram* runtime_hist;
  Histogram* receive_hist;
  Histogram* size_received;
  Histogram* size_sent;
  Gauge* active_gauge;
  Counter* emitted_counter;
  Gauge* depth_gauge;
  Counter* capture_counter;

  std::map<std::string, Counter*> processed_cache, failed_cache, errors_cache;
  std::map<std::pair<std::string, std::string>, Counter*> sent_cache;
  std::map<std::string, Histogram*> send_cache;
};

SidecarMetrics::SidecarMetrics(std::string ns_prefix, std::string actor, std::string transport)
    : actor_(std::move(actor)),
      transport_(std::move(transport)),
      registry_(std::make_shared<prometheus::Registry>()),
      f_(std::make_unique<Families>()) {
  const std::string p = ns_prefix + "_";
  auto& r = *registry_;
  f_->received = &prometheus::BuildCounter()
                      .Name(p + "messages_received_total")
                      .Help("Total number of messages received from queue")
                      .Register(r);
  f_->processed = &prometheus::BuildCounter()
                       .Name(p + "messages_processed_total")
                       .Help("Total number of messages processed")
                       .Register(r);
  f_->sent = &prometheus::BuildCounter()
                  .Name(p + "messages_sent_total")
                  .Help("Total number of messages sent to queues")
                  .Register(r);
  f_->failed = &prometheus::BuildCounter()
                    .Name(p + "messages_failed_total")
                    .Help("Total number of failed messages")
                    .Register(r);
  f_->processing = &prometheus::BuildHistogram()
                        .Name(p + "processing_duration_seconds")
                        .Help("Total processing duration from receive to send")
                        .Register(r);
  f_->runtime = &prometheus::BuildHistogram()
                     .Name(p + "runtime_execution_duration_seconds")
                     .Help("Duration of runtime execution")
                     .Register(r);
  f_->receive = &prometheus::BuildHistogram()
                     .Name(p + "queue_receive_duration_seconds")
                     .Help("Time spent receiving from queue")
                     .Register(r);
  f_->send = &prometheus::BuildHistogram()
                  .Name(p + "queue_send_duration_seconds")
                  .Help("Time spent sending to queue")
                  .Register(r);
  f_->size = &prometheus::BuildHistogram()
                  .Name(p + "message_size_bytes")
                  .Help("Size of messages in bytes")
                  .Register(r);
  f_->active = &prometheus::BuildGauge()
                    .Name(p + "active_messages")
                    .Help("Number of messages currently being processed")
                    .Register(r);
  f_->runtime_errors = &prometheus::BuildCounter()
                            .Name(p + "runtime_errors_total")
                            .Help("Total number of runtime errors")
                            .Register(r);
  f_->events_emitted = &prometheus::BuildCounter()
                            .Name("meshtrace_sidecar_events_emitted_total")
                            .Help("Lifecycle events acknowledged by the collector")
                            .Register(r);
  f_->events_dropped = &prometheus::BuildCounter()
                            .Name("meshtrace_sidecar_events_dropped_total")
                            .Help("Lifecycle events dropped, by reason")
                            .Register(r);
  f_->event_queue_depth = &prometheus::BuildGauge()
                               .Name("meshtrace_sidecar_event_queue_depth")
                               .Help("Lifecycle events buffered, not yet acknowledged")
                               .Register(r);
  f_->capture_bytes = &prometheus::BuildCounter()
                           .Name("meshtrace_sidecar_capture_bytes_total")
                           .Help("Bytes of envelope captures put into lifecycle events")
                           .Register(r);

  f_->received_counter = &f_->received->Add({{"queue", actor_}, {"transport", transport_}});
  f_->processing_hist = &f_->processing->Add({{"queue", actor_}}, kDurationBuckets);
  f_->runtime_hist = &f_->runtime->Add({{"queue", actor_}}, kDurationBuckets);
  f_->receive_hist =
      &f_->receive->Add({{"queue", actor_}, {"transport", transport_}}, kReceiveBuckets);
  f_->size_received = &f_->size->Add({{"direction", "received"}}, kSizeBuckets);
  f_->size_sent = &f_->size->Add({{"direction", "sent"}}, kSizeBuckets);
  f_->active_gauge = &f_->active->Add({});
  f_->emitted_counter = &f_->events_emitted->Add({});
  f_->depth_gauge = &f_->event_queue_depth->Add({});
  f_->capture_counter = &f_->capture_bytes->Add({});
}

SidecarMetrics::~SidecarMetrics() = default;

Counter& SidecarMetrics::CounterFor(Family<Counter>& family, std::map<std::string, Counter*>& cache,
                                    const std::string& label, const std::string& value) {
  auto it = cache.find(value);
  if (it != cache.end()) return *it->second;
  Counter& counter = family.Add({{"queue", actor_}, {label, value}});
  cache.emplace(value, &counter);
  return counter;
}

void SidecarMetrics::Received(size_t bytes, absl::Duration receive_wait) {
  f_->received_counter->Increment();
  f_->size_received->Observe(static_cast<double>(bytes));
  f_->receive_hist->Observe(Seconds(receive_wait));
}

void SidecarMetrics::Processed(const std::string& status) {
  CounterFor(*f_->processed, f_->processed_cache, "status", status).Increment();
}

void SidecarMetrics::Failed(const std::string& reason) {
  CounterFor(*f_->failed, f_->failed_cache, "reason", reason).Increment();
}

void SidecarMetrics::RuntimeError(const std::string& error_type) {
  CounterFor(*f_->runtime_errors, f_->errors_cache, "error_type", error_type).Increment();
}

void SidecarMetrics::Sent(const std::string& destination_queue, const std::string& message_type,
                          size_t bytes, absl::Duration send_time) {
  auto key = std::make_pair(destination_queue, message_type);
  auto it = f_->sent_cache.find(key);
  if (it == f_->sent_cache.end()) {
    it = f_->sent_cache
             .emplace(key, &f_->sent->Add({{"destination_queue", destination_queue},
                                           {"message_type", message_type}}))
             .first;
  }
  it->second->Increment();
  auto hist = f_->send_cache.find(destination_queue);
  if (hist == f_->send_cache.end()) {
    hist = f_->send_cache
               .emplace(destination_queue, &f_->send->Add({{"destination_queue", destination_queue},
                                                           {"transport", transport_}},
                                                          kSendBuckets))
               .first;
  }
  hist->second->Observe(Seconds(send_time));
  f_->size_sent->Observe(static_cast<double>(bytes));
}

void SidecarMetrics::ProcessingTime(absl::Duration d) { f_->processing_hist->Observe(Seconds(d)); }
void SidecarMetrics::RuntimeTime(absl::Duration d) { f_->runtime_hist->Observe(Seconds(d)); }
void SidecarMetrics::SetActive(int64_t n) { f_->active_gauge->Set(static_cast<double>(n)); }
void SidecarMetrics::EventsEmitted(uint64_t n) { f_->emitted_counter->Increment(n); }
void SidecarMetrics::EventsDropped(const std::string& reason, uint64_t n) {
  f_->events_dropped->Add({{"reason", reason}}).Increment(n);
}
void SidecarMetrics::EventQueueDepth(int64_t n) {
  event_queue_depth_.store(n, std::memory_order_relaxed);
}
void SidecarMetrics::CaptureBytes(uint64_t n) {
  capture_bytes_.store(capture_bytes_.load(std::memory_order_relaxed) + n,
                       std::memory_order_relaxed);
}

std::string SidecarMetrics::Render() const {
  absl::MutexLock lock(&render_mu_);
  f_->depth_gauge->Set(static_cast<double>(event_queue_depth_.load(std::memory_order_relaxed)));
  const uint64_t capture_bytes = capture_bytes_.load(std::memory_order_relaxed);
  f_->capture_counter->Increment(static_cast<double>(capture_bytes - capture_bytes_counted_));
  capture_bytes_counted_ = capture_bytes;
  return prometheus::TextSerializer().Serialize(registry_->Collect());
}

}  // namespace meshtrace::sidecar
