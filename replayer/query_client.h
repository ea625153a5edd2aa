#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "meshtrace/v1/artifact.pb.h"
#include "meshtrace/v1/query.pb.h"

namespace meshtrace::replayer {

// The collector's Query service over gRPC. Errors: Unavailable (with a hint) when the collector
// cannot be reached, Unauthenticated for a missing/wrong token, NotFound and InvalidArgument as
// the collector says. Thread-compatible.
class QueryClient {
 public:
  virtual ~QueryClient() = default;
  virtual absl::StatusOr<v1::ListTracesResponse> List(const v1::ListTracesRequest& r) = 0;
  // `id` is a trace id or an envelope id.
  virtual absl::StatusOr<v1::TraceArtifact> Get(const std::string& id) = 0;
  virtual absl::StatusOr<v1::DiffResponse> Diff(const v1::DiffRequest& r) = 0;
  virtual absl::StatusOr<v1::Rendered> Render(const std::string& id, const std::string& format) = 0;
};

// `address` is host:port; `token` is sent as a bearer token when not empty; with `ca_pem`
// (PEM CA certificates) the channel uses TLS.
std::unique_ptr<QueryClient> NewGrpcQueryClient(const std::string& address,
                                                const std::string& token,
                                                const std::string& ca_pem = "");

}  // namespace meshtrace::replayer
