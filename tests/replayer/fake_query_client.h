#pragma once

#include <string>

#include "absl/strings/str_cat.h"
#include "replayer/query_client.h"

namespace meshtrace::testing {

// A collector in memory: `traces` failed traces "t0".."tN", each one failed hop at actor "a"
// whose captured input is a valid ~1 KiB envelope. For batch replay tests and benchmarks.
class FakeQueryClient : public replayer::QueryClient {
 public:
  explicit FakeQueryClient(int traces) : traces_(traces) {}

  static std::string Envelope(const std::string& id) {
    std::string payload = R"({"order":12345,"items":[)";
    while (payload.size() < 900) payload += R"({"sku":"A-1","qty":2},)";
    payload.back() = ']';
    payload += "}";
    return R"({"id":")" + id +
           R"(","route":{"prev":[],"curr":"a","next":[]},"headers":{"trace_id":")" + id +
           R"("},"payload":)" + payload + "}";
  }

  static v1::Hop FailedHop(const std::string& id) {
    v1::Hop hop;
    hop.set_envelope_id(id);
    hop.set_actor("a");
    hop.set_attempt(1);
    hop.set_http_status(500);
    hop.mutable_error()->set_type("ValueError");
    hop.mutable_error()->set_message("bad");
    hop.mutable_input()->set_envelope_json(Envelope(id));
    hop.mutable_input()->set_original_size(hop.input().envelope_json().size());
    v1::HopOutput* out = hop.add_outputs();
    out->set_message_type("sump");
    out->set_phase("failed");
    out->set_to_actor("x-sump");
    return hop;
  }

  absl::StatusOr<v1::ListTracesResponse> List(const v1::ListTracesRequest&) override {
    v1::ListTracesResponse r;
    for (int i = 0; i < traces_; ++i) r.add_traces()->set_trace_id(absl::StrCat("t", i));
    return r;
  }
  absl::StatusOr<v1::TraceArtifact> Get(const std::string& id) override {
    v1::TraceArtifact a;
    a.set_trace_id(id);
    *a.add_hops() = FailedHop(id + "-e");
    return a;
  }
  absl::StatusOr<v1::DiffResponse> Diff(const v1::DiffRequest&) override {
    return v1::DiffResponse();
  }
  absl::StatusOr<v1::Rendered> Render(const std::string&, const std::string&) override {
    return v1::Rendered();
  }

 private:
  int traces_;
};

}  // namespace meshtrace::testing
