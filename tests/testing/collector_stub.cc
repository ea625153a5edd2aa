#include "tests/testing/collector_stub.h"

#include <grpcpp/grpcpp.h>
#include <grpcpp/support/method_handler.h>

#include <algorithm>

#include "absl/container/flat_hash_set.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/wire_format_lite.h"
#include "meshtrace/v1/collector.pb.h"

namespace meshtrace::testing {
namespace {

// The identities of a batch's events and its id, read from the `EventBatch` wire bytes without
// decoding the events (a counting stand-in collector must not take CPU from what is measured).
bool ScanBatch(const grpc::Slice& bytes, uint64_t* batch_id,
               std::vector<std::pair<std::string, uint64_t>>* ids) {
  google::protobuf::io::CodedInputStream in(bytes.begin(), static_cast<int>(bytes.size()));
  while (uint32_t tag = in.ReadTag()) {
    if (tag == ((1 << 3) | 0)) {
      if (!in.ReadVarint64(batch_id)) return false;
    } else if (tag == ((2 << 3) | 2)) {
      uint32_t length = 0;
      if (!in.ReadVarint32(&length)) return false;
      auto limit = in.PushLimit(static_cast<int>(length));
      std::pair<std::string, uint64_t> id;
      while (uint32_t field = in.ReadTag()) {
        bool ok = field == ((1 << 3) | 2)
                      ? in.ReadVarint32(&length) && in.ReadString(&id.first, length)
                  : field == ((2 << 3) | 0)
                      ? in.ReadVarint64(&id.second)
                      : google::protobuf::internal::WireFormatLite::SkipField(&in, field);
        if (!ok) return false;
      }
      in.PopLimit(limit);
      ids->push_back(std::move(id));
    } else if (!google::protobuf::internal::WireFormatLite::SkipField(&in, tag)) {
      return false;
    }
  }
  return in.ConsumedEntireMessage();
}

}  // namespace

// Collector.Ingest over the raw message bytes, registered by hand as the generated service
// would register it: a counting stub reads only batch ids and event identities.
class CollectorStub::Service : public grpc::Service {
 public:
  Service() {
    AddMethod(new grpc::internal::RpcServiceMethod(
        "/meshtrace.v1.Collector/Ingest", grpc::internal::RpcMethod::BIDI_STREAMING,
        new grpc::internal::BidiStreamingHandler<Service, grpc::ByteBuffer, grpc::ByteBuffer>(
            [](Service* service, grpc::ServerContext*,
               grpc::ServerReaderWriter<grpc::ByteBuffer, grpc::ByteBuffer>* stream) {
              return service->Ingest(stream);
            },
            this)));
  }

  grpc::Status Ingest(grpc::ServerReaderWriter<grpc::ByteBuffer, grpc::ByteBuffer>* stream) {
    grpc::ByteBuffer request;
    v1::EventBatch batch;
    std::vector<std::pair<std::string, uint64_t>> ids;
    while (stream->Read(&request)) {
      grpc::Slice bytes;
      if (!request.DumpToSingleSlice(&bytes).ok()) break;
      uint64_t batch_id = 0;
      ids.clear();
      if (keep_events_) {
        if (!batch.ParseFromArray(bytes.begin(), static_cast<int>(bytes.size()))) break;
        batch_id = batch.batch_id();
        for (const auto& event : batch.events())
          ids.emplace_back(event.source_id(), event.sequence());
      } else if (!ScanBatch(bytes, &batch_id, &ids)) {
        break;
      }
      v1::Ack ack;
      ack.set_batch_id(batch_id);
      {
        absl::MutexLock lock(&mu_);
        largest_batch_ = std::max(largest_batch_, bytes.size());
        for (size_t i = 0; i < ids.size(); ++i) {
          if (seen_.insert(std::move(ids[i])).second) {
            ++distinct_;
            if (keep_events_) events_.push_back(batch.events(static_cast<int>(i)));
            ack.set_accepted(ack.accepted() + 1);
          } else {
            ++duplicates_;
            ack.set_duplicates(ack.duplicates() + 1);
          }
        }
      }
      const std::string reply = ack.SerializeAsString();
      grpc::Slice slice(reply);
      grpc::ByteBuffer response(&slice, 1);
      if (!stream->Write(response)) break;
    }
    return grpc::Status::OK;
  }

  bool keep_events_ = true;
  mutable absl::Mutex mu_;
  std::vector<v1::LifecycleEvent> events_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<std::pair<std::string, uint64_t>> seen_ ABSL_GUARDED_BY(mu_);
  size_t distinct_ ABSL_GUARDED_BY(mu_) = 0;
  size_t duplicates_ ABSL_GUARDED_BY(mu_) = 0;
  size_t largest_batch_ ABSL_GUARDED_BY(mu_) = 0;
};

struct CollectorStub::Server {
  std::unique_ptr<grpc::Server> server;
};

CollectorStub::CollectorStub(int port, bool keep_events)
    : service_(std::make_unique<Service>()), server_(std::make_unique<Server>()) {
  service_->keep_events_ = keep_events;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:" + std::to_string(port), grpc::InsecureServerCredentials(),
                           &port_);
  builder.RegisterService(service_.get());
  server_->server = builder.BuildAndStart();
}

CollectorStub::~CollectorStub() {
  server_->server->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(200));
}

std::vector<v1::LifecycleEvent> CollectorStub::events() const {
  absl::MutexLock lock(&service_->mu_);
  return service_->events_;
}

bool CollectorStub::WaitForEvents(size_t n, absl::Duration timeout) const {
  absl::MutexLock lock(&service_->mu_);
  auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(service_->mu_) {
    return service_->distinct_ >= n;
  };
  return service_->mu_.AwaitWithTimeout(absl::Condition(&enough), timeout);
}

size_t CollectorStub::count() const {
  absl::MutexLock lock(&service_->mu_);
  return service_->distinct_;
}

size_t CollectorStub::duplicates() const {
  absl::MutexLock lock(&service_->mu_);
  return service_->duplicates_;
}

size_t CollectorStub::largest_batch_bytes() const {
  absl::MutexLock lock(&service_->mu_);
  return service_->largest_batch_;
}

}  // namespace meshtrace::testing
