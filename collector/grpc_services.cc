#include "collector/grpc_services.h"

#include <grpcpp/grpcpp.h>

#include <deque>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "collector/artifact.h"
#include "collector/report.h"
#include "meshtrace/v1/collector.grpc.pb.h"
#include "meshtrace/v1/query.grpc.pb.h"

namespace meshtrace::collector {
namespace {

bool Authorized(const grpc::ServerContext* context, const std::string& token) {
  if (token.empty()) return true;
  auto range = context->client_metadata().equal_range("authorization");
  for (auto it = range.first; it != range.second; ++it) {
    if (std::string_view(it->second.data(), it->second.size()) == "Bearer " + token) return true;
  }
  return false;
}

grpc::Status ToGrpc(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  grpc::StatusCode code = grpc::StatusCode::INTERNAL;
  switch (s.code()) {
    case absl::StatusCode::kInvalidArgument:
      code = grpc::StatusCode::INVALID_ARGUMENT;
      break;
    case absl::StatusCode::kNotFound:
      code = grpc::StatusCode::NOT_FOUND;
      break;
    case absl::StatusCode::kUnavailable:
      code = grpc::StatusCode::UNAVAILABLE;
      break;
    default:
      break;
  }
  return grpc::Status(code, std::string(s.message()));
}

const grpc::Status kUnauthenticated(grpc::StatusCode::UNAUTHENTICATED,
                                    "missing or wrong bearer token (authorization metadata)");

// The acks of one stream, written by its own thread so that reading never waits for them.
struct AckQueue {
  absl::Mutex mu;
  std::deque<v1::Ack> acks ABSL_GUARDED_BY(mu);
  size_t outstanding ABSL_GUARDED_BY(mu) = 0;
  bool reading_done ABSL_GUARDED_BY(mu) = false;
  bool failed ABSL_GUARDED_BY(mu) = false;
};

class IngestService final : public v1::Collector::Service {
 public:
  IngestService(IngestPipeline* pipeline, CollectorMetrics* metrics, std::string token,
                size_t max_event_bytes)
      : pipeline_(pipeline),
        metrics_(metrics),
        token_(std::move(token)),
        max_event_bytes_(max_event_bytes) {}

  grpc::Status Ingest(grpc::ServerContext* context,
                      grpc::ServerReaderWriter<v1::Ack, v1::EventBatch>* stream) override {
    if (!Authorized(context, token_)) {
      metrics_->Rejected("unauthenticated");
      return kUnauthenticated;
    }
    auto queue = std::make_shared<AckQueue>();
    std::thread writer([queue, stream] {
      bool broken = false;
      while (true) {
        v1::Ack ack;
        {
          absl::MutexLock lock(&queue->mu);
          auto ready = [&queue]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(queue->mu) {
            return !queue->acks.empty() || (queue->reading_done && queue->outstanding == 0);
          };
          queue->mu.Await(absl::Condition(&ready));
          if (queue->acks.empty()) return;
          ack = std::move(queue->acks.front());
          queue->acks.pop_front();
        }
        if (!broken && !stream->Write(ack)) broken = true;
      }
    });
    v1::EventBatch batch;
    while (stream->Read(&batch)) {
      const absl::Time read_at = absl::Now();
      v1::Ack ack;
      ack.set_batch_id(batch.batch_id());
      // Hashing and serialising happen here, on the stream's thread, in parallel with other
      // streams; the writer thread only deduplicates, assembles and writes.
      const int64_t arrived = absl::ToUnixNanos(read_at);
      std::vector<PreparedEvent> events;
      events.reserve(batch.events_size());
      for (int i = 0; i < batch.events_size(); ++i) {
        v1::LifecycleEvent* e = batch.mutable_events(i);
        if (std::optional<EventRejection> bad = ValidateEvent(*e, max_event_bytes_)) {
          metrics_->Rejected(bad->reason);
          v1::EventRejection* r = ack.add_rejected();
          r->set_index(static_cast<uint32_t>(i));
          r->set_reason(bad->reason);
          r->set_message(bad->message);
          continue;
        }
        events.push_back(TraceStore::Prepare(std::move(*e), arrived));
      }
      {
        absl::MutexLock lock(&queue->mu);
        if (queue->failed) break;
        ++queue->outstanding;
      }
      pipeline_->Submit(std::move(events), [queue, ack = std::move(ack), read_at,
                                            metrics = metrics_](const BatchResult& result) mutable {
        absl::MutexLock lock(&queue->mu);
        --queue->outstanding;
        if (!result.status.ok()) {
          queue->failed = true;  // no ack: the sender resends after reconnecting
          return;
        }
        ack.set_accepted(result.accepted);
        ack.set_duplicates(result.duplicates);
        queue->acks.push_back(std::move(ack));
        metrics->IngestBatch(absl::Now() - read_at);
      });
    }
    bool failed;
    {
      absl::MutexLock lock(&queue->mu);
      queue->reading_done = true;
      failed = queue->failed;
    }
    writer.join();
    {
      absl::MutexLock lock(&queue->mu);
      failed = failed || queue->failed;
    }
    if (failed) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "collector is shutting down");
    return grpc::Status::OK;
  }

