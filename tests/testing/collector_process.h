#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/subprocess.h"

namespace meshtrace::testing {

// meshtrace-collector as a child process on free loopback ports. Ports are picked before the
// collector binds them, so another test may take one first: Start then tries fresh ports
// (the losing collector exits at once with "port in use").
struct CollectorProcess {
  int grpc_port = 0;
  int http_port = 0;
  std::optional<Subprocess> process;

  // `bin_dir` holds meshtrace-collector; `args` are added (e.g. --data-dir=...).
  static absl::StatusOr<CollectorProcess> Start(const std::string& bin_dir,
                                                const std::vector<std::string>& args);
  std::string grpc_address() const { return "127.0.0.1:" + std::to_string(grpc_port); }
};

}  // namespace meshtrace::testing
