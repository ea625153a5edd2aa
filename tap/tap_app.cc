#include "tap/tap_app.h"

#include <httplib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <iostream>
#include <thread>

#include "common/environment.h"
#include "common/log.h"
#include "common/redaction.h"
#include "tap/launcher.h"
#include "tap/proxy.h"

namespace meshtrace::tap {
namespace {

constexpr absl::Duration kPoll = absl::Milliseconds(20);
constexpr absl::Duration kEventFlush = absl::Seconds(3);

// The metrics endpoint: GET /metrics on its own port (the stock sidecar holds 8080).
class MetricsServer {
 public:
  explicit MetricsServer(TapMetrics* metrics) {
    http_.Get("/metrics", [metrics](const httplib::Request&, httplib::Response& res) {
      res.set_content(metrics->Render(), "text/plain; version=0.0.4; charset=utf-8");
    });
    http_.set_socket_options([](int sock) {
      int yes = 1;
      setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    });
  }
  ~MetricsServer() {
    http_.stop();
    if (thread_.joinable()) thread_.join();
  }
  absl::Status Start(const std::string& addr) {
    const size_t colon = addr.rfind(':');
    std::string host = addr.substr(0, colon);
    if (host.empty()) host = "0.0.0.0";
    int port = std::stoi(addr.substr(colon + 1));  // checked by LoadTapConfig
    port = port == 0 ? http_.bind_to_any_port(host) : (http_.bind_to_port(host, port) ? port : -1);
    if (port < 0) {
      return absl::UnavailableError("cannot listen on MESHTRACE_TAP_METRICS_ADDR " + addr +
                                    " (port in use?)");
    }
    thread_ = std::thread([this] { http_.listen_after_bind(); });
    Log(LogLevel::kInfo, "metrics on port " + std::to_string(port));
    return absl::OkStatus();
  }

