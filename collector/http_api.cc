#include "collector/http_api.h"

#include <httplib.h>

#include <nlohmann/json.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "collector/report.h"
#include "common/absl_compat.h"
#include "common/trace_view.h"

namespace meshtrace::collector {
namespace {

void SendJson(httplib::Response& res, int status, const nlohmann::json& body) {
  res.status = status;
  res.set_content(body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                  "application/json");
}

void SendError(httplib::Response& res, const absl::Status& s) {
  int code = 500;
  if (s.code() == absl::StatusCode::kInvalidArgument) code = 400;
  if (s.code() == absl::StatusCode::kNotFound) code = 404;
  SendJson(res, code, {{"error", std::string(s.message())}});
}

// since/until: RFC 3339, Unix seconds, or a duration back from now ("15m", "1h").
absl::StatusOr<int64_t> ParseTimeParam(const std::string& name, const std::string& value,
                                       Clock* clock) {
  absl::Time t;
  std::string err;
  if (absl::ParseTime(absl::RFC3339_full, value, &t, &err)) return absl::ToUnixNanos(t);
  int64_t seconds = 0;
  if (absl::SimpleAtoi(AsAbsl(value), &seconds) && seconds > 0) return seconds * 1'000'000'000;
  absl::Duration d;
  if (absl::ParseDuration(value, &d) && d > absl::ZeroDuration()) {
    return absl::ToUnixNanos(clock->Now() - d);
  }
  return absl::InvalidArgumentError(
      name + ": expected an RFC 3339 time, Unix seconds or a duration back from now (1h), got '" +
      value + "'");
}

absl::StatusOr<v1::ListTracesRequest> ListRequest(const httplib::Request& req, Clock* clock) {
  static const std::vector<std::string> kKnown = {"outcome", "verdict", "actor", "reason", "since",
                                                  "until",   "q",       "limit", "cursor", "token"};
  for (const auto& [key, value] : req.params) {
    if (std::find(kKnown.begin(), kKnown.end(), key) == kKnown.end()) {
      return absl::InvalidArgumentError(key + ": unknown parameter");
    }
  }
  v1::ListTracesRequest r;
  if (req.has_param("outcome")) {
    v1::Outcome o;
    if (!ParseOutcome(req.get_param_value("outcome"), &o)) {
      return absl::InvalidArgumentError("outcome: expected succeeded, failed or mixed");
    }
    r.set_outcome(o);
  }
  if (req.has_param("verdict")) {
    v1::Verdict v;
    if (!ParseVerdict(req.get_param_value("verdict"), &v)) {
      return absl::InvalidArgumentError("verdict: expected open, complete, stalled or partial");
    }
    r.set_verdict(v);
  }
  r.set_actor(req.get_param_value("actor"));
  r.set_reason(req.get_param_value("reason"));
  r.set_q(req.get_param_value("q"));
  r.set_cursor(req.get_param_value("cursor"));
  for (const char* name : {"since", "until"}) {
    if (!req.has_param(name) || req.get_param_value(name).empty()) continue;
    auto t = ParseTimeParam(name, req.get_param_value(name), clock);
    if (!t.ok()) return t.status();
    (name[0] == 's' ? r.set_since_ns(*t) : r.set_until_ns(*t));
  }
  if (req.has_param("limit")) {
    uint32_t limit = 0;
    if (!absl::SimpleAtoi(AsAbsl(req.get_param_value("limit")), &limit) || limit == 0 ||
        limit > 1000) {
      return absl::InvalidArgumentError("limit: expected a number from 1 to 1000");
    }
    r.set_limit(limit);
  }
  return r;
}

std::string CookieToken(const httplib::Request& req) {
  const std::string cookies = req.get_header_value("Cookie");
  for (absl::string_view part : absl::StrSplit(cookies, ';')) {
    part = absl::StripAsciiWhitespace(part);
    if (absl::ConsumePrefix(&part, "meshtrace_token=")) return std::string(part);
  }
  return "";
}

}  // namespace

void RegisterHttpApi(httplib::Server* server, const QueryEngine* engine, CollectorMetrics* metrics,
                     std::string token, std::function<bool()> ready, Clock* clock) {
  server->set_pre_routing_handler([token](const httplib::Request& req, httplib::Response& res) {
    if (token.empty() || req.path == "/healthz" || req.path == "/readyz") {
      return httplib::Server::HandlerResponse::Unhandled;
    }
    if (req.get_header_value("Authorization") == "Bearer " + token || CookieToken(req) == token) {
      return httplib::Server::HandlerResponse::Unhandled;
    }
    if (req.has_param("token") && req.get_param_value("token") == token) {
      res.set_header("Set-Cookie",
                     "meshtrace_token=" + token + "; Path=/; HttpOnly; SameSite=Strict");
      return httplib::Server::HandlerResponse::Unhandled;
    }
    SendJson(res, 401,
             {{"error",
               "missing or wrong bearer token: send 'Authorization: Bearer <token>' "
               "(browsers: open /?token=<token> once)"}});
    return httplib::Server::HandlerResponse::Handled;
  });
  server->set_logger([metrics](const httplib::Request& req, const httplib::Response& res) {
    std::string route = "other";
    if (req.path == "/")
      route = "ui";
    else if (req.path.rfind("/api/v1/traces", 0) == 0) {
      route = req.path.size() > 15
                  ? (req.path.find("/report.html") != std::string::npos ? "report" : "trace")
                  : "traces";
    } else if (req.path.rfind("/api/v1/envelopes/", 0) == 0)
      route = "envelope";
    else if (req.path == "/api/v1/diff")
      route = "diff";
    else if (req.path == "/metrics" || req.path == "/healthz" || req.path == "/readyz")
      route = req.path.substr(1);
    metrics->HttpRequest(route, res.status);
  });
  server->Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok\n", "text/plain");
  });
  server->Get("/readyz", [ready](const httplib::Request&, httplib::Response& res) {
    const bool ok = ready();
    res.status = ok ? 200 : 503;
    res.set_content(ok ? "ready\n" : "not ready\n", "text/plain");
  });
  server->Get("/metrics", [metrics](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics->Render(), "text/plain; version=0.0.4; charset=utf-8");
  });
  server->Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(UiPage(), "text/html; charset=utf-8");
  });
  server->Get(
      "/api/v1/traces", [engine, clock](const httplib::Request& req, httplib::Response& res) {
        auto request = ListRequest(req, clock);
        if (!request.ok()) return SendError(res, request.status());
        auto list = engine->List(*request);
        if (!list.ok()) return SendError(res, list.status());
        nlohmann::json traces = nlohmann::json::array();
        for (const v1::TraceSummary& s : list->traces()) traces.push_back(SummaryJson(s));
        SendJson(res, 200, {{"traces", std::move(traces)}, {"next_cursor", list->next_cursor()}});
      });
  auto get = [engine](const std::string& id) {
    v1::GetTraceRequest r;
    r.set_trace_id(id);
    return engine->Get(r);
  };
  server->Get(R"(/api/v1/traces/([^/]+)/report\.html)",
              [get](const httplib::Request& req, httplib::Response& res) {
                auto artifact = get(req.matches[1]);
                if (!artifact.ok()) return SendError(res, artifact.status());
                res.set_content(RenderReport(*artifact), "text/html; charset=utf-8");
              });
  server->Get(R"(/api/v1/traces/([^/]+)/hops/([^/]+))", [engine](const httplib::Request& req,
                                                                 httplib::Response& res) {
    v1::GetHopCaptureRequest r;
    r.set_trace_id(req.matches[1]);
    r.set_envelope_id(req.matches[2]);
    r.set_actor(req.get_param_value("actor"));
    if (req.has_param("attempt")) {
      int attempt = 0;
      if (!absl::SimpleAtoi(AsAbsl(req.get_param_value("attempt")), &attempt) || attempt < 0) {
        return SendError(res, absl::InvalidArgumentError("attempt: expected a number"));
      }
      r.set_attempt(attempt);
    }
    auto capture = engine->HopCapture(r);
    if (!capture.ok()) return SendError(res, capture.status());
    SendJson(res, 200, {{"trace_id", r.trace_id()}, {"hop", HopJson(capture->hop())}});
  });
  server->Get(R"(/api/v1/traces/([^/]+))",
              [get](const httplib::Request& req, httplib::Response& res) {
                auto artifact = get(req.matches[1]);
                if (!artifact.ok()) return SendError(res, artifact.status());
                SendJson(res, 200, ArtifactJson(*artifact));
              });
  server->Get(R"(/api/v1/envelopes/([^/]+))",
              [engine](const httplib::Request& req, httplib::Response& res) {
                v1::GetTraceRequest r;
                r.set_envelope_id(req.matches[1]);
                auto artifact = engine->Get(r);
                if (!artifact.ok()) return SendError(res, artifact.status());
                nlohmann::json hops = nlohmann::json::array();
                for (const v1::Hop& hop : artifact->hops()) {
                  if (hop.envelope_id() == r.envelope_id()) hops.push_back(HopJson(hop));
                }
                SendJson(res, 200,
                         {{"envelope_id", r.envelope_id()},
                          {"trace_id", artifact->trace_id()},
                          {"verdict", VerdictName(artifact->verdict())},
                          {"outcome", OutcomeName(artifact->outcome())},
                          {"hops", std::move(hops)}});
              });
  server->Get("/api/v1/diff", [engine](const httplib::Request& req, httplib::Response& res) {
    v1::DiffRequest r;
    r.set_a(req.get_param_value("a"));
    r.set_b(req.get_param_value("b"));
    for (size_t i = 0; i < req.get_param_value_count("ignore"); ++i) {
      r.add_ignore_paths(req.get_param_value("ignore", i));
    }
    auto diff = engine->Diff(r);
    if (!diff.ok()) return SendError(res, diff.status());
    SendJson(res, 200, DiffJson(r.a(), r.b(), *diff));
  });
}

}  // namespace meshtrace::collector
