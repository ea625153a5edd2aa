// The whole collector in this process (gRPC and HTTP on port 0, RocksDB in a temp dir) driven
// through its real APIs, and as a process for kill -9 and start-up failures.
#include "collector/collector_app.h"

#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <rocksdb/db.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "meshtrace/v1/collector.grpc.pb.h"
#include "meshtrace/v1/query.grpc.pb.h"
#include "tests/testing/ports.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/trace_builder.h"

namespace meshtrace::collector {
namespace {

using Json = nlohmann::json;
using testing::TraceBuilder;
const std::string kBin = MESHTRACE_BIN_DIR;

int64_t NowNs() { return absl::ToUnixNanos(absl::Now()); }

// A successful chain a → b → x-sink, and one that fails at b with ValueError.
std::vector<v1::LifecycleEvent> GoodTrace(const std::string& id, int64_t at = NowNs()) {
  TraceBuilder b(id, at);
  b.Chain(id + "-e1", {"a", "b"});
  return b.Take();
}

std::vector<v1::LifecycleEvent> FailedTrace(const std::string& id, int64_t at = NowNs(),
                                            const std::string& payload = R"({"n":1})") {
  TraceBuilder b(id, at);
  b.SetPayload(payload);
  const std::string e = id + "-e1";
  b.Receive(e, "a").Result(e, "a").Route(e, "a", e, "b");
  b.Receive(e, "b", {"a"}).Result(e, "b", 500, "ValueError", "price must be positive");
  b.Route(e, "b", e, "x-sump", "sump", "failed", "RuntimeError");
  b.Receive(e, "x-sump", {"a"}).Terminate(e, "x-sump", "failed", "RuntimeError");
  return b.Take();
}

class CollectorAppTest : public ::testing::Test {
 protected:
  void Start(const std::string& token = "", absl::Duration retention = absl::Hours(72),
             uint64_t max_disk = 0) {
    CollectorConfig config;
    config.grpc_listen = "127.0.0.1:0";
    config.http_listen = "127.0.0.1:0";
    config.data_dir = data_.path();
    config.api_token = token;
    config.retention = retention;
    config.max_disk_bytes = max_disk;
    app_ = std::make_unique<CollectorApp>(config);
    ASSERT_TRUE(app_->Start().ok());
    channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", app_->grpc_port()),
                                   grpc::InsecureChannelCredentials());
    http_ = std::make_unique<httplib::Client>("127.0.0.1", app_->http_port());
  }
  void Restart(const std::string& token = "", absl::Duration retention = absl::Hours(72),
               uint64_t max_disk = 0) {
    app_.reset();
    Start(token, retention, max_disk);
  }

  // Sends batches on one stream; returns their acks (empty on a stream error).
  std::vector<v1::Ack> Ingest(const std::vector<std::vector<v1::LifecycleEvent>>& batches,
                              const std::string& token = "", grpc::Status* status = nullptr) {
    grpc::ClientContext context;
    if (!token.empty()) context.AddMetadata("authorization", "Bearer " + token);
    auto stub = v1::Collector::NewStub(channel_);
    auto stream = stub->Ingest(&context);
    uint64_t id = 0;
    for (const auto& events : batches) {
      v1::EventBatch batch;
      batch.set_batch_id(++id);
      for (const auto& e : events) *batch.add_events() = e;
      stream->Write(batch);
    }
    stream->WritesDone();
    std::vector<v1::Ack> acks;
    v1::Ack ack;
    while (stream->Read(&ack)) acks.push_back(ack);
    grpc::Status s = stream->Finish();
    if (status != nullptr) *status = s;
    return acks;
  }

  Json GetJson(const std::string& path, int expect_status = 200) {
    auto res = http_->Get(path.c_str());
    EXPECT_TRUE(res) << path;
    if (!res) return Json();
    EXPECT_EQ(res->status, expect_status) << path << ": " << res->body.substr(0, 400);
    return Json::parse(res->body, nullptr, false);
  }

