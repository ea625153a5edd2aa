#pragma once

#include <atomic>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace meshtrace::example {

// What the built-in handler does with each /invoke (asya-protocol.md §9–10 describe the
// reference runtime these mimic).
enum class HandlerKind {
  kEcho,     // returns the payload unchanged: 200, one frame
  kEnrich,   // adds `enrich_key: enrich_value` to an object payload
  kFail,     // raises `fail_type(fail_message)`: 500 processing_error
  kAbort,    // returns None: 204
  kSlow,     // sleeps `sleep_ms`, then echoes
  kFanout,   // a generator yielding `fanout` frames over SSE
  kReroute,  // a generator that SETs .route.next to `reroute` and yields the payload
  kGarbage,  // misbehaves: answers bytes that are not HTTP
  kClose,    // misbehaves: closes the connection without a reply
  kHang,     // misbehaves: never answers
};

struct RuntimeOptions {
  std::string socket_dir = "/var/run/asya";
  std::string socket_name = "asya-runtime.sock";
  HandlerKind handler = HandlerKind::kEcho;
  // When non-empty, kFail applies only to payloads whose top-level field `fail_when` is truthy
  // (other payloads are echoed), and every other handler fails on such payloads.
  std::string fail_when;
  std::string fail_type = "ValueError";
  std::vector<std::string> fail_mro;  // empty = derived from the type
  std::string fail_message = "asked to fail";
  std::string enrich_key;             // empty = the actor name (route.curr)
  std::string enrich_value = "true";  // raw JSON
  int sleep_ms = 0;
  int fanout = 3;
  int fanout_fail_after = -1;  // >= 0: an SSE error event after that many frames
  std::vector<std::string> reroute;
};

// Parses a handler name ("echo", "fail", "fan-out", ...).
absl::Status ParseHandlerKind(const std::string& name, HandlerKind* kind);

// Serves the runtime side of the Asya protocol on $socket_dir/$socket_name like the reference
// Python runtime: binds the socket (mode 0666, a stale file is replaced), writes
// `runtime-ready`, answers one connection at a time with HTTP/1.0 and closes it after each
// response. Returns when `stop` becomes true (checked between connections and every 100 ms),
// removing the socket and the ready file.
absl::Status ServeRuntime(const RuntimeOptions& options, const std::atomic<bool>& stop);

// The response to one request, as bytes on the wire (exposed for tests).
std::string HandleRequest(const RuntimeOptions& options, const std::string& method,
                          const std::string& path, const std::string& body);

}  // namespace meshtrace::example
