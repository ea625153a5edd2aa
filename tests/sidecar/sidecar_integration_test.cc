// Whole sidecars against real components: librdkafka's mock cluster in this process, the
// example runtime as a real process on a Unix socket, a real gRPC collector stub on port 0.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "absl/time/clock.h"
#include "common/log.h"
#include "replayer/dev_kafka.h"
#include "sidecar/sidecar_app.h"
#include "tests/testing/collector_stub.h"
#include "tests/testing/kafka_helpers.h"
#include "tests/testing/mesh_actor.h"
#include "tests/testing/metrics_text.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"

namespace meshtrace::sidecar {
namespace {

using Json = nlohmann::json;
const std::string kBin = MESHTRACE_BIN_DIR;

std::string Envelope(const std::string& id, const std::vector<std::string>& route,
                     const std::string& payload = R"({"n":1})") {
  return testing::MeshEnvelope(id, route, payload);
}

// One actor: an example runtime process plus an in-process sidecar.
class Actor : public testing::MeshActor {
 public:
  Actor(const std::string& name, const std::string& brokers, const std::string& collector,
        std::vector<std::string> runtime_args, bool end_actor = false,
        std::vector<std::pair<std::string, std::string>> kafka_properties = {})
      : MeshActor(kBin, name, brokers, collector, std::move(runtime_args), end_actor, "",
                  std::move(kafka_properties)) {}
};

class SidecarIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    InitLogging("sidecar-test", "warn");
    auto kafka = replayer::DevKafka::Start(1, {{"asya-t-a", 1},
                                               {"asya-t-b", 1},
                                               {"asya-t-c", 1},
                                               {"asya-t-x-sink", 1},
                                               {"asya-t-x-sump", 1}});
    ASSERT_TRUE(kafka.ok()) << kafka.status();
    kafka_ = *std::move(kafka);
  }
  const std::string& brokers() { return kafka_->bootstraps(); }

  std::unique_ptr<replayer::DevKafka> kafka_;
};

