#pragma once

#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "sidecar/sidecar_app.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"

namespace meshtrace::testing {

// One actor of a tapped test mesh, as a stock Asya pod with meshtrace-tap inserted: the example
// runtime on a private socket (dir/rt), meshtrace-tap in proxy form in front of it (dir/pub),
// and a sidecar standing in for the stock one (meshtrace-sidecar with its own events off,
// namespace "t") that dials dir/pub. Only the tap reports to `collector` (empty: no events).
class TappedActor {
 public:
  struct Options {
    std::string name;
    std::vector<std::string> runtime_args;  // the example runtime's handler
    bool end_actor = false;
    std::string collector;  // the tap's MESHTRACE_COLLECTOR
    std::string tap_actor;  // MESHTRACE_ACTOR (end actors need it)
    std::vector<std::pair<std::string, std::string>> tap_env;  // more tap settings
  };
  TappedActor(const std::string& bin_dir, const std::string& brokers, Options options);
  ~TappedActor();

  bool WaitStarted(absl::Duration timeout = absl::Seconds(20));
  int Stop();
  // kill -9 of the tap, then a new one in its place.
  void RestartTap();
  // kill -9 of the runtime (its socket file stays, as after a crash); then a new one.
  void KillRuntime();
  void StartRuntime();
  std::string dir() const { return dir_.path(); }

 private:
  void StartTap();
  std::vector<std::string> runtime_argv_;

  std::string bin_dir_;
  Options options_;
  TempDir dir_;
  std::optional<Subprocess> runtime_;
  std::optional<Subprocess> tap_;
  std::unique_ptr<sidecar::SidecarApp> app_;
  std::thread thread_;
  int exit_code_ = -1;
};

}  // namespace meshtrace::testing
