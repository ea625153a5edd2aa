#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace meshtrace {

// An error as the runtime reports it (asya-protocol.md §2.4), or as the caller (sidecar,
// replayer) describes a failed call.
struct RuntimeError {
  std::string code;  // processing_error, msg_parsing_error, connection_error, timeout, bad_reply
  std::string type;  // e.g. ValueError
  std::vector<std::string> mro;
  std::string message;
  std::string traceback;
};

// What one POST /invoke came to.
struct RuntimeReply {
  enum class Kind {
    kFrames,        // 200 with frames (JSON or SSE stream)
    kNoContent,     // 204, or a stream with no frames: the handler returned None
    kHandlerError,  // 400/500 error body, or an SSE `error` event (frames before it stand)
    kUnreachable,   // could not connect to the socket
    kBadReply,      // an empty reply, not HTTP, or a status/body the protocol does not have
    kTimeout,       // no complete answer within the timeout
  };
  Kind kind = Kind::kBadReply;
  int http_status = 0;
  std::vector<std::string> frames;    // raw JSON of each downstream frame, in order
  std::vector<std::string> upstream;  // raw JSON of each FLY (`upstream`) payload
  std::optional<RuntimeError> error;  // set for every kind but kFrames / kNoContent
  absl::Duration duration;
};

// Interprets a complete HTTP response from the runtime (status, content type, body) as the
// Asya protocol defines it. Pure; exposed for tests.
RuntimeReply InterpretResponse(int http_status, std::string_view content_type,
                               std::string_view body);

// A POST /invoke that was started and not yet completed (RuntimeClient::Start).
class RuntimeCall {
 public:
  virtual ~RuntimeCall() = default;
  // When the runtime could begin on this call: Complete's timeout and the reply's duration
  // count from here. Start sets it; a caller that started this call while the runtime was
  // still busy with an earlier one moves it to when that one ended.
  absl::Time runtime_free;
};

// Calls the actor's runtime. One instance per thread (not thread-safe).
class RuntimeClient {
 public:
  virtual ~RuntimeClient() = default;
  // Starts POSTing `envelope_json` to /invoke without waiting for the runtime: connects and
  // writes what the socket takes at once. The runtime may still be busy with an earlier call;
  // a single-threaded runtime accepts this one after it, so calls are served in start order.
  virtual std::unique_ptr<RuntimeCall> Start(std::string envelope_json) = 0;
  // Completes a started call: finishes the request and reads the reply, for at most
  // `timeout` from call.runtime_free. Never fails as a call; the reply says what happened.
  virtual RuntimeReply Complete(RuntimeCall& call, absl::Duration timeout) = 0;
  // Start then Complete.
  RuntimeReply Invoke(std::string_view envelope_json, absl::Duration timeout) {
    std::unique_ptr<RuntimeCall> call = Start(std::string(envelope_json));
    return Complete(*call, timeout);
  }
  // GET /healthz: OK when the runtime answers 200.
  virtual absl::Status Health(absl::Duration timeout) = 0;
  // Sends `name: value` with every later /invoke (e.g. x-meshtrace-replay on a replay).
  virtual void SetRequestHeader(std::string name, std::string value) = 0;
};

// HTTP/1.1 over the Unix socket at `socket_path`: accepts HTTP/1.0 and 1.1 replies,
// Content-Length, chunked or close-delimited bodies and SSE streams; a new connection per
// call, as the reference runtime closes each one.
std::unique_ptr<RuntimeClient> NewUdsRuntimeClient(const std::string& socket_path);

}  // namespace meshtrace