  testing::TempDir data_;
  std::unique_ptr<CollectorApp> app_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<httplib::Client> http_;
};

TEST_F(CollectorAppTest, IngestedTracesAreListedAndServedOverHttp) {
  Start();
  auto acks = Ingest({GoodTrace("good-1"), FailedTrace("bad-1")});
  ASSERT_EQ(acks.size(), 2u);
  EXPECT_EQ(acks[0].accepted() + acks[1].accepted(),
            GoodTrace("x").size() + FailedTrace("y").size());

  Json list = GetJson("/api/v1/traces");
  ASSERT_EQ(list["traces"].size(), 2u) << list.dump();
  Json failed = GetJson("/api/v1/traces?outcome=failed");
  ASSERT_EQ(failed["traces"].size(), 1u);
  const Json& row = failed["traces"][0];
  EXPECT_EQ(row["trace_id"], "bad-1");
  EXPECT_EQ(row["verdict"], "complete");
  EXPECT_EQ(row["outcome"], "failed");
  EXPECT_EQ(row["ended_at_actor"], "b");
  EXPECT_EQ(row["error_type"], "ValueError");
  EXPECT_EQ(row["hops"], 3);
  for (const char* key : {"started_at", "duration_ms"}) EXPECT_TRUE(row.contains(key)) << key;
  EXPECT_EQ(GetJson("/api/v1/traces?actor=x-sink")["traces"].size(), 1u);
  EXPECT_EQ(GetJson("/api/v1/traces?reason=RuntimeError")["traces"].size(), 1u);
  EXPECT_EQ(GetJson("/api/v1/traces?q=positive")["traces"].size(), 1u);
  EXPECT_EQ(GetJson("/api/v1/traces?verdict=stalled")["traces"].size(), 0u);
  EXPECT_EQ(GetJson("/api/v1/traces?since=1h")["traces"].size(), 2u);
  EXPECT_EQ(GetJson("/api/v1/traces?until=2000-01-01T00:00:00Z")["traces"].size(), 0u);

  Json artifact = GetJson("/api/v1/traces/bad-1");
  EXPECT_EQ(artifact["trace_id"], "bad-1");
  EXPECT_EQ(artifact["verdict"], "complete");
  EXPECT_EQ(artifact["outcome"], "failed");
  EXPECT_EQ(artifact["headline"], "failed at actor b with ValueError: price must be positive");
  ASSERT_EQ(artifact["hops"].size(), 3u);
  EXPECT_EQ(artifact["hops"][1]["actor"], "b");
  EXPECT_EQ(artifact["hops"][1]["error"]["type"], "ValueError");
  EXPECT_EQ(artifact["hops"][1]["input"]["envelope"]["payload"]["n"], 1);
  EXPECT_EQ(artifact["hops"][1]["replay_command"],
            "meshtrace replay bad-1 --envelope bad-1-e1 --actor b --socket "
            "/var/run/asya/asya-runtime.sock");
  EXPECT_TRUE(artifact["anomalies"].empty());

  Json envelope = GetJson("/api/v1/envelopes/good-1-e1");
  EXPECT_EQ(envelope["trace_id"], "good-1");
  EXPECT_EQ(envelope["hops"].size(), 3u);
  Json hop = GetJson("/api/v1/traces/bad-1/hops/bad-1-e1?actor=b");
  EXPECT_EQ(hop["hop"]["error"]["message"], "price must be positive");

  auto report = http_->Get("/api/v1/traces/bad-1/report.html");
  ASSERT_TRUE(report);
  EXPECT_EQ(report->status, 200);
  EXPECT_NE(report->body.find("price must be positive"), std::string::npos);
  EXPECT_EQ(report->get_header_value("Content-Type"), "text/html; charset=utf-8");

  Json diff = GetJson("/api/v1/diff?a=good-1&b=bad-1");
  EXPECT_EQ(diff["same"], false);
  bool status_changed = false;
  for (const Json& d : diff["differences"]) status_changed |= d["kind"] == "status_changed";
  EXPECT_TRUE(status_changed) << diff.dump(2);

  auto metrics = http_->Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("meshtrace_collector_events_ingested_total " +
                               std::to_string(acks[0].accepted() + acks[1].accepted())),
            std::string::npos)
      << metrics->body;
  EXPECT_NE(
      metrics->body.find(
          R"(meshtrace_collector_traces_settled_total{outcome="failed",verdict="complete"} 1)"),
      std::string::npos);
  EXPECT_EQ(http_->Get("/healthz")->status, 200);
  EXPECT_EQ(http_->Get("/readyz")->status, 200);
}

