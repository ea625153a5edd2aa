#include "tap/launcher.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/unix_socket.h"

extern char** environ;

namespace meshtrace::tap {
namespace {

sigset_t HandledSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGCHLD);
  return set;
}

int ExitStatus(int wait_status) {
  if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  return 1;
}

}  // namespace

ChildSupervisor::ChildSupervisor() {
  sigset_t set = HandledSignals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

absl::StatusOr<pid_t> ChildSupervisor::Spawn(
    const std::vector<std::string>& argv,
    const std::vector<std::pair<std::string, std::string>>& env_overrides,
    const std::vector<std::string>& env_removed) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string_view entry(*e);
    bool overridden = false;
    for (const auto& [name, value] : env_overrides) {
      if (entry.substr(0, name.size() + 1) == name + "=") overridden = true;
    }
    for (const std::string& name : env_removed) {
      if (entry.substr(0, name.size() + 1) == name + "=") overridden = true;
    }
    if (!overridden) env.emplace_back(entry);
  }
  for (const auto& [name, value] : env_overrides) env.push_back(name + "=" + value);
  std::vector<char*> c_argv, c_env;
  for (const std::string& a : argv) c_argv.push_back(const_cast<char*>(a.c_str()));
  for (const std::string& e : env) c_env.push_back(const_cast<char*>(e.c_str()));
  c_argv.push_back(nullptr);
  c_env.push_back(nullptr);

  // fork + exec rather than posix_spawn: the runtime must not outlive the tap (outside a
  // container nothing else would stop it), so it gets SIGTERM when the tap dies.
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) return absl::UnavailableError(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    sigset_t none;
    sigemptyset(&none);
    for (int sig : {SIGTERM, SIGINT, SIGCHLD, SIGPIPE}) signal(sig, SIG_DFL);
    pthread_sigmask(SIG_SETMASK, &none, nullptr);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(127);  // the tap died before prctl took effect
    execve(c_argv[0], c_argv.data(), c_env.data());
    _exit(127);
  }
  return pid;
}

std::optional<int> ChildSupervisor::Wait(pid_t pid, absl::Duration timeout) {
  if (runtime_status_) return runtime_status_;
  sigset_t set = HandledSignals();
  timespec ts = absl::ToTimespec(timeout);
  siginfo_t info;
  const int sig = sigtimedwait(&set, &info, &ts);
  if (sig == SIGTERM || sig == SIGINT) {
    stopping_ = true;
    if (pid > 0) kill(pid, sig);
  }
  // Reap every ended child (as PID 1, orphans of the runtime too); SIGCHLD may be coalesced.
  int status = 0;
  pid_t ended;
  while ((ended = waitpid(-1, &status, WNOHANG)) > 0) {
    if (ended == pid) runtime_status_ = ExitStatus(status);
  }
  return runtime_status_;
}

absl::Status WriteFileAtomically(const std::string& path, const std::string& content) {
  const std::string tmp = path + ".tmp";
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return absl::UnavailableError("cannot write " + tmp + ": " + std::strerror(errno));
  const bool written =
      write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size());
  close(fd);
  if (!written || rename(tmp.c_str(), path.c_str()) != 0) {
    unlink(tmp.c_str());
    return absl::UnavailableError("cannot write " + path + ": " + std::strerror(errno));
  }
  return absl::OkStatus();
}

bool SocketAnswers(const std::string& path) {
  const int fd = DialUnixSocket(path);
  if (fd >= 0) close(fd);
  return fd >= 0;
}

}  // namespace meshtrace::tap