 private:
  IngestPipeline* pipeline_;
  CollectorMetrics* metrics_;
  std::string token_;
  size_t max_event_bytes_;
};

class QueryService final : public v1::Query::Service {
 public:
  QueryService(const QueryEngine* engine, std::string token)
      : engine_(engine), token_(std::move(token)) {}

  grpc::Status ListTraces(grpc::ServerContext* context, const v1::ListTracesRequest* request,
                          v1::ListTracesResponse* response) override {
    if (!Authorized(context, token_)) return kUnauthenticated;
    auto r = engine_->List(*request);
    if (r.ok()) *response = *std::move(r);
    return ToGrpc(r.status());
  }
  grpc::Status GetTrace(grpc::ServerContext* context, const v1::GetTraceRequest* request,
                        v1::TraceArtifact* response) override {
    if (!Authorized(context, token_)) return kUnauthenticated;
    auto r = engine_->Get(*request);
    if (r.ok()) *response = *std::move(r);
    return ToGrpc(r.status());
  }
  grpc::Status GetHopCapture(grpc::ServerContext* context, const v1::GetHopCaptureRequest* request,
                             v1::HopCapture* response) override {
    if (!Authorized(context, token_)) return kUnauthenticated;
    auto r = engine_->HopCapture(*request);
    if (r.ok()) *response = *std::move(r);
    return ToGrpc(r.status());
  }
  grpc::Status Render(grpc::ServerContext* context, const v1::RenderRequest* request,
                      v1::Rendered* response) override {
    if (!Authorized(context, token_)) return kUnauthenticated;
    if (request->format() != "html" && request->format() != "json") {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "format: expected html or json");
    }
    v1::GetTraceRequest get;
    get.set_trace_id(request->trace_id());
    get.set_envelope_id(request->envelope_id());
    auto artifact = engine_->Get(get);
    if (!artifact.ok()) return ToGrpc(artifact.status());
    response->set_trace_id(artifact->trace_id());
    if (request->format() == "html") {
      response->set_content_type("text/html; charset=utf-8");
      response->set_body(RenderReport(*artifact));
    } else {
      response->set_content_type("application/json");
      response->set_body(
          ArtifactJson(*artifact).dump(2, ' ', false, nlohmann::json::error_handler_t::replace));
    }
    return grpc::Status::OK;
  }
  grpc::Status Diff(grpc::ServerContext* context, const v1::DiffRequest* request,
                    v1::DiffResponse* response) override {
    if (!Authorized(context, token_)) return kUnauthenticated;
    auto r = engine_->Diff(*request);
    if (r.ok()) *response = *std::move(r);
    return ToGrpc(r.status());
  }

 private:
  const QueryEngine* engine_;
  std::string token_;
};

}  // namespace

std::unique_ptr<grpc::Service> NewIngestService(IngestPipeline* pipeline, CollectorMetrics* metrics,
                                                std::string token, size_t max_event_bytes) {
  return std::make_unique<IngestService>(pipeline, metrics, std::move(token), max_event_bytes);
}

std::unique_ptr<grpc::Service> NewQueryService(const QueryEngine* engine, std::string token) {
  return std::make_unique<QueryService>(engine, std::move(token));
}

}  // namespace meshtrace::collector