TEST_F(CollectorAppTest, QueryServiceAnswersOverGrpc) {
  Start();
  Ingest({GoodTrace("good-1"), GoodTrace("good-2"), FailedTrace("bad-1")});
  auto stub = v1::Query::NewStub(channel_);
  {
    grpc::ClientContext context;
    v1::ListTracesRequest request;
    request.set_outcome(v1::OUTCOME_SUCCEEDED);
    request.set_limit(1);
    v1::ListTracesResponse response;
    ASSERT_TRUE(stub->ListTraces(&context, request, &response).ok());
    ASSERT_EQ(response.traces_size(), 1);
    ASSERT_FALSE(response.next_cursor().empty());
    grpc::ClientContext context2;
    request.set_cursor(response.next_cursor());
    v1::ListTracesResponse page2;
    ASSERT_TRUE(stub->ListTraces(&context2, request, &page2).ok());
    ASSERT_EQ(page2.traces_size(), 1);
    EXPECT_NE(page2.traces(0).trace_id(), response.traces(0).trace_id());
  }
  {
    grpc::ClientContext context;
    v1::GetTraceRequest request;
    request.set_envelope_id("bad-1-e1");
    v1::TraceArtifact artifact;
    ASSERT_TRUE(stub->GetTrace(&context, request, &artifact).ok());
    EXPECT_EQ(artifact.trace_id(), "bad-1");
    EXPECT_EQ(artifact.outcome(), v1::OUTCOME_FAILED);
  }
  {
    grpc::ClientContext context;
    v1::GetHopCaptureRequest request;
    request.set_trace_id("bad-1");
    request.set_envelope_id("bad-1-e1");
    request.set_actor("b");
    v1::HopCapture capture;
    ASSERT_TRUE(stub->GetHopCapture(&context, request, &capture).ok());
    EXPECT_NE(capture.input().envelope_json().find(R"("payload":{"n":1})"), std::string::npos);
  }
  {
    // Same shape, other ids and times: no difference.
    grpc::ClientContext context;
    v1::DiffRequest request;
    request.set_a("good-1");
    request.set_b("good-2");
    v1::DiffResponse diff;
    ASSERT_TRUE(stub->Diff(&context, request, &diff).ok());
    EXPECT_TRUE(diff.same()) << diff.DebugString();
  }
  {
    grpc::ClientContext context;
    v1::GetTraceRequest request;
    request.set_trace_id("no-such-trace");
    v1::TraceArtifact artifact;
    EXPECT_EQ(stub->GetTrace(&context, request, &artifact).error_code(),
              grpc::StatusCode::NOT_FOUND);
  }
}

TEST_F(CollectorAppTest, BadEventsAreRejectedWithReasonsAndTheStreamGoesOn) {
  Start();
  std::vector<v1::LifecycleEvent> batch = GoodTrace("good-1");
  v1::LifecycleEvent no_trace = batch[0];
  no_trace.clear_trace_id();
  no_trace.set_sequence(1000);
  v1::LifecycleEvent no_body = batch[0];
  no_body.clear_body();
  no_body.set_sequence(1001);
  v1::LifecycleEvent no_source = batch[0];
  no_source.clear_source_id();
  v1::LifecycleEvent huge = batch[0];
  huge.set_sequence(1002);
  huge.mutable_received()->mutable_input()->set_envelope_json(std::string(2 << 20, 'x'));
  v1::LifecycleEvent nul_id = batch[0];
  nul_id.set_sequence(1003);
  nul_id.set_envelope_id(std::string("a\0b", 3));
  std::vector<v1::LifecycleEvent> bad = {no_trace, no_body, no_source, huge, nul_id};
  grpc::Status status;
  auto acks = Ingest({bad, batch}, "", &status);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(acks.size(), 2u);
  const v1::Ack& first = acks[0].batch_id() == 1 ? acks[0] : acks[1];
  const v1::Ack& second = acks[0].batch_id() == 1 ? acks[1] : acks[0];
  EXPECT_EQ(first.accepted(), 0u);
  ASSERT_EQ(first.rejected_size(), 5);
  std::vector<std::string> reasons;
  for (const auto& r : first.rejected()) reasons.push_back(r.reason());
  EXPECT_EQ(reasons, (std::vector<std::string>{"missing_trace_id", "missing_body",
                                               "missing_source_id", "event_too_large", "bad_id"}));
  EXPECT_EQ(first.rejected(3).index(), 3u);
  EXPECT_NE(first.rejected(3).message().find("exceeds"), std::string::npos);
  EXPECT_EQ(second.accepted(), batch.size());
  const std::string metrics = http_->Get("/metrics")->body;
  EXPECT_NE(metrics.find(R"(meshtrace_collector_events_rejected_total{reason="missing_body"} 1)"),
            std::string::npos);
  EXPECT_NE(
      metrics.find(R"(meshtrace_collector_events_rejected_total{reason="event_too_large"} 1)"),
      std::string::npos);
  EXPECT_EQ(GetJson("/api/v1/traces/good-1")["verdict"], "complete");
}

