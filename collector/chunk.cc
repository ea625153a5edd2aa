#include "collector/chunk.h"

#include <lz4.h>

namespace meshtrace::collector::chunk {
namespace {

void PutLength(size_t n, std::string* out) {
  const auto v = static_cast<uint32_t>(n);
  for (int i = 3; i >= 0; --i) out->push_back(static_cast<char>((v >> (i * 8)) & 0xff));
}

// The u32 at the front of `s` (at least 4 bytes).
uint32_t GetLength(std::string_view s) {
  uint32_t n = 0;
  for (int i = 0; i < 4; ++i) n = (n << 8) | static_cast<uint8_t>(s[i]);
  return n;
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
  // AppendToString would size the event again: write it at the size just computed.
  const size_t at = chunk->size();
  chunk->resize(at + size);
  event.SerializeWithCachedSizesToArray(reinterpret_cast<uint8_t*>(chunk->data() + at));
}

void AppendBlob(std::string_view hash, std::string_view bytes, std::string* chunk) {
  chunk->push_back(kBlob);
  PutBytes(hash, chunk);
  PutBytes(bytes, chunk);
}

struct Compressor::State {
  LZ4_stream_t stream;
};

Compressor::Compressor() : state_(std::make_unique<State>()) {
  LZ4_initStream(&state_->stream, sizeof(LZ4_stream_t));
}
Compressor::~Compressor() = default;
Compressor::Compressor(Compressor&&) noexcept = default;
Compressor& Compressor::operator=(Compressor&&) noexcept = default;

void Compressor::Seal(std::string_view chunk, std::string* out) {
  out->clear();
  if (chunk.size() > kMaxChunkBytes) {
    out->assign(chunk);
    return;
  }
  const int bound = LZ4_compressBound(static_cast<int>(chunk.size()));
  out->push_back(kCompressed);
  PutLength(chunk.size(), out);
  out->resize(5 + static_cast<size_t>(bound));
  // A fast reset: the state forgets the last chunk without clearing its table, and the chunk
  // is compressed on its own (no dictionary).
  LZ4_resetStream_fast(&state_->stream);
  const int n = LZ4_compress_fast_continue(&state_->stream, chunk.data(), out->data() + 5,
                                           static_cast<int>(chunk.size()), bound, 1);
  if (n <= 0 || static_cast<size_t>(n) + 5 >= chunk.size()) {
    out->assign(chunk);
    return;
  }
  out->resize(5 + static_cast<size_t>(n));
}

std::string_view Unseal(std::string_view value, std::string* buffer) {
  if (value.empty() || value[0] != kCompressed) return value;
  if (value.size() < 5) return {};
  const uint32_t raw = GetLength(value.substr(1));
  if (raw > kMaxChunkBytes) return {};
  buffer->resize(raw);
  const int n = LZ4_decompress_safe(value.data() + 5, buffer->data(),
                                    static_cast<int>(value.size() - 5), static_cast<int>(raw));
  if (n != static_cast<int>(raw)) return {};
  return *buffer;
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
  const uint32_t n = GetLength(rest_);
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
