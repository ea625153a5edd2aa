#include "tests/testing/tapped_actor.h"

#include <unistd.h>

#include <csignal>
#include <cstring>
#include <filesystem>

#include "absl/time/clock.h"
#include "common/unix_socket.h"

namespace meshtrace::testing {

TappedActor::TappedActor(const std::string& bin_dir, const std::string& brokers, Options options)
    : bin_dir_(bin_dir), options_(std::move(options)) {
  std::filesystem::create_directories(dir_.path() + "/rt");
  std::filesystem::create_directories(dir_.path() + "/pub");
  runtime_argv_ = {bin_dir + "/meshtrace-example-runtime", "--socket-dir", dir_.path() + "/rt"};
  runtime_argv_.insert(runtime_argv_.end(), options_.runtime_args.begin(),
                       options_.runtime_args.end());
  StartRuntime();
  StartTap();
  sidecar::SidecarConfig config;
  config.actor = options_.name;
  config.ns = "t";
  config.kafka_brokers = brokers;
  config.socket_dir = dir_.path() + "/pub";
  config.metrics_addr = "127.0.0.1:0";
  config.is_end_actor = options_.end_actor;
  config.ready_timeout = absl::Seconds(20);
  app_ = std::make_unique<sidecar::SidecarApp>(config);
  thread_ = std::thread([this] { exit_code_ = app_->Run(); });
}

void TappedActor::StartTap() {
  std::map<std::string, std::string> env = {{"MESHTRACE_COLLECTOR", options_.collector},
                                            {"MESHTRACE_TAP_METRICS_ADDR", "127.0.0.1:0"},
                                            {"MESHTRACE_ACTOR", options_.tap_actor},
                                            {"MESHTRACE_LOG_LEVEL", "warn"}};
  for (const auto& [k, v] : options_.tap_env) env[k] = v;
  tap_.emplace(*Subprocess::Start({bin_dir_ + "/meshtrace-tap", "--listen", dir_.path() + "/pub",
                                   "--upstream", dir_.path() + "/rt/asya-runtime.sock"},
                                  env));
}

void TappedActor::RestartTap() {
  tap_->Signal(SIGKILL);
  (void)tap_->Wait();
  StartTap();
  // The dead tap's socket file refuses connections until the new tap has bound its own.
  const std::string path = dir_.path() + "/pub/asya-runtime.sock";
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (absl::Now() < deadline) {
    const int fd = DialUnixSocket(path);
    if (fd >= 0) {
      close(fd);
      return;
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
}

void TappedActor::KillRuntime() {
  runtime_->Signal(SIGKILL);
  (void)runtime_->Wait();
}

void TappedActor::StartRuntime() {
  std::filesystem::remove(dir_.path() + "/rt/runtime-ready");
  runtime_.emplace(*Subprocess::Start(runtime_argv_));
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (!std::filesystem::exists(dir_.path() + "/rt/runtime-ready") && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
}

TappedActor::~TappedActor() { Stop(); }

int TappedActor::Stop() {
  if (thread_.joinable()) {
    app_->Stop();
    thread_.join();
  }
  if (tap_ && tap_->running()) {
    tap_->Signal(SIGTERM);
    (void)tap_->Wait();
  }
  return exit_code_;
}

bool TappedActor::WaitStarted(absl::Duration timeout) {
  return app_->started().WaitForNotificationWithTimeout(timeout);
}

}  // namespace meshtrace::testing