TEST_F(SidecarIntegrationTest, ChainFanOutFailuresAndRejectsAreRoutedCountedAndReported) {
  testing::CollectorStub collector;
  Actor a("a", brokers(), collector.address(), {"--handler", "fanout", "--fanout", "2"});
  Actor b("b", brokers(), collector.address(),
          {"--handler", "enrich", "--fail-when", "bad", "--fail-type", "payments.CardDeclined",
           "--fail-message", "card declined"});
  Actor c("c", brokers(), collector.address(), {"--handler", "echo"});
  Actor sink_actor("x-sink", brokers(), collector.address(), {"--handler", "echo"},
                   /*end_actor=*/true);
  Actor sump_actor("x-sump", brokers(), collector.address(), {"--handler", "echo"},
                   /*end_actor=*/true);
  ASSERT_TRUE(a.WaitStarted() && b.WaitStarted() && c.WaitStarted() && sink_actor.WaitStarted() &&
              sump_actor.WaitStarted());

  std::vector<std::string> inputs;
  for (int i = 0; i < 3; ++i)
    inputs.push_back(Envelope("ok-" + std::to_string(i), {"a", "b", "c"}));
  inputs.push_back(Envelope("bad-1", {"a", "b", "c"}, R"({"bad":true})"));
  inputs.push_back("this is not json");
  inputs.push_back(Envelope("mismatch-1", {"zzz", "b"}));
  inputs.push_back(R"({"id":"legacy-1","route":{"actors":["a","b"],"current":0},"payload":1})");
  ASSERT_TRUE(testing::ProduceAll(brokers(), "asya-t-a", inputs).ok());

  std::vector<std::string> sink =
      testing::ConsumeAll(brokers(), "asya-t-x-sink", 6, absl::Seconds(30));
  std::vector<std::string> sump =
      testing::ConsumeAll(brokers(), "asya-t-x-sump", 5, absl::Seconds(30));
  ASSERT_EQ(sink.size(), 6u);
  ASSERT_EQ(sump.size(), 5u);

  std::map<std::string, int> sink_traces;
  for (const std::string& s : sink) {
    Json e = Json::parse(s);
    EXPECT_EQ(e["status"]["phase"], "succeeded");
    EXPECT_EQ(e["status"]["reason"], "Completed");
    EXPECT_EQ(e["payload"]["b"], true);  // enriched by b
    EXPECT_EQ(e["route"]["prev"], Json::array({"a", "b", "c"}));
    ++sink_traces[e["headers"]["trace_id"].get<std::string>()];
  }
  EXPECT_EQ(sink_traces, (std::map<std::string, int>{{"ok-0", 2}, {"ok-1", 2}, {"ok-2", 2}}));
  std::multiset<std::string> sump_reasons;
  for (const std::string& s : sump) {
    Json e = Json::parse(s);
    EXPECT_EQ(e["status"]["phase"], "failed");
    sump_reasons.insert(e["status"]["reason"].get<std::string>());
    if (e["status"]["reason"] == "RuntimeError") {
      EXPECT_EQ(e["status"]["error"]["type"], "payments.CardDeclined");
      EXPECT_EQ(e["payload"]["original_payload"]["bad"], true);
      EXPECT_EQ(e["headers"]["trace_id"], "bad-1");
    }
  }
  EXPECT_EQ(sump_reasons, (std::multiset<std::string>{"RuntimeError", "RuntimeError", "ParseError",
                                                      "ParseError", "RouteMismatch"}));

  // Metrics: the Asya catalog with its label values.
  std::string ma = a.Metrics(), mb = b.Metrics(), mc = c.Metrics();
  EXPECT_EQ(testing::MetricValue(
                ma, R"(asya_actor_messages_received_total{queue="a",transport="kafka"})"),
            7);
  EXPECT_EQ(testing::MetricValue(
                ma, R"(asya_actor_messages_processed_total{queue="a",status="success"})"),
            4);
  EXPECT_EQ(
      testing::MetricValue(ma, R"(asya_actor_messages_processed_total{queue="a",status="error"})"),
      3);
  EXPECT_EQ(testing::MetricValue(
                ma, R"(asya_actor_messages_failed_total{queue="a",reason="parse_error"})"),
            1);
  EXPECT_EQ(testing::MetricValue(
                ma, R"(asya_actor_messages_failed_total{queue="a",reason="validation_error"})"),
            1);
  EXPECT_EQ(testing::MetricValue(
                ma, R"(asya_actor_messages_failed_total{queue="a",reason="route_mismatch"})"),
            1);
  EXPECT_EQ(
      testing::MetricValue(
          ma,
          R"(asya_actor_messages_sent_total{destination_queue="asya-t-b",message_type="routing"})"),
      8);
  EXPECT_EQ(
      testing::MetricValue(
          ma, R"(asya_actor_messages_sent_total{destination_queue="x-sump",message_type="sump"})"),
      3);
  EXPECT_EQ(testing::MetricValue(
                mb, R"(asya_actor_messages_received_total{queue="b",transport="kafka"})"),
            8);
  EXPECT_EQ(testing::MetricValue(
                mb, R"(asya_actor_messages_failed_total{queue="b",reason="runtime_error"})"),
            2);
  EXPECT_EQ(testing::MetricValue(
                mb, R"(asya_actor_runtime_errors_total{error_type="execution_error",queue="b"})"),
            2);
  EXPECT_EQ(testing::MetricValue(mb, R"(asya_actor_processing_duration_seconds_count{queue="b"})"),
            8);
  EXPECT_EQ(
      testing::MetricValue(
          mc, R"(asya_actor_messages_sent_total{destination_queue="x-sink",message_type="sink"})"),
      6);
  EXPECT_EQ(
      testing::MetricValue(mc, R"(asya_actor_message_size_bytes_count{direction="received"})"), 6);
  EXPECT_NE(mc.find(R"(asya_actor_processing_duration_seconds_bucket{queue="c",le="120"})"),
            std::string::npos);

  // Events: RECEIVED 4+8+6 (+11 at the end actors), REJECTED 3, RUNTIME_RESULT 18 (+11),
  // ROUTED 11+8+6, TERMINATED 6 at x-sink + 5 at x-sump.
  ASSERT_TRUE(collector.WaitForEvents(29 + 3 + 29 + 25 + 11, absl::Seconds(20)))
      << collector.events().size();
  std::map<std::string, int> kinds;
  for (const auto& event : collector.events()) {
    kinds[std::string(
        v1::LifecycleEvent::descriptor()->FindFieldByNumber(event.body_case())->name())]++;
    EXPECT_FALSE(event.trace_id().empty());
    EXPECT_GT(event.time_ns(), 0);
    EXPECT_FALSE(event.source_id().empty());
    EXPECT_GT(event.sequence(), 0u);
    if (!event.has_rejected()) {
      EXPECT_FALSE(event.envelope_id().empty());
      // The envelope's route as this actor got it: addressed to it, but for the route
      // mismatch ("zzz") and at the end actors.
      if (event.actor().rfind("x-", 0) != 0 && event.route().curr() != "zzz") {
        EXPECT_EQ(event.route().curr(), event.actor());
      }
    }
  }
  EXPECT_EQ(kinds, (std::map<std::string, int>{{"received", 29},
                                               {"rejected", 3},
                                               {"runtime_result", 29},
                                               {"routed", 25},
                                               {"terminated", 11}}));
  std::multiset<std::string> terminal;
  for (const auto& event : collector.events()) {
    if (!event.has_terminated()) continue;
    terminal.insert(event.actor() + ":" + event.terminated().phase() + ":" +
                    event.terminated().reason());
    if (event.terminated().reason() == "RuntimeError") {
      EXPECT_EQ(event.terminated().error().type(), "payments.CardDeclined");
    }
  }
  EXPECT_EQ(terminal.count("x-sink:succeeded:Completed"), 6u);
  EXPECT_EQ(terminal.count("x-sump:failed:RuntimeError"), 2u);
  EXPECT_EQ(terminal.count("x-sump:failed:ParseError"), 2u);
  EXPECT_EQ(terminal.count("x-sump:failed:RouteMismatch"), 1u);
  // End actors consume and never route.
  std::string msink = sink_actor.Metrics();
  EXPECT_EQ(
      testing::MetricValue(
          msink, R"(asya_actor_messages_processed_total{queue="x-sink",status="end_consumed"})"),
      6);
  EXPECT_EQ(msink.find("asya_actor_messages_sent_total{"), std::string::npos);
  for (const auto& event : collector.events()) {
    if (event.has_received()) {
      EXPECT_FALSE(event.received().input().envelope_json().empty());
      EXPECT_EQ(event.received().attempt(), 1);
    }
    if (event.has_runtime_result() && event.actor() == "b" &&
        event.runtime_result().http_status() == 500) {
      EXPECT_EQ(event.runtime_result().error().type(), "payments.CardDeclined");
    }
  }
  EXPECT_EQ(testing::MetricValue(ma, "meshtrace_sidecar_events_dropped_total"), 0);
  // c's capture bytes are those of the captures its events carry, counted once however often
  // it is scraped; each envelope's events are stamped in the order of its steps.
  double c_capture_bytes = 0;
  std::map<std::string, std::map<std::string, int64_t>> c_times;  // envelope → kind → time
  for (const auto& event : collector.events()) {
    if (event.actor() != "c") continue;
    if (event.has_received()) {
      c_capture_bytes += event.received().input().envelope_json().size();
      c_times[event.envelope_id()]["received"] = event.time_ns();
    }
    if (event.has_runtime_result()) c_times[event.envelope_id()]["result"] = event.time_ns();
    if (event.has_routed()) {
      c_capture_bytes += event.routed().output().envelope_json().size();
      c_times[event.envelope_id()]["routed"] = event.time_ns();
    }
  }
  EXPECT_GT(c_capture_bytes, 0);
  (void)c.Metrics();
  EXPECT_EQ(testing::MetricValue(c.Metrics(), "meshtrace_sidecar_capture_bytes_total"),
            c_capture_bytes);
  ASSERT_EQ(c_times.size(), 6u);
  for (const auto& [envelope, times] : c_times) {
    ASSERT_EQ(times.size(), 3u) << envelope;
    EXPECT_LE(times.at("received"), times.at("result")) << envelope;
    EXPECT_LE(times.at("result"), times.at("routed")) << envelope;
  }
  EXPECT_EQ(a.Stop(), 0);
  EXPECT_EQ(b.Stop(), 0);
  EXPECT_EQ(c.Stop(), 0);
}

