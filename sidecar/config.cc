#include "sidecar/config.h"

#include <CLI/CLI.hpp>
#include <cctype>
#include <cstring>
#include <fstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/environment.h"
#include "common/redaction.h"
#include "common/settings.h"
#include "common/topics.h"

extern char** environ;

namespace meshtrace::sidecar {
namespace {

// ASYA_ACTOR_NAME -> actor-name, MESHTRACE_CAPTURE_MAX_BYTES -> capture-max-bytes.
std::string FlagName(std::string var) {
  for (const char* prefix : {"ASYA_", "MESHTRACE_"}) {
    if (var.rfind(prefix, 0) == 0) var = var.substr(std::strlen(prefix));
  }
  for (char& c : var) c = c == '_' ? '-' : static_cast<char>(std::tolower(c));
  return var;
}

struct Setting {
  const char* var;
  const char* help;
};

constexpr Setting kSettings[] = {
    {"ASYA_ACTOR_NAME", "actor this sidecar serves (required); consumes asya-{ns}-{actor}"},
    {"ASYA_NAMESPACE", "queue namespace: topics are asya-{ns}-{actor} (default empty)"},
    {"ASYA_TRANSPORT", "queue transport: kafka (the only one)"},
    {"ASYA_KAFKA_BROKERS", "Kafka bootstrap list host:port,..."},
    {"ASYA_KAFKA_PROPERTIES",
     "extra librdkafka properties key=value,... (TLS, SASL); \\, = a comma"},
    {"ASYA_SOCKET_DIR", "runtime socket directory (default /var/run/asya)"},
    {"ASYA_RESILIENCY_ACTOR_TIMEOUT", "per-call runtime timeout, Go duration (default 5m)"},
    {"ASYA_RUNTIME_READY_TIMEOUT", "how long to wait for the runtime, Go duration (default 5m)"},
    {"ASYA_ACTOR_SINK", "success end actor (default x-sink)"},
    {"ASYA_ACTOR_SUMP", "failure end actor (default x-sump)"},
    {"ASYA_IS_END_ACTOR", "true: consume as an end actor (x-sink/x-sump), never route"},
    {"ASYA_METRICS_ENABLED", "serve Prometheus metrics (default true)"},
    {"ASYA_METRICS_ADDR", "metrics listen address (default :8080)"},
    {"ASYA_METRICS_NAMESPACE", "metric name prefix (default asya_actor)"},
    {"ASYA_LOG_LEVEL", "debug, info, warn or error (default info)"},
    {"MESHTRACE_COLLECTOR", "collector gRPC host:port; empty = no lifecycle events"},
    {"MESHTRACE_API_TOKEN", "bearer token for the collector"},
    {"MESHTRACE_COLLECTOR_CA", "PEM file of the CA that signed the collector's TLS certificate"},
    {"MESHTRACE_CAPTURE", "payloads (default), metadata or none"},
    {"MESHTRACE_CAPTURE_MAX_BYTES", "cap on each captured envelope (default 65536)"},
    {"MESHTRACE_REDACT", "header names and $.paths to hash; 'allow:' prefix = allow-list"},
    {"MESHTRACE_REDACT_KEY", "key of the redaction hash"},
    {"MESHTRACE_EVENT_BUFFER", "lifecycle events buffered at most (default 65536)"},
    {"MESHTRACE_EVENT_BUFFER_BYTES",
     "bytes of lifecycle events buffered at most, e.g. 64MiB (default 32MiB, at least 1MiB)"},
    {"MESHTRACE_INVOKE_PIPELINE",
     "/invoke calls in flight, 1-16 (default 6); 1 = one at a time, as Asya's sidecar"},
};

absl::Status Bad(const std::string& var, const std::string& value, const std::string& accepts) {
  return absl::InvalidArgumentError(var + "='" + value + "' is not valid: " + accepts);
}

absl::StatusOr<bool> ParseBool(const std::string& var, const std::string& value) {
  std::string v = value;
  for (char& c : v) c = static_cast<char>(std::tolower(c));
  if (v == "true" || v == "1" || v == "yes") return true;
  if (v == "false" || v == "0" || v == "no" || v.empty()) return false;
  return Bad(var, value, "expected true or false");
}

absl::StatusOr<size_t> ParseCount(const std::string& var, const std::string& value, size_t min,
                                  size_t max) {
  uint64_t n = 0;
  if (!absl::SimpleAtoi(value, &n) || n < min || n > max) {
    return Bad(
        var, value,
        "expected a whole number from " + std::to_string(min) + " to " + std::to_string(max));
  }
  return static_cast<size_t>(n);
}

// "key=value,key=value"; a value may hold a comma written as "\,".
absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ParseProperties(
    const std::string& text) {
  std::vector<std::pair<std::string, std::string>> out;
  std::vector<std::string> items(1);
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\\' && i + 1 < text.size() && text[i + 1] == ',') {
      items.back() += ',';
      ++i;
    } else if (text[i] == ',') {
      items.emplace_back();
    } else {
      items.back() += text[i];
    }
  }
  for (const std::string& item : items) {
    absl::string_view trimmed = absl::StripAsciiWhitespace(item);
    if (trimmed.empty()) continue;
    size_t eq = trimmed.find('=');
    absl::string_view key = eq == absl::string_view::npos
                                ? absl::string_view()
                                : absl::StripAsciiWhitespace(trimmed.substr(0, eq));
    if (key.empty()) {
      return Bad("ASYA_KAFKA_PROPERTIES", text,
                 "expected key=value,key=value (write a comma inside a value as \\,)");
    }
    out.emplace_back(std::string(key),
                     std::string(absl::StripAsciiWhitespace(trimmed.substr(eq + 1))));
  }
  return out;
}

