#include "sidecar/runtime_client.h"

#include <curl/curl.h>
#include <simdjson.h>

#include <string>

#include "absl/time/clock.h"

namespace meshtrace::sidecar {
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
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(json.data(), json.size()).get(root) || !root.is_object()) return false;
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
  simdjson::padded_string padded(body);
  od::parser parser;
  od::document doc;
  od::array array;
  if (parser.iterate(padded).get(doc) || doc["frames"].get_array().get(array)) return false;
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

struct CurlGlobal {
  CurlGlobal() { curl_global_init(CURL_GLOBAL_DEFAULT); }
};

size_t AppendBody(char* data, size_t size, size_t count, void* out) {
  static_cast<std::string*>(out)->append(data, size * count);
  return size * count;
}

class UdsRuntimeClient : public RuntimeClient {
 public:
  explicit UdsRuntimeClient(std::string socket_path) : socket_path_(std::move(socket_path)) {
    static CurlGlobal global;
    curl_ = curl_easy_init();
    headers_ = curl_slist_append(nullptr, "Content-Type: application/json");
    headers_ = curl_slist_append(headers_, "Expect:");  // the runtime does not do 100-continue
  }
  ~UdsRuntimeClient() override {
    curl_slist_free_all(headers_);
    curl_easy_cleanup(curl_);
  }

  RuntimeReply Invoke(std::string_view envelope_json, absl::Duration timeout) override {
    const absl::Time start = absl::Now();
    std::string body;
    CURLcode code = Perform("http://localhost/invoke", envelope_json, timeout, &body);
    RuntimeReply reply;
    if (code != CURLE_OK) {
      reply = Failure(code);
    } else {
      long status = 0;
      char* content_type = nullptr;
      curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &status);
      curl_easy_getinfo(curl_, CURLINFO_CONTENT_TYPE, &content_type);
      reply = InterpretResponse(static_cast<int>(status),
                                content_type != nullptr ? content_type : "", body);
    }
    reply.duration = absl::Now() - start;
    return reply;
  }

  absl::Status Health(absl::Duration timeout) override {
    std::string body;
    CURLcode code = Perform("http://localhost/healthz", std::nullopt, timeout, &body);
    if (code != CURLE_OK) return absl::UnavailableError(curl_easy_strerror(code));
    long status = 0;
    curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200) {
      return absl::UnavailableError("runtime /healthz answered HTTP " + std::to_string(status));
    }
    return absl::OkStatus();
  }

 private:
  CURLcode Perform(const char* url, std::optional<std::string_view> post, absl::Duration timeout,
                   std::string* body) {
    curl_easy_reset(curl_);
    curl_easy_setopt(curl_, CURLOPT_UNIX_SOCKET_PATH, socket_path_.c_str());
    curl_easy_setopt(curl_, CURLOPT_URL, url);
    curl_easy_setopt(curl_, CURLOPT_FORBID_REUSE, 1L);
    curl_easy_setopt(curl_, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl_, CURLOPT_TIMEOUT_MS,
                     static_cast<long>(std::max<int64_t>(1, absl::ToInt64Milliseconds(timeout))));
    curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, AppendBody);
    curl_easy_setopt(curl_, CURLOPT_WRITEDATA, body);
    if (post.has_value()) {
      curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, headers_);
      curl_easy_setopt(curl_, CURLOPT_POSTFIELDS, post->data());
      curl_easy_setopt(curl_, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(post->size()));
    }
    return curl_easy_perform(curl_);
  }

  RuntimeReply Failure(CURLcode code) {
    RuntimeReply reply;
    std::string what = curl_easy_strerror(code);
    switch (code) {
      case CURLE_COULDNT_CONNECT:
        reply.kind = RuntimeReply::Kind::kUnreachable;
        reply.error = RuntimeError{"connection_error",
                                   "ConnectionError",
                                   {},
                                   "cannot connect to the runtime socket " + socket_path_,
                                   ""};
        break;
      case CURLE_OPERATION_TIMEDOUT:
        reply.kind = RuntimeReply::Kind::kTimeout;
        reply.error =
            RuntimeError{"timeout", "TimeoutError", {}, "runtime did not answer in time", ""};
        break;
      case CURLE_GOT_NOTHING:
        reply = BadReply(0, "runtime closed the connection without a reply");
        break;
      default:
        reply = BadReply(0, "runtime reply is not valid HTTP: " + what);
    }
    return reply;
  }

  std::string socket_path_;
  CURL* curl_ = nullptr;
  curl_slist* headers_ = nullptr;
};

}  // namespace

std::unique_ptr<RuntimeClient> NewUdsRuntimeClient(const std::string& socket_path) {
  return std::make_unique<UdsRuntimeClient>(socket_path);
}

}  // namespace meshtrace::sidecar
