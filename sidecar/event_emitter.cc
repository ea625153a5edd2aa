#include "sidecar/event_emitter.h"

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <deque>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "common/log.h"
#include "meshtrace/v1/collector.grpc.pb.h"

namespace meshtrace::sidecar {
namespace {

constexpr size_t kMaxBatchesInFlight = 64;

class GrpcEventEmitter : public EventEmitter {
 public:
  GrpcEventEmitter(const EmitterOptions& options, SidecarMetrics* metrics)
      : options_(options), metrics_(metrics) {
    std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
    if (!options_.tls_ca_pem.empty()) {
      grpc::SslCredentialsOptions ssl;
      ssl.pem_root_certs = options_.tls_ca_pem;
      credentials = grpc::SslCredentials(ssl);
    }
    channel_ = grpc::CreateChannel(options_.collector, credentials);
    stub_ = v1::Collector::NewStub(channel_);
    sender_ = std::thread([this] { SendLoop(); });
  }

  ~GrpcEventEmitter() override { Stop(absl::ZeroDuration()); }

  void Emit(v1::LifecycleEvent event) override {
    {
      absl::MutexLock lock(&mu_);
      if (!stopping_ && buffered_ < options_.buffer_events) {
        pending_.push_back(std::move(event));
        ++buffered_;
        metrics_->EventQueueDepth(static_cast<int64_t>(buffered_));
        return;
      }
    }
    metrics_->EventsDropped("buffer_full", 1);
  }

  void Stop(absl::Duration timeout) override {
    {
      absl::MutexLock lock(&mu_);
      if (stopped_) return;
      stopping_ = true;
      drain_deadline_ = absl::Now() + timeout;
    }
    sender_.join();
    absl::MutexLock lock(&mu_);
    stopped_ = true;
    if (buffered_ > 0) {
      metrics_->EventsDropped("shutdown", buffered_);
      Log(LogLevel::kWarn,
          std::to_string(buffered_) + " lifecycle events not acknowledged at shutdown");
    }
  }

  uint64_t acknowledged() const override { return acknowledged_.load(); }

 private:
  // Immutable once built; shared by the unacknowledged list and the writer (no copies).
  struct Batch {
    uint64_t id;
    v1::EventBatch message;
  };
  using BatchPtr = std::shared_ptr<const Batch>;

  // Moves up to max_batch pending events into a new unacknowledged batch.
  BatchPtr TakeBatch() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (pending_.empty() || unacked_.size() >= kMaxBatchesInFlight) return nullptr;
    auto batch = std::make_shared<Batch>();
    batch->id = ++next_batch_id_;
    batch->message.set_batch_id(batch->id);
    size_t n = std::min(pending_.size(), options_.max_batch);
    batch->message.mutable_events()->Reserve(static_cast<int>(n));
    for (size_t i = 0; i < n; ++i) {
      batch->message.add_events()->Swap(&pending_.front());
      pending_.pop_front();
    }
    unacked_.push_back(batch);
    return batch;
  }

  bool Done() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return stopping_ && (buffered_ == 0 || absl::Now() >= drain_deadline_);
  }

  // One stream's life: resend what is unacknowledged, then send new batches until the stream
  // breaks or the emitter stops.
  void RunStream() {
    grpc::ClientContext context;
    if (!options_.token.empty()) context.AddMetadata("authorization", "Bearer " + options_.token);
    std::unique_ptr<grpc::ClientReaderWriter<v1::EventBatch, v1::Ack>> stream =
        stub_->Ingest(&context);
    std::atomic<bool> broken{false};
    std::thread reader([&] {
      v1::Ack ack;
      while (stream->Read(&ack)) {
        absl::MutexLock lock(&mu_);
        for (auto it = unacked_.begin(); it != unacked_.end(); ++it) {
          if ((*it)->id != ack.batch_id()) continue;
          size_t n = (*it)->message.events_size();
          buffered_ -= n;
          acknowledged_ += n;
          metrics_->EventsEmitted(ack.accepted() + ack.duplicates());
          if (ack.rejected_size() > 0) {
            metrics_->EventsDropped("rejected", ack.rejected_size());
            Log(LogLevel::kWarn, "collector rejected " + std::to_string(ack.rejected_size()) +
                                     " events, first: " + ack.rejected(0).message());
          }
          metrics_->EventQueueDepth(static_cast<int64_t>(buffered_));
          unacked_.erase(it);
          break;
        }
      }
      broken = true;
    });

    std::vector<BatchPtr> resend;
    {
      absl::MutexLock lock(&mu_);
      resend.assign(unacked_.begin(), unacked_.end());
    }
    bool ok = true;
    for (const BatchPtr& batch : resend) {
      if (!(ok = stream->Write(batch->message))) break;
    }
    while (ok && !broken) {
      BatchPtr batch;
      {
        absl::MutexLock lock(&mu_);
        // Wake for a full batch or once per flush interval, not for every event: a wake-up
        // per event costs the processing thread more than building the event does.
        auto full = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
          return Done() ||
                 (pending_.size() >= options_.max_batch && unacked_.size() < kMaxBatchesInFlight);
        };
        mu_.AwaitWithTimeout(absl::Condition(&full), options_.flush_interval);
        if (Done()) break;
        batch = TakeBatch();
      }
      if (batch != nullptr) ok = stream->Write(batch->message);
    }
    if (ok && !broken) {
      stream->WritesDone();
    }
    context.TryCancel();
    reader.join();
    stream->Finish();
  }

  void SendLoop() {
    absl::Duration backoff = absl::Milliseconds(50);
    while (true) {
      {
        absl::MutexLock lock(&mu_);
        if (Done()) return;
      }
      absl::Time started = absl::Now();
      RunStream();
      {
        absl::MutexLock lock(&mu_);
        if (Done()) return;
      }
      if (absl::Now() - started > absl::Seconds(5)) backoff = absl::Milliseconds(50);
      absl::MutexLock lock(&mu_);
      auto stopping = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; };
      mu_.AwaitWithTimeout(absl::Condition(&stopping), backoff);
      backoff = std::min(backoff * 2, options_.max_backoff);
    }
  }

  const EmitterOptions options_;
  SidecarMetrics* const metrics_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Collector::Stub> stub_;

  mutable absl::Mutex mu_;
  std::deque<v1::LifecycleEvent> pending_ ABSL_GUARDED_BY(mu_);
  std::deque<BatchPtr> unacked_ ABSL_GUARDED_BY(mu_);
  size_t buffered_ ABSL_GUARDED_BY(mu_) = 0;  // pending + unacknowledged events
  uint64_t next_batch_id_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time drain_deadline_ ABSL_GUARDED_BY(mu_);
  std::atomic<uint64_t> acknowledged_{0};
  std::thread sender_;
};

}  // namespace

std::unique_ptr<EventEmitter> NewGrpcEventEmitter(const EmitterOptions& options,
                                                  SidecarMetrics* metrics) {
  return std::make_unique<GrpcEventEmitter>(options, metrics);
}

}  // namespace meshtrace::sidecar
