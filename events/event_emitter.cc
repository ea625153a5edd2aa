#include "events/event_emitter.h"

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <deque>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "common/log.h"
#include "meshtrace/v1/collector.grpc.pb.h"

namespace meshtrace::events {
namespace {

constexpr size_t kMaxBatchesInFlight = 64;
// Sealed early when this large, below gRPC's default limit of 4 MiB per message (the
// collector takes up to 64 MiB). A batch has a large fixed cost (~300 us: gRPC write, HTTP/2
// flow control, the sender's and ack reader's wake-ups): 3 MiB batches took 3 % (1.5-5.7 %)
// off the sidecar's CPU against 1 MiB ones in five side-by-side sidecar_bench pairs.
constexpr size_t kMaxBatchBytes = 3u << 20;
// The framing a record adds to a batch at most: its tag and length, and the batch id's.
constexpr size_t kMaxFraming = 2 * (1 + 10);

void AppendVarint(uint64_t value, std::string* out) {
  while (value >= 0x80) {
    out->push_back(static_cast<char>(value | 0x80));
    value >>= 7;
  }
  out->push_back(static_cast<char>(value));
}

// A batch is kept as its `EventBatch` wire encoding, built as events are emitted: each event
// is appended as a `events` (field 2) record, and `batch_id` (field 1) goes last when the batch
// is sealed (protobuf fields may come in any order). Nothing is built, copied into a batch or
// serialised again to send it, and an acknowledged batch is one string to free.
//
// Buffers of freed batches are kept for the next ones: a batch grows to up to 3 MiB, and a new
// buffer each time is reallocation copies and fresh pages (page faults) on the processing
// thread. A batch is freed by whoever lets go of it last: its ack, or gRPC releasing the bytes
// it sent, which can come after the ack.
class BufferPool {
 public:
  std::string Take() {
    absl::MutexLock lock(&mu_);
    if (spare_.empty()) return {};
    std::string bytes = std::move(spare_.back());
    spare_.pop_back();
    return bytes;
  }
  void Give(std::string bytes) {
    bytes.clear();
    absl::MutexLock lock(&mu_);
    if (spare_.size() < kSpare) spare_.push_back(std::move(bytes));
  }

 private:
  static constexpr size_t kSpare = 4;
  absl::Mutex mu_;
  std::vector<std::string> spare_ ABSL_GUARDED_BY(mu_);  // empty, with their capacity
};

struct Batch {
  explicit Batch(std::shared_ptr<BufferPool> from) : bytes(from->Take()), pool(std::move(from)) {}
  ~Batch() {
    if (bytes.capacity() >= 4096) pool->Give(std::move(bytes));
  }
  Batch(const Batch&) = delete;
  Batch& operator=(const Batch&) = delete;

  uint64_t id = 0;
  size_t events = 0;
  std::string bytes;
  const std::shared_ptr<BufferPool> pool;
};
using BatchPtr = std::shared_ptr<Batch>;

class GrpcEventEmitter : public EventEmitter {
 public:
  GrpcEventEmitter(const EmitterOptions& options, EventMetrics* metrics)
      : options_(options), metrics_(metrics) {
    std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
    if (!options_.tls_ca_pem.empty()) {
      grpc::SslCredentialsOptions ssl;
      ssl.pem_root_certs = options_.tls_ca_pem;
      credentials = grpc::SslCredentials(ssl);
    }
    // A collector that comes back is found within seconds. gRPC's default reconnect backoff
    // grows 1.6x from 1 s to 120 s: after a 90 s outage the events waited 19 s more once the
    // collector was up (EventEmitterTest), and longer outages wait up to two minutes. A
    // refused connect every 2 s while the collector is down is cheap.
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 250);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
    channel_ = grpc::CreateCustomChannel(options_.collector, credentials, args);
    sender_ = std::thread([this] { SendLoop(); });
  }

  ~GrpcEventEmitter() override { Stop(absl::ZeroDuration()); }

