#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "meshtrace/v1/events.pb.h"

namespace meshtrace::collector::chunk {

// A chunk is one value of the store's events family: a trace's events of one write and the
// captures that write added to the trace, as a sequence of records
//   'E' u32 n, source_id[n], u64 sequence, u64 ingested_ns, u32 m, LifecycleEvent[m]
//   'B' u32 n, sha256 hex[n], u32 m, capture bytes[m]
// with integers big-endian (as in the store's keys).
constexpr char kEvent = 'E';
constexpr char kBlob = 'B';

void PutBigEndian(uint64_t v, std::string* out);
// The first 8 bytes of `s` (fewer: what there is).
uint64_t GetBigEndian(std::string_view s);

// Appends an event record (the event serialised; its captures already moved out).
void AppendEvent(const v1::LifecycleEvent& event, int64_t ingested_ns, std::string* chunk);
// Appends a capture record.
void AppendBlob(std::string_view hash, std::string_view bytes, std::string* chunk);

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
