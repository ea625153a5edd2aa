#include "replayer/query_client.h"

#include <grpcpp/grpcpp.h>

#include "meshtrace/v1/query.grpc.pb.h"

namespace meshtrace::replayer {
namespace {

constexpr auto kDeadline = std::chrono::seconds(30);

class GrpcQueryClient : public QueryClient {
 public:
  GrpcQueryClient(std::string address, std::string token, const std::string& ca_pem)
      : address_(std::move(address)), token_(std::move(token)) {
    std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
    if (!ca_pem.empty()) {
      grpc::SslCredentialsOptions ssl;
      ssl.pem_root_certs = ca_pem;
      credentials = grpc::SslCredentials(ssl);
    }
    stub_ = v1::Query::NewStub(grpc::CreateChannel(address_, credentials));
  }

  absl::StatusOr<v1::ListTracesResponse> List(const v1::ListTracesRequest& r) override {
    v1::ListTracesResponse response;
    auto context = Context();
    grpc::Status s = stub_->ListTraces(context.get(), r, &response);
    return Convert(s, std::move(response));
  }

  absl::StatusOr<v1::TraceArtifact> Get(const std::string& id) override {
    v1::GetTraceRequest r;
    r.set_trace_id(id);
    v1::TraceArtifact artifact;
    auto context = Context();
    grpc::Status s = stub_->GetTrace(context.get(), r, &artifact);
    if (s.error_code() != grpc::StatusCode::NOT_FOUND) return Convert(s, std::move(artifact));
    r.clear_trace_id();  // not a trace id: maybe an envelope id
    r.set_envelope_id(id);
    auto retry = Context();
    s = stub_->GetTrace(retry.get(), r, &artifact);
    if (s.error_code() == grpc::StatusCode::NOT_FOUND) {
      return absl::NotFoundError("no trace or envelope with id " + id);
    }
    return Convert(s, std::move(artifact));
  }

  absl::StatusOr<v1::DiffResponse> Diff(const v1::DiffRequest& r) override {
    v1::DiffResponse response;
    auto context = Context();
    grpc::Status s = stub_->Diff(context.get(), r, &response);
    return Convert(s, std::move(response));
  }

  absl::StatusOr<v1::Rendered> Render(const std::string& id, const std::string& format) override {
    v1::RenderRequest r;
    r.set_trace_id(id);
    r.set_format(format);
    v1::Rendered rendered;
    auto context = Context();
    grpc::Status s = stub_->Render(context.get(), r, &rendered);
    if (s.error_code() != grpc::StatusCode::NOT_FOUND) return Convert(s, std::move(rendered));
    r.clear_trace_id();  // not a trace id: maybe an envelope id
    r.set_envelope_id(id);
    auto retry = Context();
    s = stub_->Render(retry.get(), r, &rendered);
    if (s.error_code() == grpc::StatusCode::NOT_FOUND) {
      return absl::NotFoundError("no trace or envelope with id " + id);
    }
    return Convert(s, std::move(rendered));
  }

 private:
  std::unique_ptr<grpc::ClientContext> Context() const {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(std::chrono::system_clock::now() + kDeadline);
    if (!token_.empty()) context->AddMetadata("authorization", "Bearer " + token_);
    return context;
  }

  // Call after the RPC returned: `value` is moved from.
  template <typename T>
  absl::StatusOr<T> Convert(const grpc::Status& s, T&& value) const {
    switch (s.error_code()) {
      case grpc::StatusCode::OK:
        return std::move(value);
      case grpc::StatusCode::UNAVAILABLE:
      case grpc::StatusCode::DEADLINE_EXCEEDED:
        return absl::UnavailableError(
            "cannot reach the collector at " + address_ + " (" + s.error_message() +
            "); is meshtrace-collector running? Set --collector or MESHTRACE_COLLECTOR");
      case grpc::StatusCode::UNAUTHENTICATED:
        return absl::UnauthenticatedError(
            "the collector wants a token: pass --token or set MESHTRACE_API_TOKEN");
      case grpc::StatusCode::NOT_FOUND:
        return absl::NotFoundError(s.error_message());
      case grpc::StatusCode::INVALID_ARGUMENT:
        return absl::InvalidArgumentError(s.error_message());
      default:
        return absl::InternalError("collector error: " + s.error_message());
    }
  }

  std::string address_;
  std::string token_;
  std::unique_ptr<v1::Query::Stub> stub_;
};

}  // namespace

std::unique_ptr<QueryClient> NewGrpcQueryClient(const std::string& address,
                                                const std::string& token,
                                                const std::string& ca_pem) {
  return std::make_unique<GrpcQueryClient>(address, token, ca_pem);
}

}  // namespace meshtrace::replayer