  using EventEmitter::Emit;
  void Emit(size_t size, absl::FunctionRef<size_t(char*)> write) override {
    bool stopping = false;
    {
      absl::MutexLock lock(&mu_);
      stopping = stopping_;
      if (!stopping_ && buffered_ < options_.buffer_events &&
          buffered_bytes_ + size <= options_.buffer_bytes) {
        // Sealed before it would grow past its bound (a batch is larger only when one event is).
        if (open_->events > 0 && open_->bytes.size() + size + kMaxFraming > kMaxBatchBytes) {
          Seal();
        }
        std::string& out = open_->bytes;
        const size_t record = out.size();
        AppendVarint((2 << 3) | 2, &out);  // field 2, length-delimited
        AppendVarint(size, &out);
        const size_t start = out.size();
        out.resize(start + size);
        if (write(out.data() + start) != size) {  // a sizing bug: the batch would not parse
          out.resize(record);
          metrics_->EventsDropped("encoding", 1);
          return;
        }
        ++open_->events;
        ++buffered_;
        buffered_bytes_ += out.size() - record;
        if (open_->events >= options_.max_batch) Seal();
        metrics_->EventQueueDepth(static_cast<int64_t>(buffered_));
        return;
      }
    }
    metrics_->EventsDropped(stopping ? "shutdown" : "buffer_full", 1);
  }

  void Stop(absl::Duration timeout) override {
    {
      absl::MutexLock lock(&mu_);
      if (stopped_) return;
      stopping_ = true;
      drain_deadline_ = absl::Now() + timeout;
      wake_.SignalAll();
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
  // Closes the open batch: it gets its id and waits to be sent.
  void Seal() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    open_->id = ++next_batch_id_;
    const size_t events_size = open_->bytes.size();
    AppendVarint((1 << 3) | 0, &open_->bytes);  // field 1, varint
    AppendVarint(open_->id, &open_->bytes);
    buffered_bytes_ += open_->bytes.size() - events_size;
    sealed_.push_back(std::move(open_));
    open_ = std::make_shared<Batch>(pool_);
    wake_.Signal();
  }

  // The next batch to send (sealing the open one when nothing else waits); it stays
  // unacknowledged until its Ack.
  BatchPtr TakeBatch() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (unacked_.size() >= kMaxBatchesInFlight) return nullptr;
    if (sealed_.empty() && open_->events > 0) Seal();
    if (sealed_.empty()) return nullptr;
    BatchPtr batch = std::move(sealed_.front());
    sealed_.pop_front();
    unacked_.push_back(batch);
    return batch;
  }

  bool Done() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return stopping_ && (buffered_ == 0 || absl::Now() >= drain_deadline_);
  }

  // Writes the batch's bytes as they are: the slice holds a reference to the batch, not a copy.
  static bool Write(grpc::ClientReaderWriter<grpc::ByteBuffer, v1::Ack>* stream,
                    const BatchPtr& batch) {
    auto* held = new BatchPtr(batch);
    grpc::Slice slice(
        batch->bytes.data(), batch->bytes.size(), [](void* p) { delete static_cast<BatchPtr*>(p); },
        held);
    grpc::ByteBuffer buffer(&slice, 1);
    return stream->Write(buffer);
  }

  // Applies one Ack. The batch is freed after the lock is released.
  void Acknowledge(const v1::Ack& ack) {
    BatchPtr done;
    {
      absl::MutexLock lock(&mu_);
      for (auto it = unacked_.begin(); it != unacked_.end(); ++it) {
        if ((*it)->id != ack.batch_id()) continue;
        done = std::move(*it);
        unacked_.erase(it);
        buffered_ -= done->events;
        buffered_bytes_ -= done->bytes.size();
        metrics_->EventQueueDepth(static_cast<int64_t>(buffered_));
        wake_.Signal();  // room for another batch in flight, or the drain is done
        break;
      }
    }
    if (done == nullptr) return;
    acknowledged_ += done->events;
    metrics_->EventsEmitted(ack.accepted() + ack.duplicates());
    if (ack.rejected_size() > 0) {
      metrics_->EventsDropped("rejected", ack.rejected_size());
      Log(LogLevel::kWarn, "collector rejected " + std::to_string(ack.rejected_size()) +
                               " events, first: " + ack.rejected(0).message());
    }
  }

