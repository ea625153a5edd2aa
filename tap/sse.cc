#include "tap/sse.h"

namespace meshtrace::tap {

void SseDecoder::Feed(std::string_view bytes) {
  while (!bytes.empty() && !overflowed_) {
    const size_t nl = bytes.find('\n');
    if (nl == std::string_view::npos) {
      partial_.append(bytes);
      if (partial_.size() > max_line_) overflowed_ = true;
      return;
    }
    if (partial_.empty()) {
      Line(bytes.substr(0, nl));
    } else {
      partial_.append(bytes.substr(0, nl));
      Line(partial_);
      partial_.clear();
    }
    bytes.remove_prefix(nl + 1);
  }
}

void SseDecoder::Line(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.empty()) {
    if (!event_.empty() || has_data_) on_event_(event_, data_);
    event_.clear();
    data_.clear();
    has_data_ = false;
  } else if (line.substr(0, 7) == "event: ") {
    event_.assign(line.substr(7));
  } else if (line.substr(0, 6) == "data: ") {
    if (has_data_) data_.push_back('\n');
    data_.append(line.substr(6));
    has_data_ = true;
  }
}

}  // namespace meshtrace::tap
