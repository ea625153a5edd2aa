#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "tap/connection.h"

namespace meshtrace::tap {

// Listens on a Unix socket and serves each client connection (ServeConnection) on a worker
// thread. Workers wait in accept() themselves, so a connection is taken with no hand-off; when
// every worker is busy one more is started, up to `max_workers` (an idle keep-alive connection
// holds its worker). Thread-safe.
class Proxy {
 public:
  Proxy(std::string listen_path, ConnectionContext context, int max_workers = 256);
  ~Proxy();

  // Removes a stale file at the listen path, binds, makes the socket 0666 (the stock sidecar
  // runs as another user) and starts the workers.
  absl::Status Start();
  // Stops accepting, ends open connections, joins the workers and removes the socket file.
  void Stop();

  const std::string& listen_path() const { return listen_path_; }

 private:
  void Worker();
  void MaybeGrow();

  const std::string listen_path_;
  const ConnectionContext context_;
  const int max_workers_;
  int listen_fd_ = -1;
  std::atomic<bool> stopping_{false};
  std::atomic<int> idle_{0};
  absl::Mutex mu_;
  std::vector<std::thread> workers_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<int> open_ ABSL_GUARDED_BY(mu_);  // client fds being served
};

}  // namespace meshtrace::tap
