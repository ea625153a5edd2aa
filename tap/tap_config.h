#pragma once

#include <map>
#include <string>
#include <vector>

#include "events/event_settings.h"
#include "tap/reporter.h"

namespace meshtrace::tap {

// Everything meshtrace-tap is told. In launcher mode (the Kubernetes form) every setting comes
// from the environment, which is all an AsyncActor can set for its runtime container.
struct TapConfig {
  enum class Mode { kLauncher, kProxy };
  Mode mode = Mode::kLauncher;

  // Launcher: `python command...` is the runtime, started with ASYA_SOCKET_DIR=runtime_dir.
  std::vector<std::string> command;                // the runtime script and its arguments
  std::string python;                              // MESHTRACE_TAP_PYTHON, resolved to a path
  std::string public_dir = "/var/run/asya";        // ASYA_SOCKET_DIR: where the sidecar dials
  std::string runtime_dir = "/tmp/meshtrace-tap";  // MESHTRACE_TAP_RUNTIME_DIR

  // Proxy: listen in listen_dir, forward to upstream.
  std::string listen_dir;
  std::string upstream;

  TapIdentity identity;
  std::string metrics_addr = ":9464";  // MESHTRACE_TAP_METRICS_ADDR; empty = no metrics
  events::EventSettings events;
  std::string log_level = "info";
  std::string pod;  // HOSTNAME

  std::string public_socket() const {
    return (mode == Mode::kLauncher ? public_dir : listen_dir) + "/asya-runtime.sock";
  }
  std::string public_ready() const {
    return (mode == Mode::kLauncher ? public_dir : listen_dir) + "/runtime-ready";
  }
  std::string upstream_socket() const {
    return mode == Mode::kLauncher ? runtime_dir + "/asya-runtime.sock" : upstream;
  }
};

struct TapConfigResult {
  int exit_code = 0;    // non-zero: stop with this code (2 = a setting that cannot work)
  std::string message;  // what to print when exit_code is set or for --help/--version
  TapConfig config;
};

// `meshtrace-tap SCRIPT [ARGS...]` is the launcher; `meshtrace-tap --listen DIR --upstream
// SOCKET` the proxy. A setting that cannot work (a private directory equal to the public one,
// a missing interpreter, a collector address that does not parse) gives exit code 2 and a
// message naming the setting. `self_exe` is this program's path (/proc/self/exe), so the tap
// refuses to start itself as its own interpreter.
TapConfigResult LoadTapConfig(int argc, const char* const* argv,
                              const std::map<std::string, std::string>& env,
                              const std::string& self_exe);

}  // namespace meshtrace::tap
