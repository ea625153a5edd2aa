#pragma once

#include <atomic>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "common/redaction.h"
#include "sidecar/config.h"
#include "sidecar/metrics.h"

namespace meshtrace::sidecar {

// The whole sidecar: waits for the runtime, consumes the actor's topic, invokes the runtime,
// routes, commits, serves metrics and sends lifecycle events. Run() blocks on the calling
// thread (the processing thread); Stop() may be called from any thread.
class SidecarApp {
 public:
  explicit SidecarApp(SidecarConfig config);
  ~SidecarApp();

  // Returns the process exit code: 0 after Stop() (in-flight work drained and committed),
  // 2 when the redaction settings cannot be applied, 1 on a fatal error: runtime never ready, Kafka
  // unusable, a delivery failure, or a runtime timeout (after the error envelope was delivered:
  // crash-on-timeout).
  int Run();
  void Stop();

  // Set once the metrics server listens and the consumer is subscribed.
  absl::Notification& started() { return started_; }
  int metrics_port() const { return metrics_port_.load(); }
  SidecarMetrics& metrics() { return *metrics_; }

 private:
  SidecarApp(SidecarConfig config, absl::StatusOr<Redactor> redactor);

  struct Impl;
  SidecarConfig config_;
  std::unique_ptr<SidecarMetrics> metrics_;
  absl::Status redactor_status_;  // Run() refuses to start unless OK
  std::unique_ptr<Impl> impl_;
  std::atomic<bool> stop_{false};
  std::atomic<int> metrics_port_{0};
  absl::Notification started_;
};

// main(): configuration from flags and environment, signals, Run().
int SidecarMain(int argc, char** argv);

}  // namespace meshtrace::sidecar
