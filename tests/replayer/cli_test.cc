// The `meshtrace` CLI as a user runs it: a real collector process seeded over gRPC, the
// example runtime as a real process on a Unix socket, the CLI as a process; its output, files
// and exit codes are checked.
#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "meshtrace/v1/collector.grpc.pb.h"
#include "replayer/dev_kafka.h"
#include "tests/testing/collector_process.h"
#include "tests/testing/kafka_helpers.h"
#include "tests/testing/ports.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/trace_builder.h"

namespace meshtrace {
namespace {

using Json = nlohmann::json;
using testing::TraceBuilder;
const std::string kBin = MESHTRACE_BIN_DIR;

std::vector<v1::LifecycleEvent> Chain(const std::string& id, const std::vector<std::string>& actors,
                                      const std::string& payload) {
  TraceBuilder b(id, absl::ToUnixNanos(absl::Now()));
  b.SetPayload(payload);
  b.Chain(id + "-e1", actors);
  return b.Take();
}

// Sent from a to b, never received: stalled once the collector's stall timeout has passed.
std::vector<v1::LifecycleEvent> Lost(const std::string& id) {
  TraceBuilder b(id, absl::ToUnixNanos(absl::Now()));
  const std::string e = id + "-e1";
  b.Receive(e, "a").Result(e, "a").Route(e, "a", e, "b");
  return b.Take();
}

std::vector<v1::LifecycleEvent> Failed(const std::string& id, bool truncated = false) {
  TraceBuilder b(id, absl::ToUnixNanos(absl::Now()));
  b.SetPayload(R"({"bad":true})");
  const std::string e = id + "-e1";
  b.Receive(e, "a").Result(e, "a").Route(e, "a", e, "b");
  b.Receive(e, "b", {"a"}).Result(e, "b", 500, "ValueError", "asked to fail");
  b.Route(e, "b", e, "x-sump", "sump", "failed", "RuntimeError");
  b.Receive(e, "x-sump", {"a"}).Terminate(e, "x-sump", "failed", "RuntimeError");
  std::vector<v1::LifecycleEvent> events = b.Take();
  if (truncated) {
    for (auto& ev : events) {
      if (ev.has_received() && ev.actor() == "b") {
        v1::Capture* c = ev.mutable_received()->mutable_input();
        c->set_original_size(c->envelope_json().size() + 100);
        c->set_envelope_json(c->envelope_json().substr(0, 20));
        c->set_truncated(true);
      }
    }
  }
  return events;
}

struct Result {
  int code;
  std::string out;  // stdout and stderr
};

class QueryCliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    data_ = new testing::TempDir();
    auto started = testing::CollectorProcess::Start(
        kBin, {"--data-dir=" + data_->path(), "--log-level=warn", "--stall-timeout=2s"});
    ASSERT_TRUE(started.ok()) << started.status();
    grpc_port_ = started->grpc_port;
    http_port_ = started->http_port;
    collector_ = new testing::Subprocess(*std::move(started->process));
    auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", grpc_port_),
                                       grpc::InsecureChannelCredentials());
    ASSERT_TRUE(
        channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(20)));
    auto stub = v1::Collector::NewStub(channel);
    grpc::ClientContext context;
    auto stream = stub->Ingest(&context);
    v1::EventBatch batch;
    for (auto events :
         {Failed("bad-1"), Failed("cut-1", true), Chain("good-1", {"a", "b"}, R"({"n":1})"),
          Chain("good-2", {"a", "b"}, R"({"n":1})"), Chain("changed-1", {"a", "b"}, R"({"n":2})"),
          Chain("short-1", {"a"}, R"({"n":1})"), Lost("lost-1")}) {
      for (auto& e : events) *batch.add_events() = e;
    }
    stream->Write(batch);
    stream->WritesDone();
    v1::Ack ack;
    ASSERT_TRUE(stream->Read(&ack));
    ASSERT_EQ(ack.rejected_size(), 0);
    ASSERT_TRUE(stream->Finish().ok());
  }
  static void TearDownTestSuite() {
    delete collector_;
    delete data_;
  }

  static Result Cli(const std::string& args) {
    auto run = testing::Run(
        {"/bin/sh", "-c",
         absl::StrCat(kBin, "/meshtrace --collector 127.0.0.1:", grpc_port_, " ", args, " 2>&1")});
    EXPECT_TRUE(run.ok());
    return run.ok() ? Result{run->exit_code, run->out} : Result{-1, ""};
  }

  // The example runtime on a socket in a temp dir.
  struct Runtime {
    testing::TempDir dir;
    std::optional<testing::Subprocess> process;
    explicit Runtime(const std::vector<std::string>& args) {
      std::vector<std::string> argv = {kBin + "/meshtrace-example-runtime", "--socket-dir",
                                       dir.path()};
      argv.insert(argv.end(), args.begin(), args.end());
      process.emplace(*testing::Subprocess::Start(argv));
      for (int i = 0; i < 100 && !std::filesystem::exists(dir.File("runtime-ready")); ++i) {
        absl::SleepFor(absl::Milliseconds(50));
      }
    }
    std::string socket() const { return dir.File("asya-runtime.sock"); }
  };

  static testing::TempDir* data_;
  static testing::Subprocess* collector_;
  static int grpc_port_, http_port_;
};

