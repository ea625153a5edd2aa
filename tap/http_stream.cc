#include "tap/http_stream.h"

#include <http_parser.h>

#include <algorithm>
#include <cctype>

namespace meshtrace::tap {
namespace {

bool IEquals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

}  // namespace

struct HttpStream::Impl {
  Impl(HttpStream* owner, Direction direction, Handler* handler) : owner(owner), handler(handler) {
    http_parser_init(&parser, direction == Direction::kRequests ? HTTP_REQUEST : HTTP_RESPONSE);
    parser.data = this;
    http_parser_settings_init(&settings);
    settings.on_message_begin = [](http_parser* p) { return Self(p)->Begin(); };
    settings.on_url = [](http_parser* p, const char* at, size_t n) {
      Self(p)->head.target.append(at, n);
      return 0;
    };
    settings.on_header_field = [](http_parser* p, const char* at, size_t n) {
      return Self(p)->Field(std::string_view(at, n));
    };
    settings.on_header_value = [](http_parser* p, const char* at, size_t n) {
      return Self(p)->Value(std::string_view(at, n));
    };
    settings.on_headers_complete = [](http_parser* p) { return Self(p)->HeadersDone(); };
    settings.on_body = [](http_parser* p, const char* at, size_t n) {
      Self(p)->handler->OnBody(std::string_view(at, n));
      return 0;
    };
    settings.on_message_complete = [](http_parser* p) {
      Self(p)->owner->in_message_ = false;
      Self(p)->owner->closes_ = http_should_keep_alive(p) == 0;
      Self(p)->handler->OnComplete();
      return 0;
    };
  }

  static Impl* Self(http_parser* p) { return static_cast<Impl*>(p->data); }

  int Begin() {
    owner->in_message_ = true;
    head = HttpHead();
    field.clear();
    value_of_content_type = false;
    return 0;
  }
  // A header arrives as field pieces then value pieces, each possibly split across Feeds.
  int Field(std::string_view piece) {
    if (value_started) {
      field.clear();
      value_started = false;
    }
    field.append(piece);
    return 0;
  }
  int Value(std::string_view piece) {
    if (!value_started) {
      value_started = true;
      value_of_content_type = IEquals(field, "content-type");
      if (value_of_content_type) head.content_type.clear();
    }
    if (value_of_content_type) head.content_type.append(piece);
    return 0;
  }
  int HeadersDone() {
    head.status = static_cast<int>(parser.status_code);
    head.version_major = parser.http_major;
    head.version_minor = parser.http_minor;
    if (parser.type == HTTP_REQUEST) {
      head.method = http_method_str(static_cast<http_method>(parser.method));
    }
    value_started = false;
    handler->OnHead(head);
    return 0;
  }

  HttpStream* owner;
  Handler* handler;
  http_parser parser;
  http_parser_settings settings;
  HttpHead head;
  std::string field;
  bool value_started = false;
  bool value_of_content_type = false;
};

HttpStream::HttpStream(Direction direction, Handler* handler)
    : impl_(std::make_unique<Impl>(this, direction, handler)) {}

HttpStream::~HttpStream() = default;

bool HttpStream::Feed(std::string_view bytes) {
  if (failed()) return false;
  const size_t parsed =
      http_parser_execute(&impl_->parser, &impl_->settings, bytes.data(), bytes.size());
  const http_errno err = HTTP_PARSER_ERRNO(&impl_->parser);
  if (err != HPE_OK) {
    error_ = std::string(http_errno_name(err)) + ": " + http_errno_description(err);
    return false;
  }
  if (parsed != bytes.size()) {
    // The parser stops after a message that ends the connection (e.g. an upgrade).
    error_ = "bytes after the end of the last message";
    return false;
  }
  return true;
}

bool HttpStream::FeedEof() {
  if (failed()) return false;
  const bool was_in_message = in_message_;
  http_parser_execute(&impl_->parser, &impl_->settings, nullptr, 0);
  const http_errno err = HTTP_PARSER_ERRNO(&impl_->parser);
  if (err != HPE_OK) {
    error_ = std::string(http_errno_name(err)) + ": " + http_errno_description(err);
    return false;
  }
  if (was_in_message && in_message_) {
    error_ = "connection closed in the middle of a message";
    return false;
  }
  return true;
}

}  // namespace meshtrace::tap
