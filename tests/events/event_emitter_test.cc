// The event emitter against a real gRPC collector stub on loopback.
#include "events/event_emitter.h"

#include <gtest/gtest.h>

#include <cstring>

#include "absl/time/clock.h"
#include "sidecar/metrics.h"
#include "tests/testing/collector_stub.h"
#include "tests/testing/metrics_text.h"
#include "tests/testing/ports.h"

namespace meshtrace::events {
namespace {

// The sidecar's catalog stands in for any EventMetrics: it renders what the emitter counted.
using sidecar::SidecarMetrics;

v1::LifecycleEvent Received(uint64_t sequence, size_t capture_bytes) {
  v1::LifecycleEvent event;
  event.set_source_id("pod-1/42");
  event.set_sequence(sequence);
  event.set_trace_id("t-" + std::to_string(sequence % 7));
  event.set_actor("score");
  event.set_envelope_id("e-" + std::to_string(sequence));
  event.set_time_ns(1'700'000'000'000'000'000 + sequence);
  event.mutable_route()->add_prev("ingest");
  event.mutable_route()->set_curr("score");
  v1::Received* r = event.mutable_received();
  r->set_topic("asya-score");
  r->set_offset(static_cast<int64_t>(sequence));
  r->mutable_input()->set_envelope_json(std::string(capture_bytes, 'x'));
  return event;
}

// A collector stub on loopback and an emitter sending to it.
struct Sending {
  testing::CollectorStub collector;
  SidecarMetrics metrics{"asya_actor", "score"};
  std::unique_ptr<EventEmitter> emitter;
  Sending() {
    EmitterOptions options;
    options.collector = collector.address();
    emitter = NewGrpcEventEmitter(options, &metrics);
  }
};

TEST(EventEmitterTest, EventsArriveIntactAndAreAcknowledged) {
  Sending s;
  testing::CollectorStub& collector = s.collector;
  SidecarMetrics& metrics = s.metrics;
  EventEmitter* emitter = s.emitter.get();
  // Many small events and 20 of 200 KB: batches are sealed before they would pass 3 MiB.
  constexpr int kSmall = 1300, kLarge = 20;
  std::string event;  // reused, as the sidecar does
  for (int i = 1; i <= kSmall + kLarge; ++i) {
    Received(i, i > kSmall ? 200'000 : 500).SerializeToString(&event);
    emitter->Emit(event);
  }
  ASSERT_TRUE(collector.WaitForEvents(kSmall + kLarge, absl::Seconds(20)))
      << collector.events().size();
  std::vector<v1::LifecycleEvent> got = collector.events();
  ASSERT_EQ(got.size(), static_cast<size_t>(kSmall + kLarge));
  for (const v1::LifecycleEvent& e : got) {
    v1::LifecycleEvent want = Received(e.sequence(), e.sequence() > kSmall ? 200'000 : 500);
    EXPECT_EQ(e.SerializeAsString(), want.SerializeAsString()) << e.sequence();
  }
  for (int i = 0; i < 200 && emitter->acknowledged() < kSmall + kLarge; ++i)
    absl::SleepFor(absl::Milliseconds(10));
  EXPECT_EQ(emitter->acknowledged(), static_cast<uint64_t>(kSmall + kLarge));
  const std::string m = metrics.Render();
  EXPECT_EQ(testing::MetricValue(m, "meshtrace_sidecar_events_emitted_total"), kSmall + kLarge);
  EXPECT_EQ(testing::MetricValue(m, "meshtrace_sidecar_event_queue_depth"), 0);
  emitter->Stop(absl::Seconds(1));
  EXPECT_EQ(collector.duplicates(), 0u);
  EXPECT_LE(collector.largest_batch_bytes(), 3u << 20);
  EXPECT_GT(collector.largest_batch_bytes(), 2u << 20);
}

// An event written into the batch at another length than it was sized at would make the whole
// batch unreadable: it is taken back out and counted, and the events around it still arrive.
TEST(EventEmitterTest, AnEventOfTheWrongSizeIsDroppedAndTheBatchStaysIntact) {
  Sending s;
  const std::string first = Received(1, 100).SerializeAsString();
  const std::string last = Received(2, 100).SerializeAsString();
  s.emitter->Emit(first);
  s.emitter->Emit(last.size() + 3, [&](char* out) {
    std::memcpy(out, last.data(), last.size());
    return last.size();
  });
  s.emitter->Emit(last);
  ASSERT_TRUE(s.collector.WaitForEvents(2, absl::Seconds(20)));
  s.emitter->Stop(absl::Seconds(1));
  std::vector<v1::LifecycleEvent> got = s.collector.events();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].SerializeAsString(), first);
  EXPECT_EQ(got[1].SerializeAsString(), last);
  EXPECT_EQ(testing::MetricValue(s.metrics.Render(),
                                 R"(meshtrace_sidecar_events_dropped_total{reason="encoding"})"),
            1);
}

TEST(EventEmitterTest, FullBufferDropsNewEventsAndCountsThemThenDeliversTheRest) {
  const int port = testing::FreePort();  // nobody listens on it yet
  SidecarMetrics metrics("asya_actor", "score");
  EmitterOptions options;
  options.collector = "127.0.0.1:" + std::to_string(port);
  options.buffer_events = 10;
  options.max_backoff = absl::Milliseconds(200);
  auto emitter = NewGrpcEventEmitter(options, &metrics);
  for (int i = 1; i <= 15; ++i) emitter->Emit(Received(i, 100).SerializeAsString());
  std::string m = metrics.Render();
  EXPECT_EQ(
      testing::MetricValue(m, R"(meshtrace_sidecar_events_dropped_total{reason="buffer_full"})"),
      5);
  EXPECT_EQ(testing::MetricValue(m, "meshtrace_sidecar_event_queue_depth"), 10);

  testing::CollectorStub collector(port);  // the collector comes up: the first 10 arrive
  ASSERT_TRUE(collector.WaitForEvents(10, absl::Seconds(20)));
  absl::SleepFor(absl::Milliseconds(200));
  std::vector<v1::LifecycleEvent> got = collector.events();
  ASSERT_EQ(got.size(), 10u);
  for (const auto& e : got) EXPECT_LE(e.sequence(), 10u);
  emitter->Stop(absl::Seconds(2));
  m = metrics.Render();
  EXPECT_EQ(testing::MetricValue(m, "meshtrace_sidecar_events_emitted_total"), 10);
  EXPECT_EQ(testing::MetricValue(m, R"(meshtrace_sidecar_events_dropped_total{reason="shutdown"})"),
            0);
}

// A collector down for a minute and a half is found again within seconds of coming back.
// With gRPC's default reconnect backoff (1 s, 1.6x per failed attempt, up to 120 s) the
// events waited 19 s after the collector was back (measured; 1.3 s with the emitter's own).
TEST(EventEmitterTest, ACollectorBackAfterALongOutageGetsTheEventsWithinSeconds) {
  const int port = testing::FreePort();  // nobody listens on it for 90 s
  SidecarMetrics metrics("asya_actor", "score");
  EmitterOptions options;
  options.collector = "127.0.0.1:" + std::to_string(port);
  auto emitter = NewGrpcEventEmitter(options, &metrics);
  for (int i = 1; i <= 10; ++i) emitter->Emit(Received(i, 100).SerializeAsString());
  absl::SleepFor(absl::Seconds(90));
  testing::CollectorStub collector(port);
  const absl::Time up = absl::Now();
  ASSERT_TRUE(collector.WaitForEvents(10, absl::Seconds(20))) << collector.events().size();
  EXPECT_LT(absl::Now() - up, absl::Seconds(6));
  emitter->Stop(absl::Seconds(2));
}

// Large captures fill the buffer's bytes long before its event count: a dead collector must
// not let them grow the sidecar's memory without bound.
TEST(EventEmitterTest, BufferBytesBoundLargeEventsAndAreFreedByTheirAcks) {
  const int port = testing::FreePort();  // nobody listens on it yet
  SidecarMetrics metrics("asya_actor", "score");
  EmitterOptions options;
  options.collector = "127.0.0.1:" + std::to_string(port);
  options.buffer_bytes = 1u << 20;
  options.max_backoff = absl::Milliseconds(200);
  auto emitter = NewGrpcEventEmitter(options, &metrics);
  auto event = [](uint64_t sequence) { return Received(sequence, 100 << 10).SerializeAsString(); };
  for (int i = 1; i <= 15; ++i) emitter->Emit(event(i));  // ~100 KiB each
  const size_t fit = (1u << 20) / (event(1).size() + 4);  // each record has a tag and a length
  ASSERT_EQ(fit, 10u);
  std::string m = metrics.Render();
  EXPECT_EQ(
      testing::MetricValue(m, R"(meshtrace_sidecar_events_dropped_total{reason="buffer_full"})"),
      15 - fit);
  EXPECT_EQ(testing::MetricValue(m, "meshtrace_sidecar_event_queue_depth"), fit);

  testing::CollectorStub collector(port);  // the collector comes up: the buffered ones arrive
  ASSERT_TRUE(collector.WaitForEvents(fit, absl::Seconds(20)));
  for (int i = 0; i < 60 && emitter->acknowledged() < fit; ++i) {
    absl::SleepFor(absl::Milliseconds(50));
  }
  ASSERT_EQ(emitter->acknowledged(), fit);
  for (int i = 16; i <= 20; ++i) emitter->Emit(event(i));  // the acks made room again
  ASSERT_TRUE(collector.WaitForEvents(fit + 5, absl::Seconds(20)));
  emitter->Stop(absl::Seconds(2));
  EXPECT_EQ(testing::MetricValue(metrics.Render(),
                                 R"(meshtrace_sidecar_events_dropped_total{reason="buffer_full"})"),
            15 - fit);
}

TEST(EventEmitterTest, StopCountsWhatWasNeverAcknowledged) {
  SidecarMetrics metrics("asya_actor", "score");
  EmitterOptions options;
  options.collector = "127.0.0.1:" + std::to_string(testing::FreePort());
  auto emitter = NewGrpcEventEmitter(options, &metrics);
  for (int i = 1; i <= 3; ++i) emitter->Emit(Received(i, 100).SerializeAsString());
  emitter->Stop(absl::Milliseconds(100));
  emitter->Emit(Received(4, 100).SerializeAsString());  // after Stop: dropped, never buffered
  const std::string m = metrics.Render();
  EXPECT_EQ(testing::MetricValue(m, R"(meshtrace_sidecar_events_dropped_total{reason="shutdown"})"),
            4);
  EXPECT_EQ(
      testing::MetricValue(m, R"(meshtrace_sidecar_events_dropped_total{reason="buffer_full"})"),
      0);
}

}  // namespace
}  // namespace meshtrace::events
