// The durable store on its own: a trace's events written over many commits (one chunk per
// trace per commit) come back whole and in order with their captures; resends are recognised
// after a reopen; deletion removes everything of a trace; a store of the first format is
// refused with the reason.
#include "collector/trace_store.h"

#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <algorithm>
#include <tuple>

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

// Summaries of traces `id` started at `started` through `actors`, one commit each.
absl::Status PutSummaries(
    TraceStore& store,
    const std::vector<std::tuple<std::string, int64_t, std::vector<std::string>>>& traces) {
  for (const auto& [id, started, actors] : traces) {
    v1::TraceSummary summary;
    summary.set_trace_id(id);
    summary.set_started_at_ns(started);
    summary.set_verdict(v1::VERDICT_COMPLETE);
    for (const std::string& a : actors) summary.add_actors(a);
    WriteSet set;
    set.summaries.push_back({summary, false});
    if (absl::Status s = store.Commit(&set); !s.ok()) return s;
  }
  return absl::OkStatus();
}

// The trace ids listed for `actor`, newest first, `page` at a time, following the cursors.
std::vector<std::string> ListAll(const TraceStore& store, const std::string& actor, uint32_t page) {
  std::vector<std::string> ids;
  v1::ListTracesRequest request;
  request.set_actor(actor);
  request.set_limit(page);
  for (int pages = 0; pages < 1000; ++pages) {
    auto result = store.List(request);
    EXPECT_TRUE(result.ok()) << result.status();
    if (!result.ok()) break;
    for (const auto& t : result->traces) ids.push_back(t.trace_id());
    if (result->next_cursor.empty()) break;
    request.set_cursor(result->next_cursor);
  }
  return ids;
}

// An actor's traces are indexed under their actor sets: a list by actor merges the time lists
// of every set that holds it, newest first, and pages through them without repeats or gaps.
TEST(TraceStoreTest, ActorListsMergeTheTracesOfEveryActorSetNewestFirst) {
  testing::TempDir dir;
  auto store = TraceStore::Open(dir.path(), /*shards=*/2);
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE(PutSummaries(**store, {{"t1", 1, {"a", "b"}},
                                     {"t2", 2, {"a", "c"}},
                                     {"t3", 3, {"b"}},
                                     {"t4", 4, {"a", "b"}},
                                     {"t5", 5, {"c", "a"}},  // not sorted: the same set as t2
                                     {"t6", 6, {"a"}},
                                     {"t7", 7, {}}})
                  .ok());
  using Ids = std::vector<std::string>;
  for (uint32_t page : {1u, 2u, 100u}) {
    EXPECT_EQ(ListAll(**store, "a", page), (Ids{"t6", "t5", "t4", "t2", "t1"})) << page;
    EXPECT_EQ(ListAll(**store, "b", page), (Ids{"t4", "t3", "t1"})) << page;
    EXPECT_EQ(ListAll(**store, "c", page), (Ids{"t5", "t2"})) << page;
  }
  EXPECT_EQ(ListAll(**store, "nobody", 10), Ids{});
  EXPECT_EQ(ListAll(**store, "", 100), (Ids{"t7", "t6", "t5", "t4", "t3", "t2", "t1"}));
  // Time bounds apply across the sets.
  v1::ListTracesRequest bounded;
  bounded.set_actor("a");
  bounded.set_since_ns(2);
  bounded.set_until_ns(5);
  auto result = (*store)->List(bounded);
  ASSERT_TRUE(result.ok());
  Ids ids;
  for (const auto& t : result->traces) ids.push_back(t.trace_id());
  EXPECT_EQ(ids, (Ids{"t5", "t4", "t2"}));
  // After a reopen (the member keys are read from the store) and a deletion.
  store->reset();
  store = TraceStore::Open(dir.path());
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE((*store)->DeleteTraces({"t4"}).ok());
  EXPECT_EQ(ListAll(**store, "a", 2), (Ids{"t6", "t5", "t2", "t1"}));
  ASSERT_TRUE(PutSummaries(**store, {{"t8", 8, {"b", "a"}}}).ok());
  EXPECT_EQ(ListAll(**store, "b", 2), (Ids{"t8", "t3", "t1"}));
}