TEST_F(CollectorAppTest, ResentEventsAreDroppedAsDuplicates) {
  Start();
  auto events = GoodTrace("good-1");
  auto first = Ingest({events});
  auto again = Ingest({events});  // a sender resending after a reconnect
  ASSERT_EQ(first.size(), 1u);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(first[0].accepted(), events.size());
  EXPECT_EQ(again[0].accepted(), 0u);
  EXPECT_EQ(again[0].duplicates(), events.size());
  EXPECT_EQ(GetJson("/api/v1/traces/good-1")["event_count"], events.size());
}

TEST_F(CollectorAppTest, BadQueryParametersAreNamedAndUnknownIdsAre404) {
  Start();
  Ingest({GoodTrace("good-1")});
  struct Case {
    std::string path;
    int status;
    std::string names;
  };
  for (const Case& c : std::vector<Case>{
           {"/api/v1/traces?outcome=bogus", 400, "outcome"},
           {"/api/v1/traces?verdict=done", 400, "verdict"},
           {"/api/v1/traces?limit=0", 400, "limit"},
           {"/api/v1/traces?limit=abc", 400, "limit"},
           {"/api/v1/traces?since=yesterday", 400, "since"},
           {"/api/v1/traces?colour=red", 400, "colour"},
           {"/api/v1/traces?cursor=%%%", 400, "cursor"},
           {"/api/v1/traces?since=2030-01-01T00:00:00Z&until=2020-01-01T00:00:00Z", 400, "since"},
           {"/api/v1/traces/nope", 404, "nope"},
           {"/api/v1/traces/nope/report.html", 404, "nope"},
           {"/api/v1/envelopes/nope", 404, "nope"},
           {"/api/v1/diff?a=good-1", 400, "b"},
           {"/api/v1/diff?a=good-1&b=nope", 404, "nope"},
           {"/api/v1/traces/good-1/hops/nope", 404, "nope"},
       }) {
    Json body = GetJson(c.path, c.status);
    ASSERT_TRUE(body.is_object()) << c.path;
    EXPECT_NE(body.value("error", "").find(c.names), std::string::npos)
        << c.path << " → " << body.dump();
  }
}

TEST_F(CollectorAppTest, TokenIsRequiredOnHttpAndGrpcWhenSet) {
  Start("s3cret");
  grpc::Status status;
  auto none = Ingest({GoodTrace("good-1")}, "", &status);
  EXPECT_TRUE(none.empty());
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  auto wrong = Ingest({GoodTrace("good-1")}, "guess", &status);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  auto acks = Ingest({GoodTrace("good-1")}, "s3cret", &status);
  EXPECT_TRUE(status.ok());
  ASSERT_EQ(acks.size(), 1u);

  auto stub = v1::Query::NewStub(channel_);
  grpc::ClientContext anonymous;
  v1::ListTracesResponse response;
  EXPECT_EQ(stub->ListTraces(&anonymous, {}, &response).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);

  EXPECT_EQ(http_->Get("/api/v1/traces")->status, 401);
  EXPECT_EQ(http_->Get("/")->status, 401);
  EXPECT_EQ(http_->Get("/metrics")->status, 401);
  EXPECT_EQ(http_->Get("/healthz")->status, 200);
  EXPECT_EQ(http_->Get("/readyz")->status, 200);
  httplib::Headers bearer = {{"Authorization", "Bearer s3cret"}};
  EXPECT_EQ(http_->Get("/api/v1/traces", bearer)->status, 200);
  auto login = http_->Get("/?token=s3cret");
  EXPECT_EQ(login->status, 200);
  const std::string cookie = login->get_header_value("Set-Cookie");
  EXPECT_NE(cookie.find("meshtrace_token=s3cret"), std::string::npos);
  EXPECT_EQ(http_->Get("/api/v1/traces", {{"Cookie", "meshtrace_token=s3cret"}})->status, 200);
}