testing::TempDir* QueryCliTest::data_ = nullptr;
testing::Subprocess* QueryCliTest::collector_ = nullptr;
int QueryCliTest::grpc_port_ = 0;
int QueryCliTest::http_port_ = 0;

TEST_F(QueryCliTest, TracesListsAsATableAndAsJson) {
  Result table = Cli("traces");
  EXPECT_EQ(table.code, 0) << table.out;
  EXPECT_NE(table.out.find("STARTED"), std::string::npos);
  for (const char* id : {"bad-1", "good-1", "good-2", "changed-1", "short-1", "cut-1"}) {
    EXPECT_NE(table.out.find(id), std::string::npos) << id;
  }
  EXPECT_EQ(table.out.find("\033["), std::string::npos);  // no colours off a TTY

  Result json = Cli("traces --outcome failed -o json");
  ASSERT_EQ(json.code, 0) << json.out;
  Json parsed = Json::parse(json.out);
  ASSERT_EQ(parsed["traces"].size(), 2u);
  for (const Json& t : parsed["traces"]) {
    EXPECT_EQ(t["outcome"], "failed");
    EXPECT_EQ(t["ended_at_actor"], "b");
    EXPECT_EQ(t["error_type"], "ValueError");
  }
  EXPECT_EQ(Json::parse(Cli("traces --actor x-sink --limit 10 -o json").out)["traces"].size(), 4u);
  // Global options also after the subcommand.
  EXPECT_EQ(Cli("traces -o json --since 1h").code, 0);
}

// A stalled trace has no error: its row says where it stopped instead.
TEST_F(QueryCliTest, TracesSayWhereAStalledTraceStopped) {
  Result stalled;
  for (int i = 0; i < 100; ++i) {  // stalled 2 s after its last send
    stalled = Cli("traces --verdict stalled");
    if (stalled.out.find("lost-1") != std::string::npos) break;
    absl::SleepFor(absl::Milliseconds(100));
  }
  ASSERT_EQ(stalled.code, 0) << stalled.out;
  const size_t row = stalled.out.find("lost-1");
  ASSERT_NE(row, std::string::npos) << stalled.out;
  const std::string line = stalled.out.substr(row, stalled.out.find('\n', row) - row);
  EXPECT_NE(line.find("stalled: envelope lost-1-e1 lost between a and b"), std::string::npos)
      << line;
  // A failed trace's row keeps its error.
  const Result failed = Cli("traces --outcome failed");
  EXPECT_NE(failed.out.find("ValueError: asked to fail"), std::string::npos) << failed.out;
  EXPECT_EQ(failed.out.find("lost between"), std::string::npos) << failed.out;
}

