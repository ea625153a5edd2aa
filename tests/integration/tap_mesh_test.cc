// Tap mode end to end: stock-style pods (a sidecar with no events of its own, standing in for
// Asya's) with meshtrace-tap on each runtime's socket, on librdkafka's mock cluster, and a real
// collector. Traces must be proven complete from the taps' events alone.
#include <gtest/gtest.h>
#include <httplib.h>

#include <map>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "collector/collector_app.h"
#include "common/log.h"
#include "replayer/dev_kafka.h"
#include "tests/testing/kafka_helpers.h"
#include "tests/testing/mesh_actor.h"
#include "tests/testing/ports.h"
#include "tests/testing/tapped_actor.h"
#include "tests/testing/temp_dir.h"

namespace meshtrace {
namespace {

using Json = nlohmann::json;
const std::string kBin = MESHTRACE_BIN_DIR;

class TapMeshTest : public ::testing::Test {
 protected:
  void StartMesh(absl::Duration stall_timeout = absl::Minutes(5)) {
    InitLogging("tap-mesh-test", "warn");
    auto kafka = replayer::DevKafka::Start(
        1, {{"asya-t-a", 1}, {"asya-t-b", 1}, {"asya-t-x-sink", 1}, {"asya-t-x-sump", 1}});
    ASSERT_TRUE(kafka.ok()) << kafka.status();
    kafka_ = *std::move(kafka);
    collector::CollectorConfig config;
    config.grpc_listen = "127.0.0.1:0";
    config.http_listen = "127.0.0.1:0";
    config.data_dir = data_.path();
    config.stall_timeout = stall_timeout;
    collector_ = std::make_unique<collector::CollectorApp>(config);
    ASSERT_TRUE(collector_->Start().ok());
    http_ = std::make_unique<httplib::Client>("127.0.0.1", collector_->http_port());
  }

  testing::TappedActor::Options Actor(std::string name, std::vector<std::string> handler,
                                      bool end = false) {
    testing::TappedActor::Options o;
    o.name = std::move(name);
    o.runtime_args = std::move(handler);
    o.end_actor = end;
    o.collector = absl::StrCat("127.0.0.1:", collector_->grpc_port());
    if (end) o.tap_actor = o.name;  // an end actor's envelopes do not name it
    return o;
  }

  Json Get(const std::string& path) {
    auto res = http_->Get(path.c_str());
    if (!res || res->status != 200) return Json();
    return Json::parse(res->body, nullptr, false);
  }

  // The traces of `verdict` once there are `n` of them.
  std::map<std::string, Json> WaitFor(const std::string& verdict, size_t n) {
    const absl::Time deadline = absl::Now() + absl::Seconds(40);
    std::map<std::string, Json> by_id;
    while (absl::Now() < deadline) {
      Json list = Get("/api/v1/traces?limit=100&verdict=" + verdict);
      by_id.clear();
      if (list.is_object()) {
        for (const Json& t : list["traces"]) by_id[t["trace_id"]] = t;
      }
      if (by_id.size() >= n) break;
      absl::SleepFor(absl::Milliseconds(100));
    }
    return by_id;
  }

