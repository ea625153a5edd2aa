#include "common/runtime_client.h"

#include <poll.h>
#include <simdjson.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "common/absl_compat.h"
#include "common/padded_copy.h"

namespace meshtrace {
namespace {

namespace od = simdjson::ondemand;

std::string_view Trim(std::string_view s) {
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\r' || s.back() == '\n' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  return s;
}

RuntimeReply BadReply(int status, std::string message) {
  RuntimeReply reply;
  reply.kind = RuntimeReply::Kind::kBadReply;
  reply.http_status = status;
  reply.error = RuntimeError{"bad_reply", "BadRuntimeReply", {}, std::move(message), ""};
  return reply;
}

// Reads {"error": code, "details": {message, type, mro, traceback}}.
bool ParseErrorBody(std::string_view json, RuntimeError* error) {
  thread_local ParserAndCopy<simdjson::dom::parser> kept;
  KeptOrOwn p(kept, json.size());
  simdjson::dom::element root;
  if (p->parser.parse(p->copy.Pad(json)).get(root) || !root.is_object()) {
    return false;
  }
  std::string_view s;
  if (!root["error"].get_string().get(s)) error->code = s;
  simdjson::dom::element details;
  if (root["details"].get(details) || !details.is_object()) return !error->code.empty();
  if (!details["message"].get_string().get(s)) error->message = s;
  if (!details["type"].get_string().get(s)) error->type = s;
  if (!details["traceback"].get_string().get(s)) error->traceback = s;
  simdjson::dom::array mro;
  if (!details["mro"].get_array().get(mro)) {
    for (auto item : mro) {
      if (!item.get_string().get(s)) error->mro.emplace_back(s);
    }
  }
  return !error->code.empty();
}

// Splits {"frames": [...]} into the raw text of each frame.
bool SplitFrames(std::string_view body, std::vector<std::string>* frames) {
  // Once per /invoke: the parser and the copy are kept (a new parser allocates its buffers).
  thread_local ParserAndCopy<od::parser> kept;
  KeptOrOwn p(kept, body.size());
  od::document doc;
  od::array array;
  if (p->parser.iterate(p->copy.Pad(body)).get(doc) || doc["frames"].get_array().get(array)) {
    return false;
  }
  for (auto element : array) {
    od::object frame;
    std::string_view raw;
    if (element.get_object().get(frame) || frame.raw_json().get(raw)) return false;
    frames->emplace_back(Trim(raw));
  }
  return true;
}

// Reads an SSE stream: `event:` and `data:` lines, each event ended by a blank line.
RuntimeReply ParseSse(std::string_view body) {
  RuntimeReply reply;
  reply.kind = RuntimeReply::Kind::kFrames;
  reply.http_status = 200;
  std::string event, data;
  bool done = false;
  auto dispatch = [&]() {
    if (event.empty() && data.empty()) return;
    if (event == "downstream") {
      reply.frames.push_back(data);
    } else if (event == "upstream") {
      reply.upstream.push_back(data);
    } else if (event == "error") {
      RuntimeError error;
      if (!ParseErrorBody(data, &error)) {
        error = RuntimeError{"processing_error", "", {}, "unreadable SSE error event: " + data, ""};
      }
      reply.kind = RuntimeReply::Kind::kHandlerError;
      reply.error = std::move(error);
    } else if (event == "done") {
      done = true;
    }
    event.clear();
    data.clear();
  };
  size_t pos = 0;
  while (pos < body.size()) {
    size_t end = body.find('\n', pos);
    std::string_view line =
        body.substr(pos, end == std::string_view::npos ? body.size() - pos : end - pos);
    pos = end == std::string_view::npos ? body.size() : end + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) {
      dispatch();
    } else if (line.rfind("event:", 0) == 0) {
      event = Trim(line.substr(6));
    } else if (line.rfind("data:", 0) == 0) {
      if (!data.empty()) data.push_back('\n');
      data += Trim(line.substr(5));
    }
  }
  dispatch();
  if (reply.kind == RuntimeReply::Kind::kHandlerError) return reply;
  if (!done) {
    RuntimeReply bad = BadReply(200, "SSE stream ended without a 'done' event");
    bad.frames = std::move(reply.frames);
    return bad;
  }
  if (reply.frames.empty()) reply.kind = RuntimeReply::Kind::kNoContent;
  return reply;
}

}  // namespace

