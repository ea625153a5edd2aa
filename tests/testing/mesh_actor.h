#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "sidecar/sidecar_app.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"

namespace meshtrace::testing {

// An envelope entering the mesh at route[0] with route[1..] to go: {"id", "route", "payload"}.
std::string MeshEnvelope(const std::string& id, const std::vector<std::string>& route,
                         const std::string& payload = R"({"n":1})");

// One actor of a test mesh: the example runtime as a real process on a Unix socket in a temp
// dir, and a sidecar running in this process (namespace "t"). Stops on destruction.
class MeshActor {
 public:
  // `bin_dir` holds meshtrace-example-runtime; `runtime_args` choose its handler; `configure`
  // may change the sidecar's settings.
  MeshActor(const std::string& bin_dir, const std::string& name, const std::string& brokers,
            const std::string& collector, std::vector<std::string> runtime_args,
            bool end_actor = false, const std::string& collector_ca_pem = "",
            std::vector<std::pair<std::string, std::string>> kafka_properties = {},
            const std::function<void(sidecar::SidecarConfig*)>& configure = nullptr);
  ~MeshActor();

  // The sidecar's exit code.
  int Stop();
  std::string Metrics();
  bool WaitStarted(absl::Duration timeout = absl::Seconds(20));

 private:
  TempDir dir_;
  std::optional<Subprocess> runtime_;
  std::unique_ptr<sidecar::SidecarApp> app_;
  std::thread thread_;
  int exit_code_ = -1;
};

}  // namespace meshtrace::testing
