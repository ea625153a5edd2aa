// A whole mesh on one machine: librdkafka's mock cluster, five actors (example runtimes as
// processes, sidecars in this process), and a real collector. What the engineer sees through
// the collector's API must match what happened on the queues.
#include <gtest/gtest.h>
#include <httplib.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "collector/collector_app.h"
#include "common/log.h"
#include "replayer/dev_kafka.h"
#include "tests/testing/kafka_helpers.h"
#include "tests/testing/mesh_actor.h"
#include "tests/testing/metrics_text.h"
#include "tests/testing/ports.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"

namespace meshtrace {
namespace {

using Json = nlohmann::json;
const std::string kBin = MESHTRACE_BIN_DIR;

std::string Envelope(const std::string& id, const std::vector<std::string>& route,
                     const std::string& payload = R"({"n":1})") {
  return testing::MeshEnvelope(id, route, payload);
}

class MeshTest : public ::testing::Test {
 protected:
  void SetUp() override {
    InitLogging("mesh-test", "warn");
    auto kafka = replayer::DevKafka::Start(1, {{"asya-t-a", 1},
                                               {"asya-t-b", 1},
                                               {"asya-t-c", 1},
                                               {"asya-t-x-sink", 1},
                                               {"asya-t-x-sump", 1}});
    ASSERT_TRUE(kafka.ok()) << kafka.status();
    kafka_ = *std::move(kafka);
    collector::CollectorConfig config;
    config.grpc_listen = "127.0.0.1:0";
    config.http_listen = "127.0.0.1:0";
    config.data_dir = data_.path();
    collector_ = std::make_unique<collector::CollectorApp>(config);
    ASSERT_TRUE(collector_->Start().ok());
    http_ = std::make_unique<httplib::Client>("127.0.0.1", collector_->http_port());
  }

  Json Get(const std::string& path) {
    auto res = http_->Get(path.c_str());
    if (!res || res->status != 200) return Json();
    return Json::parse(res->body, nullptr, false);
  }

  // Waits until `n` traces are complete.
  Json WaitComplete(size_t n) {
    const absl::Time deadline = absl::Now() + absl::Seconds(40);
    Json list;
    while (absl::Now() < deadline) {
      list = Get("/api/v1/traces?verdict=complete&limit=100");
      if (list.is_object() && list["traces"].size() >= n) break;
      absl::SleepFor(absl::Milliseconds(100));
    }
    return list;
  }

  std::string collector_address() { return absl::StrCat("127.0.0.1:", collector_->grpc_port()); }

