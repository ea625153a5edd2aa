#include "tap/tap_config.h"

#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#include <CLI/CLI.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "common/settings.h"
#include "common/topics.h"

namespace meshtrace::tap {
namespace {

struct Setting {
  const char* var;
  const char* flag;
  const char* help;
};

constexpr Setting kSettings[] = {
    {"MESHTRACE_TAP_LISTEN", "--listen",
     "proxy: serve DIR/asya-runtime.sock and write DIR/runtime-ready once the upstream answers"},
    {"MESHTRACE_TAP_UPSTREAM", "--upstream", "proxy: the runtime's socket to forward to"},
    {"MESHTRACE_TAP_PYTHON", "--python", "launcher: the interpreter of the runtime (python3)"},
    {"MESHTRACE_TAP_RUNTIME_DIR", "--runtime-dir",
     "launcher: the runtime's private socket directory (default /tmp/meshtrace-tap)"},
    {"ASYA_SOCKET_DIR", "--socket-dir",
     "launcher: where the stock sidecar dials (default /var/run/asya)"},
    {"MESHTRACE_ACTOR", "--actor",
     "the actor's name (default: each envelope's route.curr); set it on x-sink and x-sump"},
    {"MESHTRACE_TAP_END_ACTOR", "--end-actor",
     "true: an end actor (default: true when the actor is x-sink or x-sump)"},
    {"ASYA_ACTOR_SINK", "--sink", "success end actor (default x-sink)"},
    {"ASYA_ACTOR_SUMP", "--sump", "failure end actor (default x-sump)"},
    {"MESHTRACE_TAP_METRICS_ADDR", "--metrics-addr",
     "metrics listen address [host]:port (default :9464; empty = off)"},
    {"MESHTRACE_LOG_LEVEL", "--log-level", "debug, info, warn or error (default info)"},
};

const std::string* Get(const std::map<std::string, std::string>& values, const char* var) {
  auto it = values.find(var);
  return it == values.end() ? nullptr : &it->second;
}

// "/a/b/" and "/a//b" name the same directory as "/a/b"; an existing one is resolved.
std::string Canonical(const std::string& dir) {
  char resolved[PATH_MAX];
  if (realpath(dir.c_str(), resolved) != nullptr) return resolved;
  std::string out;
  for (absl::string_view part : absl::StrSplit(dir, '/', absl::SkipEmpty())) {
    if (part != ".") out += "/" + std::string(part);
  }
  return out.empty() ? "/" : out;
}

// The interpreter's path: a name is looked up in PATH.
absl::StatusOr<std::string> ResolveProgram(const std::string& name, const std::string& path_env,
                                           const std::string& self_exe) {
  std::string found;
  if (name.find('/') != std::string::npos) {
    if (access(name.c_str(), X_OK) == 0) found = name;
  } else {
    for (absl::string_view dir : absl::StrSplit(path_env, ':', absl::SkipEmpty())) {
      std::string candidate = std::string(dir) + "/" + name;
      if (access(candidate.c_str(), X_OK) == 0) {
        found = candidate;
        break;
      }
    }
  }
  if (found.empty()) {
    return BadSetting("MESHTRACE_TAP_PYTHON", name,
                      "no such executable (a path, or a name found in PATH)");
  }
  if (Canonical(found) == Canonical(self_exe)) {
    return BadSetting("MESHTRACE_TAP_PYTHON", name,
                      "this is meshtrace-tap itself; name the real interpreter, e.g. "
                      "/usr/local/bin/python3");
  }
  return found;
}

absl::Status ApplyIdentity(const std::map<std::string, std::string>& values, TapConfig* c) {
  TapIdentity& id = c->identity;
  if (auto* v = Get(values, "MESHTRACE_ACTOR"); v != nullptr && !v->empty()) {
    if (auto s = ValidateTopicPart("MESHTRACE_ACTOR", *v); !s.ok()) return s;
    id.actor = *v;
  }
  if (auto* v = Get(values, "ASYA_ACTOR_SINK"); v != nullptr && !v->empty()) id.sink = *v;
  if (auto* v = Get(values, "ASYA_ACTOR_SUMP"); v != nullptr && !v->empty()) id.sump = *v;
  id.end_actor = !id.actor.empty() && (id.actor == id.sink || id.actor == id.sump);
  if (auto* v = Get(values, "MESHTRACE_TAP_END_ACTOR"); v != nullptr && !v->empty()) {
    auto b = ParseBoolSetting("MESHTRACE_TAP_END_ACTOR", *v);
    if (!b.ok()) return b.status();
    id.end_actor = *b;
  }
  if (id.end_actor && id.actor.empty()) {
    return absl::InvalidArgumentError(
        "MESHTRACE_TAP_END_ACTOR=true needs MESHTRACE_ACTOR: an end actor's envelopes do not "
        "name it");
  }
  return absl::OkStatus();
}

absl::Status ApplyCommon(const std::map<std::string, std::string>& values, TapConfig* c) {
  if (auto s = ApplyIdentity(values, c); !s.ok()) return s;
  if (auto* v = Get(values, "MESHTRACE_TAP_METRICS_ADDR")) {
    if (!v->empty()) {
      if (auto s = CheckListenAddress("MESHTRACE_TAP_METRICS_ADDR", *v); !s.ok()) return s;
    }
    c->metrics_addr = *v;
  }
  if (auto* v = Get(values, "MESHTRACE_LOG_LEVEL"); v != nullptr && !v->empty()) {
    if (*v != "debug" && *v != "info" && *v != "warn" && *v != "error") {
      return BadSetting("MESHTRACE_LOG_LEVEL", *v, "expected debug, info, warn or error");
    }
    c->log_level = *v;
  }
  return events::ApplyEventSettings(values, &c->events);
}

absl::Status CheckSocketPath(const char* var, const std::string& dir) {
  if (dir.size() + sizeof("/asya-runtime.sock") > 108) {
    return BadSetting(var, dir, "the socket path in it must be under 108 bytes");
  }
  return absl::OkStatus();
}

absl::Status ApplyLauncher(const std::map<std::string, std::string>& values,
                           const std::map<std::string, std::string>& env,
                           const std::string& self_exe, TapConfig* c) {
  if (auto* v = Get(values, "ASYA_SOCKET_DIR"); v != nullptr && !v->empty()) c->public_dir = *v;
  if (auto* v = Get(values, "MESHTRACE_TAP_RUNTIME_DIR"); v != nullptr && !v->empty()) {
    c->runtime_dir = *v;
  }
  if (Canonical(c->public_dir) == Canonical(c->runtime_dir)) {
    return BadSetting("MESHTRACE_TAP_RUNTIME_DIR", c->runtime_dir,
                      "it must differ from ASYA_SOCKET_DIR (" + c->public_dir +
                          "): the runtime's private socket cannot be where the sidecar dials");
  }
  for (auto [var, dir] : {std::pair{"ASYA_SOCKET_DIR", c->public_dir},
                          std::pair{"MESHTRACE_TAP_RUNTIME_DIR", c->runtime_dir}}) {
    if (auto s = CheckSocketPath(var, dir); !s.ok()) return s;
  }
  const std::string* python = Get(values, "MESHTRACE_TAP_PYTHON");
  auto path = env.find("PATH");
  auto resolved =
      ResolveProgram(python != nullptr && !python->empty() ? *python : "python3",
                     path == env.end() ? "/usr/local/bin:/usr/bin:/bin" : path->second, self_exe);
  if (!resolved.ok()) return resolved.status();
  c->python = *resolved;
  return absl::OkStatus();
}

absl::Status ApplyProxy(const std::map<std::string, std::string>& values, TapConfig* c) {
  if (auto* v = Get(values, "MESHTRACE_TAP_LISTEN")) c->listen_dir = *v;
  if (auto* v = Get(values, "MESHTRACE_TAP_UPSTREAM")) c->upstream = *v;
  if (c->listen_dir.empty() || c->upstream.empty()) {
    return absl::InvalidArgumentError(
        "proxy mode needs both --listen DIR and --upstream SOCKET (or MESHTRACE_TAP_LISTEN and "
        "MESHTRACE_TAP_UPSTREAM)");
  }
  if (auto s = CheckSocketPath("MESHTRACE_TAP_LISTEN", c->listen_dir); !s.ok()) return s;
  if (Canonical(c->public_socket()) == Canonical(c->upstream)) {
    return BadSetting("MESHTRACE_TAP_UPSTREAM", c->upstream,
                      "it is the socket the tap itself listens on");
  }
  return absl::OkStatus();
}

}  // namespace

TapConfigResult LoadTapConfig(int argc, const char* const* argv,
                              const std::map<std::string, std::string>& env,
                              const std::string& self_exe) {
  TapConfigResult result;
  // The launcher's arguments are the runtime's command line, never the tap's flags.
  const bool launcher = argc > 1 && argv[1][0] != '-';
  CLI::App app{
      "meshtrace-tap: records every /invoke between a stock Asya sidecar and its runtime and "
      "reports it to meshtrace-collector.\n"
      "  launcher: meshtrace-tap SCRIPT [ARGS...]   (the actor's pythonExecutable)\n"
      "  proxy:    meshtrace-tap --listen DIR --upstream SOCKET\n"
      "Every setting is an environment variable (or, in proxy mode, the flag named with it).",
      "meshtrace-tap"};
  app.set_version_flag("--version", std::string("meshtrace-tap ") + MESHTRACE_VERSION);
  std::vector<SettingSource> settings;
  for (const Setting& s : kSettings) settings.push_back({s.var, s.flag, s.var, s.help});
  for (const events::EventSettingHelp& s : events::EventSettingsHelp()) {
    settings.push_back({s.variable, FlagForVariable(s.variable), s.variable, s.help});
  }
  ParsedSettings parsed = ParseSettings(app, settings, launcher ? 1 : argc, argv, env);
  if (parsed.done) {
    result.exit_code = parsed.exit_code;
    result.message = std::move(parsed.message);
    return result;
  }
  TapConfig& c = result.config;
  if (auto it = env.find("HOSTNAME"); it != env.end()) c.pod = it->second;
  absl::Status status = ApplyCommon(parsed.values, &c);
  if (status.ok() && launcher) {
    c.mode = TapConfig::Mode::kLauncher;
    c.command.assign(argv + 1, argv + argc);
    status = ApplyLauncher(parsed.values, env, self_exe, &c);
  } else if (status.ok()) {
    c.mode = TapConfig::Mode::kProxy;
    status = ApplyProxy(parsed.values, &c);
  }
  if (!status.ok()) {
    result.exit_code = 2;
    result.message = "meshtrace-tap: " + std::string(status.message());
  }
  return result;
}

}  // namespace meshtrace::tap
