// The chunk format of the store's events family: records round-trip, and a damaged chunk
// (cut anywhere, an unknown record kind, a length past the end) stops the reader at the
// damage without reading past the chunk. Sealed (compressed) chunks unseal to the same
// records; a damaged one reads as nothing, and chunks stored uncompressed still read.
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

// A chunk as the store writes it: many records of one trace, whose ids and bodies repeat.
std::string TraceChunk() {
  std::string chunk;
  for (int i = 0; i < 6; ++i) {
    v1::LifecycleEvent event;
    event.set_source_id("setup-payment-7d9f/3");
    event.set_sequence(1000 + i);
    event.set_trace_id("4c1690f6-6fa8-4e3c-aa90-215c0669c6eb");
    event.set_envelope_id("4c1690f6-6fa8-4e3c-aa90-215c0669c6eb");
    event.set_actor("setup-payment");
    AppendEvent(event, 1'700'000'000'000'000'000 + i, &chunk);
    AppendBlob(std::string(64, static_cast<char>('a' + i)),
               R"({"id":"4c1690f6-6fa8-4e3c-aa90-215c0669c6eb","route":{"prev":["create-account"],)"
               R"("curr":"setup-payment","next":["send-welcome"]},"payload":{"card":"declined"}})",
               &chunk);
  }
  return chunk;
}

TEST(ChunkTest, SealedChunksAreSmallerAndUnsealToTheSameRecords) {
  const std::string chunk = TraceChunk();
  Compressor compressor;
  std::string sealed;
  compressor.Seal(chunk, &sealed);
  ASSERT_FALSE(sealed.empty());
  EXPECT_EQ(sealed[0], kCompressed);
  EXPECT_LT(sealed.size() * 2, chunk.size()) << "a trace's records repeat its ids";
  std::string buffer;
  EXPECT_EQ(Unseal(sealed, &buffer), chunk);
  EXPECT_EQ(ReadAll(Unseal(sealed, &buffer)).size(), 12u);
  // The compressor is reused for the next chunk: nothing of the last one leaks into it.
  v1::LifecycleEvent event;
  const std::string other = TwoRecords(&event) + chunk.substr(0, 100);
  compressor.Seal(other, &sealed);
  EXPECT_EQ(Unseal(sealed, &buffer), other);
}

TEST(ChunkTest, AChunkThatDoesNotShrinkIsStoredAsItIs) {
  std::string random;
  uint64_t x = 0x9e3779b97f4a7c15ULL;
  for (int i = 0; i < 2000; ++i) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    random.push_back(static_cast<char>(x));
  }
  std::string incompressible;
  AppendBlob(std::string_view(random).substr(1000, 64), std::string_view(random).substr(0, 1000),
             &incompressible);
  Compressor compressor;
  std::string sealed;
  compressor.Seal(incompressible, &sealed);
  EXPECT_TRUE(sealed == incompressible);
  std::string buffer;
  EXPECT_TRUE(Unseal(sealed, &buffer) == incompressible);
  EXPECT_TRUE(buffer.empty()) << "an uncompressed value is read in place";
  EXPECT_EQ(ReadAll(Unseal(sealed, &buffer)).size(), 1u);
}

TEST(ChunkTest, ChunksOfStoresWrittenBeforeCompressionStillRead) {
  v1::LifecycleEvent event;
  const std::string chunk = TwoRecords(&event);  // starts with 'E': the old stored value
  std::string buffer;
  EXPECT_EQ(ReadAll(Unseal(chunk, &buffer)).size(), 2u);
}

TEST(ChunkTest, DamagedCompressedChunksReadAsNoRecords) {
  const std::string chunk = TraceChunk();
  Compressor compressor;
  std::string sealed, buffer;
  compressor.Seal(chunk, &sealed);
  for (size_t cut = 0; cut < sealed.size(); ++cut) {
    const std::string damaged = sealed.substr(0, cut);
    EXPECT_TRUE(ReadAll(Unseal(damaged, &buffer)).empty()) << "cut at " << cut;
  }
  std::string wrong_size = sealed;
  wrong_size[4] = static_cast<char>(wrong_size[4] + 1);  // one byte more than it holds
  EXPECT_TRUE(Unseal(wrong_size, &buffer).empty());
  std::string huge = sealed;
  huge[1] = '\x7f';  // claims ~2 GiB: refused before anything is allocated
  EXPECT_TRUE(Unseal(huge, &buffer).empty());
  EXPECT_LT(buffer.capacity(), size_t{1} << 20);
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
