#include "collector/config.h"

#include <CLI/CLI.hpp>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/absl_compat.h"
#include "common/environment.h"
#include "common/settings.h"

namespace meshtrace::collector {
namespace {

struct Flag {
  const char* name;  // without "--"
  const char* help;
};

constexpr Flag kFlags[] = {
    {"grpc-listen", "host:port for Ingest and Query (gRPC) [default 127.0.0.1:7700]"},
    {"http-listen", "host:port for the HTTP API, web UI and /metrics [default 127.0.0.1:7701]"},
    {"data-dir", "RocksDB store directory [default ./meshtrace-data]"},
    {"stall-timeout", "a branch in flight this long is a stalled transit [default 5m]"},
    {"partial-grace",
     "how long a hop waits for its upstream events before the trace is "
     "called partial [default 30s]"},
    {"retention", "traces older than this are deleted [default 72h]"},
    {"max-disk", "store size limit; the oldest traces go first (e.g. 10GiB) [default none]"},
    {"api-token", "bearer token required on HTTP and gRPC [default none]"},
    {"tls-cert", "PEM certificate: serve gRPC and HTTP over TLS (with --tls-key)"},
    {"tls-key", "PEM private key of --tls-cert"},
    {"runtime-socket",
     "runtime socket path used in replay commands "
     "[default /var/run/asya/asya-runtime.sock]"},
    {"max-event-bytes", "largest accepted event [default 1MiB]"},
    {"writer-shards",
     "store writers (a thread staging writes and one committing them), each owning a share of "
     "the traces [default 1]"},
    {"log-level", "debug, info, warn or error [default info]"},
};

std::string EnvName(const char* flag) {
  std::string name = "MESHTRACE_" + std::string(flag);
  for (char& c : name) c = c == '-' ? '_' : absl::ascii_toupper(c);
  return name;
}

absl::Status Bad(const std::string& flag, const std::string& value, const std::string& expected) {
  return absl::InvalidArgumentError(absl::StrCat(
      "--", flag, "=", value, ": ", expected, " (also settable as ", EnvName(flag.c_str()), ")"));
}

absl::Status CheckHostPort(const std::string& flag, const std::string& value) {
  const auto colon = value.rfind(':');
  int port = -1;
  if (colon == std::string::npos || colon == 0 ||
      !absl::SimpleAtoi(AsAbsl(std::string_view(value).substr(colon + 1)), &port) || port < 0 ||
      port > 65535) {
    return Bad(flag, value, "expected host:port, e.g. 127.0.0.1:7700 (port 0 = any free port)");
  }
  return absl::OkStatus();
}

absl::Status Apply(const std::map<std::string, std::string>& v, CollectorConfig* c) {
  auto get = [&](const char* flag, std::string* out) {
    if (auto it = v.find(flag); it != v.end()) *out = it->second;
  };
  auto duration = [&](const char* flag, absl::Duration* out) -> absl::Status {
    auto it = v.find(flag);
    if (it == v.end()) return absl::OkStatus();
    if (!absl::ParseDuration(it->second, out) || *out <= absl::ZeroDuration()) {
      return Bad(flag, it->second, "expected a positive duration such as 30s, 5m or 72h");
    }
    return absl::OkStatus();
  };
  get("grpc-listen", &c->grpc_listen);
  get("http-listen", &c->http_listen);
  get("data-dir", &c->data_dir);
  get("api-token", &c->api_token);
  get("tls-cert", &c->tls_cert);
  get("tls-key", &c->tls_key);
  get("runtime-socket", &c->runtime_socket);
  get("log-level", &c->log_level);
  for (const char* flag : {"grpc-listen", "http-listen"}) {
    if (auto s = CheckHostPort(flag, flag[0] == 'g' ? c->grpc_listen : c->http_listen); !s.ok()) {
      return s;
    }
  }
  if (c->data_dir.empty()) return Bad("data-dir", "", "expected a directory");
  if (auto s = duration("stall-timeout", &c->stall_timeout); !s.ok()) return s;
  if (auto s = duration("partial-grace", &c->partial_grace); !s.ok()) return s;
  if (auto s = duration("retention", &c->retention); !s.ok()) return s;
  for (const char* flag : {"max-disk", "max-event-bytes"}) {
    auto it = v.find(flag);
    if (it == v.end()) continue;
    auto bytes = ParseByteSize(it->second);
    if (!bytes.ok() || *bytes == 0) {
      return Bad(flag, it->second, "expected a size in bytes such as 1048576, 512MiB or 10GB");
    }
    if (flag[4] == 'd') {
      c->max_disk_bytes = *bytes;
    } else {
      c->max_event_bytes = *bytes;
    }
  }
  if (auto it = v.find("writer-shards"); it != v.end()) {
    if (!absl::SimpleAtoi(AsAbsl(it->second), &c->writer_shards) || c->writer_shards < 1 ||
        c->writer_shards > 16) {
      return Bad("writer-shards", it->second, "expected a number from 1 to 16");
    }
  }
  if (c->tls_cert.empty() != c->tls_key.empty()) {
    return Bad(c->tls_cert.empty() ? "tls-key" : "tls-cert",
               c->tls_cert.empty() ? c->tls_key : c->tls_cert,
               "--tls-cert and --tls-key go together");
  }
  static const std::vector<std::string> kLevels = {"debug", "info", "warn", "error"};
  if (std::find(kLevels.begin(), kLevels.end(), c->log_level) == kLevels.end()) {
    return Bad("log-level", c->log_level, "expected debug, info, warn or error");
  }
  return absl::OkStatus();
}

}  // namespace

CollectorConfigResult LoadCollectorConfig(int argc, const char* const* argv,
                                          const std::map<std::string, std::string>& env) {
  CollectorConfigResult result;
  CLI::App app{
      "meshtrace-collector: receives lifecycle events from meshtrace sidecars, assembles each "
      "trace, proves when it is complete, stores it (RocksDB) and serves the query API, the web "
      "UI, HTML reports and metrics.\nEvery flag is also an environment variable "
      "MESHTRACE_<FLAG> (e.g. MESHTRACE_DATA_DIR); a flag wins.",
      "meshtrace-collector"};
  app.set_version_flag("--version", std::string("meshtrace-collector ") + MESHTRACE_VERSION);
  app.footer(
      "Examples:\n"
      "  meshtrace-collector --data-dir /var/lib/meshtrace\n"
      "  MESHTRACE_API_TOKEN=s3cret meshtrace-collector --grpc-listen 0.0.0.0:7700 "
      "--http-listen 0.0.0.0:7701");
  std::vector<SettingSource> settings;
  for (const Flag& f : kFlags) {
    settings.push_back({f.name, std::string("--") + f.name, EnvName(f.name), f.help});
  }
  ParsedSettings parsed = ParseSettings(app, settings, argc, argv, env);
  if (parsed.done) {
    result.exit_code = parsed.exit_code;
    result.message = std::move(parsed.message);
    return result;
  }
  if (auto status = Apply(parsed.values, &result.config); !status.ok()) {
    result.exit_code = 2;
    result.message = "meshtrace-collector: " + std::string(status.message());
  }
  return result;
}

}  // namespace meshtrace::collector