TEST_F(CollectorAppTest, RestartRestoresTracesAndOpenOnesStillComplete) {
  Start();
  auto open = GoodTrace("late-1");
  std::vector<v1::LifecycleEvent> head(open.begin(), open.begin() + 4);  // a, then sent to b
  std::vector<v1::LifecycleEvent> tail(open.begin() + 4, open.end());
  Ingest({FailedTrace("bad-1"), head});
  EXPECT_EQ(GetJson("/api/v1/traces/late-1")["verdict"], "open");
  Restart();
  EXPECT_EQ(GetJson("/api/v1/traces/bad-1")["outcome"], "failed");
  EXPECT_EQ(GetJson("/api/v1/traces?verdict=open")["traces"].size(), 1u);
  Ingest({tail});
  EXPECT_EQ(GetJson("/api/v1/traces/late-1")["verdict"], "complete");
  EXPECT_EQ(GetJson("/api/v1/traces?verdict=open")["traces"].size(), 0u);
}

TEST_F(CollectorAppTest, LateEventReopensASettledTrace) {
  Start();
  TraceBuilder b("late-1", NowNs());
  b.Chain("e1", {"a", "b"});
  Ingest({b.Take()});
  EXPECT_EQ(GetJson("/api/v1/traces/late-1")["verdict"], "complete");
  // b's event for a second output arrives late: a branch is open again.
  b.Route("e1", "b", "e2", "x-sink", "sink", "succeeded", "Completed", "e1");
  Ingest({b.Take()});
  EXPECT_EQ(GetJson("/api/v1/traces/late-1")["verdict"], "open");
  EXPECT_EQ(GetJson("/api/v1/traces?verdict=complete")["traces"].size(), 0u);
  b.Receive("e2", "x-sink", {"a", "b"}, "e1").Terminate("e2", "x-sink", "succeeded", "Completed");
  Ingest({b.Take()});
  Json artifact = GetJson("/api/v1/traces/late-1");
  EXPECT_EQ(artifact["verdict"], "complete");
  EXPECT_EQ(artifact["hops"].size(), 4u);
}

TEST_F(CollectorAppTest, RetentionDeletesTracesOlderThanTheLimit) {
  Start();
  Ingest(
      {GoodTrace("old-1", NowNs() - absl::ToInt64Nanoseconds(absl::Hours(3))), GoodTrace("new-1")});
  ASSERT_EQ(GetJson("/api/v1/traces")["traces"].size(), 2u);
  Restart("", absl::Hours(1));  // retention runs at start, then every minute
  Json list = GetJson("/api/v1/traces");
  ASSERT_EQ(list["traces"].size(), 1u) << list.dump();
  EXPECT_EQ(list["traces"][0]["trace_id"], "new-1");
  GetJson("/api/v1/traces/old-1", 404);
  GetJson("/api/v1/envelopes/old-1-e1", 404);
}

