#pragma once

#include <simdjson.h>

#include <string>
#include <string_view>

namespace meshtrace {

// A reusable copy of a document followed by the SIMDJSON_PADDING readable bytes simdjson
// needs. Given a plain pointer, simdjson's DOM parser allocates and frees a padded copy on
// every call, and a parser made per call allocates its buffers each time: a hot path keeps a
// parser and one of these per thread and parses what Pad() returns (see KeptOrOwn).
class PaddedCopy {
 public:
  // The copy of `json`, valid until the next Pad().
  simdjson::padded_string_view Pad(std::string_view json) {
    buffer_.assign(json);
    buffer_.resize(json.size() + simdjson::SIMDJSON_PADDING);
    return simdjson::padded_string_view(buffer_.data(), json.size(), buffer_.size());
  }

 private:
  std::string buffer_;
};

// A simdjson parser (dom::parser or ondemand::parser) with its padded copy.
template <typename Parser>
struct ParserAndCopy {
  Parser parser;
  PaddedCopy copy;
};

// Kept parsers grow to the largest document they have seen and hold its buffers (several
// times its size) for the thread's life; a document over this gets parsers of its own.
inline constexpr size_t kMaxKeptDocumentBytes = 1u << 20;

// `kept` (this thread's parsers and copy, e.g. a thread_local struct) for a document of up to
// kMaxKeptDocumentBytes, or a `Parsers` of its own, freed with this object, for a larger one.
// Making `Parsers` allocates nothing: simdjson parsers allocate on their first parse.
template <typename Parsers>
class KeptOrOwn {
 public:
  KeptOrOwn(Parsers& kept, size_t document_bytes)
      : p_(document_bytes <= kMaxKeptDocumentBytes ? &kept : &own_) {}
  KeptOrOwn(const KeptOrOwn&) = delete;
  KeptOrOwn& operator=(const KeptOrOwn&) = delete;
  Parsers* operator->() { return p_; }

 private:
  Parsers own_;
  Parsers* p_;
};

}  // namespace meshtrace