// Captures leave the process redacted (MESHTRACE_REDACT), and in metadata mode without the
// payload (and redacted too); the envelopes routed onward are not redacted.
TEST_F(SidecarIntegrationTest, CapturesAreRedactedOrCutToMetadataBeforeTheyAreSent) {
  testing::CollectorStub collector;
  auto redact = [](sidecar::SidecarConfig* c) {
    c->events.redact = "$.payload.card,Authorization";
    c->events.redact_key = "a-test-key-of-16+bytes";
  };
  auto metadata = [](sidecar::SidecarConfig* c) {
    c->events.capture = CaptureMode::kMetadata;
    c->events.redact = "Authorization";
    c->events.redact_key = "a-test-key-of-16+bytes";
  };
  testing::MeshActor a(kBin, "a", brokers(), collector.address(), {"--handler", "echo"}, false, "",
                       {}, redact);
  testing::MeshActor b(kBin, "b", brokers(), collector.address(), {"--handler", "echo"}, false, "",
                       {}, metadata);
  ASSERT_TRUE(a.WaitStarted() && b.WaitStarted());
  const std::string input =
      R"({"id":"r-1","route":{"prev":[],"curr":"a","next":["b"]},)"
      R"("headers":{"Authorization":"Bearer s3cret"},"payload":{"card":"4111-1111","n":7}})";
  ASSERT_TRUE(testing::ProduceAll(brokers(), "asya-t-a", {input}).ok());
  std::vector<std::string> sink =
      testing::ConsumeAll(brokers(), "asya-t-x-sink", 1, absl::Seconds(30));
  ASSERT_EQ(sink.size(), 1u);
  EXPECT_EQ(Json::parse(sink[0])["payload"]["card"], "4111-1111");  // the data itself is intact
  // a: received + runtime_result + routed; b: the same.
  ASSERT_TRUE(collector.WaitForEvents(6, absl::Seconds(20))) << collector.events().size();
  int captures = 0;
  for (const v1::LifecycleEvent& e : collector.events()) {
    const v1::Capture* c = e.has_received() ? &e.received().input()
                           : e.has_routed() ? &e.routed().output()
                                            : nullptr;
    if (c == nullptr) continue;
    ++captures;
    const std::string& json = c->envelope_json();
    EXPECT_EQ(json.find("4111"), std::string::npos) << e.actor() << ": " << json;
    EXPECT_EQ(json.find("s3cret"), std::string::npos) << e.actor() << ": " << json;
    EXPECT_EQ(c->original_size(), json.size()) << e.actor();
    EXPECT_FALSE(c->truncated());
    const Json parsed = Json::parse(json);
    if (e.actor() == "a") {
      EXPECT_EQ(parsed["payload"]["n"], 7);
      EXPECT_EQ(parsed["payload"]["card"].get<std::string>().rfind("redacted:", 0), 0u);
      EXPECT_FALSE(c->payload_omitted());
      EXPECT_EQ(std::set<std::string>(c->redacted_fields().begin(), c->redacted_fields().end()),
                (std::set<std::string>{"$.payload.card", "$.headers.Authorization"}));
    } else {
      EXPECT_TRUE(parsed["payload"].is_null()) << json;
      EXPECT_TRUE(c->payload_omitted());
      EXPECT_EQ(std::vector<std::string>(c->redacted_fields().begin(), c->redacted_fields().end()),
                std::vector<std::string>{"$.headers.Authorization"});
    }
  }
  EXPECT_EQ(captures, 4);
  EXPECT_EQ(a.Stop(), 0);
  EXPECT_EQ(b.Stop(), 0);
}