RuntimeReply InterpretResponse(int http_status, std::string_view content_type,
                               std::string_view body) {
  if (http_status == 204) {
    RuntimeReply reply;
    reply.kind = RuntimeReply::Kind::kNoContent;
    reply.http_status = 204;
    return reply;
  }
  if (http_status == 200 && content_type.find("text/event-stream") != std::string_view::npos) {
    return ParseSse(body);
  }
  if (http_status == 200) {
    RuntimeReply reply;
    reply.kind = RuntimeReply::Kind::kFrames;
    reply.http_status = 200;
    if (!SplitFrames(body, &reply.frames)) {
      return BadReply(200, "runtime answered 200 without a {\"frames\": [...]} body");
    }
    if (reply.frames.empty()) reply.kind = RuntimeReply::Kind::kNoContent;
    return reply;
  }
  if (http_status == 400 || http_status == 500) {
    RuntimeReply reply;
    reply.kind = RuntimeReply::Kind::kHandlerError;
    reply.http_status = http_status;
    RuntimeError error;
    if (!ParseErrorBody(body, &error)) {
      return BadReply(http_status, "runtime answered " + std::to_string(http_status) +
                                       " without an Asya error body");
    }
    reply.error = std::move(error);
    return reply;
  }
  return BadReply(http_status, "runtime answered HTTP " + std::to_string(http_status) +
                                   " (the protocol has 200, 204, 400 and 500)");
}

namespace {

constexpr size_t kMaxResponseBytes = 64u << 20;

// One HTTP exchange over a fresh Unix-socket connection. Hand-written rather than libcurl:
// the runtime closes every connection, so per-call set-up dominates, and libcurl's cost per
// call (about half of the sidecar's CPU per envelope, measured with perf) was the largest
// part of it. Handles HTTP/1.0 and 1.1 status lines, Content-Length, chunked and
// close-delimited bodies.
class Exchange {
 public:
  enum class Outcome { kOk, kUnreachable, kTimeout, kNoReply, kNotHttp, kTooLarge };

  Exchange(const std::string& socket_path, std::string head, std::string body)
      : socket_path_(socket_path), head_(std::move(head)), request_body_(std::move(body)) {}
  ~Exchange() {
    if (fd_ >= 0) close(fd_);
  }
  Exchange(const Exchange&) = delete;
  Exchange& operator=(const Exchange&) = delete;

  // Connects and writes what the socket takes, without waiting. A connection the runtime has
  // not accepted yet is queued by the kernel and takes the request all the same.
  void Begin() {
    fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd_ < 0) {
      failed_ = Fail(Outcome::kUnreachable, std::strerror(errno));
      return;
    }
    addr_.sun_family = AF_UNIX;
    std::memcpy(addr_.sun_path, socket_path_.c_str(),
                std::min(socket_path_.size() + 1, sizeof(addr_.sun_path) - 1));
    TryConnect();
    if (connected_) TryWrite();
  }

  // Waits until `deadline` for the connection, the rest of the request and the whole reply.
  Outcome Finish(absl::Time deadline) {
    deadline_ = deadline;
    if (failed_) return *failed_;
    while (!connected_) {
      // The listen backlog is full: the runtime is busy. Wait, bounded by the deadline.
      if (!WaitFor(POLLOUT)) return Fail(Outcome::kTimeout, "connect timed out");
      absl::SleepFor(absl::Microseconds(200));
      TryConnect();
      if (failed_) return *failed_;
    }
    while (!TryWrite()) {
      if (!WaitFor(POLLOUT)) return Fail(Outcome::kTimeout, "request write timed out");
    }
    return ReadResponse();
  }

  int status() const { return status_; }
  const std::string& content_type() const { return content_type_; }
  std::string_view body() const { return body_; }
  const std::string& error() const { return error_; }

 private:
  Outcome Fail(Outcome outcome, std::string message) {
    error_ = std::move(message);
    return outcome;
  }

  bool WaitFor(short events) {
    while (true) {
      absl::Duration left = deadline_ - absl::Now();
      if (left <= absl::ZeroDuration()) return false;
      pollfd pfd{fd_, events, 0};
      int n = poll(&pfd, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1);
      if (n > 0) return true;
      if (n < 0 && errno != EINTR) return false;
    }
  }

