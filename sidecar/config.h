#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/environment.h"
#include "events/event_settings.h"

namespace meshtrace::sidecar {

using events::CaptureMode;

// Everything the sidecar is told (asya-protocol.md §4 names plus meshtrace's own). Each
// setting comes from its environment variable or the matching flag (ASYA_ACTOR_NAME ->
// --actor-name, MESHTRACE_COLLECTOR -> --collector); a flag wins.
struct SidecarConfig {
  std::string actor;
  std::string ns;
  std::string transport = "kafka";
  std::string kafka_brokers = "127.0.0.1:9092";
  std::vector<std::pair<std::string, std::string>> kafka_properties;
  std::string socket_dir = "/var/run/asya";
  absl::Duration actor_timeout = absl::Minutes(5);
  absl::Duration ready_timeout = absl::Minutes(5);
  std::string sink = "x-sink";
  std::string sump = "x-sump";
  bool is_end_actor = false;
  bool metrics_enabled = true;
  std::string metrics_addr = ":8080";
  std::string metrics_namespace = "asya_actor";
  std::string log_level = "info";

  events::EventSettings events;  // MESHTRACE_COLLECTOR, _CAPTURE*, _REDACT*, _EVENT_BUFFER*
  // /invoke calls in flight (1-16). Above 1, the next envelopes' calls (connect + request) are
  // started while the runtime still works on the current one, in bursts of half the pipeline;
  // a single-threaded runtime still serves them one at a time, in order. 6 fits the listen
  // backlog of Asya's reference runtime (5). Envelopes with a deadline_at always wait for a
  // free runtime, so their SLA is checked as Asya does.
  int invoke_pipeline = 6;
  std::string pod;  // HOSTNAME

  std::string socket_path() const { return socket_dir + "/asya-runtime.sock"; }
  std::string ready_path() const { return socket_dir + "/runtime-ready"; }
};

// Result of reading the command line and environment.
struct ConfigResult {
  int exit_code = 0;    // non-zero: stop with this code (2 = bad setting, 0 = --help)
  std::string message;  // what to print when exit_code is set
  SidecarConfig config;
};

// Reads flags and `env`. A bad value gives exit code 2 and a message naming the variable and
// what it accepts.
ConfigResult LoadSidecarConfig(int argc, const char* const* argv,
                               const std::map<std::string, std::string>& env);

// Parses a Go duration ("5m", "300ms", "1h30m"); errors name `variable`.
absl::StatusOr<absl::Duration> ParseGoDuration(const std::string& variable,
                                               const std::string& value);

}  // namespace meshtrace::sidecar
