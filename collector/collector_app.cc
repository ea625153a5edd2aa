#include "collector/collector_app.h"

#include <grpcpp/grpcpp.h>
#include <grpcpp/impl/service_type.h>
#include <httplib.h>
#include <signal.h>
#include <sys/socket.h>

#include <csignal>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "collector/assembler.h"
#include "collector/grpc_services.h"
#include "collector/http_api.h"
#include "collector/ingest.h"
#include "collector/metrics.h"
#include "collector/query.h"
#include "collector/trace_store.h"
#include "common/environment.h"
#include "common/log.h"
#include "common/signals.h"

namespace meshtrace::collector {
namespace {

absl::StatusOr<std::string> ReadFile(const std::string& path, const std::string& flag) {
  std::ifstream in(path);
  if (!in) return absl::FailedPreconditionError("--" + flag + " " + path + ": cannot read it");
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

struct CollectorApp::Impl {
  CollectorConfig config;
  Clock* clock;
  CollectorMetrics metrics;
  std::unique_ptr<TraceStore> store;
  std::vector<std::unique_ptr<Assembler>> assemblers;
  std::unique_ptr<IngestPipeline> pipeline;
  std::unique_ptr<QueryEngine> engine;
  std::unique_ptr<grpc::Service> ingest_service, query_service;
  std::unique_ptr<grpc::Server> grpc_server;
  std::unique_ptr<httplib::Server> http;
  std::thread http_thread, retention_thread;
  int grpc_port = 0, http_port = 0;
  std::atomic<bool> ready{false};
  absl::Mutex mu;
  bool stopped ABSL_GUARDED_BY(mu) = false;
  absl::Notification stop_requested;

  absl::Status StartGrpc() {
    grpc::ServerBuilder builder;
    std::shared_ptr<grpc::ServerCredentials> credentials = grpc::InsecureServerCredentials();
    if (!config.tls_cert.empty()) {
      auto cert = ReadFile(config.tls_cert, "tls-cert");
      if (!cert.ok()) return cert.status();
      auto key = ReadFile(config.tls_key, "tls-key");
      if (!key.ok()) return key.status();
      grpc::SslServerCredentialsOptions ssl;
      ssl.pem_key_cert_pairs.push_back({*key, *cert});
      credentials = grpc::SslServerCredentials(ssl);
    }
    builder.AddListeningPort(config.grpc_listen, credentials, &grpc_port);
    builder.SetMaxReceiveMessageSize(64 << 20);
    builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);  // a second collector must fail
    builder.RegisterService(ingest_service.get());
    builder.RegisterService(query_service.get());
    grpc_server = builder.BuildAndStart();
    if (grpc_server == nullptr || grpc_port == 0) {
      return absl::UnavailableError("cannot listen on --grpc-listen " + config.grpc_listen +
                                    " (port in use or address not local?)");
    }
    return absl::OkStatus();
  }

  absl::Status StartHttp() {
    if (!config.tls_cert.empty()) {
      http = std::make_unique<httplib::SSLServer>(config.tls_cert.c_str(), config.tls_key.c_str());
      if (!http->is_valid()) {
        return absl::FailedPreconditionError(
            "--tls-cert/--tls-key: not a usable certificate and key");
      }
    } else {
      http = std::make_unique<httplib::Server>();
    }
    // SO_REUSEADDR only: httplib's default SO_REUSEPORT would let two collectors share a port.
    http->set_socket_options([](int sock) {
      int yes = 1;
      setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    });
    RegisterHttpApi(
        http.get(), engine.get(), &metrics, config.api_token, [this] { return ready.load(); },
        clock);
    const auto colon = config.http_listen.rfind(':');
    const std::string host = config.http_listen.substr(0, colon);
    const int port = std::stoi(config.http_listen.substr(colon + 1));
    http_port =
        port == 0 ? http->bind_to_any_port(host) : (http->bind_to_port(host, port) ? port : -1);
    if (http_port <= 0) {
      return absl::UnavailableError("cannot listen on --http-listen " + config.http_listen +
                                    " (port in use?)");
    }
    http_thread = std::thread([this] { http->listen_after_bind(); });
    return absl::OkStatus();
  }

  // Age, then size: the oldest traces go first.
  void Retention() {
    while (!stop_requested.WaitForNotificationWithTimeout(absl::Minutes(1))) RetainOnce();
  }

  void RetainOnce() {
    const int64_t cutoff = absl::ToUnixNanos(clock->Now() - config.retention);
    size_t deleted = 0;
    while (true) {
      std::vector<std::string> old = store->OldestTraces(1000, cutoff);
      if (old.empty()) break;
      if (!store->DeleteTraces(old).ok()) break;
      deleted += old.size();
    }
    if (config.max_disk_bytes > 0 && store->DiskBytes() > config.max_disk_bytes) {
      store->CompactAll();
      // Delete about as many of the oldest traces as the excess holds, then measure again.
      uint64_t bytes = store->DiskBytes();
      while (bytes > config.max_disk_bytes && !stop_requested.HasBeenNotified()) {
        const uint64_t traces = std::max<uint64_t>(1, store->trace_count_estimate());
        const uint64_t per_trace = std::max<uint64_t>(1, bytes / traces);
        const size_t n = static_cast<size_t>(
            std::clamp<uint64_t>((bytes - config.max_disk_bytes) / per_trace + 1, 1, 10'000));
        std::vector<std::string> oldest = store->OldestTraces(n, 0);
        if (oldest.empty() || !store->DeleteTraces(oldest).ok()) break;
        deleted += oldest.size();
        store->CompactAll();
        bytes = store->DiskBytes();
      }
    }
    if (deleted > 0) {
      Log(LogLevel::kInfo, absl::StrCat("retention: deleted ", deleted, " traces; store now ",
                                        store->DiskBytes(), " bytes"));
    }
  }
};

CollectorApp::CollectorApp(CollectorConfig config, Clock* clock) : impl_(std::make_unique<Impl>()) {
  impl_->config = std::move(config);
  impl_->clock = clock;
}

CollectorApp::~CollectorApp() { Stop(); }

absl::Status CollectorApp::Start() {
  Impl& s = *impl_;
  auto store = TraceStore::Open(s.config.data_dir, s.config.writer_shards);
  if (!store.ok()) return store.status();
  s.store = *std::move(store);
  std::vector<Assembler*> assemblers;
  for (int i = 0; i < s.config.writer_shards; ++i) {
    s.assemblers.push_back(std::make_unique<Assembler>(
        s.store.get(), Timeouts{s.config.stall_timeout, s.config.partial_grace}, &s.metrics, i,
        s.config.writer_shards));
    if (auto st = s.assemblers.back()->Restore(absl::ToUnixNanos(s.clock->Now())); !st.ok()) {
      return st;
    }
    assemblers.push_back(s.assemblers.back().get());
  }
  s.pipeline = std::make_unique<IngestPipeline>(s.store.get(), std::move(assemblers), &s.metrics,
                                                s.clock, IngestPipeline::Options{});
  ArtifactOptions artifact_options;
  artifact_options.timeouts = {s.config.stall_timeout, s.config.partial_grace};
  artifact_options.runtime_socket = s.config.runtime_socket;
  s.engine = std::make_unique<QueryEngine>(s.store.get(), artifact_options, s.clock);
  s.ingest_service =
      NewIngestService(s.pipeline.get(), &s.metrics, s.config.api_token, s.config.max_event_bytes);
  s.query_service = NewQueryService(s.engine.get(), s.config.api_token);
  if (auto st = s.StartGrpc(); !st.ok()) return st;
  if (auto st = s.StartHttp(); !st.ok()) return st;
  s.RetainOnce();  // before serving: a restarted collector never shows expired traces
  s.retention_thread = std::thread([&s] { s.Retention(); });
  s.ready = true;
  Log(LogLevel::kInfo, absl::StrCat("listening: gRPC ",
                                    s.config.grpc_listen.substr(0, s.config.grpc_listen.rfind(':')),
                                    ":", s.grpc_port, ", HTTP ",
                                    s.config.http_listen.substr(0, s.config.http_listen.rfind(':')),
                                    ":", s.http_port, " (UI and API); data in ", s.config.data_dir,
                                    s.config.api_token.empty() ? "" : "; token required",
                                    s.config.tls_cert.empty() ? "" : "; TLS"));
  return absl::OkStatus();
}

void CollectorApp::Stop() {
  Impl& s = *impl_;
  // Held throughout: a second caller returns only once the first has finished stopping.
  absl::MutexLock lock(&s.mu);
  if (s.stopped) return;
  s.stopped = true;
  s.ready = false;
  if (!s.stop_requested.HasBeenNotified()) s.stop_requested.Notify();
  if (s.grpc_server)
    s.grpc_server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  if (s.pipeline) s.pipeline->Stop();
  if (s.http) s.http->stop();
  if (s.http_thread.joinable()) s.http_thread.join();
  if (s.retention_thread.joinable()) s.retention_thread.join();
  if (s.grpc_server) s.grpc_server->Wait();
}

void CollectorApp::Wait() { impl_->stop_requested.WaitForNotification(); }

int CollectorApp::grpc_port() const { return impl_->grpc_port; }
int CollectorApp::http_port() const { return impl_->http_port; }

int CollectorMain(int argc, char** argv) {
  CollectorConfigResult loaded = LoadCollectorConfig(argc, argv, ProcessEnvironment());
  if (loaded.exit_code != 0 || !loaded.message.empty()) {
    (loaded.exit_code == 0 ? std::cout : std::cerr) << loaded.message << "\n";
    return loaded.exit_code;
  }
  InitLogging("collector", loaded.config.log_level);
  CollectorApp app(loaded.config);
  HandleStopSignals([&app](int sig) {
    Log(LogLevel::kInfo, std::string("received ") + strsignal(sig) + ": stopping");
    app.Stop();
  });
  if (absl::Status s = app.Start(); !s.ok()) {
    std::cerr << "meshtrace-collector: " << s.message() << "\n";
    return 1;
  }
  app.Wait();
  app.Stop();
  Log(LogLevel::kInfo, "stopped");
  return 0;
}

}  // namespace meshtrace::collector