  testing::TempDir data_;
  std::unique_ptr<replayer::DevKafka> kafka_;
  std::unique_ptr<collector::CollectorApp> collector_;
  std::unique_ptr<httplib::Client> http_;
};

TEST_F(TapMeshTest, ChainFanOutAndFailureAreProvenCompleteFromTapEventsAlone) {
  StartMesh();
  const std::string& brokers = kafka_->bootstraps();
  testing::TappedActor a(kBin, brokers, Actor("a", {"--handler", "fanout", "--fanout", "2"}));
  testing::TappedActor b(kBin, brokers,
                         Actor("b", {"--handler", "enrich", "--fail-when", "bad", "--fail-type",
                                     "payments.CardDeclined", "--fail-message", "card declined"}));
  testing::TappedActor sink(kBin, brokers, Actor("x-sink", {"--handler", "echo"}, true));
  testing::TappedActor sump(kBin, brokers, Actor("x-sump", {"--handler", "echo"}, true));
  ASSERT_TRUE(a.WaitStarted() && b.WaitStarted() && sink.WaitStarted() && sump.WaitStarted());

  std::vector<std::string> inputs;
  for (int i = 0; i < 3; ++i) {
    inputs.push_back(testing::MeshEnvelope(absl::StrCat("ok-", i), {"a", "b"}));
  }
  inputs.push_back(testing::MeshEnvelope("bad-1", {"a", "b"}, R"({"bad":true})"));
  ASSERT_TRUE(testing::ProduceAll(brokers, "asya-t-a", inputs).ok());

  std::map<std::string, Json> done = WaitFor("complete", 4);
  ASSERT_EQ(done.size(), 4u) << Get("/api/v1/traces/ok-0").dump(1);
  for (int i = 0; i < 3; ++i) {
    const Json& t = done[absl::StrCat("ok-", i)];
    EXPECT_EQ(t["outcome"], "succeeded") << t.dump();
    EXPECT_EQ(t["hops"], 5);  // a, b ×2 (a fan-out of two), x-sink ×2
    EXPECT_EQ(t["tapped_hops"], 5);
  }
  const Json& bad = done["bad-1"];
  EXPECT_EQ(bad["outcome"], "failed") << bad.dump();
  EXPECT_EQ(bad["headline"], "failed at actor b with payments.CardDeclined: card declined");

  // The artifact says which hops a tap saw and which sends it inferred.
  Json artifact = Get("/api/v1/traces/ok-0");
  ASSERT_TRUE(artifact.is_object());
  EXPECT_TRUE(artifact["anomalies"].empty()) << artifact["anomalies"].dump();
  int inferred = 0;
  for (const Json& hop : artifact["hops"]) {
    EXPECT_EQ(hop["observed_by"], "tap") << hop.dump();
    for (const Json& out : hop["outputs"]) inferred += out["inferred"].get<bool>();
  }
  EXPECT_EQ(inferred, 4);  // a → b twice, b → x-sink twice
}

// Where the next actor has no tap (and no meshtrace sidecar), the trace says how far it was
// seen instead of calling the envelope lost.
TEST_F(TapMeshTest, AnUntappedDownstreamActorIsNotObservedRatherThanLost) {
  StartMesh(absl::Seconds(2));
  const std::string& brokers = kafka_->bootstraps();
  testing::TappedActor a(kBin, brokers, Actor("a", {"--handler", "echo"}));
  testing::MeshActor b(kBin, "b", brokers, /*collector=*/"", {"--handler", "echo"});
  ASSERT_TRUE(a.WaitStarted() && b.WaitStarted());
  ASSERT_TRUE(
      testing::ProduceAll(brokers, "asya-t-a", {testing::MeshEnvelope("u-1", {"a", "b"})}).ok());

  std::map<std::string, Json> partial = WaitFor("partial", 1);
  ASSERT_EQ(partial.size(), 1u) << Get("/api/v1/traces").dump(1);
  const Json& t = partial["u-1"];
  EXPECT_NE(t["headline"].get<std::string>().find("not observed beyond a"), std::string::npos)
      << t.dump();
  EXPECT_EQ(t["ended_at_actor"], "a");
  Json artifact = Get("/api/v1/traces/u-1");
  ASSERT_EQ(artifact["anomalies"].size(), 1u) << artifact.dump(1);
  EXPECT_EQ(artifact["anomalies"][0]["kind"], "unobserved");
}

}  // namespace
}  // namespace meshtrace

