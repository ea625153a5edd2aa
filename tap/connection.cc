#include "tap/connection.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <utility>

#include "common/unix_socket.h"
#include "tap/http_stream.h"
#include "tap/reply_rules.h"
#include "tap/sse.h"

namespace meshtrace::tap {
namespace {

constexpr size_t kBufferBytes = 64 << 10;

bool SendAll(int fd, const char* data, size_t n) {
  while (n > 0) {
    ssize_t w = send(fd, data, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    data += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

// The request target's path is /invoke (a query string aside).
bool IsInvoke(const HttpHead& head) {
  if (head.method != "POST") return false;
  std::string_view path = head.target;
  path = path.substr(0, path.find('?'));
  return path == "/invoke" || path.ends_with("://localhost/invoke");
}

// One request and, once it comes, its reply.
struct Exchange {
  bool invoke = false;
  Invocation in;
  bool observed = true;  // false: a body over the cap; the outcome is not judged
  absl::Time request_end;
  int status = 0;
  std::string body;  // the reply's, when not an event stream
  int frames = 0;
  std::optional<RuntimeError> stream_error;
  std::unique_ptr<SseDecoder> sse;
};

class Connection : HttpStream::Handler {
 public:
  Connection(int client_fd, const ConnectionContext& ctx)
      : ctx_(ctx),
        client_(client_fd),
        requests_(HttpStream::Direction::kRequests, &on_request_),
        replies_(HttpStream::Direction::kResponses, this),
        on_request_(this) {}
  ~Connection() override {
    if (upstream_ >= 0) close(upstream_);
  }

  void Run();

 private:
  // The request side's handler (the reply side's is the Connection itself).
  struct RequestHandler : HttpStream::Handler {
    explicit RequestHandler(Connection* c) : c(c) {}
    void OnHead(const HttpHead& head) override { c->RequestHead(head); }
    void OnBody(std::string_view bytes) override { c->RequestBody(bytes); }
    void OnComplete() override { c->RequestComplete(); }
    Connection* c;
  };

  bool FromClient();
  bool FromUpstream();
  void RequestHead(const HttpHead& head);
  void RequestBody(std::string_view bytes);
  void RequestComplete();
  void OnHead(const HttpHead& head) override;
  void OnBody(std::string_view bytes) override;
  void OnComplete() override;
  void OnStreamEvent(Exchange& x, std::string_view event, std::string_view data);
  void Finish(Exchange& x, InvokeEnd end);
  void FailPending(InvokeEnd::Kind kind, const std::string& message);
  void Fault(const std::string& reason) { ctx_.metrics->ProtocolFault(reason); }
  absl::Time Now() const { return ctx_.clock->Now(); }

  const ConnectionContext& ctx_;
  int client_;
  int upstream_ = -1;
  bool upstream_failed_ = false;
  bool over_ = false;  // the connection is to be closed
  HttpStream requests_;
  HttpStream replies_;
  RequestHandler on_request_;
  Exchange current_;  // the request being read
  std::string request_body_;
  std::deque<Exchange> pending_;  // requests forwarded, replies not complete, in order
  absl::Duration added_;          // the tap's own time since the last exchange ended
  char buffer_[kBufferBytes];
};

void Connection::Run() {
  while (true) {
    pollfd fds[2] = {{client_, POLLIN, 0}, {upstream_, POLLIN, 0}};
    const int n = upstream_ >= 0 ? 2 : 1;
    const int timeout_ms =
        upstream_failed_ ? static_cast<int>(absl::ToInt64Milliseconds(ctx_.unreachable_grace)) : -1;
    int ready = poll(fds, n, timeout_ms);
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) return;  // the unreachable grace ran out
    if (n == 2 && (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) && !FromUpstream()) return;
    if ((fds[0].revents & (POLLIN | POLLHUP | POLLERR)) && !FromClient()) return;
  }
}

// False when the connection is over.
bool Connection::FromClient() {
  ssize_t got = read(client_, buffer_, sizeof(buffer_));
  if (got < 0 && errno == EINTR) return true;
  if (got <= 0) {
    // The stock client never half-closes: a hang-up with replies due is its deadline.
    if (!pending_.empty()) FailPending(InvokeEnd::Kind::kClientGone, "the client hung up");
    return false;
  }
  const std::string_view bytes(buffer_, static_cast<size_t>(got));
  ctx_.metrics->Bytes("request", bytes.size());
  if (upstream_ < 0 && !upstream_failed_) {
    const absl::Time start = Now();
    upstream_ = DialUnixSocket(ctx_.upstream_path);
    added_ += Now() - start;
    if (upstream_ < 0) {
      upstream_failed_ = true;
      ctx_.metrics->UpstreamConnectFailure();
    }
  }
  if (!upstream_failed_) {
    const absl::Time start = Now();
    if (!SendAll(upstream_, bytes.data(), bytes.size())) {
      requests_.Feed(bytes);
      FailPending(InvokeEnd::Kind::kBadReply, "the runtime closed its socket mid-request");
      return false;
    }
    added_ += Now() - start;
  }
  if (!requests_.failed() && !requests_.Feed(bytes)) Fault("request_not_http");
  // With the runtime unreachable, the request is read to its end to be reported, then the
  // connection is closed: what the sidecar sees is a dead runtime.
  return !over_;
}

bool Connection::FromUpstream() {
  ssize_t got = read(upstream_, buffer_, sizeof(buffer_));
  if (got < 0 && errno == EINTR) return true;
  if (got <= 0) {
    if (!replies_.failed()) replies_.FeedEof();
    FailPending(InvokeEnd::Kind::kBadReply,
                "the runtime closed the connection without a complete reply");
    return false;
  }
  const std::string_view bytes(buffer_, static_cast<size_t>(got));
  ctx_.metrics->Bytes("reply", bytes.size());
  const absl::Time start = Now();
  if (!SendAll(client_, bytes.data(), bytes.size())) {
    FailPending(InvokeEnd::Kind::kClientGone, "the client hung up");
    return false;
  }
  added_ += Now() - start;
  if (!replies_.failed() && !replies_.Feed(bytes)) {
    Fault("reply_not_http");
    FailPending(InvokeEnd::Kind::kBadReply, "the runtime's reply is not HTTP: " + replies_.error());
  }
  return true;
}

void Connection::RequestHead(const HttpHead& head) {
  current_ = Exchange();
  current_.invoke = IsInvoke(head);
  request_body_.clear();
}

void Connection::RequestBody(std::string_view bytes) {
  if (!current_.invoke || !current_.observed) return;
  if (request_body_.size() + bytes.size() > ctx_.max_observed_body) {
    current_.observed = false;
    request_body_.clear();
    Fault("request_too_large_to_observe");
    return;
  }
  request_body_.append(bytes);
}

void Connection::RequestComplete() {
  current_.request_end = Now();
  if (current_.invoke && current_.observed) {
    current_.in = ctx_.reporter->Received(request_body_, current_.request_end);
    if (!current_.in.reported) Fault("request_not_envelope");
  }
  request_body_.clear();
  pending_.push_back(std::move(current_));
  current_ = Exchange();
  if (upstream_failed_) {
    FailPending(InvokeEnd::Kind::kUpstreamUnavailable,
                "cannot connect to the runtime at " + ctx_.upstream_path);
    over_ = true;
  }
}

void Connection::OnHead(const HttpHead& head) {
  if (pending_.empty()) {
    Fault("reply_without_request");
    return;
  }
  Exchange& x = pending_.front();
  x.status = head.status;
  if (x.invoke && IsEventStream(head.content_type)) {
    x.sse = std::make_unique<SseDecoder>([this, &x](std::string_view event, std::string_view data) {
      OnStreamEvent(x, event, data);
    });
  }
}

void Connection::OnBody(std::string_view bytes) {
  if (pending_.empty()) return;
  Exchange& x = pending_.front();
  if (!x.invoke || !x.observed) return;
  if (x.sse) {
    x.sse->Feed(bytes);
    if (x.sse->overflowed()) {
      x.observed = false;
      Fault("reply_too_large_to_observe");
    }
  } else if (x.body.size() + bytes.size() > ctx_.max_observed_body) {
    x.observed = false;
    Fault("reply_too_large_to_observe");
  } else {
    x.body.append(bytes);
  }
}

void Connection::OnStreamEvent(Exchange& x, std::string_view event, std::string_view data) {
  if (x.stream_error.has_value()) return;  // the stock sidecar ignores what follows an error
  if (event == "downstream") {
    ctx_.reporter->Frame(x.in, data, x.frames++, Now());
  } else if (event == "error") {
    x.stream_error = SseError(data);
  }
}

void Connection::OnComplete() {
  if (pending_.empty()) return;
  Exchange& x = pending_.front();
  InvokeEnd end;
  end.http_status = x.status;
  if (x.sse) {
    end.frames = x.frames;
    end.kind = x.stream_error ? InvokeEnd::Kind::kHandlerError
               : x.frames > 0 ? InvokeEnd::Kind::kFrames
                              : InvokeEnd::Kind::kNoFrames;
    end.error = x.stream_error;
  } else if (x.invoke && x.observed) {
    ReplyVerdict verdict = JudgeReply(x.status, x.body);
    end.error = verdict.error;
    end.frames = static_cast<int>(verdict.frames.size());
    const absl::Time now = Now();
    for (size_t i = 0; i < verdict.frames.size(); ++i) {
      ctx_.reporter->Frame(x.in, verdict.frames[i], static_cast<int>(i), now);
    }
    switch (verdict.kind) {
      case ReplyVerdict::Kind::kFrames:
        end.kind = InvokeEnd::Kind::kFrames;
        break;
      case ReplyVerdict::Kind::kNoFrames:
        end.kind = InvokeEnd::Kind::kNoFrames;
        break;
      case ReplyVerdict::Kind::kHandlerError:
        end.kind = InvokeEnd::Kind::kHandlerError;
        break;
      case ReplyVerdict::Kind::kBadReply:
        end.kind = InvokeEnd::Kind::kBadReply;
        Fault("reply_not_asya");
        break;
    }
  }
  Finish(x, std::move(end));
  pending_.pop_front();
}

void Connection::Finish(Exchange& x, InvokeEnd end) {
  const absl::Duration added = std::exchange(added_, absl::ZeroDuration());
  if (!x.invoke) {
    ctx_.metrics->OtherRequest();
    return;
  }
  const absl::Time now = Now();
  end.duration = now - x.request_end;
  if (x.observed) ctx_.reporter->End(x.in, end, now);
  ctx_.metrics->Exchange(OutcomeName(end.kind), added);
}

// Every request still waiting for its reply ends as `kind`.
void Connection::FailPending(InvokeEnd::Kind kind, const std::string& message) {
  while (!pending_.empty()) {
    InvokeEnd end;
    end.kind = kind;
    end.http_status = pending_.front().status;
    end.frames = pending_.front().frames;
    end.error = RuntimeError{
        kind == InvokeEnd::Kind::kClientGone ? "timeout" : "connection_error", "", {}, message, ""};
    Finish(pending_.front(), std::move(end));
    pending_.pop_front();
  }
}

}  // namespace

void ServeConnection(int client_fd, const ConnectionContext& context) {
  auto connection = std::make_unique<Connection>(client_fd, context);
  connection->Run();
}

}  // namespace meshtrace::tap
