// The durable store on its own: a trace's events written over many commits (one chunk per
// trace per commit) come back whole and in order with their captures; resends are recognised
// after a reopen; deletion removes everything of a trace; a store of the first format is
// refused with the reason.
#include "collector/trace_store.h"

#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <algorithm>

#include "tests/testing/temp_dir.h"
#include "tests/testing/trace_builder.h"

namespace meshtrace::collector {
namespace {

using testing::TraceBuilder;

std::vector<v1::LifecycleEvent> Chain(const std::string& trace_id) {
  TraceBuilder b(trace_id);
  b.SetPayload(R"({"order":42,"note":"captured"})");
  b.Chain(trace_id + "-e", {"a", "b", "c"});
  return b.Take();
}

absl::Status CommitEvents(TraceStore& store, const std::vector<v1::LifecycleEvent>& events,
                          int64_t ingested_ns = 1) {
  WriteSet set;
  for (const v1::LifecycleEvent& e : events)
    set.events.push_back(TraceStore::Prepare(e, ingested_ns));
  return store.Commit(&set);
}

std::string CaptureOf(const v1::LifecycleEvent& e) {
  if (e.has_received()) return e.received().input().envelope_json();
  if (e.has_routed()) return e.routed().output().envelope_json();
  return "";
}

TEST(TraceStoreTest, EventsFromManyCommitsComeBackInOrderWithTheirCaptures) {
  testing::TempDir dir;
  auto store = TraceStore::Open(dir.path());
  ASSERT_TRUE(store.ok()) << store.status();
  const std::vector<v1::LifecycleEvent> one = Chain("t-one"), two = Chain("t-two");
  ASSERT_GE(one.size(), 6u);
  // Interleaved: each commit carries events of both traces; the first trace's events come
  // over four commits, the last ones in reverse.
  const size_t half = one.size() / 2;
  ASSERT_TRUE(CommitEvents(**store, {one[0], two[0], one[1]}).ok());
  ASSERT_TRUE(CommitEvents(**store, {two[1], one[2]}).ok());
  std::vector<v1::LifecycleEvent> rest(one.begin() + 3, one.begin() + half);
  rest.insert(rest.end(), two.begin() + 2, two.end());
  ASSERT_TRUE(CommitEvents(**store, rest).ok());
  std::vector<v1::LifecycleEvent> last(one.begin() + half, one.end());
  std::reverse(last.begin(), last.end());
  ASSERT_TRUE(CommitEvents(**store, last).ok());

  for (const auto* trace : {&one, &two}) {
    auto loaded = (*store)->LoadTrace(trace->front().trace_id(), true);
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    ASSERT_EQ(loaded->size(), trace->size());
    for (size_t i = 0; i < trace->size(); ++i) {
      const v1::LifecycleEvent& want = (*trace)[i];
      const v1::LifecycleEvent& got = (*loaded)[i].event;
      EXPECT_EQ(got.source_id(), want.source_id());
      EXPECT_EQ(got.sequence(), want.sequence());
      EXPECT_EQ(got.body_case(), want.body_case());
      EXPECT_EQ(CaptureOf(got), CaptureOf(want)) << "event " << i;
      EXPECT_EQ((*loaded)[i].ingested_ns, 1);
    }
  }
  // Without captures: the hash stays, the bytes are left out.
  auto bare = (*store)->LoadTrace("t-one", false);
  ASSERT_TRUE(bare.ok());
  EXPECT_TRUE(bare->front().event.received().input().envelope_json().empty());
  EXPECT_EQ(bare->front().event.received().input().content_hash().size(), 64u);
  EXPECT_EQ((*store)->TraceOfEnvelope("t-one-e"), "t-one");
  EXPECT_EQ((*store)->LoadTrace("t-none", false).status().code(), absl::StatusCode::kNotFound);
}

TEST(TraceStoreTest, CapturesAreKeyedByTheirSha256) {
  v1::LifecycleEvent e;
  e.mutable_received()->mutable_input()->set_envelope_json("abc");
  // Twice: the second digest reuses the thread's context.
  for (int i = 0; i < 2; ++i) {
    const PreparedEvent p = TraceStore::Prepare(e, 1);
    EXPECT_EQ(p.stored.event.received().input().content_hash(),
              "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    ASSERT_EQ(p.blobs.size(), 1u);
    EXPECT_EQ(p.blobs[0].second, "abc");
  }
}

TEST(TraceStoreTest, ResentEventsAreRecognisedAfterAReopenAndNewOnesAreNot) {
  testing::TempDir dir;
  const std::vector<v1::LifecycleEvent> events = Chain("t-resend");
  // Stored: every event but one in the middle of its source's sequence.
  const v1::LifecycleEvent missing = events[1];
  ASSERT_EQ(missing.source_id(), events[0].source_id());
  std::vector<v1::LifecycleEvent> stored = events;
  stored.erase(stored.begin() + 1);
  {
    auto store = TraceStore::Open(dir.path());
    ASSERT_TRUE(store.ok());
    ASSERT_TRUE(CommitEvents(**store, {stored.begin(), stored.begin() + 2}).ok());
    ASSERT_TRUE(CommitEvents(**store, {stored.begin() + 2, stored.end()}).ok());
  }
  auto store = TraceStore::Open(dir.path());
  ASSERT_TRUE(store.ok());
  for (const v1::LifecycleEvent& e : stored) {
    EXPECT_TRUE((*store)->Contains(e.trace_id(), e.source_id(), e.sequence())) << e.sequence();
  }
  EXPECT_FALSE((*store)->Contains(missing.trace_id(), missing.source_id(), missing.sequence()));
  EXPECT_FALSE((*store)->Contains("t-resend", events[0].source_id(), 1000));
  EXPECT_FALSE((*store)->Contains("t-other", events[0].source_id(), events[0].sequence()));
  // Writing the missing event makes it known, also to the shard's cached view of the trace.
  ASSERT_TRUE((*store)->Contains("t-resend", events[0].source_id(), events[0].sequence()));
  ASSERT_TRUE(CommitEvents(**store, {missing}).ok());
  EXPECT_TRUE((*store)->Contains(missing.trace_id(), missing.source_id(), missing.sequence()));
  auto loaded = (*store)->LoadTrace("t-resend", false);
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded->size(), events.size());
}

TEST(TraceStoreTest, DeletedTracesLeaveNothingBehindAndOthersStay) {
  testing::TempDir dir;
  auto store = TraceStore::Open(dir.path());
  ASSERT_TRUE(store.ok());
  for (const char* id : {"t-gone", "t-kept"}) {
    WriteSet set;
    for (const v1::LifecycleEvent& e : Chain(id)) set.events.push_back(TraceStore::Prepare(e, 1));
    v1::TraceSummary summary;
    summary.set_trace_id(id);
    summary.set_verdict(v1::VERDICT_COMPLETE);
    summary.set_started_at_ns(1);
    summary.add_actors("a");
    set.summaries.push_back({summary, false});
    ASSERT_TRUE((*store)->Commit(&set).ok());
  }
  ASSERT_TRUE((*store)->DeleteTraces({"t-gone"}).ok());
  EXPECT_EQ((*store)->LoadTrace("t-gone", true).status().code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE((*store)->GetSummary("t-gone").has_value());
  EXPECT_FALSE((*store)->TraceOfEnvelope("t-gone-e").has_value());
  v1::ListTracesRequest by_actor;
  by_actor.set_actor("a");
  auto listed = (*store)->List(by_actor);
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->traces.size(), 1u);
  EXPECT_EQ(listed->traces[0].trace_id(), "t-kept");
  auto kept = (*store)->LoadTrace("t-kept", true);
  ASSERT_TRUE(kept.ok());
  EXPECT_FALSE(kept->front().event.received().input().envelope_json().empty());
}

TEST(TraceStoreTest, ReplacedSummaryLeavesOnlyItsNewIndexEntries) {
  testing::TempDir dir;
  auto store = TraceStore::Open(dir.path());
  ASSERT_TRUE(store.ok());
  v1::TraceSummary summary;
  summary.set_trace_id("t-sum");
  summary.set_started_at_ns(5);
  summary.set_verdict(v1::VERDICT_OPEN);
  WriteSet first;
  first.summaries.push_back({summary, false});
  ASSERT_TRUE((*store)->Commit(&first).ok());
  summary.set_verdict(v1::VERDICT_COMPLETE);
  summary.set_outcome(v1::OUTCOME_FAILED);
  WriteSet second;
  second.summaries.push_back({summary, true});
  ASSERT_TRUE((*store)->Commit(&second).ok());
  auto count = [&](v1::Verdict verdict, v1::Outcome outcome) {
    v1::ListTracesRequest request;
    request.set_verdict(verdict);
    request.set_outcome(outcome);
    auto listed = (*store)->List(request);
    EXPECT_TRUE(listed.ok());
    return listed.ok() ? listed->traces.size() : 99;
  };
  EXPECT_EQ(count(v1::VERDICT_OPEN, v1::OUTCOME_UNSPECIFIED), 0u);
  EXPECT_EQ(count(v1::VERDICT_COMPLETE, v1::OUTCOME_UNSPECIFIED), 1u);
  EXPECT_EQ(count(v1::VERDICT_UNSPECIFIED, v1::OUTCOME_FAILED), 1u);
  EXPECT_EQ(count(v1::VERDICT_UNSPECIFIED, v1::OUTCOME_SUCCEEDED), 0u);
  // Complete and succeeded have no index keys of their own: found through the time index.
  summary.set_outcome(v1::OUTCOME_SUCCEEDED);
  WriteSet third;
  third.summaries.push_back({summary, true});
  ASSERT_TRUE((*store)->Commit(&third).ok());
  EXPECT_EQ(count(v1::VERDICT_UNSPECIFIED, v1::OUTCOME_FAILED), 0u);
  EXPECT_EQ(count(v1::VERDICT_UNSPECIFIED, v1::OUTCOME_SUCCEEDED), 1u);
  EXPECT_EQ(count(v1::VERDICT_COMPLETE, v1::OUTCOME_SUCCEEDED), 1u);
  EXPECT_EQ(count(v1::VERDICT_STALLED, v1::OUTCOME_UNSPECIFIED), 0u);
}

// A replace writes only the index keys that changed: the ones both summaries have must stay.
TEST(TraceStoreTest, ReplacedSummaryKeepsTheIndexKeysItShares) {
  testing::TempDir dir;
  auto store = TraceStore::Open(dir.path());
  ASSERT_TRUE(store.ok());
  auto write = [&](int64_t started, std::vector<std::string> actors, bool replaces) {
    v1::TraceSummary summary;
    summary.set_trace_id("t-keys");
    summary.set_started_at_ns(started);
    summary.set_verdict(v1::VERDICT_OPEN);
    for (const std::string& a : actors) summary.add_actors(a);
    WriteSet set;
    set.summaries.push_back({summary, replaces});
    return (*store)->Commit(&set);
  };
  auto listed = [&](const std::string& actor) -> std::vector<int64_t> {
    v1::ListTracesRequest request;
    request.set_actor(actor);
    auto result = (*store)->List(request);
    EXPECT_TRUE(result.ok()) << result.status();
    std::vector<int64_t> started;
    if (result.ok()) {
      for (const auto& t : result->traces) started.push_back(t.started_at_ns());
    }
    return started;
  };
  using V = std::vector<int64_t>;
  ASSERT_TRUE(write(5, {"a", "a"}, false).ok());  // an actor named twice gets one key
  EXPECT_EQ(listed("a"), V{5});
  ASSERT_TRUE(write(5, {"a", "b"}, true).ok());
  EXPECT_EQ(listed(""), V{5});
  EXPECT_EQ(listed("a"), V{5});
  EXPECT_EQ(listed("b"), V{5});
  // An earlier event moved the start: every key is new, none of the old ones is left.
  ASSERT_TRUE(write(3, {"b", "c"}, true).ok());
  EXPECT_EQ(listed(""), V{3});
  EXPECT_EQ(listed("a"), V{});
  EXPECT_EQ(listed("b"), V{3});
  EXPECT_EQ(listed("c"), V{3});
}

TEST(TraceStoreTest, StoreOfTheFirstFormatIsRefusedWithTheReason) {
  testing::TempDir dir;
  {
    rocksdb::Options options;
    options.create_if_missing = true;
    rocksdb::DB* db = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(options, dir.path(), &db).ok());
    rocksdb::ColumnFamilyHandle* blobs = nullptr;
    ASSERT_TRUE(db->CreateColumnFamily(rocksdb::ColumnFamilyOptions(), "blobs", &blobs).ok());
    db->DestroyColumnFamilyHandle(blobs);
    delete db;
  }
  auto store = TraceStore::Open(dir.path());
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(store.status().message().find("earlier meshtrace-collector"), std::string::npos)
      << store.status();
  EXPECT_NE(store.status().message().find(dir.path()), std::string::npos);
}

}  // namespace
}  // namespace meshtrace::collector
