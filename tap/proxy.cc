#include "tap/proxy.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/log.h"

namespace meshtrace::tap {
namespace {

constexpr int kInitialWorkers = 4;

absl::Status Errno(const std::string& what) {
  return absl::UnavailableError(what + ": " + std::strerror(errno));
}

}  // namespace

Proxy::Proxy(std::string listen_path, ConnectionContext context, int max_workers)
    : listen_path_(std::move(listen_path)),
      context_(std::move(context)),
      max_workers_(max_workers) {}

Proxy::~Proxy() { Stop(); }

absl::Status Proxy::Start() {
  sockaddr_un addr{};
  if (listen_path_.size() >= sizeof(addr.sun_path)) {
    return absl::InvalidArgumentError("socket path " + listen_path_ + " is over 107 bytes");
  }
  listen_fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) return Errno("socket");
  unlink(listen_path_.c_str());
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, listen_path_.c_str(), sizeof(addr.sun_path) - 1);
  if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    return Errno("bind " + listen_path_);
  }
  if (chmod(listen_path_.c_str(), 0666) != 0) return Errno("chmod " + listen_path_);
  if (listen(listen_fd_, 128) != 0) return Errno("listen " + listen_path_);
  absl::MutexLock lock(&mu_);
  for (int i = 0; i < kInitialWorkers; ++i) workers_.emplace_back([this] { Worker(); });
  return absl::OkStatus();
}

void Proxy::Stop() {
  if (stopping_.exchange(true) || listen_fd_ < 0) return;
  shutdown(listen_fd_, SHUT_RDWR);  // wakes the workers in accept()
  std::vector<std::thread> workers;
  {
    absl::MutexLock lock(&mu_);
    for (int fd : open_) shutdown(fd, SHUT_RDWR);
    workers.swap(workers_);
  }
  for (std::thread& t : workers) t.join();
  close(listen_fd_);
  unlink(listen_path_.c_str());
}

void Proxy::Worker() {
  while (!stopping_.load()) {
    idle_.fetch_add(1);
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    idle_.fetch_sub(1);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (!stopping_.load()) Log(LogLevel::kError, "accept: " + std::string(std::strerror(errno)));
      return;
    }
    {
      absl::MutexLock lock(&mu_);
      if (stopping_.load()) {
        close(fd);
        return;
      }
      open_.insert(fd);
      context_.metrics->Connections(static_cast<int64_t>(open_.size()));
    }
    MaybeGrow();
    ServeConnection(fd, context_);
    absl::MutexLock lock(&mu_);
    open_.erase(fd);
    close(fd);  // under the lock: Stop() never shuts down a number reused by another accept
    context_.metrics->Connections(static_cast<int64_t>(open_.size()));
  }
}

// A worker just took a connection: when none is left waiting in accept(), start one more.
void Proxy::MaybeGrow() {
  if (idle_.load() > 0) return;
  absl::MutexLock lock(&mu_);
  if (stopping_.load() || static_cast<int>(workers_.size()) >= max_workers_) return;
  workers_.emplace_back([this] { Worker(); });
}

}  // namespace meshtrace::tap