TEST_F(QueryCliTest, ShowDrawsTheTreeByTraceOrEnvelopeId) {
  Result r = Cli("show bad-1");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("failed at actor b with ValueError: asked to fail"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("└─ b  bad-1-e1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("✗ ValueError: asked to fail"), std::string::npos);
  EXPECT_NE(r.out.find("meshtrace replay bad-1 --envelope bad-1-e1 --actor b"), std::string::npos);
  Result by_envelope = Cli("show good-1-e1");
  EXPECT_EQ(by_envelope.code, 0);
  EXPECT_NE(by_envelope.out.find("trace good-1"), std::string::npos);
  Json json = Json::parse(Cli("show bad-1 -o json").out);
  EXPECT_EQ(json["trace_id"], "bad-1");
  EXPECT_EQ(json["hops"].size(), 3u);
}

TEST_F(QueryCliTest, ErrorsExit2WithTheCause) {
  Result unknown = Cli("show no-such-trace");
  EXPECT_EQ(unknown.code, 2);
  EXPECT_NE(unknown.out.find("no trace or envelope with id no-such-trace"), std::string::npos);
  testing::RunResult down =
      testing::Run({"/bin/sh", "-c", kBin + "/meshtrace traces --collector 127.0.0.1:1 2>&1"})
          .value();
  EXPECT_EQ(down.exit_code, 2);
  EXPECT_NE(down.out.find("is meshtrace-collector running?"), std::string::npos) << down.out;
  for (const char* bad : {"traces --outcome nope", "traces --limit 0", "show", "frobnicate",
                          "traces --since yesterday", "diff only-one", "traces -o yaml"}) {
    Result r = Cli(bad);
    EXPECT_EQ(r.code, 2) << bad << "\n" << r.out;
  }
  EXPECT_NE(Cli("traces --outcome nope").out.find("expected succeeded, failed or mixed"),
            std::string::npos);
}

TEST_F(QueryCliTest, ReportWritesTheHtmlAndJsonAndOnePerFailedTrace) {
  testing::TempDir out;
  Result r = Cli("report bad-1 -o " + out.File("r.html") + " --json " + out.File("r.json"));
  ASSERT_EQ(r.code, 0) << r.out;
  std::ifstream html(out.File("r.html"));
  std::string body((std::istreambuf_iterator<char>(html)), {});
  EXPECT_NE(body.find("failed at actor b with ValueError: asked to fail"), std::string::npos);
  EXPECT_EQ(body.rfind("<!doctype html>", 0), 0u);
  std::ifstream json(out.File("r.json"));
  EXPECT_EQ(Json::parse(json)["trace_id"], "bad-1");

  Result failed = Cli("report --failed --since 1h --dir " + out.File("all"));
  ASSERT_EQ(failed.code, 0) << failed.out;
  EXPECT_TRUE(std::filesystem::exists(out.File("all/index.html")));
  EXPECT_TRUE(std::filesystem::exists(out.File("all/bad-1.html")));
  EXPECT_TRUE(std::filesystem::exists(out.File("all/cut-1.html")));
  EXPECT_FALSE(std::filesystem::exists(out.File("all/good-1.html")));
  EXPECT_EQ(Cli("report bad-1").code, 2);  // no output file named
  // By an envelope id: the report of its trace.
  Result by_envelope = Cli("report bad-1-e1 -o " + out.File("e.html"));
  EXPECT_EQ(by_envelope.code, 0) << by_envelope.out;
  EXPECT_NE(by_envelope.out.find("trace bad-1)"), std::string::npos) << by_envelope.out;
  Result unknown = Cli("report no-such-id -o " + out.File("n.html"));
  EXPECT_EQ(unknown.code, 2);
  EXPECT_NE(unknown.out.find("no trace or envelope with id no-such-id"), std::string::npos);
}

TEST_F(QueryCliTest, DiffAlignsByLineageAndExits1OnADifference) {
  Result same = Cli("diff good-1 good-2");
  EXPECT_EQ(same.code, 0) << same.out;
  EXPECT_NE(same.out.find("same"), std::string::npos);
  EXPECT_EQ(Cli("diff good-1-e1 good-2").code, 0);  // an envelope id stands for its trace
  Result unknown = Cli("diff good-1 no-such-id");
  EXPECT_EQ(unknown.code, 2);
  EXPECT_NE(unknown.out.find("no-such-id"), std::string::npos) << unknown.out;

  Result changed = Cli("diff good-1 changed-1 -o json");
  EXPECT_EQ(changed.code, 1);
  Json d = Json::parse(changed.out);
  EXPECT_FALSE(d["same"].get<bool>());
  bool payload = false;
  for (const Json& x : d["differences"]) {
    payload |= x["kind"] == "payload_changed" && x["path"] == "input.payload.n" && x["a"] == "1" &&
               x["b"] == "2";
  }
  EXPECT_TRUE(payload) << d.dump(2);
  EXPECT_EQ(Cli("diff good-1 changed-1 --ignore '$.payload.n'").code, 0);

  Result missing = Cli("diff good-1 short-1");
  EXPECT_EQ(missing.code, 1);
  EXPECT_NE(missing.out.find("hop_missing"), std::string::npos) << missing.out;
  // The first line tallies the kinds, the path's before the data's.
  const std::string head = missing.out.substr(0, missing.out.find('\n'));
  EXPECT_NE(head.find("difference"), std::string::npos) << head;
  EXPECT_NE(head.find(" hop_missing"), std::string::npos) << head;
  EXPECT_NE(missing.out.find("a > b"), std::string::npos);

  testing::TempDir out;
  Result failed = Cli("diff good-1 bad-1 --html " + out.File("d.html"));
  EXPECT_EQ(failed.code, 1);
  EXPECT_NE(failed.out.find("status_changed"), std::string::npos);
  // Before the list, the first hop whose status differs, with both sides.
  const size_t part = failed.out.find("the paths part at ");
  ASSERT_NE(part, std::string::npos) << failed.out;
  EXPECT_LT(part, failed.out.find("\n  status_changed")) << failed.out;
  const std::string parting = failed.out.substr(part, failed.out.find("\n\n", part) - part);
  EXPECT_NE(parting.find("(status_changed)"), std::string::npos) << parting;
  EXPECT_NE(parting.find("a: ok"), std::string::npos) << parting;
  EXPECT_NE(parting.find("b: error ValueError"), std::string::npos) << parting;
  EXPECT_EQ(changed.out.find("the paths part"), std::string::npos);  // json: not in it
  EXPECT_EQ(Cli("diff good-1 changed-1").out.find("the paths part"), std::string::npos);
  const std::string failed_head = failed.out.substr(0, failed.out.find('\n'));
  ASSERT_NE(failed_head.find(" status_changed"), std::string::npos) << failed_head;
  if (failed_head.find(" payload_changed") != std::string::npos) {
    EXPECT_LT(failed_head.find(" status_changed"), failed_head.find(" payload_changed"));
  }
  std::ifstream html(out.File("d.html"));
  std::string page((std::istreambuf_iterator<char>(html)), {});
  EXPECT_NE(page.find("<code>good-1</code>"), std::string::npos);
  EXPECT_NE(page.find("<code>bad-1</code>"), std::string::npos);
  EXPECT_NE(page.find("ValueError: asked to fail"), std::string::npos);
  EXPECT_NE(page.find("<td>status_changed</td>"), std::string::npos);
}

TEST_F(QueryCliTest, ReplayFailsAgainOnTheBrokenRuntimeAndSucceedsOnTheFixedOne) {
  Runtime broken({"--handler", "enrich", "--fail-when", "bad"});
  Result again = Cli("replay bad-1 --socket " + broken.socket());
  EXPECT_EQ(again.code, 1) << again.out;
  EXPECT_NE(again.out.find("fails again"), std::string::npos) << again.out;

  Runtime fixed({"--handler", "enrich"});
  testing::TempDir out;
  Result now = Cli("replay bad-1 --socket " + fixed.socket() + " --out " + out.File("r.json"));
  EXPECT_EQ(now.code, 0) << now.out;
  EXPECT_NE(now.out.find("failed before, succeeds now"), std::string::npos) << now.out;
  std::ifstream in(out.File("r.json"));
  Json results = Json::parse(in);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0]["actor"], "b");
  EXPECT_TRUE(results[0]["now"]["succeeds"].get<bool>());
  EXPECT_EQ(results[0]["now"]["frames"][0]["payload"]["b"], true);  // enriched by b

  // A hop that succeeded, replayed on a handler that does the same: the same frames; on one
  // that changes the payload: exit 1 with --expect-same, naming the change.
  Runtime echo({"--handler", "echo"});
  Result echoed = Cli("replay good-1 --actor b --expect-same --socket " + echo.socket());
  EXPECT_EQ(echoed.code, 0) << echoed.out;
  EXPECT_NE(echoed.out.find("frames match the original"), std::string::npos);
  Result changed = Cli("replay good-1 --actor b --expect-same --socket " + fixed.socket());
  EXPECT_EQ(changed.code, 1) << changed.out;
  EXPECT_NE(changed.out.find("frame 1 $.payload.b: (none) -> true"), std::string::npos)
      << changed.out;
}

