#pragma once

#include <simdjson.h>

#include <string>
#include <string_view>

namespace meshtrace {

// A reusable copy of a document followed by the SIMDJSON_PADDING readable bytes simdjson
// needs. Given a plain pointer, simdjson's DOM parser allocates and frees a padded copy on
// every call, and a parser made per call allocates its buffers each time: a hot path keeps a
// parser and one of these per thread (thread_local) and parses what Pad() returns.
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

}  // namespace meshtrace