TEST_F(SidecarIntegrationTest, CollectorDownAndBackLosesNoEventAndBrokerOutageLosesNoEnvelope) {
  int port = 0;
  {
    testing::CollectorStub probe;
    port = probe.port();
  }  // a port, then nobody listening
  Actor c("c", brokers(), "127.0.0.1:" + std::to_string(port), {"--handler", "echo"});
  ASSERT_TRUE(c.WaitStarted());
  std::vector<std::string> inputs;
  for (int i = 0; i < 50; ++i) inputs.push_back(Envelope("e-" + std::to_string(i), {"c"}));
  ASSERT_TRUE(testing::ProduceAll(brokers(), "asya-t-c", inputs).ok());
  ASSERT_EQ(testing::ConsumeAll(brokers(), "asya-t-x-sink", 50, absl::Seconds(20)).size(), 50u);

  // Broker trouble: produce requests fail for a while, then the broker goes down and up.
  kafka_->PushRequestErrors(/*Produce=*/0, 20, /*NOT_ENOUGH_REPLICAS=*/19);
  std::vector<std::string> more;
  for (int i = 50; i < 100; ++i) more.push_back(Envelope("e-" + std::to_string(i), {"c"}));
  ASSERT_TRUE(testing::ProduceAll(brokers(), "asya-t-c", more).ok());
  ASSERT_TRUE(kafka_->SetBrokerDown(1, true).ok());
  absl::SleepFor(absl::Milliseconds(500));
  ASSERT_TRUE(kafka_->SetBrokerDown(1, false).ok());
  std::vector<std::string> sink =
      testing::ConsumeAll(brokers(), "asya-t-x-sink", 100, absl::Seconds(30));
  std::set<std::string> ids;
  for (const auto& s : sink) ids.insert(Json::parse(s)["id"].get<std::string>());
  EXPECT_EQ(ids.size(), 100u);

  // The collector comes back on the same port: every buffered event is delivered.
  testing::CollectorStub collector(port);
  ASSERT_TRUE(collector.WaitForEvents(300, absl::Seconds(20))) << collector.events().size();
  // The acks are on their way back; a scrape is not one snapshot (the queue depth is read a
  // moment before the counters), so wait until both have settled.
  std::string m = c.Metrics();
  for (int i = 0;
       i < 200 && (testing::MetricValue(m, "meshtrace_sidecar_events_emitted_total") < 300 ||
                   testing::MetricValue(m, "meshtrace_sidecar_event_queue_depth") > 0);
       ++i) {
    absl::SleepFor(absl::Milliseconds(20));
    m = c.Metrics();
  }
  EXPECT_EQ(testing::MetricValue(m, "meshtrace_sidecar_events_emitted_total"), 300);
  EXPECT_EQ(testing::MetricValue(m, "meshtrace_sidecar_event_queue_depth"), 0);
  EXPECT_EQ(c.Stop(), 0);
}