// An actor in very many distinct sets (routes chosen per envelope) is listed from the time
// index instead of merging them all; the answer is the same.
TEST(TraceStoreTest, AnActorInManySetsIsListedFromTheTimeIndex) {
  testing::TempDir dir;
  auto store = TraceStore::Open(dir.path());
  ASSERT_TRUE(store.ok());
  std::vector<std::tuple<std::string, int64_t, std::vector<std::string>>> traces;
  std::vector<std::string> expected;
  for (int i = 1; i <= 150; ++i) {
    const std::string id = "t" + std::to_string(i);
    traces.push_back({id, i, {"hub", "spoke-" + std::to_string(i)}});
    traces.push_back({id + "-other", i, {"elsewhere"}});
    expected.insert(expected.begin(), id);
  }
  ASSERT_TRUE(PutSummaries(**store, traces).ok());
  EXPECT_EQ(ListAll(**store, "hub", 40), expected);
  EXPECT_EQ(ListAll(**store, "spoke-7", 40), std::vector<std::string>{"t7"});
}

// Stores written before actor sets had a key per actor ("a \0 actor \0 ~started id"): opening
// one rewrites its actor index as set keys and removes the old keys.
TEST(TraceStoreTest, AStoreWithAKeyPerActorIsUpgradedWhenOpened) {
  testing::TempDir dir;
  {
    auto store = TraceStore::Open(dir.path());
    ASSERT_TRUE(store.ok());
    ASSERT_TRUE(
        PutSummaries(**store, {{"t1", 1, {"a", "b"}}, {"t2", 2, {"b"}}, {"t3", 3, {}}}).ok());
  }
  // Make it look as the earlier collector left it.
  auto index_keys = [&](auto&& change) {
    std::vector<std::string> names;
    ASSERT_TRUE(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), dir.path(), &names).ok());
    std::vector<rocksdb::ColumnFamilyDescriptor> families;
    for (const std::string& n : names) families.emplace_back(n, rocksdb::ColumnFamilyOptions());
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* db = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(rocksdb::DBOptions(), dir.path(), families, &handles, &db).ok());
    const size_t index = std::find(names.begin(), names.end(), "index") - names.begin();
    ASSERT_LT(index, names.size());
    change(*db, handles[index]);
    for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
    delete db;
  };
  auto key = [](std::string_view kind, std::string_view value, int64_t started,
                std::string_view id) {
    std::string k(kind);
    k.push_back('\0');
    k.append(value).push_back('\0');
    const uint64_t inverted = ~static_cast<uint64_t>(started);
    for (int shift = 56; shift >= 0; shift -= 8) k.push_back(static_cast<char>(inverted >> shift));
    k.append(id);
    return k;
  };
  index_keys([&](rocksdb::DB& db, rocksdb::ColumnFamilyHandle* index) {
    std::unique_ptr<rocksdb::Iterator> it(db.NewIterator(rocksdb::ReadOptions(), index));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      const char kind = it->key()[0];
      if (kind == 's' || kind == 'm') {
        ASSERT_TRUE(db.Delete({}, index, it->key()).ok());
      }
    }
    for (const auto& k : {key("a", "a", 1, "t1"), key("a", "b", 1, "t1"), key("a", "b", 2, "t2"),
                          key("a", "gone", 0, "t-deleted-long-ago")}) {
      ASSERT_TRUE(db.Put({}, index, k, "").ok());
    }
  });
  {
    auto store = TraceStore::Open(dir.path());
    ASSERT_TRUE(store.ok()) << store.status();
    using Ids = std::vector<std::string>;
    EXPECT_EQ(ListAll(**store, "a", 1), Ids{"t1"});
    EXPECT_EQ(ListAll(**store, "b", 1), (Ids{"t2", "t1"}));
    EXPECT_EQ(ListAll(**store, "gone", 1), Ids{});
  }
  index_keys([&](rocksdb::DB& db, rocksdb::ColumnFamilyHandle* index) {
    std::unique_ptr<rocksdb::Iterator> it(db.NewIterator(rocksdb::ReadOptions(), index));
    size_t sets = 0, legacy = 0;
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      sets += it->key()[0] == 's';
      legacy += it->key()[0] == 'a';
    }
    EXPECT_EQ(sets, 2u);  // t1 and t2; t3 has no actors
    EXPECT_EQ(legacy, 0u);
  });
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
