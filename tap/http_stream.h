#pragma once

#include <memory>
#include <string>
#include <string_view>

namespace meshtrace::tap {

// The start line and the headers the tap looks at, of one HTTP message.
struct HttpHead {
  std::string method;  // requests
  std::string target;  // requests: the request target, e.g. /invoke
  int status = 0;      // responses
  int version_major = 1;
  int version_minor = 1;
  std::string content_type;
};

// Follows one direction of an HTTP/1.x connection as bytes pass through the tap: message
// boundaries (Content-Length, chunked, close-delimited bodies; HTTP/1.0 and 1.1), the head of
// each message and its decoded body. It only watches: the bytes it is fed are forwarded
// unchanged by the caller whatever it makes of them. Backed by the http-parser library (the
// only file that names it). Used by one thread.
class HttpStream {
 public:
  enum class Direction { kRequests, kResponses };

  class Handler {
   public:
    virtual ~Handler() = default;
    virtual void OnHead(const HttpHead& head) = 0;
    virtual void OnBody(std::string_view bytes) = 0;  // decoded (chunking removed)
    virtual void OnComplete() = 0;
  };

  HttpStream(Direction direction, Handler* handler);
  ~HttpStream();
  HttpStream(const HttpStream&) = delete;
  HttpStream& operator=(const HttpStream&) = delete;

  // Feeds the next bytes. Returns false once the stream is not valid HTTP: error() then says
  // why, and later bytes are ignored.
  bool Feed(std::string_view bytes);
  // The sender closed its side: ends a close-delimited body (OnComplete), or is an error when
  // a message was cut short.
  bool FeedEof();

  bool failed() const { return !error_.empty(); }
  const std::string& error() const { return error_; }
  // True once a complete message says the connection ends after it (HTTP/1.0 without
  // keep-alive, or Connection: close): nothing more can follow it.
  bool closes() const { return closes_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string error_;
  bool in_message_ = false;
  bool closes_ = false;
};

}  // namespace meshtrace::tap