// With /invoke calls pipelined (the default), an envelope with an SLA still waits for a free
// runtime: its deadline is checked when the runtime could take it. e-2 arrives with 1.8 s
// left while the 1 s call for e-1 runs, so when the runtime is free less than the 1 s margin is
// left: it goes to x-sink as failed/Timeout without calling the runtime. Queued at once behind
// e-1, it would have run and succeeded.
TEST_F(SidecarIntegrationTest, PipelinedSidecarChecksAnSlaWhenTheRuntimeIsFree) {
  Actor c("c", brokers(), "", {"--handler", "slow", "--sleep-ms", "1000"});
  ASSERT_TRUE(c.WaitStarted());
  ASSERT_TRUE(testing::ProduceAll(brokers(), "asya-t-c", {Envelope("w-0", {"c"})}).ok());
  ASSERT_EQ(testing::ConsumeAll(brokers(), "asya-t-x-sink", 1, absl::Seconds(20)).size(), 1u);

  const std::string deadline = absl::FormatTime(
      absl::RFC3339_full, absl::Now() + absl::Milliseconds(1800), absl::UTCTimeZone());
  std::string with_sla = Envelope("e-2", {"c"});
  with_sla.insert(with_sla.rfind(",\"payload\""),
                  R"(,"status":{"deadline_at":")" + deadline + "\"}");
  ASSERT_TRUE(testing::ProduceAll(brokers(), "asya-t-c", {Envelope("e-1", {"c"}), with_sla}).ok());
  std::vector<std::string> sink =
      testing::ConsumeAll(brokers(), "asya-t-x-sink", 3, absl::Seconds(20));
  ASSERT_EQ(sink.size(), 3u);
  std::map<std::string, Json> by_id;
  for (const std::string& s : sink) {
    Json e = Json::parse(s);
    by_id[e["id"].get<std::string>()] = e;
  }
  EXPECT_EQ(by_id["e-1"]["status"]["phase"], "succeeded");
  EXPECT_EQ(by_id["e-2"]["status"]["phase"], "failed");
  EXPECT_EQ(by_id["e-2"]["status"]["reason"], "Timeout");
  EXPECT_EQ(
      testing::MetricValue(
          c.Metrics(), R"(asya_actor_messages_processed_total{queue="c",status="sla_expired"})"),
      1);
  EXPECT_EQ(c.Stop(), 0);
}