TEST_F(QueryCliTest, ReplayDryRunShowsTheEnvelopeWithTheReplayHeader) {
  Result r = Cli("replay bad-1 --dry-run -o json");
  ASSERT_EQ(r.code, 0) << r.out;
  Json results = Json::parse(r.out);
  ASSERT_EQ(results.size(), 1u);
  const Json& sent = results[0]["would_send"];
  EXPECT_EQ(sent["id"], "bad-1-e1");
  EXPECT_EQ(sent["payload"]["bad"], true);
  EXPECT_EQ(sent["headers"]["x-meshtrace-replay"].get<std::string>().size(), 36u);
  EXPECT_EQ(sent["headers"]["trace_id"], "bad-1");
}

TEST_F(QueryCliTest, ReplayRefusesATruncatedCaptureAndAMissingRuntime) {
  Runtime fixed({"--handler", "enrich"});
  Result cut = Cli("replay cut-1 --socket " + fixed.socket());
  EXPECT_EQ(cut.code, 1);
  EXPECT_NE(cut.out.find("not replayed: the input capture was cut at 20 of"), std::string::npos)
      << cut.out;
  Result nobody = Cli("replay bad-1 --socket /tmp/no-such-dir/asya-runtime.sock");
  EXPECT_EQ(nobody.code, 2);
  EXPECT_NE(nobody.out.find("no runtime answers on /tmp/no-such-dir/asya-runtime.sock"),
            std::string::npos);
  EXPECT_EQ(Cli("replay good-1 --socket " + fixed.socket()).code, 2);  // no failed hop
}

}  // namespace
}  // namespace meshtrace