  // Sets connected_, or failed_ when the runtime cannot be reached; neither while the listen
  // backlog is full.
  void TryConnect() {
    while (connect(fd_, reinterpret_cast<sockaddr*>(&addr_), sizeof(addr_)) != 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN) failed_ = Fail(Outcome::kUnreachable, std::strerror(errno));
      return;
    }
    connected_ = true;
  }

  // Writes what the socket takes now; true once the whole request is written.
  bool TryWrite() {
    const size_t total = head_.size() + request_body_.size();
    while (written_ < total) {
      iovec parts[2];
      size_t count = 0;
      if (written_ < head_.size()) {
        parts[count++] = {head_.data() + written_, head_.size() - written_};
        parts[count++] = {request_body_.data(), request_body_.size()};
      } else {
        size_t at = written_ - head_.size();
        parts[count++] = {request_body_.data() + at, request_body_.size() - at};
      }
      msghdr msg{};
      msg.msg_iov = parts;
      msg.msg_iovlen = count;
      ssize_t n = sendmsg(fd_, &msg, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN) return false;
        // The runtime may answer and close before reading everything (e.g. a 400): read it.
        written_ = total;
        return true;
      }
      written_ += static_cast<size_t>(n);
    }
    return true;
  }

  // Reads until the body is complete (by length, last chunk, or connection close).
  Outcome ReadResponse() {
    std::string data;
    size_t head_end = std::string::npos;
    bool chunked = false;
    size_t length = kNoLength;  // a std::optional here trips GCC 12's -Wmaybe-uninitialized
    char buf[65536];
    while (true) {
      if (head_end != std::string::npos) {
        size_t have = data.size() - head_end;
        if (length != kNoLength && have >= length) break;
        if (chunked && DecodeChunked(std::string_view(data).substr(head_end))) return Outcome::kOk;
      }
      ssize_t n = recv(fd_, buf, sizeof(buf), 0);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN) {
          if (!WaitFor(POLLIN)) return Fail(Outcome::kTimeout, "runtime did not answer in time");
          continue;
        }
        n = 0;  // ECONNRESET and the like: treat as the end of the reply
      }
      if (n == 0) {
        if (data.empty()) return Fail(Outcome::kNoReply, "closed the connection without a reply");
        if (head_end == std::string::npos)
          return Fail(Outcome::kNotHttp, "reply ended inside the headers");
        if (chunked) return Fail(Outcome::kNotHttp, "chunked body ended early");
        if (length != kNoLength && data.size() - head_end < length) {
          return Fail(Outcome::kNotHttp, "body shorter than its Content-Length");
        }
        break;
      }
      data.append(buf, n);
      if (data.size() > kMaxResponseBytes) return Fail(Outcome::kTooLarge, "reply over 64 MiB");
      if (head_end == std::string::npos) {
        if (data.size() >= 5 && data.compare(0, 5, "HTTP/") != 0) {
          return Fail(Outcome::kNotHttp, "reply does not start with an HTTP status line");
        }
        size_t end = data.find("\r\n\r\n");
        if (end == std::string::npos) continue;
        if (!ParseHead(std::string_view(data).substr(0, end), &chunked, &length)) {
          return Fail(Outcome::kNotHttp, "malformed HTTP status line");
        }
        head_end = end + 4;
        if (status_ == 204 || status_ == 304) length = 0;
      }
    }
    body_ = data.substr(head_end, length);  // kNoLength is npos: up to the close
    return Outcome::kOk;
  }

  static constexpr size_t kNoLength = std::string::npos;  // no Content-Length

  bool ParseHead(std::string_view head, bool* chunked, size_t* length) {
    size_t line_end = head.find("\r\n");
    std::string_view status_line = head.substr(0, line_end);
    if (status_line.size() < 12 || status_line[8] != ' ') return false;
    status_ = 0;
    for (size_t i = 9; i < 12; ++i) {
      if (status_line[i] < '0' || status_line[i] > '9') return false;
      status_ = status_ * 10 + (status_line[i] - '0');
    }
    while (line_end != std::string_view::npos) {
      size_t start = line_end + 2;
      line_end = head.find("\r\n", start);
      std::string_view line = head.substr(
          start, line_end == std::string_view::npos ? std::string_view::npos : line_end - start);
      size_t colon = line.find(':');
      if (colon == std::string_view::npos) continue;
      const std::string_view name = line.substr(0, colon);
      std::string_view value = Trim(line.substr(colon + 1));
      if (absl::EqualsIgnoreCase(AsAbsl(name), "content-type")) {
        content_type_ = std::string(value);
      } else if (absl::EqualsIgnoreCase(AsAbsl(name), "content-length")) {
        size_t n = 0;
        for (char c : value) {
          if (c < '0' || c > '9') return false;
          n = n * 10 + (c - '0');
        }
        *length = n;
      } else if (absl::EqualsIgnoreCase(AsAbsl(name), "transfer-encoding") &&
                 value.find("chunked") != std::string_view::npos) {
        *chunked = true;
      }
    }
    if (*chunked) *length = kNoLength;
    return true;
  }

  // True once the whole chunked body is present; the decoded body goes to body_.
  bool DecodeChunked(std::string_view raw) {
    std::string out;
    size_t pos = 0;
    while (true) {
      size_t eol = raw.find("\r\n", pos);
      if (eol == std::string_view::npos) return false;
      size_t size = 0;
      for (size_t i = pos; i < eol && raw[i] != ';'; ++i) {
        char c = static_cast<char>(std::tolower(static_cast<unsigned char>(raw[i])));
        if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
        size = size * 16 + (c <= '9' ? c - '0' : c - 'a' + 10);
      }
      if (size == 0) {
        body_ = std::move(out);
        return true;
      }
      if (raw.size() < eol + 2 + size + 2) return false;
      out.append(raw.substr(eol + 2, size));
      pos = eol + 2 + size + 2;
    }
  }

  const std::string& socket_path_;
  std::string head_;
  std::string request_body_;
  sockaddr_un addr_{};
  absl::Time deadline_;
  int fd_ = -1;
  bool connected_ = false;
  size_t written_ = 0;
  std::optional<Outcome> failed_;
  int status_ = 0;
  std::string content_type_;
  std::string body_;
  std::string error_;
};