// A second sidecar joins the group while the first has calls in flight: the first's partition
// is revoked under them (their tickets must stay valid; checked under ASan). Every envelope
// still reaches x-sink (redelivered duplicates allowed) and both sidecars stop cleanly.
TEST_F(SidecarIntegrationTest, RebalanceWhileCallsAreInFlightLosesNothing) {
  // A member that is slow to rejoin holds the rebalance up to its session timeout: keep it short.
  const std::vector<std::pair<std::string, std::string>> kafka = {{"session.timeout.ms", "6000"},
                                                                  {"heartbeat.interval.ms", "500"}};
  Actor first("c", brokers(), "", {"--handler", "slow", "--sleep-ms", "40"}, false, kafka);
  ASSERT_TRUE(first.WaitStarted());
  constexpr int kCount = 80;
  std::vector<std::string> inputs;
  for (int i = 0; i < kCount; ++i) inputs.push_back(Envelope("r-" + std::to_string(i), {"c"}));
  ASSERT_TRUE(testing::ProduceAll(brokers(), "asya-t-c", inputs).ok());
  ASSERT_GE(testing::ConsumeAll(brokers(), "asya-t-x-sink", 5, absl::Seconds(20)).size(), 5u);
  Actor second("c", brokers(), "", {"--handler", "slow", "--sleep-ms", "40"}, false, kafka);
  ASSERT_TRUE(second.WaitStarted());
  std::set<std::string> ids;
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (ids.size() < kCount && absl::Now() < deadline) {
    // Redelivered duplicates are in the topic too: read all of it, not just kCount messages.
    for (const auto& s :
         testing::ConsumeAll(brokers(), "asya-t-x-sink", 4 * kCount, absl::Seconds(3)))
      ids.insert(Json::parse(s)["id"].get<std::string>());
  }
  EXPECT_EQ(ids.size(), static_cast<size_t>(kCount));
  for (int i = 0; i < kCount; ++i) {
    if (!ids.count("r-" + std::to_string(i))) ADD_FAILURE() << "missing r-" << i;
  }
  EXPECT_EQ(first.Stop(), 0);
  EXPECT_EQ(second.Stop(), 0);
}

class SidecarProcessTest : public SidecarIntegrationTest {
 protected:
  std::map<std::string, std::string> Env(const std::string& actor) {
    return {{"ASYA_ACTOR_NAME", actor},           {"ASYA_NAMESPACE", "t"},
            {"ASYA_KAFKA_BROKERS", brokers()},    {"ASYA_SOCKET_DIR", dir_.path()},
            {"ASYA_METRICS_ADDR", "127.0.0.1:0"}, {"ASYA_RUNTIME_READY_TIMEOUT", "10s"}};
  }
  testing::Subprocess Runtime(std::vector<std::string> args) {
    args.insert(args.begin(), {kBin + "/meshtrace-example-runtime", "--socket-dir", dir_.path()});
    return *testing::Subprocess::Start(args);
  }
  testing::Subprocess Sidecar(const std::map<std::string, std::string>& env) {
    return *testing::Subprocess::Start({kBin + "/meshtrace-sidecar"}, env);
  }
  testing::TempDir dir_;
};