TEST_F(CollectorAppTest, SizeLimitDeletesTheOldestTracesFirst) {
  Start();
  std::mt19937 rng(1);
  const int64_t base = NowNs() - absl::ToInt64Nanoseconds(absl::Minutes(30));
  for (int i = 0; i < 20; ++i) {
    std::string payload = "\"";
    for (int k = 0; k < 100'000; ++k) payload += "0123456789abcdef"[rng() % 16];  // incompressible
    payload += "\"";
    Ingest({FailedTrace(absl::StrCat("t", i), base + i * 1'000'000'000LL, payload)});
  }
  ASSERT_EQ(GetJson("/api/v1/traces?limit=100")["traces"].size(), 20u);
  Restart("", absl::Hours(72), 1'500'000);
  Json list = GetJson("/api/v1/traces?limit=100");
  const size_t left = list["traces"].size();
  EXPECT_GT(left, 0u);
  EXPECT_LT(left, 20u);
  EXPECT_EQ(list["traces"][0]["trace_id"], "t19");  // the newest stays
  GetJson("/api/v1/traces/t0", 404);                // the oldest went first
}

// ---- as a process ----

bool WaitHealthy(int http_port) {
  httplib::Client client("127.0.0.1", http_port);
  for (int i = 0; i < 200; ++i) {
    if (auto res = client.Get("/readyz"); res && res->status == 200) return true;
    absl::SleepFor(absl::Milliseconds(50));
  }
  return false;
}

TEST(CollectorProcessTest, KillNineLosesNoAckedEvent) {
  testing::TempDir data;
  const int grpc_port = testing::FreePort(), http_port = testing::FreePort();
  const std::vector<std::string> argv = {kBin + "/meshtrace-collector", "--data-dir=" + data.path(),
                                         absl::StrCat("--grpc-listen=127.0.0.1:", grpc_port),
                                         absl::StrCat("--http-listen=127.0.0.1:", http_port)};
  auto process = testing::Subprocess::Start(argv);
  ASSERT_TRUE(process.ok());
  ASSERT_TRUE(WaitHealthy(http_port));
  auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", grpc_port),
                                     grpc::InsecureChannelCredentials());
  auto stub = v1::Collector::NewStub(channel);
  grpc::ClientContext context;
  auto stream = stub->Ingest(&context);
  uint64_t acked_events = 0;
  for (int i = 0; i < 50; ++i) {
    v1::EventBatch batch;
    batch.set_batch_id(i + 1);
    for (auto& e : GoodTrace(absl::StrCat("k", i))) *batch.add_events() = e;
    ASSERT_TRUE(stream->Write(batch));
    v1::Ack ack;
    ASSERT_TRUE(stream->Read(&ack));
    acked_events += ack.accepted();
  }
  process->Signal(SIGKILL);
  ASSERT_EQ(*process->Wait(), 128 + SIGKILL);
  context.TryCancel();

  auto restarted = testing::Subprocess::Start(argv);
  ASSERT_TRUE(restarted.ok());
  ASSERT_TRUE(WaitHealthy(http_port));
  httplib::Client client("127.0.0.1", http_port);
  auto res = client.Get("/api/v1/traces?limit=1000");
  ASSERT_TRUE(res);
  Json list = Json::parse(res->body);
  ASSERT_EQ(list["traces"].size(), 50u);
  uint64_t stored = 0;
  for (const Json& t : list["traces"]) {
    Json artifact =
        Json::parse(client.Get("/api/v1/traces/" + t["trace_id"].get<std::string>())->body);
    stored += artifact["event_count"].get<uint64_t>();
    EXPECT_EQ(artifact["verdict"], "complete");
  }
  EXPECT_EQ(stored, acked_events);
  restarted->Signal(SIGTERM);
  EXPECT_EQ(*restarted->Wait(), 0);
}

TEST(CollectorProcessTest, StartUpFailuresExitNonZeroWithTheCause) {
  testing::TempDir data;
  auto bad_flag = testing::Run({kBin + "/meshtrace-collector", "--stall-timeout=soon"});
  ASSERT_TRUE(bad_flag.ok());
  EXPECT_EQ(bad_flag->exit_code, 2);
  auto unknown = testing::Run({kBin + "/meshtrace-collector", "--colour"});
  EXPECT_EQ(unknown->exit_code, 2);
  auto size = testing::Run({kBin + "/meshtrace-collector", "--max-disk=lots"});
  EXPECT_EQ(size->exit_code, 2);
  // A data dir that is a file.
  std::ofstream(data.File("file")) << "x";
  auto dir = testing::Run({kBin + "/meshtrace-collector", "--data-dir=" + data.File("file") + "/db",
                           "--grpc-listen=127.0.0.1:0", "--http-listen=127.0.0.1:0"});
  EXPECT_EQ(dir->exit_code, 1);
  // A port in use.
  const int http_port = testing::FreePort();
  auto first = testing::Subprocess::Start(
      {kBin + "/meshtrace-collector", "--data-dir=" + data.File("a"), "--grpc-listen=127.0.0.1:0",
       absl::StrCat("--http-listen=127.0.0.1:", http_port)});
  ASSERT_TRUE(WaitHealthy(http_port));
  auto second = testing::Run({kBin + "/meshtrace-collector", "--data-dir=" + data.File("b"),
                              "--grpc-listen=127.0.0.1:0",
                              absl::StrCat("--http-listen=127.0.0.1:", http_port)});
  EXPECT_EQ(second->exit_code, 1);
  // The same data dir twice (RocksDB's lock).
  auto locked = testing::Run({kBin + "/meshtrace-collector", "--data-dir=" + data.File("a"),
                              "--grpc-listen=127.0.0.1:0", "--http-listen=127.0.0.1:0"});
  EXPECT_EQ(locked->exit_code, 1);
  // A store of the first format (captures in a "blobs" family): refused, saying why.
  {
    rocksdb::Options options;
    options.create_if_missing = true;
    rocksdb::DB* db = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(options, data.File("old"), &db).ok());
    rocksdb::ColumnFamilyHandle* blobs = nullptr;
    ASSERT_TRUE(db->CreateColumnFamily(rocksdb::ColumnFamilyOptions(), "blobs", &blobs).ok());
    db->DestroyColumnFamilyHandle(blobs);
    delete db;
  }
  auto old =
      testing::Subprocess::Start({kBin + "/meshtrace-collector", "--data-dir=" + data.File("old"),
                                  "--grpc-listen=127.0.0.1:0", "--http-listen=127.0.0.1:0"},
                                 {}, data.File("old.log"));
  ASSERT_TRUE(old.ok());
  auto old_exit = old->Wait(absl::Seconds(30));
  ASSERT_TRUE(old_exit.ok());
  EXPECT_EQ(*old_exit, 1);
  std::ifstream log(data.File("old.log"));
  const std::string logged((std::istreambuf_iterator<char>(log)), {});
  EXPECT_NE(logged.find("earlier meshtrace-collector"), std::string::npos) << logged;
}

}  // namespace
}  // namespace meshtrace::collector

