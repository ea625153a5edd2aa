#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "meshtrace/v1/events.pb.h"

namespace meshtrace::collector::chunk {

// A chunk is one value of the store's events family: a trace's events of one write and the
// captures that write added to the trace, as a sequence of records
//   'E' u32 n, source_id[n], u64 sequence, u64 ingested_ns, u32 m, LifecycleEvent[m]
//   'B' u32 n, sha256 hex[n], u32 m, capture bytes[m]
// with integers big-endian (as in the store's keys). The stored value is the chunk itself
// (stores written before compression) or, since, the chunk compressed:
//   'Z' u32 raw size, LZ4 block of the chunk
// An LZ4 block of one chunk: a trace's records share its ids, actor names and envelope
// bodies, so each compresses about 2.4x on its own; compressed once on the writer, the WAL,
// the memtable and the blob files all carry that many fewer bytes.
constexpr char kEvent = 'E';
constexpr char kBlob = 'B';
constexpr char kCompressed = 'Z';
// A stored value larger than this once decompressed is damaged, not a chunk.
constexpr size_t kMaxChunkBytes = size_t{1} << 30;

void PutBigEndian(uint64_t v, std::string* out);
// The first 8 bytes of `s` (fewer: what there is).
uint64_t GetBigEndian(std::string_view s);

// Appends an event record (the event serialised; its captures already moved out).
void AppendEvent(const v1::LifecycleEvent& event, int64_t ingested_ns, std::string* chunk);
// Appends a capture record.
void AppendBlob(std::string_view hash, std::string_view bytes, std::string* chunk);
// The bytes AppendBlob appends.
inline size_t BlobRecordSize(std::string_view hash, std::string_view bytes) {
  return 1 + 4 + hash.size() + 4 + bytes.size();
}

// Compresses chunks for the store, reusing its LZ4 state. One per thread.
class Compressor {
 public:
  Compressor();
  ~Compressor();
  Compressor(const Compressor&) = delete;
  Compressor& operator=(const Compressor&) = delete;
  Compressor(Compressor&&) noexcept;
  Compressor& operator=(Compressor&&) noexcept;
  // The stored value of `chunk` in `*out` (replaced): compressed, or the chunk itself when
  // compression does not make it smaller.
  void Seal(std::string_view chunk, std::string* out);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// The chunk a stored value holds: the value itself, or decompressed into `*buffer`. Empty
// (no records) when the value is a damaged compressed chunk.
std::string_view Unseal(std::string_view value, std::string* buffer);

struct Record {
  char kind = 0;
  std::string_view id;      // source id (event) or content hash (blob)
  uint64_t sequence = 0;    // event
  int64_t ingested_ns = 0;  // event
  std::string_view bytes;   // serialised event or capture bytes
};

// Reads records off the front of a chunk; Next is false at its end and at the first
// malformed record (unknown kind, a length past the end), after which nothing more is read.
// The record's views point into the chunk.
class Reader {
 public:
  explicit Reader(std::string_view chunk) : rest_(chunk) {}
  bool Next(Record* r);

 private:
  bool Bytes(std::string_view* out);
  bool Fail();
  std::string_view rest_;
};

}  // namespace meshtrace::collector::chunk