absl::Status Apply(const std::map<std::string, std::string>& values, SidecarConfig* c) {
  auto get = [&](const char* var) -> const std::string* {
    auto it = values.find(var);
    return it == values.end() ? nullptr : &it->second;
  };
  if (auto* v = get("ASYA_ACTOR_NAME")) c->actor = *v;
  if (c->actor.empty()) {
    return absl::InvalidArgumentError("ASYA_ACTOR_NAME (or --actor-name) is required");
  }
  if (auto s = ValidateTopicPart("ASYA_ACTOR_NAME", c->actor); !s.ok()) return s;
  if (auto* v = get("ASYA_NAMESPACE")) c->ns = *v;
  if (!c->ns.empty()) {
    if (auto s = ValidateTopicPart("ASYA_NAMESPACE", c->ns); !s.ok()) return s;
  }
  if (auto* v = get("ASYA_TRANSPORT"); v != nullptr && !v->empty()) {
    if (*v != "kafka") {
      return Bad("ASYA_TRANSPORT", *v, "meshtrace-sidecar supports only 'kafka'");
    }
  }
  if (auto* v = get("ASYA_KAFKA_BROKERS"); v != nullptr && !v->empty()) c->kafka_brokers = *v;
  if (auto* v = get("ASYA_KAFKA_PROPERTIES")) {
    auto properties = ParseProperties(*v);
    if (!properties.ok()) return properties.status();
    c->kafka_properties = *std::move(properties);
  }
  if (auto* v = get("ASYA_SOCKET_DIR"); v != nullptr && !v->empty()) c->socket_dir = *v;
  if (c->socket_path().size() >= 108) {
    return Bad("ASYA_SOCKET_DIR", c->socket_dir, "the socket path must be under 108 bytes");
  }
  for (auto [var, field] : {std::pair{"ASYA_RESILIENCY_ACTOR_TIMEOUT", &c->actor_timeout},
                            std::pair{"ASYA_RUNTIME_READY_TIMEOUT", &c->ready_timeout}}) {
    if (auto* v = get(var); v != nullptr && !v->empty()) {
      auto d = ParseGoDuration(var, *v);
      if (!d.ok()) return d.status();
      *field = *d;
    }
  }
  if (auto* v = get("ASYA_ACTOR_SINK"); v != nullptr && !v->empty()) c->sink = *v;
  if (auto* v = get("ASYA_ACTOR_SUMP"); v != nullptr && !v->empty()) c->sump = *v;
  if (auto* v = get("ASYA_IS_END_ACTOR")) {
    auto b = ParseBool("ASYA_IS_END_ACTOR", *v);
    if (!b.ok()) return b.status();
    c->is_end_actor = *b;
  }
  if (auto* v = get("ASYA_METRICS_ENABLED"); v != nullptr && !v->empty()) {
    auto b = ParseBool("ASYA_METRICS_ENABLED", *v);
    if (!b.ok()) return b.status();
    c->metrics_enabled = *b;
  }
  if (auto* v = get("ASYA_METRICS_ADDR"); v != nullptr && !v->empty()) {
    auto colon = v->rfind(':');
    int port = 0;
    if (colon == std::string::npos || !absl::SimpleAtoi(v->substr(colon + 1), &port) || port < 0 ||
        port > 65535) {
      return Bad("ASYA_METRICS_ADDR", *v, "expected [host]:port, e.g. :8080 or 127.0.0.1:9100");
    }
    c->metrics_addr = *v;
  }
  if (auto* v = get("ASYA_METRICS_NAMESPACE"); v != nullptr && !v->empty()) {
    for (char ch : *v) {
      if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '_') {
        return Bad("ASYA_METRICS_NAMESPACE", *v, "letters, digits and '_' only");
      }
    }
    c->metrics_namespace = *v;
  }
  if (auto* v = get("ASYA_LOG_LEVEL"); v != nullptr && !v->empty()) {
    std::string l = *v;
    for (char& ch : l) ch = static_cast<char>(std::tolower(ch));
    if (l != "debug" && l != "info" && l != "warn" && l != "error") {
      return Bad("ASYA_LOG_LEVEL", *v, "expected debug, info, warn or error");
    }
    c->log_level = l;
  }
  if (auto* v = get("MESHTRACE_COLLECTOR")) c->collector = *v;
  if (auto* v = get("MESHTRACE_API_TOKEN")) c->collector_token = *v;
  if (auto* v = get("MESHTRACE_COLLECTOR_CA"); v != nullptr && !v->empty()) {
    std::ifstream in(*v);
    std::stringstream pem;
    pem << in.rdbuf();
    if (!in || pem.str().find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
      return Bad("MESHTRACE_COLLECTOR_CA", *v, "expected a readable PEM file of CA certificates");
    }
    c->collector_ca_pem = pem.str();
  }
  if (auto* v = get("MESHTRACE_CAPTURE"); v != nullptr && !v->empty()) {
    if (*v == "payloads") {
      c->capture = CaptureMode::kPayloads;
    } else if (*v == "metadata") {
      c->capture = CaptureMode::kMetadata;
    } else if (*v == "none") {
      c->capture = CaptureMode::kNone;
    } else {
      return Bad("MESHTRACE_CAPTURE", *v, "expected payloads, metadata or none");
    }
  }
  if (auto* v = get("MESHTRACE_CAPTURE_MAX_BYTES"); v != nullptr && !v->empty()) {
    auto n = ParseCount("MESHTRACE_CAPTURE_MAX_BYTES", *v, 256, 16u << 20);
    if (!n.ok()) return n.status();
    c->capture_max_bytes = *n;
  }
  if (auto* v = get("MESHTRACE_REDACT")) {
    auto r = Redactor::Create(*v, "");
    if (!r.ok()) return Bad("MESHTRACE_REDACT", *v, std::string(r.status().message()));
    c->redact = *v;
  }
  if (auto* v = get("MESHTRACE_REDACT_KEY")) c->redact_key = *v;
  if (auto* v = get("MESHTRACE_EVENT_BUFFER"); v != nullptr && !v->empty()) {
    auto n = ParseCount("MESHTRACE_EVENT_BUFFER", *v, 1, 100'000'000);
    if (!n.ok()) return n.status();
    c->event_buffer = *n;
  }
  if (auto* v = get("MESHTRACE_EVENT_BUFFER_BYTES"); v != nullptr && !v->empty()) {
    auto n = ParseByteSize(*v);
    if (!n.ok() || *n < (1u << 20) || *n > (uint64_t{1} << 40)) {
      return Bad("MESHTRACE_EVENT_BUFFER_BYTES", *v,
                 "expected a size from 1MiB to 1TiB, such as 33554432, 64MiB or 1GiB");
    }
    c->event_buffer_bytes = static_cast<size_t>(*n);
  }
  if (auto* v = get("MESHTRACE_INVOKE_PIPELINE"); v != nullptr && !v->empty()) {
    auto n = ParseCount("MESHTRACE_INVOKE_PIPELINE", *v, 1, 16);
    if (!n.ok()) return n.status();
    c->invoke_pipeline = static_cast<int>(*n);
  }
  // An event carries at most one capture: a buffer smaller than two would drop every event
  // with a capture near the cap.
  if (c->event_buffer_bytes < 2 * c->capture_max_bytes) {
    return absl::InvalidArgumentError("MESHTRACE_EVENT_BUFFER_BYTES (" +
                                      std::to_string(c->event_buffer_bytes) +
                                      ") must be at least twice MESHTRACE_CAPTURE_MAX_BYTES (" +
                                      std::to_string(c->capture_max_bytes) + ")");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<absl::Duration> ParseGoDuration(const std::string& variable,
                                               const std::string& value) {
  absl::Duration d;
  if (!absl::ParseDuration(value, &d) || d <= absl::ZeroDuration()) {
    return Bad(variable, value, "expected a positive Go duration such as 30s, 5m or 1h30m");
  }
  return d;
}

ConfigResult LoadSidecarConfig(int argc, const char* const* argv,
                               const std::map<std::string, std::string>& env) {
  ConfigResult result;
  CLI::App app{
      "meshtrace-sidecar: an Asya-compatible actor sidecar on Kafka that reports every step of "
      "every envelope to meshtrace-collector.\nEvery setting is an environment variable or the "
      "flag named after it.",
      "meshtrace-sidecar"};
  app.set_version_flag("--version", std::string("meshtrace-sidecar ") + MESHTRACE_VERSION);
  std::vector<SettingSource> settings;
  for (const Setting& s : kSettings) {
    settings.push_back({s.var, "--" + FlagName(s.var), s.var, s.help});
  }
  ParsedSettings parsed = ParseSettings(app, settings, argc, argv, env);
  if (parsed.done) {
    result.exit_code = parsed.exit_code;
    result.message = std::move(parsed.message);
    return result;
  }
  if (auto it = env.find("HOSTNAME"); it != env.end()) result.config.pod = it->second;
  if (auto status = Apply(parsed.values, &result.config); !status.ok()) {
    result.exit_code = 2;
    result.message = "meshtrace-sidecar: " + std::string(status.message());
  }
  return result;
}

}  // namespace meshtrace::sidecar
