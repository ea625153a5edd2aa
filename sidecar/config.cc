#include "sidecar/config.h"

#include <CLI/CLI.hpp>
#include <cctype>
#include <cstring>

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
    {"MESHTRACE_INVOKE_PIPELINE",
     "/invoke calls in flight, 1-16 (default 6); 1 = one at a time, as Asya's sidecar"},
};

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
      return BadSetting("ASYA_KAFKA_PROPERTIES", text,
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
      return BadSetting("ASYA_TRANSPORT", *v, "meshtrace-sidecar supports only 'kafka'");
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
    return BadSetting("ASYA_SOCKET_DIR", c->socket_dir, "the socket path must be under 108 bytes");
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
    auto b = ParseBoolSetting("ASYA_IS_END_ACTOR", *v);
    if (!b.ok()) return b.status();
    c->is_end_actor = *b;
  }
  if (auto* v = get("ASYA_METRICS_ENABLED"); v != nullptr && !v->empty()) {
    auto b = ParseBoolSetting("ASYA_METRICS_ENABLED", *v);
    if (!b.ok()) return b.status();
    c->metrics_enabled = *b;
  }
  if (auto* v = get("ASYA_METRICS_ADDR"); v != nullptr && !v->empty()) {
    if (auto s = CheckListenAddress("ASYA_METRICS_ADDR", *v); !s.ok()) return s;
    c->metrics_addr = *v;
  }
  if (auto* v = get("ASYA_METRICS_NAMESPACE"); v != nullptr && !v->empty()) {
    for (char ch : *v) {
      if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '_') {
        return BadSetting("ASYA_METRICS_NAMESPACE", *v, "letters, digits and '_' only");
      }
    }
    c->metrics_namespace = *v;
  }
  if (auto* v = get("ASYA_LOG_LEVEL"); v != nullptr && !v->empty()) {
    std::string l = *v;
    for (char& ch : l) ch = static_cast<char>(std::tolower(ch));
    if (l != "debug" && l != "info" && l != "warn" && l != "error") {
      return BadSetting("ASYA_LOG_LEVEL", *v, "expected debug, info, warn or error");
    }
    c->log_level = l;
  }
  if (auto s = events::ApplyEventSettings(values, &c->events); !s.ok()) return s;
  if (auto* v = get("MESHTRACE_INVOKE_PIPELINE"); v != nullptr && !v->empty()) {
    auto n = ParseCountSetting("MESHTRACE_INVOKE_PIPELINE", *v, 1, 16);
    if (!n.ok()) return n.status();
    c->invoke_pipeline = static_cast<int>(*n);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<absl::Duration> ParseGoDuration(const std::string& variable,
                                               const std::string& value) {
  absl::Duration d;
  if (!absl::ParseDuration(value, &d) || d <= absl::ZeroDuration()) {
    return BadSetting(variable, value, "expected a positive Go duration such as 30s, 5m or 1h30m");
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
    settings.push_back({s.var, FlagForVariable(s.var), s.var, s.help});
  }
  for (const events::EventSettingHelp& s : events::EventSettingsHelp()) {
    settings.push_back({s.variable, FlagForVariable(s.variable), s.variable, s.help});
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