TEST_F(SidecarProcessTest, KillNineMidStreamLosesNoEnvelope) {
  testing::Subprocess runtime = Runtime({"--handler", "slow", "--sleep-ms", "5"});
  constexpr int kCount = 400;
  std::vector<std::string> inputs;
  for (int i = 0; i < kCount; ++i) inputs.push_back(Envelope("k-" + std::to_string(i), {"c"}));
  ASSERT_TRUE(testing::ProduceAll(brokers(), "asya-t-c", inputs).ok());
  {
    auto env = Env("c");
    env["ASYA_KAFKA_PROPERTIES"] = "session.timeout.ms=6000,heartbeat.interval.ms=500";
    testing::Subprocess sidecar = Sidecar(env);
    // Kill it once some, but not all, envelopes went through.
    auto partial = testing::ConsumeAll(brokers(), "asya-t-x-sink", 60, absl::Seconds(30));
    ASSERT_GE(partial.size(), 60u);
    sidecar.Signal(SIGKILL);
    ASSERT_EQ(*sidecar.Wait(), 128 + SIGKILL);
    // Mid-stream: the restarted sidecar has work left (so it is up when the check ends).
    ASSERT_LT(testing::ConsumeAll(brokers(), "asya-t-x-sink", kCount, absl::Seconds(1)).size(),
              static_cast<size_t>(kCount));
  }
  // The killed member stays in the group until its session times out; keep that short.
  auto env = Env("c");
  env["ASYA_KAFKA_PROPERTIES"] = "session.timeout.ms=6000,heartbeat.interval.ms=500";
  testing::Subprocess again = Sidecar(env);
  // Redelivered duplicates are allowed; a missing id is not.
  std::set<std::string> ids;
  size_t want = kCount;
  const absl::Time deadline = absl::Now() + absl::Seconds(40);
  while (ids.size() < kCount && absl::Now() < deadline) {
    auto sink = testing::ConsumeAll(brokers(), "asya-t-x-sink", want, absl::Seconds(10));
    ids.clear();
    for (const auto& s : sink) ids.insert(Json::parse(s)["id"].get<std::string>());
    want = sink.size() + (kCount - ids.size());
  }
  EXPECT_EQ(ids.size(), static_cast<size_t>(kCount));
  again.Signal(SIGTERM);
  EXPECT_EQ(*again.Wait(absl::Seconds(30)), 0);
}

// Six envelopes at once, pipelined: each waits at the runtime's socket behind the others, up to
// 1 s, yet each 200 ms call holds its 300 ms actor timeout, which counts from when the runtime
// took the call. All go to x-sink in their order and the sidecar stays up.
TEST_F(SidecarProcessTest, PipelinedCallsCountTheirTimeoutFromWhenTheRuntimeTookThem) {
  testing::Subprocess runtime = Runtime({"--handler", "slow", "--sleep-ms", "200"});
  auto env = Env("c");
  env["ASYA_RESILIENCY_ACTOR_TIMEOUT"] = "300ms";
  env["MESHTRACE_INVOKE_PIPELINE"] = "6";
  testing::Subprocess sidecar = Sidecar(env);
  std::vector<std::string> inputs;
  for (int i = 0; i < 6; ++i) inputs.push_back(Envelope("p-" + std::to_string(i), {"c"}));
  ASSERT_TRUE(testing::ProduceAll(brokers(), "asya-t-c", inputs).ok());
  auto sink = testing::ConsumeAll(brokers(), "asya-t-x-sink", 6, absl::Seconds(30));
  ASSERT_EQ(sink.size(), 6u);
  for (int i = 0; i < 6; ++i) {
    Json e = Json::parse(sink[i]);
    EXPECT_EQ(e["id"], "p-" + std::to_string(i));
    EXPECT_EQ(e["status"]["phase"], "succeeded");
  }
  EXPECT_TRUE(testing::ConsumeAll(brokers(), "asya-t-x-sump", 1, absl::Seconds(1)).empty());
  sidecar.Signal(SIGTERM);
  EXPECT_EQ(*sidecar.Wait(absl::Seconds(30)), 0);
}