 private:
  httplib::Server http_;
  std::thread thread_;
};

std::unique_ptr<Reporter> NewReporter(const TapConfig& config, Redactor redactor,
                                      TapMetrics* metrics) {
  events::EventSource source{
      events::NewSourceId(!config.pod.empty()              ? config.pod
                          : !config.identity.actor.empty() ? config.identity.actor
                                                           : "tap"),
      config.identity.actor, config.pod, events::Observer::kTap};
  auto emitter = config.events.enabled()
                     ? events::NewGrpcEventEmitter(config.events.emitter_options(), metrics)
                     : nullptr;
  return std::make_unique<Reporter>(config.identity, std::make_unique<events::EventWriter>(
                                                         source, config.events, std::move(redactor),
                                                         metrics, std::move(emitter)));
}

void RemovePublicFiles(const TapConfig& config) {
  unlink(config.public_ready().c_str());
  unlink(config.public_socket().c_str());
}

// Binds the public socket, then (only then) writes the public ready file.
absl::Status Publish(const TapConfig& config, Proxy& proxy) {
  if (auto s = proxy.Start(); !s.ok()) return s;
  return WriteFileAtomically(config.public_ready(), "ready");
}

int Launch(const TapConfig& config, ChildSupervisor& supervisor, Proxy& proxy) {
  mkdir(config.runtime_dir.c_str(), 0700);
  unlink((config.runtime_dir + "/runtime-ready").c_str());
  unlink(config.upstream_socket().c_str());
  std::vector<std::string> argv = {config.python};
  argv.insert(argv.end(), config.command.begin(), config.command.end());
  auto pid =
      supervisor.Spawn(argv, {{"ASYA_SOCKET_DIR", config.runtime_dir}}, {"MESHTRACE_TAP_SELF"});
  if (!pid.ok()) {
    Log(LogLevel::kError, std::string(pid.status().message()));
    return 2;
  }
  Log(LogLevel::kInfo,
      "started the runtime (pid " + std::to_string(*pid) + ") on " + config.upstream_socket());
  bool published = false;
  while (true) {
    if (std::optional<int> status = supervisor.Wait(*pid, kPoll)) {
      Log(LogLevel::kInfo, "the runtime exited with status " + std::to_string(*status));
      return *status;
    }
    if (published || supervisor.stopping()) continue;
    const std::string ready = config.runtime_dir + "/runtime-ready";
    if (access(ready.c_str(), F_OK) != 0 || !SocketAnswers(config.upstream_socket())) continue;
    if (auto s = Publish(config, proxy); !s.ok()) {
      Log(LogLevel::kError, std::string(s.message()));
      kill(*pid, SIGTERM);
      supervisor.Wait(*pid, absl::Seconds(10));
      return 1;
    }
    published = true;
    Log(LogLevel::kInfo, "runtime ready: serving " + config.public_socket());
  }
}

int ServeProxy(const TapConfig& config, ChildSupervisor& supervisor, Proxy& proxy) {
  while (!SocketAnswers(config.upstream)) {
    supervisor.Wait(-1, kPoll * 5);
    if (supervisor.stopping()) return 0;
  }
  if (auto s = Publish(config, proxy); !s.ok()) {
    Log(LogLevel::kError, std::string(s.message()));
    return 1;
  }
  Log(LogLevel::kInfo, "serving " + config.public_socket() + " for " + config.upstream);
  while (!supervisor.stopping()) supervisor.Wait(-1, absl::Seconds(1));
  return 0;
}

}  // namespace

int RunTap(const TapConfig& config) {
  auto redactor = Redactor::Create(config.events.redact, config.events.redact_key);
  if (!redactor.ok()) {  // redaction asked for and impossible: fail closed
    Log(LogLevel::kError, "MESHTRACE_REDACT: " + std::string(redactor.status().message()));
    return 2;
  }
  ChildSupervisor supervisor;  // before any thread starts
  RemovePublicFiles(config);   // stale ones: the emptyDir outlives a container restart
  TapMetrics metrics;
  std::unique_ptr<MetricsServer> metrics_server;
  if (!config.metrics_addr.empty()) {
    metrics_server = std::make_unique<MetricsServer>(&metrics);
    if (auto s = metrics_server->Start(config.metrics_addr); !s.ok()) {
      Log(LogLevel::kError, std::string(s.message()));
      return 1;
    }
  }
  std::unique_ptr<Reporter> reporter = NewReporter(config, *std::move(redactor), &metrics);
  ConnectionContext context;
  context.upstream_path = config.upstream_socket();
  context.reporter = reporter.get();
  context.metrics = &metrics;
  Proxy proxy(config.public_socket(), context);
  Log(LogLevel::kInfo, config.events.enabled() ? "events to " + config.events.collector
                                               : "events off (no MESHTRACE_COLLECTOR)");
  const int code = config.mode == TapConfig::Mode::kLauncher
                       ? Launch(config, supervisor, proxy)
                       : ServeProxy(config, supervisor, proxy);
  unlink(config.public_ready().c_str());  // first: probes fail before the socket goes
  proxy.Stop();
  if (auto* emitter = reporter->writer().emitter()) emitter->Stop(kEventFlush);
  return code;
}

int TapMain(int argc, char** argv) {
  // The bundle's wrapper names itself (the process is then its loader).
  std::string self_exe;
  if (const char* wrapper = getenv("MESHTRACE_TAP_SELF"); wrapper != nullptr) {
    self_exe = wrapper;
  } else {
    char self[4096];
    const ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    self_exe = n > 0 ? std::string(self, static_cast<size_t>(n)) : argv[0];
  }
  TapConfigResult loaded = LoadTapConfig(argc, argv, ProcessEnvironment(), self_exe);
  if (loaded.exit_code != 0 || !loaded.message.empty()) {
    (loaded.exit_code == 0 ? std::cout : std::cerr) << loaded.message << "\n";
    return loaded.exit_code;
  }
  InitLogging("tap", loaded.config.log_level);
  return RunTap(loaded.config);
}

}  // namespace meshtrace::tap