  // One stream's life: resend what is unacknowledged, then send new batches until the stream
  // breaks or the emitter stops.
  void RunStream() {
    grpc::ClientContext context;
    if (!options_.token.empty()) context.AddMetadata("authorization", "Bearer " + options_.token);
    // Collector.Ingest with the batches written as the bytes they already are (the generated
    // stub would take an EventBatch message and serialise it again).
    static const grpc::internal::RpcMethod kIngest("/meshtrace.v1.Collector/Ingest",
                                                   grpc::internal::RpcMethod::BIDI_STREAMING);
    std::unique_ptr<grpc::ClientReaderWriter<grpc::ByteBuffer, v1::Ack>> stream(
        grpc::internal::ClientReaderWriterFactory<grpc::ByteBuffer, v1::Ack>::Create(
            channel_.get(), kIngest, &context));
    std::atomic<bool> broken{false};
    std::thread reader([&] {
      v1::Ack ack;
      while (stream->Read(&ack)) Acknowledge(ack);
      broken = true;
    });

    std::vector<BatchPtr> resend;
    {
      absl::MutexLock lock(&mu_);
      resend.assign(unacked_.begin(), unacked_.end());
    }
    bool ok = true;
    for (const BatchPtr& batch : resend) {
      if (!(ok = Write(stream.get(), batch))) break;
    }
    while (ok && !broken) {
      BatchPtr batch;
      {
        absl::MutexLock lock(&mu_);
        // Wake for a sealed batch or once per flush interval, not for every event: a wake-up
        // per event costs the processing thread more than building the event does.
        // A CondVar, signalled when a batch is sealed, rather than Mutex::Await: a thread
        // waiting on a Condition sends every Emit's unlock down the mutex's slow path.
        const absl::Time until = absl::Now() + options_.flush_interval;
        while (!Done() && (sealed_.empty() || unacked_.size() >= kMaxBatchesInFlight)) {
          if (wake_.WaitWithDeadline(&mu_, until)) break;  // timed out: send what there is
        }
        if (Done()) break;
        batch = TakeBatch();
      }
      if (batch != nullptr) ok = Write(stream.get(), batch);
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
      // Wait for the channel's connection before opening a stream. A stream opened before it
      // fails at once, and the backoff below then grew while the collector was coming up:
      // sidecars started just before their collector delivered their first events ~2.7 s late
      // (MeshTest.SidecarsStartedBeforeTheirCollectorDeliverEventsPromptly). gRPC retries the
      // connection with its own backoff (at most 2 s); Stop is seen within 100 ms.
      if (!channel_->WaitForConnected(std::chrono::system_clock::now() +
                                      std::chrono::milliseconds(100))) {
        continue;
      }
      absl::Time started = absl::Now();
      RunStream();
      {
        absl::MutexLock lock(&mu_);
        if (Done()) return;
      }
      if (absl::Now() - started > absl::Seconds(5)) backoff = absl::Milliseconds(50);
      absl::MutexLock lock(&mu_);
      const absl::Time until = absl::Now() + backoff;
      while (!stopping_ && !wake_.WaitWithDeadline(&mu_, until)) {
      }
      backoff = std::min(backoff * 2, options_.max_backoff);
    }
  }

  const EmitterOptions options_;
  EventMetrics* const metrics_;
  std::shared_ptr<grpc::Channel> channel_;

  mutable absl::Mutex mu_;
  absl::CondVar wake_;  // a batch was sealed or acknowledged, or Stop was called
  const std::shared_ptr<BufferPool> pool_ = std::make_shared<BufferPool>();
  BatchPtr open_ ABSL_GUARDED_BY(mu_) = std::make_shared<Batch>(pool_);  // being filled by Emit
  std::deque<BatchPtr> sealed_ ABSL_GUARDED_BY(mu_);                     // waiting to be sent
  std::deque<BatchPtr> unacked_ ABSL_GUARDED_BY(mu_);                    // sent, not acknowledged
  size_t buffered_ ABSL_GUARDED_BY(mu_) = 0;                             // events in all three
  size_t buffered_bytes_ ABSL_GUARDED_BY(mu_) = 0;                       // and their bytes
  uint64_t next_batch_id_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time drain_deadline_ ABSL_GUARDED_BY(mu_);
  std::atomic<uint64_t> acknowledged_{0};
  std::thread sender_;
};

}  // namespace

std::unique_ptr<EventEmitter> NewGrpcEventEmitter(const EmitterOptions& options,
                                                  EventMetrics* metrics) {
  return std::make_unique<GrpcEventEmitter>(options, metrics);
}

}  // namespace meshtrace::events
