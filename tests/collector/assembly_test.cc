// The completeness rule, table-driven: each scenario is the event stream sidecars would emit,
// fed in many shuffled orders (and, through the real write path, duplicated and split into
// random batches), with the verdict, outcome and anomalies it must yield.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <random>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "collector/artifact.h"
#include "collector/assembler.h"
#include "collector/ingest.h"
#include "collector/metrics.h"
#include "collector/trace_state.h"
#include "collector/trace_store.h"
#include "common/clock.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/trace_builder.h"

namespace meshtrace::collector {
namespace {

using testing::TraceBuilder;
using Kind = v1::Anomaly::Kind;

const Timeouts kTimeouts{absl::Minutes(5), absl::Seconds(30)};

struct Scenario {
  std::string name;
  std::function<void(TraceBuilder&)> build;
  absl::Duration evaluate_after;  // collector time after the events arrived
  v1::Verdict verdict;
  v1::Outcome outcome;
  std::set<Kind> anomalies;
  std::string headline_part;
};

std::vector<Scenario> Scenarios() {
  return {
      {"chain",
       [](TraceBuilder& b) {
         b.Chain("e1", {"a", "b", "c"});
       },
       absl::ZeroDuration(),
       v1::VERDICT_COMPLETE,
       v1::OUTCOME_SUCCEEDED,
       {},
       "succeeded in 4 hops"},
      {"fan_out_succeeds",
       [](TraceBuilder& b) {
         b.Receive("e1", "a").Result("e1", "a");
         b.Route("e1", "a", "e1", "b").Route("e1", "a", "e2", "b", "routing", "pending", "", "e1");
         for (const char* id : {"e1", "e2"}) {
           b.Receive(id, "b", {"a"}, id == std::string("e2") ? "e1" : "").Result(id, "b");
           b.Route(id, "b", id, "x-sink", "sink", "succeeded", "Completed");
           b.Receive(id, "x-sink", {"a", "b"}, id == std::string("e2") ? "e1" : "");
           b.Terminate(id, "x-sink", "succeeded", "Completed");
         }
       },
       absl::ZeroDuration(),
       v1::VERDICT_COMPLETE,
       v1::OUTCOME_SUCCEEDED,
       {},
       "succeeded"},
      {"fan_out_mixed",
       [](TraceBuilder& b) {
         b.Receive("e1", "a").Result("e1", "a");
         b.Route("e1", "a", "e1", "b").Route("e1", "a", "e2", "b", "routing", "pending", "", "e1");
         b.Receive("e1", "b", {"a"}).Result("e1", "b");
         b.Route("e1", "b", "e1", "x-sink", "sink", "succeeded", "Completed");
         b.Receive("e1", "x-sink", {"a", "b"}).Terminate("e1", "x-sink", "succeeded", "Completed");
         b.Receive("e2", "b", {"a"}, "e1").Result("e2", "b", 500, "KeyError", "'sku'");
         b.Route("e2", "b", "e2", "x-sump", "sump", "failed", "RuntimeError");
         b.Receive("e2", "x-sump", {"a"}, "e1").Terminate("e2", "x-sump", "failed", "RuntimeError");
       },
       absl::ZeroDuration(),
       v1::VERDICT_COMPLETE,
       v1::OUTCOME_MIXED,
       {},
       "failed at actor b with KeyError: 'sku'"},
      {"handler_error_to_sump",
       [](TraceBuilder& b) {
         b.Receive("e1", "a").Result("e1", "a").Route("e1", "a", "e1", "b");
         b.Receive("e1", "b", {"a"}).Result("e1", "b", 500, "ValueError", "bad input");
         b.Route("e1", "b", "e1", "x-sump", "sump", "failed", "RuntimeError");
         b.Receive("e1", "x-sump", {"a"}).Terminate("e1", "x-sump", "failed", "RuntimeError");
       },
       absl::ZeroDuration(),
       v1::VERDICT_COMPLETE,
       v1::OUTCOME_FAILED,
       {},
       "failed at actor b with ValueError: bad input"},
      {"redelivery_is_an_attempt",
       [](TraceBuilder& b) {
         b.Receive("e1", "a", {}, "", 7);  // the sidecar died before committing
         b.Receive("e1", "a", {}, "", 7).Result("e1", "a");
         b.Route("e1", "a", "e1", "x-sink", "sink", "succeeded", "Completed");
         b.Receive("e1", "x-sink", {"a"}).Terminate("e1", "x-sink", "succeeded", "Completed");
       },
       absl::ZeroDuration(),
       v1::VERDICT_COMPLETE,
       v1::OUTCOME_SUCCEEDED,
       {Kind::Anomaly_Kind_KIND_REDELIVERY},
       "succeeded"},
      {"lost_in_transit_stalls",
       [](TraceBuilder& b) { b.Receive("e1", "a").Result("e1", "a").Route("e1", "a", "e1", "b"); },
       absl::Minutes(6),
       v1::VERDICT_STALLED,
       v1::OUTCOME_UNSPECIFIED,
       {Kind::Anomaly_Kind_KIND_STALLED},
       "lost between a and b"},
      {"in_transit_is_open",
       [](TraceBuilder& b) { b.Receive("e1", "a").Result("e1", "a").Route("e1", "a", "e1", "b"); },
       absl::Minutes(4),
       v1::VERDICT_OPEN,
       v1::OUTCOME_UNSPECIFIED,
       {},
       "in flight"},
      {"stuck_at_actor_stalls",
       [](TraceBuilder& b) { b.Receive("e1", "a"); },
       absl::Minutes(6),
       v1::VERDICT_STALLED,
       v1::OUTCOME_UNSPECIFIED,
       {Kind::Anomaly_Kind_KIND_STALLED},
       "never routed onward"},
      {"uninstrumented_upstream_is_partial",
       [](TraceBuilder& b) {
         b.Receive("e1", "b", {"a"}).Result("e1", "b");
         b.Route("e1", "b", "e1", "x-sink", "sink", "succeeded", "Completed");
         b.Receive("e1", "x-sink", {"a", "b"}).Terminate("e1", "x-sink", "succeeded", "Completed");
       },
       absl::Minutes(1),
       v1::VERDICT_PARTIAL,
       v1::OUTCOME_SUCCEEDED,
       {Kind::Anomaly_Kind_KIND_PARTIAL},
       "partial"},
      {"missing_upstream_waits_its_grace",
       [](TraceBuilder& b) {
         b.Receive("e1", "b", {"a"}).Result("e1", "b");
         b.Route("e1", "b", "e1", "x-sink", "sink", "succeeded", "Completed");
         b.Receive("e1", "x-sink", {"a", "b"}).Terminate("e1", "x-sink", "succeeded", "Completed");
       },
       absl::Seconds(10),
       v1::VERDICT_OPEN,
       v1::OUTCOME_SUCCEEDED,
       {},
       ""},
      {"rejected_message",
       [](TraceBuilder& b) {
         b.Reject("s1", "a", "parse_error", "not JSON at line 1 column 2");
         b.Route("s1", "a", "s1", "x-sump", "sump", "failed", "ParseError");
         b.Receive("s1", "x-sump", {}).Terminate("s1", "x-sump", "failed", "ParseError");
       },
       absl::ZeroDuration(),
       v1::VERDICT_COMPLETE,
       v1::OUTCOME_FAILED,
       {Kind::Anomaly_Kind_KIND_REJECTED},
       "rejected at actor a (parse_error)"},
      {"clock_skew_is_corrected",
       [](TraceBuilder& b) {
         b.Receive("e1", "a").Result("e1", "a").Route("e1", "a", "e1", "b");
         b.SetTime(1'700'000'000'000'000'000 - 50'000'000);  // b's clock runs 50 ms behind
         b.Receive("e1", "b", {"a"}).Result("e1", "b");
         b.Route("e1", "b", "e1", "x-sink", "sink", "succeeded", "Completed");
         b.Receive("e1", "x-sink", {"a", "b"}).Terminate("e1", "x-sink", "succeeded", "Completed");
       },
       absl::ZeroDuration(),
       v1::VERDICT_COMPLETE,
       v1::OUTCOME_SUCCEEDED,
       {Kind::Anomaly_Kind_KIND_CLOCK_SKEW},
       "succeeded"},
      {"redriven_envelope_needs_no_upstream",
       [](TraceBuilder& b) {
         // `meshtrace redrive` put e1 back on b's topic: it enters mid-route, on purpose.
         b.Receive("e1", "b", {"a"}).Replay("0b7e2a34-redrive").Result("e1", "b");
         b.Route("e1", "b", "e1", "x-sink", "sink", "succeeded", "Completed");
         b.Receive("e1", "x-sink", {"a", "b"}).Terminate("e1", "x-sink", "succeeded", "Completed");
       },
       absl::Minutes(1),
       v1::VERDICT_COMPLETE,
       v1::OUTCOME_SUCCEEDED,
       {},
       "succeeded"},
      {"paused_branch_ends",
       [](TraceBuilder& b) {
         b.Receive("e1", "a").Result("e1", "a").Terminate("e1", "a", "paused", "Paused");
       },
       absl::ZeroDuration(),
       v1::VERDICT_COMPLETE,
       v1::OUTCOME_UNSPECIFIED,
       {},
       ""},
  };
}

Evaluation EvaluateInOrder(const std::vector<v1::LifecycleEvent>& events, int64_t now) {
  TraceState state(events.front().trace_id());
  for (const auto& e : events) state.Add(e, events.back().time_ns());
  return state.Evaluate(now, kTimeouts);
}

std::set<Kind> KindsOf(const v1::TraceArtifact& a) {
  std::set<Kind> kinds;
  for (const auto& x : a.anomalies()) kinds.insert(x.kind());
  return kinds;
}

class AssemblyTest : public ::testing::TestWithParam<Scenario> {};

TEST_P(AssemblyTest, VerdictOutcomeAndAnomaliesHoldInEveryOrder) {
  const Scenario& s = GetParam();
  TraceBuilder builder("trace-" + s.name);
  s.build(builder);
  std::vector<v1::LifecycleEvent> events = builder.Take();
  int64_t last = 0;
  for (const auto& e : events) last = std::max(last, e.time_ns());
  const int64_t now = last + absl::ToInt64Nanoseconds(s.evaluate_after);
  std::mt19937 rng(42);
  for (int round = 0; round < 20; ++round) {
    if (round > 0) std::shuffle(events.begin(), events.end(), rng);
    TraceState state(builder.trace_id());
    std::vector<StoredEvent> stored;
    for (const auto& e : events) {
      state.Add(e, last);
      stored.push_back({e, last});
    }
    Evaluation ev = state.Evaluate(now, kTimeouts);
    ASSERT_EQ(ev.verdict, s.verdict) << s.name << " round " << round;
    ASSERT_EQ(ev.outcome, s.outcome) << s.name << " round " << round;
    EXPECT_NE(state.Headline(ev).find(s.headline_part), std::string::npos) << state.Headline(ev);
    std::sort(stored.begin(), stored.end(), [](const StoredEvent& a, const StoredEvent& b) {
      return a.event.time_ns() < b.event.time_ns();
    });
    v1::TraceArtifact artifact = BuildArtifact(builder.trace_id(), stored, std::nullopt, now,
                                               ArtifactOptions{kTimeouts, "/run/rt.sock"});
    ASSERT_EQ(KindsOf(artifact), s.anomalies) << s.name << "\n" << artifact.DebugString();
  }
}

INSTANTIATE_TEST_SUITE_P(Scenarios, AssemblyTest, ::testing::ValuesIn(Scenarios()),
                         [](const auto& info) { return info.param.name; });

TEST(AssemblyTest, CompleteTraceIsNotCompleteUntilItsLastBranchCloses) {
  TraceBuilder b("t");
  b.Chain("e1", {"a", "b"});
  std::vector<v1::LifecycleEvent> events = b.Take();
  for (size_t n = 1; n < events.size(); ++n) {
    std::vector<v1::LifecycleEvent> prefix(events.begin(), events.begin() + n);
    EXPECT_EQ(EvaluateInOrder(prefix, prefix.back().time_ns()).verdict, v1::VERDICT_OPEN)
        << "after " << n << " of " << events.size() << " events";
  }
  EXPECT_EQ(EvaluateInOrder(events, events.back().time_ns()).verdict, v1::VERDICT_COMPLETE);
}

TEST(AssemblyTest, FailedHopCarriesTheReplayCommandAndTheError) {
  TraceBuilder b("t-replay");
  b.Receive("e1", "a").Result("e1", "a", 500, "ValueError", "bad input");
  b.Route("e1", "a", "e1", "x-sump", "sump", "failed", "RuntimeError");
  std::vector<StoredEvent> stored;
  for (auto& e : b.Take()) stored.push_back({e, 0});
  v1::TraceArtifact a = BuildArtifact("t-replay", stored, std::nullopt, 0,
                                      ArtifactOptions{kTimeouts, "/run/rt.sock"});
  ASSERT_GE(a.hops_size(), 1);
  EXPECT_EQ(a.hops(0).replay_command(),
            "meshtrace replay t-replay --envelope e1 --actor a --socket /run/rt.sock");
  EXPECT_EQ(a.hops(0).error().type(), "ValueError");
  EXPECT_NE(a.hops(0).error().traceback().find("handler.py"), std::string::npos);
  EXPECT_EQ(a.edges_size(), 1);
  EXPECT_EQ(a.edges(0).to_actor(), "x-sump");
}

// The same scenarios through the real write path: a RocksDB store in a temp dir, duplicated
// events in random batches, and the stored summary as the result.
class PipelineAssemblyTest : public ::testing::TestWithParam<Scenario> {};

TEST_P(PipelineAssemblyTest, StoredSummaryMatchesFromDuplicatedShuffledBatches) {
  const Scenario& s = GetParam();
  testing::TempDir dir;
  auto store = TraceStore::Open(dir.path());
  ASSERT_TRUE(store.ok()) << store.status();
  CollectorMetrics metrics;
  FakeClock clock;
  Assembler assembler(store->get(), kTimeouts, &metrics);
  IngestPipeline pipeline(store->get(), &assembler, &metrics, &clock, {});

  TraceBuilder builder("trace-" + s.name);
  s.build(builder);
  std::vector<v1::LifecycleEvent> events = builder.Take();
  std::vector<v1::LifecycleEvent> doubled = events;
  doubled.insert(doubled.end(), events.begin(), events.end());
  std::mt19937 rng(7);
  std::shuffle(doubled.begin(), doubled.end(), rng);
  uint32_t accepted = 0, duplicates = 0;
  for (size_t i = 0; i < doubled.size();) {
    const size_t n = std::min<size_t>(doubled.size() - i, 1 + rng() % 4);
    absl::Notification done;
    pipeline.Submit(std::vector<v1::LifecycleEvent>(doubled.begin() + i, doubled.begin() + i + n),
                    [&](const BatchResult& r) {
                      EXPECT_TRUE(r.status.ok());
                      accepted += r.accepted;
                      duplicates += r.duplicates;
                      done.Notify();
                    });
    done.WaitForNotification();
    i += n;
  }
  EXPECT_EQ(accepted, events.size());
  EXPECT_EQ(duplicates, events.size());
  // Let the collector's clock run past the scenario's wait, then one write cycle (which ticks).
  clock.Advance(s.evaluate_after);
  absl::Notification ticked;
  pipeline.Submit(std::vector<v1::LifecycleEvent>{}, [&](const BatchResult&) { ticked.Notify(); });
  ticked.WaitForNotification();

  std::optional<v1::TraceSummary> summary = (*store)->GetSummary(builder.trace_id());
  ASSERT_TRUE(summary.has_value());
  EXPECT_EQ(summary->verdict(), s.verdict) << summary->DebugString();
  if (s.verdict != v1::VERDICT_OPEN) {
    EXPECT_EQ(summary->outcome(), s.outcome);
    EXPECT_EQ(summary->event_count(), events.size());
  }
  auto loaded = (*store)->LoadTrace(builder.trace_id(), true);
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded->size(), events.size());
  for (const StoredEvent& e : *loaded) {
    if (e.event.has_received()) {
      EXPECT_FALSE(e.event.received().input().envelope_json().empty());
      EXPECT_EQ(e.event.received().input().content_hash().size(), 64u);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Scenarios, PipelineAssemblyTest, ::testing::ValuesIn(Scenarios()),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace meshtrace::collector

namespace meshtrace::collector {
namespace {

// Batches that span writer shards are split, written by each shard, and reported once with
// the counts of all parts; every trace settles in its own shard.
TEST(PipelineShardingTest, BatchesSpanningShardsAreReportedOnceAndEveryTraceSettles) {
  testing::TempDir dir;
  constexpr int kShards = 3;
  auto store = TraceStore::Open(dir.path(), kShards);
  ASSERT_TRUE(store.ok());
  CollectorMetrics metrics;
  FakeClock clock;
  std::vector<std::unique_ptr<Assembler>> assemblers;
  std::vector<Assembler*> raw;
  for (int i = 0; i < kShards; ++i) {
    assemblers.push_back(
        std::make_unique<Assembler>(store->get(), kTimeouts, &metrics, i, kShards));
    raw.push_back(assemblers.back().get());
  }
  IngestPipeline pipeline(store->get(), raw, &metrics, &clock, {});
  std::vector<v1::LifecycleEvent> all;
  std::set<int> shards_used;
  for (int t = 0; t < 12; ++t) {
    testing::TraceBuilder b(absl::StrCat("trace-", t));
    b.Chain(absl::StrCat("e", t), {"a", "b"});
    for (auto& e : b.Take()) all.push_back(e);
    shards_used.insert(ShardOf(absl::StrCat("trace-", t), kShards));
  }
  ASSERT_EQ(shards_used.size(), static_cast<size_t>(kShards));
  std::vector<v1::LifecycleEvent> doubled = all;
  doubled.insert(doubled.end(), all.begin(), all.end());
  std::mt19937 rng(11);
  std::shuffle(doubled.begin(), doubled.end(), rng);
  int reports = 0;
  uint32_t accepted = 0, duplicates = 0;
  for (size_t i = 0; i < doubled.size(); i += 25) {
    absl::Notification done;
    pipeline.Submit(std::vector<v1::LifecycleEvent>(
                        doubled.begin() + i, doubled.begin() + std::min(i + 25, doubled.size())),
                    [&](const BatchResult& r) {
                      ++reports;
                      accepted += r.accepted;
                      duplicates += r.duplicates;
                      done.Notify();
                    });
    ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  }
  EXPECT_EQ(reports, static_cast<int>((doubled.size() + 24) / 25));
  EXPECT_EQ(accepted, all.size());
  EXPECT_EQ(duplicates, all.size());
  for (int t = 0; t < 12; ++t) {
    auto summary = (*store)->GetSummary(absl::StrCat("trace-", t));
    ASSERT_TRUE(summary.has_value()) << t;
    EXPECT_EQ(summary->verdict(), v1::VERDICT_COMPLETE);
  }
  EXPECT_NE(metrics.Render().find("meshtrace_collector_traces_open 0"), std::string::npos);
  pipeline.Stop();
  // After a restart with another shard count, resends are still recognised.
  store->reset();
  auto reopened = TraceStore::Open(dir.path(), 2);
  ASSERT_TRUE(reopened.ok());
  for (const auto& e : all) {
    EXPECT_TRUE(
        (*reopened)->Contains(e.trace_id(), e.source_id(), e.sequence(), ShardOf(e.trace_id(), 2)));
  }
}

// A shard stages a write while the one before it is being made durable. Batches sent back to
// back without waiting: each settles a trace, the next adds a late event (and every other
// one resends an event of the first). Whatever the timing, the resend is a duplicate and the late
// event joins the whole trace (its summary counts every event), never a fresh one.
TEST(PipelineOverlapTest, BackToBackBatchesSeeTheWritesBeforeThem) {
  testing::TempDir dir;
  auto store = TraceStore::Open(dir.path());
  ASSERT_TRUE(store.ok());
  CollectorMetrics metrics;
  FakeClock clock;
  Assembler assembler(store->get(), kTimeouts, &metrics);
  IngestPipeline pipeline(store->get(), &assembler, &metrics, &clock, {});
  constexpr int kTraces = 40;
  absl::Mutex mu;
  int reports = 0;
  uint32_t accepted = 0, duplicates = 0;
  auto count = [&](const BatchResult& r) {
    absl::MutexLock lock(&mu);
    ++reports;
    accepted += r.accepted;
    duplicates += r.duplicates;
  };
  size_t total = 0;
  for (int t = 0; t < kTraces; ++t) {
    testing::TraceBuilder b(absl::StrCat("overlap-", t));
    b.Chain(absl::StrCat("e", t), {"a", "b"});
    std::vector<v1::LifecycleEvent> settles = b.Take();
    // Late: the sink's sidecar reports one more result for the envelope.
    b.Result(absl::StrCat("e", t), "x-sink", 204);
    std::vector<v1::LifecycleEvent> late = b.Take();
    if (t % 2 == 1) late.push_back(settles[t % settles.size()]);  // a resend
    total += settles.size() + 1;
    pipeline.Submit(std::move(settles), count);
    pipeline.Submit(std::move(late), count);
    if (t % 3 == 0) absl::SleepFor(absl::Milliseconds(1));
  }
  absl::Notification flushed;
  pipeline.Submit(std::vector<v1::LifecycleEvent>{}, [&](const BatchResult&) { flushed.Notify(); });
  ASSERT_TRUE(flushed.WaitForNotificationWithTimeout(absl::Seconds(20)));
  {
    absl::MutexLock lock(&mu);
    EXPECT_EQ(reports, 2 * kTraces);
    EXPECT_EQ(accepted, total);
    EXPECT_EQ(duplicates, static_cast<uint32_t>(kTraces / 2));
  }
  for (int t = 0; t < kTraces; ++t) {
    auto summary = (*store)->GetSummary(absl::StrCat("overlap-", t));
    ASSERT_TRUE(summary.has_value()) << t;
    EXPECT_EQ(summary->verdict(), v1::VERDICT_COMPLETE) << t;
    EXPECT_EQ(summary->event_count(), total / kTraces) << t;
    auto events = (*store)->LoadTrace(absl::StrCat("overlap-", t), false);
    ASSERT_TRUE(events.ok());
    EXPECT_EQ(events->size(), total / kTraces) << t;
  }
  pipeline.Stop();
}

}  // namespace
}  // namespace meshtrace::collector
