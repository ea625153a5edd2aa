#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace meshtrace::events {

// The bytes protobuf's varint encoding of `value` takes (1 to 10).
constexpr size_t VarintSize(uint64_t value) { return (std::bit_width(value | 1) + 6) / 7; }

// Writes protobuf wire format into a buffer, field by field, for the sidecar's hot path: the
// lifecycle events are written straight into bytes instead of being built as messages and then
// serialised (no string copies into the message, no UTF-8 walk). Written in
// field-number order with proto3's defaults skipped, the bytes equal what protobuf's own
// serialiser produces for the same message (tests/sidecar/proto_writer_test.cc checks that).
//
// Strings are not checked for UTF-8 here: the sidecar's strings come from validated JSON,
// its configuration and Kafka topic names.
//
// A nested message needs its length in front: a ProtoSizer pass over the same calls gives
// every length first, so each is written as its message begins and nothing is moved (a
// capture is copied once, straight from the envelope into the batch). The sized bytes are
// written through a pointer, with no capacity check per field: a std::string append per tag,
// length and value was ~40 ns a field, 5 % of the sidecar's CPU with events on.
class ProtoWriter {
 public:
  // Writes into [out, end). `lengths`: ProtoSizer::lengths() of the same calls, in the same
  // order. Nothing is written past `end`: a write that does not fit sets overflowed() instead.
  ProtoWriter(char* out, char* end, const std::vector<size_t>* lengths)
      : p_(out), end_(end), lengths_(lengths) {}

  // Where the next byte goes.
  char* position() const { return p_; }
  bool overflowed() const { return overflowed_; }

  // uint32/uint64/int32/int64 (negative values take ten bytes, as protobuf writes them) and
  // bool; 0 and false are proto3 defaults and are not written.
  void Varint(int field, uint64_t value) {
    if (value == 0) return;
    Tag(field, kVarint);
    Raw(value);
  }
  void Int(int field, int64_t value) { Varint(field, static_cast<uint64_t>(value)); }
  void Bool(int field, bool value) { Varint(field, value ? 1 : 0); }

  // string/bytes; an empty one is the default and is not written.
  void String(int field, std::string_view value) {
    if (!value.empty()) RepeatedString(field, value);
  }
  // One element of a repeated string: always written.
  void RepeatedString(int field, std::string_view value) {
    Tag(field, kLengthDelimited);
    Raw(value.size());
    Encoded(value);
  }
  template <typename Range>
  void Strings(int field, const Range& values) {
    for (const auto& value : values) RepeatedString(field, value);
  }

  // Bytes copied as they are: fields encoded before (by another ProtoWriter).
  void Encoded(std::string_view fields) {
    if (!Room(fields.size())) return;
    std::memcpy(p_, fields.data(), fields.size());
    p_ += fields.size();
  }

  // A nested message: its fields are written between Begin and End (End has nothing left to
  // do here; it marks the end for ProtoSizer, which the same calls go through first).
  size_t Begin(int field) {
    Tag(field, kLengthDelimited);
    Raw((*lengths_)[next_length_++]);
    return next_length_ - 1;
  }
  void End(size_t) {}

 private:
  static constexpr int kVarint = 0;
  static constexpr int kLengthDelimited = 2;

  bool Room(size_t n) {
    if (n <= static_cast<size_t>(end_ - p_)) return true;
    overflowed_ = true;
    return false;
  }
  void Raw(uint64_t value) {
    // Ten bytes hold any varint; only near the end is its exact size worth working out.
    if (static_cast<size_t>(end_ - p_) < 10 && !Room(VarintSize(value))) return;
    while (value >= 0x80) {
      *p_++ = static_cast<char>(value | 0x80);
      value >>= 7;
    }
    *p_++ = static_cast<char>(value);
  }
  void Tag(int field, int wire_type) { Raw((static_cast<uint64_t>(field) << 3) | wire_type); }

  char* p_;
  char* end_;
  const std::vector<size_t>* lengths_;
  size_t next_length_ = 0;
  bool overflowed_ = false;
};

// The same calls as ProtoWriter, counting instead of writing: the bytes a ProtoWriter would
// append, and each nested message's length, in Begin order.
class ProtoSizer {
 public:
  void Varint(int field, uint64_t value) {
    if (value != 0) size_ += TagSize(field) + VarintSize(value);
  }
  void Int(int field, int64_t value) { Varint(field, static_cast<uint64_t>(value)); }
  void Bool(int field, bool value) { Varint(field, value ? 1 : 0); }
  void String(int field, std::string_view value) {
    if (!value.empty()) RepeatedString(field, value);
  }
  void RepeatedString(int field, std::string_view value) {
    size_ += TagSize(field) + VarintSize(value.size()) + value.size();
  }
  template <typename Range>
  void Strings(int field, const Range& values) {
    for (const auto& value : values) RepeatedString(field, value);
  }
  void Encoded(std::string_view fields) { size_ += fields.size(); }
  size_t Begin(int field) {
    size_ += TagSize(field);
    lengths_.push_back(size_);  // where the body starts, until End
    return lengths_.size() - 1;
  }
  void End(size_t index) {
    lengths_[index] = size_ - lengths_[index];
    size_ += VarintSize(lengths_[index]);
  }

  size_t size() const { return size_; }
  const std::vector<size_t>& lengths() const { return lengths_; }
  void Clear() {
    size_ = 0;
    lengths_.clear();
  }

 private:
  static size_t TagSize(int field) { return VarintSize(static_cast<uint64_t>(field) << 3); }
  size_t size_ = 0;
  std::vector<size_t> lengths_;
};

}  // namespace meshtrace::events
