#pragma once

#include <bit>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace meshtrace::sidecar {

// Appends protobuf wire format to a string, field by field, for the sidecar's hot path: the
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
// capture is copied once, straight from the envelope into the batch).
class ProtoWriter {
 public:
  // `lengths`: ProtoSizer::lengths() of the same calls, in the same order.
  ProtoWriter(std::string* out, const std::vector<size_t>* lengths)
      : out_(out), lengths_(lengths) {}

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
    out_->append(value);
  }
  template <typename Range>
  void Strings(int field, const Range& values) {
    for (const auto& value : values) RepeatedString(field, value);
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

  static size_t Encode(uint64_t value, char* out) {
    size_t n = 0;
    while (value >= 0x80) {
      out[n++] = static_cast<char>(value | 0x80);
      value >>= 7;
    }
    out[n++] = static_cast<char>(value);
    return n;
  }
  void Raw(uint64_t value) {
    char bytes[10];
    out_->append(bytes, Encode(value, bytes));
  }
  void Tag(int field, int wire_type) { Raw((static_cast<uint64_t>(field) << 3) | wire_type); }

  std::string* out_;
  const std::vector<size_t>* lengths_;
  size_t next_length_ = 0;
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
  static size_t VarintSize(uint64_t value) { return (std::bit_width(value | 1) + 6) / 7; }
  static size_t TagSize(int field) { return VarintSize(static_cast<uint64_t>(field) << 3); }
  size_t size_ = 0;
  std::vector<size_t> lengths_;
};

}  // namespace meshtrace::sidecar
