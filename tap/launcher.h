#pragma once

#include <sys/types.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace meshtrace::tap {

// The process side of the launcher (asya-pod.md §5-A): runs as the runtime container's PID 1,
// so it forwards stop signals to the runtime and reaps every child that ends.
class ChildSupervisor {
 public:
  // Blocks SIGTERM, SIGINT and SIGCHLD in the calling thread and every thread started after
  // (call it before any), and ignores SIGPIPE.
  ChildSupervisor();

  // Starts `argv` (argv[0] a path) with this process's environment less `env_removed`, plus
  // `env_overrides`, with default signal handling and mask.
  absl::StatusOr<pid_t> Spawn(const std::vector<std::string>& argv,
                              const std::vector<std::pair<std::string, std::string>>& env_overrides,
                              const std::vector<std::string>& env_removed = {});

  // Waits up to `timeout` for a signal: a stop signal is forwarded to the runtime (`pid`),
  // ended children are reaped. Returns the runtime's exit status (its code, or 128 + signal)
  // once it has ended, else nullopt.
  std::optional<int> Wait(pid_t pid, absl::Duration timeout);

  // True once a stop signal arrived.
  bool stopping() const { return stopping_; }

 private:
  bool stopping_ = false;
  std::optional<int> runtime_status_;
};

// Writes `path` with `content` atomically (a temporary file renamed over it), so a probe never
// sees it half written.
absl::Status WriteFileAtomically(const std::string& path, const std::string& content);

// True when a Unix socket at `path` accepts a connection (closed at once, carrying nothing:
// the stock sidecar probes the same way).
bool SocketAnswers(const std::string& path);

}  // namespace meshtrace::tap
