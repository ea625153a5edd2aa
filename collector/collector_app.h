#pragma once

#include <atomic>
#include <memory>

#include "absl/status/status.h"
#include "absl/synchronization/notification.h"
#include "collector/config.h"
#include "common/clock.h"

namespace meshtrace::collector {

// The whole collector: store, assembler, write pipeline, gRPC (Ingest + Query), HTTP (API,
// UI, metrics) and the retention thread. Start() returns once everything listens (or why it
// cannot: data dir, port in use, TLS files); Stop() shuts down in order and may be called from
// any thread; the destructor stops.
class CollectorApp {
 public:
  explicit CollectorApp(CollectorConfig config, Clock* clock = Clock::Real());
  ~CollectorApp();

  absl::Status Start();
  void Stop();
  // Blocks until Stop().
  void Wait();

  int grpc_port() const;
  int http_port() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// flags → config → run until SIGINT/SIGTERM; the process exit code.
int CollectorMain(int argc, char** argv);

}  // namespace meshtrace::collector