namespace meshtrace {
namespace {

// The tap killed with -9 and started again (a container restart): the new one clears the dead
// one's socket and carries on; the runtime crashing under the tap looks like a dead runtime to
// the sidecar (the envelope goes to x-sump, reported as such), and a restarted runtime serves.
TEST_F(TapMeshTest, TapAndRuntimeRestartsAreReportedAndLoseNothing) {
  StartMesh();
  const std::string& brokers = kafka_->bootstraps();
  testing::TappedActor a(kBin, brokers, Actor("a", {"--handler", "echo"}));
  testing::TappedActor sink(kBin, brokers, Actor("x-sink", {"--handler", "echo"}, true));
  testing::TappedActor sump(kBin, brokers, Actor("x-sump", {"--handler", "echo"}, true));
  ASSERT_TRUE(a.WaitStarted() && sink.WaitStarted() && sump.WaitStarted());
  auto produce = [&](const std::string& id) {
    return testing::ProduceAll(brokers, "asya-t-a", {testing::MeshEnvelope(id, {"a"})}).ok();
  };
  ASSERT_TRUE(produce("before"));
  ASSERT_EQ(WaitFor("complete", 1).size(), 1u);

  a.RestartTap();
  ASSERT_TRUE(produce("after-tap-restart"));
  ASSERT_EQ(WaitFor("complete", 2).size(), 2u) << Get("/api/v1/traces").dump(1);

  a.KillRuntime();
  ASSERT_TRUE(produce("runtime-down"));
  std::map<std::string, Json> done = WaitFor("complete", 3);
  ASSERT_EQ(done.size(), 3u) << Get("/api/v1/traces").dump(1);
  EXPECT_EQ(done["runtime-down"]["outcome"], "failed") << done["runtime-down"].dump();
  Json artifact = Get("/api/v1/traces/runtime-down");
  ASSERT_TRUE(artifact.is_object());
  EXPECT_EQ(artifact["hops"][0]["error"]["code"], "connection_error") << artifact.dump(1);

  a.StartRuntime();
  ASSERT_TRUE(produce("after-runtime-restart"));
  done = WaitFor("complete", 4);
  ASSERT_EQ(done.size(), 4u) << Get("/api/v1/traces").dump(1);
  for (const char* id : {"before", "after-tap-restart", "after-runtime-restart"}) {
    EXPECT_EQ(done[id]["outcome"], "succeeded") << id;
  }
}

// A collector that is down when the envelopes pass: the taps keep their events and deliver them
// once it is up, and the traces are proven complete then.
TEST_F(TapMeshTest, EventsWaitForACollectorThatComesUpLate) {
  InitLogging("tap-mesh-test", "warn");
  auto kafka = replayer::DevKafka::Start(1, {{"asya-t-a", 1}, {"asya-t-x-sink", 1}});
  ASSERT_TRUE(kafka.ok()) << kafka.status();
  kafka_ = *std::move(kafka);
  const int port = testing::FreePort();
  auto actor = [&](std::string name, bool end) {
    testing::TappedActor::Options o;
    o.name = name;
    o.runtime_args = {"--handler", "echo"};
    o.end_actor = end;
    o.collector = absl::StrCat("127.0.0.1:", port);
    if (end) o.tap_actor = name;
    return o;
  };
  testing::TappedActor a(kBin, kafka_->bootstraps(), actor("a", false));
  testing::TappedActor sink(kBin, kafka_->bootstraps(), actor("x-sink", true));
  ASSERT_TRUE(a.WaitStarted() && sink.WaitStarted());
  std::vector<std::string> inputs;
  for (int i = 0; i < 5; ++i)
    inputs.push_back(testing::MeshEnvelope(absl::StrCat("late-", i), {"a"}));
  ASSERT_TRUE(testing::ProduceAll(kafka_->bootstraps(), "asya-t-a", inputs).ok());
  absl::SleepFor(absl::Seconds(2));  // the envelopes pass while no collector listens

  collector::CollectorConfig config;
  config.grpc_listen = absl::StrCat("127.0.0.1:", port);
  config.http_listen = "127.0.0.1:0";
  config.data_dir = data_.path();
  collector_ = std::make_unique<collector::CollectorApp>(config);
  ASSERT_TRUE(collector_->Start().ok());
  http_ = std::make_unique<httplib::Client>("127.0.0.1", collector_->http_port());
  EXPECT_EQ(WaitFor("complete", 5).size(), 5u) << Get("/api/v1/traces").dump(1);
}

}  // namespace
}  // namespace meshtrace