TEST_F(SidecarProcessTest, RuntimeTimeoutSendsToSumpThenExitsOne) {
  testing::Subprocess runtime = Runtime({"--handler", "hang"});
  auto env = Env("c");
  env["ASYA_RESILIENCY_ACTOR_TIMEOUT"] = "300ms";
  testing::Subprocess sidecar = Sidecar(env);
  ASSERT_TRUE(testing::ProduceAll(brokers(), "asya-t-c", {Envelope("slow-1", {"c"})}).ok());
  EXPECT_EQ(*sidecar.Wait(absl::Seconds(30)), 1);
  auto sump = testing::ConsumeAll(brokers(), "asya-t-x-sump", 1, absl::Seconds(10));
  ASSERT_EQ(sump.size(), 1u);
  Json e = Json::parse(sump[0]);
  EXPECT_EQ(e["status"]["reason"], "Timeout");
  EXPECT_NE(e["payload"]["details"]["message"].get<std::string>().find("300ms"), std::string::npos);
}

TEST_F(SidecarProcessTest, NoRuntimeExitsOneAfterReadyTimeout) {
  auto env = Env("c");
  env["ASYA_RUNTIME_READY_TIMEOUT"] = "300ms";
  testing::Subprocess sidecar = Sidecar(env);
  EXPECT_EQ(*sidecar.Wait(absl::Seconds(10)), 1);
}

// Redaction that cannot be applied stops the sidecar before it takes a message (fail closed),
// also when its configuration was built without LoadSidecarConfig.
TEST(SidecarAppTest, RedactionItCannotApplyStopsItWithExitTwo) {
  sidecar::SidecarConfig config;
  config.actor = "a";
  config.metrics_enabled = false;
  config.events.redact = "$.body";
  config.events.redact_key = "0123456789abcdef";
  sidecar::SidecarApp app(config);
  EXPECT_EQ(app.Run(), 2);
}

TEST_F(SidecarProcessTest, BadSettingsExitTwoNamingTheVariable) {
  struct Case {
    std::string var, value, expect;
  };
  for (const Case& c : std::vector<Case>{
           {"ASYA_TRANSPORT", "rabbitmq",
            "ASYA_TRANSPORT='rabbitmq' is not valid: meshtrace-sidecar supports only 'kafka'"},
           {"ASYA_ACTOR_NAME", "", "ASYA_ACTOR_NAME (or --actor-name) is required"},
           {"ASYA_RESILIENCY_ACTOR_TIMEOUT", "5 minutes",
            "ASYA_RESILIENCY_ACTOR_TIMEOUT='5 minutes'"},
           {"MESHTRACE_CAPTURE", "all", "expected payloads, metadata or none"},
           {"ASYA_IS_END_ACTOR", "maybe", "expected true or false"},
           {"MESHTRACE_REDACT", "$.body", "a path must start with $.payload or $.headers"},
           {"MESHTRACE_REDACT", "$.payload.card", "MESHTRACE_REDACT_KEY"},
           {"ASYA_METRICS_ADDR", "8080", "expected [host]:port"},
           {"ASYA_ACTOR_NAME", "a/b", "has the character '/'"},
       }) {
    auto env = Env("c");
    env[c.var] = c.value;
    testing::Subprocess sidecar =
        *testing::Subprocess::Start({"/bin/sh", "-c", kBin + "/meshtrace-sidecar 2>&1"}, env);
    std::string out = sidecar.ReadAll(absl::Seconds(10));
    EXPECT_EQ(*sidecar.Wait(), 2) << c.var;
    EXPECT_NE(out.find(c.expect), std::string::npos) << c.var << ": " << out;
  }
  // Flags win over the environment and are named after the variables.
  auto env = Env("c");
  testing::Subprocess flag = *testing::Subprocess::Start(
      {"/bin/sh", "-c", kBin + "/meshtrace-sidecar --capture bogus 2>&1"}, env);
  std::string out = flag.ReadAll(absl::Seconds(10));
  EXPECT_EQ(*flag.Wait(), 2);
  EXPECT_NE(out.find("MESHTRACE_CAPTURE='bogus'"), std::string::npos) << out;
}

}  // namespace
}  // namespace meshtrace::sidecar
