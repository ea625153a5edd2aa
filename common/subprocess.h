#pragma once

#include <sys/types.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace meshtrace {

// A child process with its stdout on a pipe; stderr passes through, or goes to a file. The
// child is killed with SIGKILL when the thread that started it exits (PR_SET_PDEATHSIG: start
// children from a long-lived thread) and on destruction if still running, so none is left
// behind. One thread uses it.
class Subprocess {
 public:
  // Starts `argv[0]` (a path) with `argv`; `env` entries are added to (or override) this
  // process's environment. With `stderr_file`, the child's stderr is appended to it.
  static absl::StatusOr<Subprocess> Start(const std::vector<std::string>& argv,
                                          const std::map<std::string, std::string>& env = {},
                                          const std::string& stderr_file = "");
  Subprocess(Subprocess&& other) noexcept;
  Subprocess& operator=(Subprocess&& other) noexcept;
  ~Subprocess();

  // The next line of stdout (without '\n'), or an error on EOF or after `timeout`.
  absl::StatusOr<std::string> ReadLine(absl::Duration timeout = absl::Seconds(20));
  // Everything left on stdout until EOF or `timeout`.
  std::string ReadAll(absl::Duration timeout = absl::Seconds(20));

  void Signal(int signal);
  // Waits for exit; the exit code, 128+signal for a signal, or an error after `timeout`.
  absl::StatusOr<int> Wait(absl::Duration timeout = absl::Seconds(20));
  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }

 private:
  Subprocess() = default;
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  std::string buffered_;
};

// Runs a command to completion; returns {exit code, stdout}.
struct RunResult {
  int exit_code = -1;
  std::string out;
};
absl::StatusOr<RunResult> Run(const std::vector<std::string>& argv,
                              const std::map<std::string, std::string>& env = {},
                              absl::Duration timeout = absl::Seconds(60));

}  // namespace meshtrace