namespace meshtrace::collector {
namespace {

TEST(CollectorTlsTest, GrpcAndHttpServeOverTlsOnly) {
  testing::TempDir dir;
  auto made =
      testing::Run({"/usr/bin/openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                    dir.File("key.pem"), "-out", dir.File("cert.pem"), "-days", "1", "-subj",
                    "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"});
  ASSERT_TRUE(made.ok() && made->exit_code == 0);
  CollectorConfig config;
  config.grpc_listen = "127.0.0.1:0";
  config.http_listen = "127.0.0.1:0";
  config.data_dir = dir.File("data");
  config.tls_cert = dir.File("cert.pem");
  config.tls_key = dir.File("key.pem");
  CollectorApp app(config);
  ASSERT_TRUE(app.Start().ok());

  std::ifstream cert_in(dir.File("cert.pem"));
  const std::string cert((std::istreambuf_iterator<char>(cert_in)), {});
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = cert;
  auto channel =
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", app.grpc_port()), grpc::SslCredentials(ssl));
  auto stub = v1::Collector::NewStub(channel);
  {
    grpc::ClientContext context;
    auto stream = stub->Ingest(&context);
    v1::EventBatch batch;
    batch.set_batch_id(1);
    for (const auto& e : GoodTrace("tls-1")) *batch.add_events() = e;
    ASSERT_TRUE(stream->Write(batch));
    stream->WritesDone();
    v1::Ack ack;
    ASSERT_TRUE(stream->Read(&ack));
    EXPECT_EQ(ack.accepted(), static_cast<uint32_t>(batch.events_size()));
    EXPECT_TRUE(stream->Finish().ok());
  }
  httplib::SSLClient https("127.0.0.1", app.http_port());
  https.set_ca_cert_path(dir.File("cert.pem").c_str());
  https.enable_server_certificate_verification(true);
  auto res = https.Get("/api/v1/traces/tls-1");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(Json::parse(res->body)["verdict"], "complete");

  // Plain text is refused on both ports.
  auto plain = v1::Query::NewStub(grpc::CreateChannel(absl::StrCat("127.0.0.1:", app.grpc_port()),
                                                      grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(3));
  v1::ListTracesResponse list;
  EXPECT_FALSE(plain->ListTraces(&context, {}, &list).ok());
  httplib::Client http("127.0.0.1", app.http_port());
  http.set_read_timeout(3, 0);
  auto refused = http.Get("/api/v1/traces");
  EXPECT_TRUE(!refused || refused->status != 200);
}

}  // namespace
}  // namespace meshtrace::collector
