#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace meshtrace::collector {

struct CollectorConfig {
  std::string grpc_listen = "127.0.0.1:7700";
  std::string http_listen = "127.0.0.1:7701";
  std::string data_dir = "./meshtrace-data";
  absl::Duration stall_timeout = absl::Minutes(5);
  absl::Duration partial_grace = absl::Seconds(30);
  absl::Duration retention = absl::Hours(72);
  uint64_t max_disk_bytes = 0;  // 0 = no size limit
  std::string api_token;        // bearer token on HTTP and gRPC when set
  std::string tls_cert;         // PEM files; both or neither
  std::string tls_key;
  std::string runtime_socket = "/var/run/asya/asya-runtime.sock";  // named in replay commands
  size_t max_event_bytes = 1 << 20;
  int writer_shards = 1;  // store writers, each with its own share of the traces
  std::string log_level = "info";
};

struct CollectorConfigResult {
  int exit_code = 0;    // non-zero: stop with this code (2 = bad flag); 0 with a message: --help
  std::string message;  // what to print
  CollectorConfig config;
};

// Reads flags, each also settable as MESHTRACE_<FLAG> in `env` (a flag wins). A bad value
// gives exit code 2 and a message naming the flag and what it accepts.
CollectorConfigResult LoadCollectorConfig(int argc, const char* const* argv,
                                          const std::map<std::string, std::string>& env);

}  // namespace meshtrace::collector
