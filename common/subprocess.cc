#include "common/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

extern char** environ;

namespace meshtrace {

absl::StatusOr<Subprocess> Subprocess::Start(const std::vector<std::string>& argv,
                                             const std::map<std::string, std::string>& env,
                                             const std::string& stderr_file) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return absl::InternalError("pipe failed");
  int err_fd = -1;
  if (!stderr_file.empty()) {
    err_fd = open(stderr_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (err_fd < 0) {
      close(fds[0]);
      close(fds[1]);
      return absl::FailedPreconditionError("cannot open " + stderr_file + ": " + strerror(errno));
    }
  }
  const pid_t parent = getpid();
  std::map<std::string, std::string> merged;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string entry = *e;
    auto eq = entry.find('=');
    if (eq != std::string::npos) merged[entry.substr(0, eq)] = entry.substr(eq + 1);
  }
  for (const auto& [k, v] : env) merged[k] = v;
  std::vector<std::string> env_strings;
  for (const auto& [k, v] : merged) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp, args;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_copy = argv;
  for (auto& s : argv_copy) args.push_back(s.data());
  args.push_back(nullptr);

  pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    if (err_fd >= 0) close(err_fd);
    return absl::InternalError("fork failed");
  }
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    if (err_fd >= 0) dup2(err_fd, STDERR_FILENO);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);  // the parent died before prctl
    // The child gets default signal handling and mask whatever the test did.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    execve(args[0], args.data(), envp.data());
    _exit(127);
  }
  close(fds[1]);
  if (err_fd >= 0) close(err_fd);
  Subprocess p;
  p.pid_ = pid;
  p.stdout_fd_ = fds[0];
  return p;
}

Subprocess::Subprocess(Subprocess&& other) noexcept { *this = std::move(other); }

Subprocess& Subprocess::operator=(Subprocess&& other) noexcept {
  std::swap(pid_, other.pid_);
  std::swap(stdout_fd_, other.stdout_fd_);
  std::swap(buffered_, other.buffered_);
  return *this;
}

Subprocess::~Subprocess() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  if (stdout_fd_ >= 0) close(stdout_fd_);
}

absl::StatusOr<std::string> Subprocess::ReadLine(absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  while (true) {
    auto nl = buffered_.find('\n');
    if (nl != std::string::npos) {
      std::string line = buffered_.substr(0, nl);
      buffered_.erase(0, nl + 1);
      return line;
    }
    absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return absl::DeadlineExceededError("no line on stdout");
    pollfd pfd{stdout_fd_, POLLIN, 0};
    int n = poll(&pfd, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) continue;
    char buf[4096];
    ssize_t got = read(stdout_fd_, buf, sizeof(buf));
    if (got <= 0) return absl::OutOfRangeError(absl::StrCat("stdout closed; partial: ", buffered_));
    buffered_.append(buf, got);
  }
}

std::string Subprocess::ReadAll(absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    pollfd pfd{stdout_fd_, POLLIN, 0};
    int n = poll(&pfd, 1, static_cast<int>(absl::ToInt64Milliseconds(deadline - absl::Now())) + 1);
    if (n <= 0) continue;
    char buf[4096];
    ssize_t got = read(stdout_fd_, buf, sizeof(buf));
    if (got <= 0) break;
    buffered_.append(buf, got);
  }
  return std::exchange(buffered_, "");
}

void Subprocess::Signal(int signal) {
  if (pid_ > 0) kill(pid_, signal);
}

absl::StatusOr<int> Subprocess::Wait(absl::Duration timeout) {
  if (pid_ <= 0) return absl::FailedPreconditionError("not running");
  absl::Time deadline = absl::Now() + timeout;
  while (true) {
    int status = 0;
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      pid_ = -1;
      if (WIFEXITED(status)) return WEXITSTATUS(status);
      return 128 + WTERMSIG(status);
    }
    if (absl::Now() > deadline) return absl::DeadlineExceededError("process did not exit");
    absl::SleepFor(absl::Milliseconds(5));
  }
}

absl::StatusOr<RunResult> Run(const std::vector<std::string>& argv,
                              const std::map<std::string, std::string>& env,
                              absl::Duration timeout) {
  auto p = Subprocess::Start(argv, env);
  if (!p.ok()) return p.status();
  RunResult result;
  result.out = p->ReadAll(timeout);
  auto code = p->Wait(absl::Seconds(5));
  if (!code.ok()) return code.status();
  result.exit_code = *code;
  return result;
}

}  // namespace meshtrace
