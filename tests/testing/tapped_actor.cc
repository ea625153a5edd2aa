#include "tests/testing/tapped_actor.h"

#include <csignal>
#include <filesystem>

#include "absl/time/clock.h"

namespace meshtrace::testing {

TappedActor::TappedActor(const std::string& bin_dir, const std::string& brokers, Options options)
    : bin_dir_(bin_dir), options_(std::move(options)) {
  std::filesystem::create_directories(dir_.path() + "/rt");
  std::filesystem::create_directories(dir_.path() + "/pub");
  std::vector<std::string> runtime_args = {bin_dir + "/meshtrace-example-runtime", "--socket-dir",
                                           dir_.path() + "/rt"};
  runtime_args.insert(runtime_args.end(), options_.runtime_args.begin(),
                      options_.runtime_args.end());
  runtime_.emplace(*Subprocess::Start(runtime_args));
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
