#include "tests/testing/mesh_actor.h"

namespace meshtrace::testing {

std::string MeshEnvelope(const std::string& id, const std::vector<std::string>& route,
                         const std::string& payload) {
  std::string next;
  for (size_t i = 1; i < route.size(); ++i) next += (i > 1 ? ",\"" : "\"") + route[i] + "\"";
  return R"({"id":")" + id + R"(","route":{"prev":[],"curr":")" + route[0] + R"(","next":[)" +
         next + R"(]},"payload":)" + payload + "}";
}

MeshActor::MeshActor(const std::string& bin_dir, const std::string& name,
                     const std::string& brokers, const std::string& collector,
                     std::vector<std::string> runtime_args, bool end_actor,
                     const std::string& collector_ca_pem,
                     std::vector<std::pair<std::string, std::string>> kafka_properties,
                     const std::function<void(sidecar::SidecarConfig*)>& configure) {
  runtime_args.insert(runtime_args.begin(),
                      {bin_dir + "/meshtrace-example-runtime", "--socket-dir", dir_.path()});
  runtime_.emplace(*Subprocess::Start(runtime_args));
  sidecar::SidecarConfig config;
  config.actor = name;
  config.ns = "t";
  config.kafka_brokers = brokers;
  config.socket_dir = dir_.path();
  config.metrics_addr = "127.0.0.1:0";
  config.events.collector = collector;
  config.is_end_actor = end_actor;
  config.events.ca_pem = collector_ca_pem;
  config.ready_timeout = absl::Seconds(10);
  config.kafka_properties = std::move(kafka_properties);
  if (configure) configure(&config);
  app_ = std::make_unique<sidecar::SidecarApp>(config);
  thread_ = std::thread([this] { exit_code_ = app_->Run(); });
}

MeshActor::~MeshActor() { Stop(); }

int MeshActor::Stop() {
  if (thread_.joinable()) {
    app_->Stop();
    thread_.join();
  }
  return exit_code_;
}

std::string MeshActor::Metrics() { return app_->metrics().Render(); }

bool MeshActor::WaitStarted(absl::Duration timeout) {
  return app_->started().WaitForNotificationWithTimeout(timeout);
}

}  // namespace meshtrace::testing
