#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace meshtrace::tap {

// Decodes a text/event-stream body as Asya's stock sidecar reads it (asya-pod.md §3): only the
// exact prefixes "event: " and "data: " count, several data lines are joined with '\n', a
// blank line dispatches the event, other lines are ignored. Fed the body in pieces of any
// size; each event is dispatched as soon as its blank line arrives. Used by one thread.
class SseDecoder {
 public:
  using OnEvent = std::function<void(std::string_view event, std::string_view data)>;

  // Lines longer than `max_line` (the stock sidecar's scanner takes 16 MiB) stop decoding:
  // overflowed() is then true.
  explicit SseDecoder(OnEvent on_event, size_t max_line = 16u << 20)
      : on_event_(std::move(on_event)), max_line_(max_line) {}

  // A last event without its blank line is never dispatched (the stock reader dispatches only
  // on a blank line).
  void Feed(std::string_view bytes);
  bool overflowed() const { return overflowed_; }

 private:
  void Line(std::string_view line);

  OnEvent on_event_;
  size_t max_line_;
  std::string partial_;  // a line not ended yet
  std::string event_;
  std::string data_;
  bool has_data_ = false;
  bool overflowed_ = false;
};

}  // namespace meshtrace::tap
