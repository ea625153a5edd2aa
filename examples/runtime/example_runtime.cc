#include "examples/runtime/example_runtime.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/envelope.h"
#include "common/json_text.h"

namespace meshtrace::example {
namespace {

using Json = nlohmann::ordered_json;

constexpr char kServer[] = "Server: BaseHTTP/0.6 Python/3.11.7 (meshtrace-example-runtime)\r\n";

std::string Response(int code, std::string_view reason, std::string_view content_type,
                     std::string_view body) {
  std::string out = "HTTP/1.0 " + std::to_string(code) + " " + std::string(reason) + "\r\n";
  out += kServer;
  if (!content_type.empty()) out += "Content-Type: " + std::string(content_type) + "\r\n";
  if (code != 204) out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  out += "\r\n";
  out.append(body);
  return out;
}

std::string HtmlError(int code, std::string_view reason, std::string_view message) {
  std::string body =
      "<!DOCTYPE HTML>\n<html><head><title>Error response</title></head><body>"
      "<h1>Error response</h1><p>Error code: " +
      std::to_string(code) + "</p><p>Message: " + std::string(message) + ".</p></body></html>\n";
  return Response(code, reason, "text/html;charset=utf-8", body);
}

std::vector<std::string> MroFor(const RuntimeOptions& options) {
  if (!options.fail_mro.empty()) return options.fail_mro;
  static const std::map<std::string, std::vector<std::string>> kBuiltins = {
      {"KeyError", {"LookupError", "Exception"}},
      {"IndexError", {"LookupError", "Exception"}},
      {"ZeroDivisionError", {"ArithmeticError", "Exception"}},
      {"json.decoder.JSONDecodeError", {"ValueError", "Exception"}},
      {"PermissionError", {"OSError", "Exception"}},
      {"TimeoutError", {"OSError", "Exception"}},
  };
  auto it = kBuiltins.find(options.fail_type);
  return it != kBuiltins.end() ? it->second : std::vector<std::string>{"Exception"};
}

Json ErrorDetails(const std::string& type, const std::vector<std::string>& mro,
                  const std::string& message) {
  std::string short_type =
      type.substr(type.rfind('.') == std::string::npos ? 0 : type.rfind('.') + 1);
  std::string traceback =
      "Traceback (most recent call last):\n"
      "  File \"/opt/asya/asya_runtime.py\", line 412, in _invoke\n"
      "    result = handler(payload)\n"
      "  File \"/app/handler.py\", line 27, in handle\n"
      "    raise " +
      short_type + "(" + Json(message).dump() + ")\n" + type + ": " + message + "\n";
  return Json{{"message", message}, {"type", type}, {"mro", mro}, {"traceback", traceback}};
}

std::string ErrorBody(std::string_view code, const Json& details) {
  return Json{{"error", code}, {"details", details}}.dump();
}

bool Truthy(const Json& v) {
  if (v.is_null()) return false;
  if (v.is_boolean()) return v.get<bool>();
  if (v.is_number()) return v.get<double>() != 0;
  if (v.is_string() || v.is_array() || v.is_object()) return !v.empty();
  return true;
}

Route Advance(const Route& route, const std::vector<std::string>* new_next) {
  Route out;
  out.prev = route.prev;
  out.prev.push_back(route.curr);
  out.next = new_next != nullptr ? *new_next : route.next;
  if (!out.next.empty()) {
    out.curr = out.next.front();
    out.next.erase(out.next.begin());
  }
  return out;
}

// The frame a handler's return value becomes: route advanced, headers and status echoed.
Json Frame(const Envelope& in, const Json& payload, const std::vector<std::string>* new_next) {
  Route route = Advance(in.route, new_next);
  Json frame{{"payload", payload},
             {"route", Json{{"prev", route.prev}, {"curr", route.curr}, {"next", route.next}}}};
  if (!in.headers.empty()) {
    Json headers = Json::object();
    for (const auto& [k, raw] : in.headers.entries()) headers[k] = Json::parse(raw);
    frame["headers"] = headers;
  }
  if (!in.status_json.empty()) frame["status"] = Json::parse(in.status_json);
  return frame;
}

// The frame for a handler that returns the payload unchanged, built from the raw bytes. The
// reference runtime re-encodes with Python's json (same value, its own spacing); keeping the
// bytes is cheaper and lets tests check byte-faithful routing end to end.
std::string RawFrame(const Envelope& in) {
  std::string frame = "{\"payload\":" + in.payload_json + ",\"route\":";
  AppendRouteJson(Advance(in.route, nullptr), &frame);
  if (!in.headers.empty()) {
    frame += ",\"headers\":{";
    bool first = true;
    for (const auto& [name, raw] : in.headers.entries()) {
      if (!first) frame += ',';
      first = false;
      AppendJsonString(name, &frame);
      frame += ':';
      frame += raw;
    }
    frame += '}';
  }
  if (!in.status_json.empty()) frame += ",\"status\":" + in.status_json;
  frame += '}';
  return frame;
}

std::string Sse(std::string_view event, const Json& data) {
  return "event: " + std::string(event) + "\ndata: " + data.dump() + "\n\n";
}

std::string SseResponse(const std::string& events) {
  return "HTTP/1.0 200 OK\r\n" + std::string(kServer) +
         "Content-Type: text/event-stream\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n" +
         events;
}

std::string Invoke(const RuntimeOptions& options, const std::string& body) {
  if (body.empty()) {
    return Response(400, "Bad Request", "application/json",
                    ErrorBody("msg_parsing_error",
                              ErrorDetails("ValueError", {"Exception"}, "Missing request body")));
  }
  EnvelopeFault fault = EnvelopeFault::kNone;
  auto envelope = ParseEnvelope(body, ParseOptions{}, &fault);
  if (!envelope.ok()) {
    const bool json_error = fault == EnvelopeFault::kNotJson;
    std::string type = json_error ? "json.decoder.JSONDecodeError" : "ValueError";
    std::vector<std::string> mro = json_error ? std::vector<std::string>{"ValueError", "Exception"}
                                              : std::vector<std::string>{"Exception"};
    return Response(400, "Bad Request", "application/json",
                    ErrorBody("msg_parsing_error",
                              ErrorDetails(type, mro, std::string(envelope.status().message()))));
  }
  // The payload is decoded only for handlers that look into it.
  const bool needs_payload =
      !options.fail_when.empty() || options.handler == HandlerKind::kEnrich ||
      options.handler == HandlerKind::kFanout || options.handler == HandlerKind::kReroute;
  const Json payload = needs_payload ? Json::parse(envelope->payload_json) : Json();
  const bool fail_condition = options.fail_when.empty()
                                  ? options.handler == HandlerKind::kFail
                                  : (payload.is_object() && payload.contains(options.fail_when) &&
                                     Truthy(payload[options.fail_when]));
  auto single = [&](const Json& frame) {
    return Response(200, "OK", "application/json", Json{{"frames", Json::array({frame})}}.dump());
  };
  auto unchanged = [&]() {
    return Response(200, "OK", "application/json", "{\"frames\":[" + RawFrame(*envelope) + "]}");
  };
  if (fail_condition) {
    return Response(500, "Internal Server Error", "application/json",
                    ErrorBody("processing_error", ErrorDetails(options.fail_type, MroFor(options),
                                                               options.fail_message)));
  }
  switch (options.handler) {
    case HandlerKind::kEcho:
    case HandlerKind::kFail:
      return unchanged();
    case HandlerKind::kSlow:
      std::this_thread::sleep_for(std::chrono::milliseconds(options.sleep_ms));
      return unchanged();
    case HandlerKind::kAbort:
      return Response(204, "No Content", "", "");
    case HandlerKind::kEnrich: {
      Json enriched = payload;
      if (!enriched.is_object()) enriched = Json{{"value", payload}};
      std::string key = options.enrich_key.empty() ? envelope->route.curr : options.enrich_key;
      enriched[key] = Json::parse(options.enrich_value, nullptr, false);
      return single(Frame(*envelope, enriched, nullptr));
    }
    case HandlerKind::kFanout: {
      std::string events = Sse("upstream", Json{{"payload", {{"fanout", options.fanout}}}});
      for (int i = 0; i < options.fanout; ++i) {
        if (i == options.fanout_fail_after) break;
        Json item = payload.is_object() ? payload : Json{{"value", payload}};
        item["index"] = i;
        events += Sse("downstream", Frame(*envelope, item, nullptr));
      }
      if (options.fanout_fail_after >= 0 && options.fanout_fail_after < options.fanout) {
        events += Sse("error", Json{{"error", "processing_error"},
                                    {"details", ErrorDetails(options.fail_type, MroFor(options),
                                                             options.fail_message)}});
      }
      events += Sse("done", Json::object());
      return SseResponse(events);
    }
    case HandlerKind::kReroute:
      return SseResponse(Sse("downstream", Frame(*envelope, payload, &options.reroute)) +
                         Sse("done", Json::object()));
    case HandlerKind::kGarbage:
      return "this is not HTTP\r\n\r\n{{{";
    case HandlerKind::kClose:
    case HandlerKind::kHang:
      return "";
  }
  return "";
}

// Reads one request: headers up to the blank line, then Content-Length bytes.
bool ReadRequest(int fd, std::string* method, std::string* path, std::string* body) {
  std::string data;
  char buf[65536];
  size_t header_end = std::string::npos;
  while ((header_end = data.find("\r\n\r\n")) == std::string::npos) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n <= 0) return false;
    data.append(buf, n);
    if (data.size() > (64u << 20)) return false;
  }
  std::string head = data.substr(0, header_end);
  size_t sp1 = head.find(' '), sp2 = head.find(' ', sp1 + 1);
  if (sp1 == std::string::npos || sp2 == std::string::npos) return false;
  *method = head.substr(0, sp1);
  *path = head.substr(sp1 + 1, sp2 - sp1 - 1);
  size_t length = 0;
  std::string lower = head;
  for (char& c : lower) c = static_cast<char>(tolower(c));
  if (size_t pos = lower.find("\r\ncontent-length:"); pos != std::string::npos) {
    length = std::strtoull(lower.c_str() + pos + 17, nullptr, 10);
  }
  *body = data.substr(header_end + 4);
  while (body->size() < length) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n <= 0) return false;
    body->append(buf, n);
  }
  body->resize(length);
  return true;
}

void WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return;
    data.remove_prefix(n);
  }
}

}  // namespace

absl::Status ParseHandlerKind(const std::string& name, HandlerKind* kind) {
  static const std::map<std::string, HandlerKind> kNames = {
      {"echo", HandlerKind::kEcho},       {"enrich", HandlerKind::kEnrich},
      {"fail", HandlerKind::kFail},       {"abort", HandlerKind::kAbort},
      {"slow", HandlerKind::kSlow},       {"fanout", HandlerKind::kFanout},
      {"fan-out", HandlerKind::kFanout},  {"reroute", HandlerKind::kReroute},
      {"garbage", HandlerKind::kGarbage}, {"close", HandlerKind::kClose},
      {"hang", HandlerKind::kHang}};
  auto it = kNames.find(name);
  if (it == kNames.end()) {
    return absl::InvalidArgumentError(
        "unknown handler '" + name +
        "' (one of echo, enrich, fail, abort, slow, fanout, reroute, garbage, close, hang)");
  }
  *kind = it->second;
  return absl::OkStatus();
}

std::string HandleRequest(const RuntimeOptions& options, const std::string& method,
                          const std::string& path, const std::string& body) {
  if (method != "GET" && method != "POST") {
    return HtmlError(501, "Unsupported method", "Unsupported method ('" + method + "')");
  }
  if (method == "GET" && path == "/healthz") {
    return Response(200, "OK", "application/json", R"({"status": "ready"})");
  }
  if (method == "POST" && path == "/invoke") return Invoke(options, body);
  return HtmlError(404, "Not Found", "Not Found");
}

