// The chunk format of the store's events family: records round-trip, and a damaged chunk
// (cut anywhere, an unknown record kind, a length past the end) stops the reader at the
// damage without reading past the chunk.
#include "collector/chunk.h"

#include <gtest/gtest.h>

#include <vector>

namespace meshtrace::collector::chunk {
namespace {

// An event record, then a blob record starting at `*blob_at`.
std::string TwoRecords(v1::LifecycleEvent* event, size_t* blob_at = nullptr) {
  event->set_source_id("pod-a/1");
  event->set_sequence(42);
  event->set_trace_id("t1");
  event->mutable_received()->mutable_input()->set_content_hash(std::string(64, 'f'));
  std::string chunk;
  AppendEvent(*event, 1'700'000'000'000'000'123, &chunk);
  if (blob_at != nullptr) *blob_at = chunk.size();
  AppendBlob(std::string(64, 'f'), R"({"id":"e1"})", &chunk);
  return chunk;
}

std::vector<Record> ReadAll(std::string_view chunk) {
  std::vector<Record> records;
  Reader reader(chunk);
  for (Record r; reader.Next(&r);) records.push_back(r);
  return records;
}

TEST(ChunkTest, RecordsRoundTrip) {
  v1::LifecycleEvent event;
  const std::string chunk = TwoRecords(&event);
  const std::vector<Record> records = ReadAll(chunk);
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].kind, kEvent);
  EXPECT_EQ(records[0].id, "pod-a/1");
  EXPECT_EQ(records[0].sequence, 42u);
  EXPECT_EQ(records[0].ingested_ns, 1'700'000'000'000'000'123);
  v1::LifecycleEvent parsed;
  ASSERT_TRUE(parsed.ParseFromArray(records[0].bytes.data(), records[0].bytes.size()));
  EXPECT_EQ(parsed.trace_id(), "t1");
  EXPECT_EQ(records[1].kind, kBlob);
  EXPECT_EQ(records[1].id, std::string(64, 'f'));
  EXPECT_EQ(records[1].bytes, R"({"id":"e1"})");
}

TEST(ChunkTest, ACutChunkYieldsOnlyTheWholeRecordsBeforeTheCut) {
  v1::LifecycleEvent event;
  size_t blob_at = 0;
  const std::string chunk = TwoRecords(&event, &blob_at);
  ASSERT_EQ(ReadAll(chunk).size(), 2u);
  for (size_t cut = 0; cut < chunk.size(); ++cut) {
    // Copied, so that reading past the cut would be caught by the sanitizers.
    const std::string damaged = chunk.substr(0, cut);
    const size_t want = cut >= blob_at ? 1 : 0;
    EXPECT_EQ(ReadAll(damaged).size(), want) << "cut at " << cut;
  }
}

TEST(ChunkTest, UnknownKindsAndOverlongLengthsStopTheReader) {
  v1::LifecycleEvent event;
  size_t blob = 0;
  const std::string chunk = TwoRecords(&event, &blob);
  std::string unknown = chunk;
  unknown[blob] = 'X';
  EXPECT_EQ(ReadAll(unknown).size(), 1u);
  std::string overlong = chunk;
  overlong[blob + 1] = '\x7f';  // the hash length's top byte: far past the end
  EXPECT_EQ(ReadAll(overlong).size(), 1u);
  EXPECT_TRUE(ReadAll("").empty());
  EXPECT_TRUE(ReadAll(std::string(1, kEvent)).empty());
}

TEST(ChunkTest, BigEndianIntegersSortAsNumbers) {
  std::string a, b;
  PutBigEndian(255, &a);
  PutBigEndian(256, &b);
  EXPECT_LT(a, b);
  EXPECT_EQ(GetBigEndian(b), 256u);
  EXPECT_EQ(GetBigEndian("\x01"), 1u);  // fewer than 8 bytes: what there is
}

}  // namespace
}  // namespace meshtrace::collector::chunk