class UdsCall : public RuntimeCall {
 public:
  UdsCall(const std::string& socket_path, std::string head, std::string body)
      : exchange(socket_path, std::move(head), std::move(body)) {}
  Exchange exchange;
};

class UdsRuntimeClient : public RuntimeClient {
 public:
  explicit UdsRuntimeClient(std::string socket_path) : socket_path_(std::move(socket_path)) {}

  std::unique_ptr<RuntimeCall> Start(std::string envelope_json) override {
    std::string head =
        "POST /invoke HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n" +
        extra_headers_ + "Content-Length: " + std::to_string(envelope_json.size()) + "\r\n\r\n";
    auto call = std::make_unique<UdsCall>(socket_path_, std::move(head), std::move(envelope_json));
    call->runtime_free = absl::Now();
    call->exchange.Begin();
    return call;
  }

  RuntimeReply Complete(RuntimeCall& base, absl::Duration timeout) override {
    auto& call = static_cast<UdsCall&>(base);
    Exchange& exchange = call.exchange;
    Exchange::Outcome outcome = exchange.Finish(call.runtime_free + timeout);
    RuntimeReply reply =
        outcome == Exchange::Outcome::kOk
            ? InterpretResponse(exchange.status(), exchange.content_type(), exchange.body())
            : Failure(outcome, exchange.error());
    reply.duration = absl::Now() - call.runtime_free;
    return reply;
  }

  void SetRequestHeader(std::string name, std::string value) override {
    extra_headers_ += name + ": " + value + "\r\n";
  }

  absl::Status Health(absl::Duration timeout) override {
    Exchange exchange(socket_path_, "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n", "");
    exchange.Begin();
    Exchange::Outcome outcome = exchange.Finish(absl::Now() + timeout);
    if (outcome != Exchange::Outcome::kOk) {
      return absl::UnavailableError("runtime /healthz: " + exchange.error());
    }
    if (exchange.status() != 200) {
      return absl::UnavailableError("runtime /healthz answered HTTP " +
                                    std::to_string(exchange.status()));
    }
    return absl::OkStatus();
  }

 private:
  RuntimeReply Failure(Exchange::Outcome outcome, const std::string& what) {
    RuntimeReply reply;
    switch (outcome) {
      case Exchange::Outcome::kUnreachable:
        reply.kind = RuntimeReply::Kind::kUnreachable;
        reply.error =
            RuntimeError{"connection_error",
                         "ConnectionError",
                         {},
                         "cannot connect to the runtime socket " + socket_path_ + ": " + what,
                         ""};
        break;
      case Exchange::Outcome::kTimeout:
        reply.kind = RuntimeReply::Kind::kTimeout;
        reply.error = RuntimeError{"timeout", "TimeoutError", {}, what, ""};
        break;
      case Exchange::Outcome::kNoReply:
        reply = BadReply(0, "runtime " + what);
        break;
      default:
        reply = BadReply(0, "runtime reply is not valid HTTP: " + what);
    }
    return reply;
  }

  std::string socket_path_;
  std::string extra_headers_;  // "name: value\r\n" lines
};

}  // namespace

std::unique_ptr<RuntimeClient> NewUdsRuntimeClient(const std::string& socket_path) {
  return std::make_unique<UdsRuntimeClient>(socket_path);
}

}  // namespace meshtrace
