#include "tests/testing/collector_stub.h"

#include <grpcpp/grpcpp.h>

#include "absl/container/flat_hash_set.h"
#include "meshtrace/v1/collector.grpc.pb.h"

namespace meshtrace::testing {

class CollectorStub::Service : public v1::Collector::Service {
 public:
  grpc::Status Ingest(grpc::ServerContext*,
                      grpc::ServerReaderWriter<v1::Ack, v1::EventBatch>* stream) override {
    v1::EventBatch batch;
    while (stream->Read(&batch)) {
      v1::Ack ack;
      ack.set_batch_id(batch.batch_id());
      {
        absl::MutexLock lock(&mu_);
        for (const auto& event : batch.events()) {
          if (seen_.insert({event.source_id(), event.sequence()}).second) {
            ++distinct_;
            if (keep_events_) events_.push_back(event);
            ack.set_accepted(ack.accepted() + 1);
          } else {
            ++duplicates_;
            ack.set_duplicates(ack.duplicates() + 1);
          }
        }
      }
      if (!stream->Write(ack)) break;
    }
    return grpc::Status::OK;
  }

  bool keep_events_ = true;
  mutable absl::Mutex mu_;
  std::vector<v1::LifecycleEvent> events_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<std::pair<std::string, uint64_t>> seen_ ABSL_GUARDED_BY(mu_);
  size_t distinct_ ABSL_GUARDED_BY(mu_) = 0;
  size_t duplicates_ ABSL_GUARDED_BY(mu_) = 0;
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

}  // namespace meshtrace::testing