namespace meshtrace {
namespace {

// Runs of spaces as one, to read table rows.
std::string Squash(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == ' ' && !out.empty() && out.back() == ' ') continue;
    out += c;
  }
  return out;
}

TEST_F(QueryCliTest, BatchReplayOverEveryFailedTraceIsResumable) {
  Runtime fixed({"--handler", "enrich"});
  Result all = Cli("replay --sump --rate 50/s --socket " + fixed.socket());
  EXPECT_EQ(all.code, 1) << all.out;  // cut-1's capture cannot be replayed
  EXPECT_NE(Squash(all.out).find("fixed (fails no more) 1"), std::string::npos) << all.out;
  EXPECT_NE(Squash(all.out).find("not replayable (capture) 1"), std::string::npos) << all.out;
  EXPECT_NE(all.out.find("[2/2]"), std::string::npos) << all.out;

  testing::TempDir dir;
  const std::string resume = dir.File("done.tsv");
  Result first = Cli("replay --sump --limit 1 --resume " + resume + " --socket " + fixed.socket());
  EXPECT_NE(first.out.find("[1/1]"), std::string::npos) << first.out;
  Result second = Cli("replay --sump --resume " + resume + " --socket " + fixed.socket());
  EXPECT_NE(Squash(second.out).find("done in an earlier run 1"), std::string::npos) << second.out;
  EXPECT_NE(second.out.find("[1/1]"), std::string::npos) << second.out;
  Result third = Cli("replay --sump --resume " + resume + " --socket " + fixed.socket());
  EXPECT_EQ(third.code, 0) << third.out;  // nothing left to do
  EXPECT_NE(Squash(third.out).find("done in an earlier run 2"), std::string::npos) << third.out;

  Runtime broken({"--handler", "enrich", "--fail-when", "bad"});
  Result failing = Cli("replay --sump --actor b --socket " + broken.socket());
  EXPECT_EQ(failing.code, 1);
  EXPECT_NE(failing.out.find("still failing"), std::string::npos);
  EXPECT_NE(failing.out.find("  ValueError"), std::string::npos) << failing.out;

  EXPECT_EQ(Cli("replay --sump --rate fast --socket " + fixed.socket()).code, 2);
  EXPECT_EQ(Cli("replay bad-1 --sump").code, 2);
  EXPECT_EQ(Cli("replay").code, 2);
}

}  // namespace
}  // namespace meshtrace

namespace meshtrace {
namespace {

TEST_F(QueryCliTest, RedrivePublishesCapturedInputsWithTheReplayHeaderOnlyWhenAsked) {
  auto kafka = replayer::DevKafka::Start(1, {{"asya-t-b", 1}});
  ASSERT_TRUE(kafka.ok()) << kafka.status();
  const std::string brokers = (*kafka)->bootstraps();
  const std::string common = "redrive --brokers " + brokers + " --namespace t --actor b";

  Result refused = Cli(common);
  EXPECT_EQ(refused.code, 2);
  EXPECT_NE(refused.out.find("--dry-run, then add --yes"), std::string::npos) << refused.out;

  Result dry = Cli(common + " --dry-run");
  EXPECT_EQ(dry.code, 1) << dry.out;  // cut-1's truncated capture is never sent
  EXPECT_NE(dry.out.find("would publish to asya-t-b"), std::string::npos) << dry.out;
  EXPECT_NE(dry.out.find("dry run: nothing published"), std::string::npos);

  Result real = Cli(common + " --yes --rate 100/s");
  EXPECT_EQ(real.code, 1) << real.out;
  EXPECT_NE(real.out.find("published 1; not sendable (capture) 1"), std::string::npos) << real.out;
  std::vector<std::string> got = testing::ConsumeAll(brokers, "asya-t-b", 1, absl::Seconds(20));
  ASSERT_EQ(got.size(), 1u);
  Json envelope = Json::parse(got[0]);
  EXPECT_EQ(envelope["id"], "bad-1-e1");
  EXPECT_EQ(envelope["payload"]["bad"], true);
  EXPECT_EQ(envelope["route"]["curr"], "b");
  EXPECT_EQ(envelope["headers"]["x-meshtrace-replay"].get<std::string>().size(), 36u);
}

}  // namespace
}  // namespace meshtrace
