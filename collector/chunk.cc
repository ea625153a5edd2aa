#include "collector/chunk.h"

namespace meshtrace::collector::chunk {
namespace {

void PutLength(size_t n, std::string* out) {
  const auto v = static_cast<uint32_t>(n);
  for (int i = 3; i >= 0; --i) out->push_back(static_cast<char>((v >> (i * 8)) & 0xff));
}

void PutBytes(std::string_view bytes, std::string* out) {
  PutLength(bytes.size(), out);
  out->append(bytes);
}

}  // namespace

void PutBigEndian(uint64_t v, std::string* out) {
  for (int i = 7; i >= 0; --i) out->push_back(static_cast<char>((v >> (i * 8)) & 0xff));
}

uint64_t GetBigEndian(std::string_view s) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8 && i < s.size(); ++i) v = (v << 8) | static_cast<uint8_t>(s[i]);
  return v;
}

void AppendEvent(const v1::LifecycleEvent& event, int64_t ingested_ns, std::string* chunk) {
  const size_t size = event.ByteSizeLong();
  chunk->reserve(chunk->size() + 1 + 4 + event.source_id().size() + 16 + 4 + size);
  chunk->push_back(kEvent);
  PutBytes(event.source_id(), chunk);
  PutBigEndian(event.sequence(), chunk);
  PutBigEndian(static_cast<uint64_t>(ingested_ns), chunk);
  PutLength(size, chunk);
  event.AppendToString(chunk);
}

void AppendBlob(std::string_view hash, std::string_view bytes, std::string* chunk) {
  chunk->push_back(kBlob);
  PutBytes(hash, chunk);
  PutBytes(bytes, chunk);
}

bool Reader::Next(Record* r) {
  if (rest_.empty()) return false;
  r->kind = rest_[0];
  rest_.remove_prefix(1);
  if (r->kind != kEvent && r->kind != kBlob) return Fail();
  if (!Bytes(&r->id)) return Fail();
  if (r->kind == kEvent) {
    if (rest_.size() < 16) return Fail();
    r->sequence = GetBigEndian(rest_);
    r->ingested_ns = static_cast<int64_t>(GetBigEndian(rest_.substr(8)));
    rest_.remove_prefix(16);
  }
  return Bytes(&r->bytes) || Fail();
}

bool Reader::Bytes(std::string_view* out) {
  if (rest_.size() < 4) return false;
  uint32_t n = 0;
  for (int i = 0; i < 4; ++i) n = (n << 8) | static_cast<uint8_t>(rest_[i]);
  if (rest_.size() - 4 < n) return false;
  *out = rest_.substr(4, n);
  rest_.remove_prefix(4 + n);
  return true;
}

bool Reader::Fail() {
  rest_ = {};
  return false;
}

}  // namespace meshtrace::collector::chunk