absl::Status ServeRuntime(const RuntimeOptions& options, const std::atomic<bool>& stop) {
  const std::string socket_path = options.socket_dir + "/" + options.socket_name;
  const std::string ready_path = options.socket_dir + "/runtime-ready";
  sockaddr_un addr{};
  if (socket_path.size() >= sizeof(addr.sun_path)) {
    return absl::InvalidArgumentError("socket path too long: " + socket_path);
  }
  addr.sun_family = AF_UNIX;
  std::strcpy(addr.sun_path, socket_path.c_str());
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  unlink(socket_path.c_str());
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      listen(fd, 128) != 0) {
    std::string error = std::strerror(errno);
    if (fd >= 0) close(fd);
    return absl::UnavailableError("cannot listen on " + socket_path + ": " + error);
  }
  chmod(socket_path.c_str(), 0666);
  std::ofstream(ready_path) << "ready";

  while (!stop.load()) {
    pollfd pfd{fd, POLLIN, 0};
    if (poll(&pfd, 1, 100) <= 0) continue;
    int conn = accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (conn < 0) continue;
    std::string method, path, body;
    if (ReadRequest(conn, &method, &path, &body)) {
      if (options.handler == HandlerKind::kHang && path == "/invoke") {
        while (!stop.load()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
      } else {
        WriteAll(conn, HandleRequest(options, method, path, body));
      }
    }
    close(conn);
  }
  close(fd);
  unlink(socket_path.c_str());
  unlink(ready_path.c_str());
  return absl::OkStatus();
}

}  // namespace meshtrace::example