  testing::TempDir data_;
  std::unique_ptr<replayer::DevKafka> kafka_;
  std::unique_ptr<collector::CollectorApp> collector_;
  std::unique_ptr<httplib::Client> http_;
};

TEST_F(MeshTest, EveryTraceIsProvenCompleteWithItsOutcomeAndFailure) {
  const std::string& brokers = kafka_->bootstraps();
  testing::MeshActor a(kBin, "a", brokers, collector_address(),
                       {"--handler", "fanout", "--fanout", "2"});
  testing::MeshActor b(kBin, "b", brokers, collector_address(),
                       {"--handler", "enrich", "--fail-when", "bad", "--fail-type",
                        "payments.CardDeclined", "--fail-message", "card declined"});
  testing::MeshActor c(kBin, "c", brokers, collector_address(), {"--handler", "echo"});
  testing::MeshActor sink(kBin, "x-sink", brokers, collector_address(), {"--handler", "echo"},
                          true);
  testing::MeshActor sump(kBin, "x-sump", brokers, collector_address(), {"--handler", "echo"},
                          true);
  ASSERT_TRUE(a.WaitStarted() && b.WaitStarted() && c.WaitStarted() && sink.WaitStarted() &&
              sump.WaitStarted());

  std::vector<std::string> inputs;
  for (int i = 0; i < 3; ++i) inputs.push_back(Envelope(absl::StrCat("ok-", i), {"a", "b", "c"}));
  inputs.push_back(Envelope("bad-1", {"a", "b", "c"}, R"({"bad":true})"));
  inputs.push_back("this is not json");
  inputs.push_back(Envelope("mismatch-1", {"zzz", "b"}));
  ASSERT_TRUE(testing::ProduceAll(brokers, "asya-t-a", inputs).ok());

  Json list = WaitComplete(6);
  ASSERT_EQ(list["traces"].size(), 6u) << list.dump(1) << Get("/api/v1/traces").dump(1);
  std::map<std::string, Json> by_id;
  for (const Json& t : list["traces"]) by_id[t["trace_id"]] = t;
  for (int i = 0; i < 3; ++i) {
    const Json& t = by_id[absl::StrCat("ok-", i)];
    EXPECT_EQ(t["outcome"], "succeeded") << t.dump();
    EXPECT_EQ(t["hops"], 7);  // a, b ×2, c ×2, x-sink ×2
    EXPECT_EQ(t["ended_at_actor"], "c");
  }
  const Json& bad = by_id["bad-1"];
  EXPECT_EQ(bad["outcome"], "failed");
  EXPECT_EQ(bad["ended_at_actor"], "b");
  EXPECT_EQ(bad["error_type"], "payments.CardDeclined");
  EXPECT_EQ(bad["headline"], "failed at actor b with payments.CardDeclined: card declined");
  EXPECT_EQ(by_id["mismatch-1"]["outcome"], "failed");
  EXPECT_NE(by_id["mismatch-1"]["headline"].get<std::string>().find(
                "rejected at actor a (route_mismatch)"),
            std::string::npos);
  int parse_errors = 0;
  for (const auto& [id, t] : by_id) {
    parse_errors += t["headline"].get<std::string>().find("(parse_error)") != std::string::npos;
  }
  EXPECT_EQ(parse_errors, 1);

  // The failed trace's artifact: the failing hops carry the handler's error and a replay command
  // for b, and the fan-out shows two envelopes at b.
  Json artifact = Get("/api/v1/traces/bad-1");
  ASSERT_TRUE(artifact.is_object());
  EXPECT_TRUE(artifact["anomalies"].empty()) << artifact["anomalies"].dump();
  int at_b = 0, replays = 0;
  for (const Json& hop : artifact["hops"]) {
    if (hop["actor"] != "b") continue;
    ++at_b;
    EXPECT_EQ(hop["error"]["type"], "payments.CardDeclined");
    EXPECT_EQ(hop["http_status"], 500);
    EXPECT_EQ(hop["input"]["envelope"]["payload"]["bad"], true);
    replays += hop.contains("replay_command");
  }
  EXPECT_EQ(at_b, 2);
  EXPECT_EQ(replays, 2);
  EXPECT_EQ(artifact["planned_route"]["next"], Json::array({"b", "c"}));
  // Lookup by envelope id lands on the trace.
  EXPECT_EQ(Get("/api/v1/envelopes/ok-1")["trace_id"], "ok-1");
  // Nothing is left open, nothing was rejected by the collector.
  EXPECT_TRUE(Get("/api/v1/traces?verdict=open")["traces"].empty());
  const std::string metrics = http_->Get("/metrics")->body;
  EXPECT_NE(metrics.find("meshtrace_collector_traces_open 0"), std::string::npos);
  for (size_t pos = metrics.find("\nmeshtrace_collector_events_rejected_total{");
       pos != std::string::npos;
       pos = metrics.find("\nmeshtrace_collector_events_rejected_total{", pos + 1)) {
    const std::string line = metrics.substr(pos + 1, metrics.find('\n', pos + 1) - pos - 1);
    EXPECT_EQ(line.substr(line.rfind(' ') + 1), "0") << line;
  }
}

TEST_F(MeshTest, AStoppedActorLeavesAStalledTransitNamingWhereTheEnvelopeWasLost) {
  const std::string& brokers = kafka_->bootstraps();
  // Short stall timeout for this test: restart the collector with 2 s.
  collector_.reset();
  collector::CollectorConfig config;
  config.grpc_listen = "127.0.0.1:0";
  config.http_listen = "127.0.0.1:0";
  config.data_dir = data_.path();
  config.stall_timeout = absl::Seconds(2);
  collector_ = std::make_unique<collector::CollectorApp>(config);
  ASSERT_TRUE(collector_->Start().ok());
  http_ = std::make_unique<httplib::Client>("127.0.0.1", collector_->http_port());

  testing::MeshActor a(kBin, "a", brokers, collector_address(), {"--handler", "echo"});
  ASSERT_TRUE(a.WaitStarted());
  // b has no sidecar: what a sends to b is never received.
  ASSERT_TRUE(testing::ProduceAll(brokers, "asya-t-a", {Envelope("lost-1", {"a", "b"})}).ok());
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  Json list;
  while (absl::Now() < deadline) {
    list = Get("/api/v1/traces?verdict=stalled");
    if (list.is_object() && !list["traces"].empty()) break;
    absl::SleepFor(absl::Milliseconds(200));
  }
  ASSERT_EQ(list["traces"].size(), 1u) << Get("/api/v1/traces").dump(1);
  EXPECT_EQ(list["traces"][0]["trace_id"], "lost-1");
  Json artifact = Get("/api/v1/traces/lost-1");
  ASSERT_EQ(artifact["anomalies"].size(), 1u);
  const Json& anomaly = artifact["anomalies"][0];
  EXPECT_EQ(anomaly["kind"], "stalled");
  EXPECT_EQ(anomaly["from_actor"], "a");
  EXPECT_EQ(anomaly["to_actor"], "b");
  EXPECT_EQ(anomaly["queue"], "asya-t-b");
  EXPECT_EQ(anomaly["envelope_id"], "lost-1");
  EXPECT_NE(anomaly["message"].get<std::string>().find("lost between a and b"), std::string::npos);
  const std::string metrics = http_->Get("/metrics")->body;
  EXPECT_NE(
      metrics.find(R"(meshtrace_collector_stalled_transits_total{from_actor="a",to_actor="b"} 1)"),
      std::string::npos);
}

// README's "one actor by hand": sidecar processes started just before their collector
// process. The events reach the collector as soon as it is up: the trace is there within a
// second of its last hop (it took ~2.9 s while the emitter opened streams before its channel
// had connected and backed off after each one failed).
TEST_F(MeshTest, SidecarsStartedBeforeTheirCollectorDeliverEventsPromptly) {
  const std::string& brokers = kafka_->bootstraps();
  const int grpc_port = testing::FreePort(), http_port = testing::FreePort();
  const int sink_metrics = testing::FreePort();
  testing::TempDir dir;
  std::vector<testing::Subprocess> children;
  for (const char* actor : {"a", "x-sink"}) {
    const std::string sockets = dir.File(actor);
    std::filesystem::create_directories(sockets);
    children.push_back(*testing::Subprocess::Start(
        {kBin + "/meshtrace-example-runtime", "--socket-dir", sockets, "--handler", "echo"}));
    const bool end = std::string(actor) == "x-sink";
    children.push_back(*testing::Subprocess::Start(
        {kBin + "/meshtrace-sidecar"},
        {{"ASYA_ACTOR_NAME", actor},
         {"ASYA_NAMESPACE", "t"},
         {"ASYA_KAFKA_BROKERS", brokers},
         {"ASYA_SOCKET_DIR", sockets},
         {"ASYA_IS_END_ACTOR", end ? "true" : "false"},
         {"ASYA_METRICS_ADDR", absl::StrCat("127.0.0.1:", end ? sink_metrics : 0)},
         {"MESHTRACE_COLLECTOR", absl::StrCat("127.0.0.1:", grpc_port)}}));
  }
  children.push_back(*testing::Subprocess::Start(
      {kBin + "/meshtrace-collector", "--data-dir", dir.File("data"),
       absl::StrCat("--grpc-listen=127.0.0.1:", grpc_port),
       absl::StrCat("--http-listen=127.0.0.1:", http_port), "--log-level=warn"}));
  ASSERT_TRUE(testing::ProduceAll(brokers, "asya-t-a", {Envelope("early-1", {"a"})}).ok());
  // The moment x-sink has consumed it, every event of the trace has been emitted.
  httplib::Client sink("127.0.0.1", sink_metrics);
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  auto consumed_at_sink = [&] {
    auto res = sink.Get("/metrics");
    return res &&
           testing::MetricValue(
               res->body,
               R"(asya_actor_messages_received_total{queue="x-sink",transport="kafka"})") >= 1;
  };
  while (absl::Now() < deadline && !consumed_at_sink()) absl::SleepFor(absl::Milliseconds(10));
  const absl::Time consumed = absl::Now();
  httplib::Client http("127.0.0.1", http_port);
  bool complete = false;
  while (!complete && absl::Now() < deadline) {
    auto res = http.Get("/api/v1/traces/early-1");
    complete = res && res->status == 200 &&
               Json::parse(res->body, nullptr, false).value("verdict", "") == "complete";
    if (!complete) absl::SleepFor(absl::Milliseconds(20));
  }
  ASSERT_TRUE(complete);
  EXPECT_LT(absl::Now() - consumed, absl::Seconds(1));
  for (auto& c : children) c.Signal(SIGTERM);
  for (auto& c : children) c.Wait(absl::Seconds(10)).IgnoreError();
}

TEST_F(MeshTest, ARedrivenEnvelopeMidRouteCompletesAndIsMarkedAsAReplay) {
  const std::string& brokers = kafka_->bootstraps();
  testing::MeshActor b(kBin, "b", brokers, collector_address(), {"--handler", "echo"});
  testing::MeshActor sink(kBin, "x-sink", brokers, collector_address(), {"--handler", "echo"},
                          true);
  ASSERT_TRUE(b.WaitStarted() && sink.WaitStarted());
  // As `meshtrace redrive` publishes it: mid-route (prev = [a]) with the replay header.
  const std::string redriven =
      R"({"id":"rd-1","route":{"prev":["a"],"curr":"b","next":[]},)"
      R"("headers":{"trace_id":"rd-1","x-meshtrace-replay":"r-0001"},"payload":{"n":1}})";
  ASSERT_TRUE(testing::ProduceAll(brokers, "asya-t-b", {redriven}).ok());
  Json list = WaitComplete(1);
  ASSERT_EQ(list["traces"].size(), 1u) << Get("/api/v1/traces").dump(1);
  Json artifact = Get("/api/v1/traces/rd-1");
  EXPECT_EQ(artifact["verdict"], "complete");
  EXPECT_TRUE(artifact["anomalies"].empty()) << artifact["anomalies"].dump();
  EXPECT_EQ(artifact["hops"][0]["actor"], "b");
  EXPECT_EQ(artifact["hops"][0]["replay_id"], "r-0001");
}

TEST_F(MeshTest, SidecarsAndTheCliReachACollectorOverTls) {
  auto made =
      testing::Run({"/usr/bin/openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                    data_.File("key.pem"), "-out", data_.File("cert.pem"), "-days", "1", "-subj",
                    "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"});
  ASSERT_TRUE(made.ok() && made->exit_code == 0);
  collector_.reset();
  collector::CollectorConfig config;
  config.grpc_listen = "127.0.0.1:0";
  config.http_listen = "127.0.0.1:0";
  config.data_dir = data_.File("tls-data");
  config.tls_cert = data_.File("cert.pem");
  config.tls_key = data_.File("key.pem");
  collector_ = std::make_unique<collector::CollectorApp>(config);
  ASSERT_TRUE(collector_->Start().ok());
  std::ifstream in(data_.File("cert.pem"));
  const std::string ca((std::istreambuf_iterator<char>(in)), {});
  const std::string address = absl::StrCat("127.0.0.1:", collector_->grpc_port());
  const std::string& brokers = kafka_->bootstraps();
  testing::MeshActor a(kBin, "a", brokers, address, {"--handler", "echo"}, false, ca);
  testing::MeshActor sink(kBin, "x-sink", brokers, address, {"--handler", "echo"}, true, ca);
  ASSERT_TRUE(a.WaitStarted() && sink.WaitStarted());
  ASSERT_TRUE(testing::ProduceAll(brokers, "asya-t-a", {Envelope("tls-1", {"a"})}).ok());
  const std::string cli = absl::StrCat(kBin, "/meshtrace --collector ", address, " --collector-ca ",
                                       data_.File("cert.pem"), " ");
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  std::string out;
  while (absl::Now() < deadline) {
    auto r = testing::Run({"/bin/sh", "-c", cli + "traces --verdict complete -o json 2>&1"});
    out = r.ok() ? r->out : "";
    if (out.find("tls-1") != std::string::npos) break;
    absl::SleepFor(absl::Milliseconds(200));
  }
  EXPECT_NE(out.find("\"trace_id\": \"tls-1\""), std::string::npos) << out;
  // Without the CA the CLI cannot connect, and says so.
  auto plain = testing::Run(
      {"/bin/sh", "-c", absl::StrCat(kBin, "/meshtrace --collector ", address, " traces 2>&1")});
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->exit_code, 2);
  EXPECT_NE(plain->out.find("cannot reach the collector"), std::string::npos) << plain->out;
}

}  // namespace
}  // namespace meshtrace
