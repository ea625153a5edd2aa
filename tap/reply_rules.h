#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/runtime_client.h"

namespace meshtrace::tap {

// What the stock Asya sidecar makes of a runtime reply that is not an event stream, rule by
// rule as its runtime client reads it (asya-pod.md §3): 204 → no frames; 200 → the body must be
// {"frames": [...]}; any other status → the body is one response object, an error when its
// `error` is non-empty and otherwise a success frame with an empty route; anything it cannot
// read is a bad reply. A tap infers from this where the sidecar sent the envelope.
struct ReplyVerdict {
  enum class Kind {
    kFrames,        // `frames` go onward (each to its route.curr, or x-sink when empty)
    kNoFrames,      // the input envelope goes to x-sink
    kHandlerError,  // `error`: the input goes to x-sump
    kBadReply,      // the sidecar could not read it: the input goes to x-sump
  };
  Kind kind = Kind::kBadReply;
  std::vector<std::string> frames;    // raw JSON of each frame, in order
  std::optional<RuntimeError> error;  // kHandlerError and kBadReply
};

// Pure; `body` is the whole decoded body.
ReplyVerdict JudgeReply(int http_status, std::string_view body);

// The error of an SSE `error` event's data ({"error": code, "details": {...}}).
RuntimeError SseError(std::string_view data);

// True when `content_type` marks an event stream (the stock rule: it starts with
// text/event-stream, whatever the status code).
bool IsEventStream(std::string_view content_type);

}  // namespace meshtrace::tap
