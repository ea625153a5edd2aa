// `meshtrace demo` end to end, as a newcomer runs it: every produced sign-up is accounted for,
// every trace settles with the right verdict and outcome, the failed ones name the failing
// actor and error, a replay against a fixed runtime succeeds, and nothing is left running.
#include <arpa/inet.h>
#include <dirent.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/testing/ports.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"

namespace meshtrace {
namespace {

using Json = nlohmann::json;
const std::string kBin = MESHTRACE_BIN_DIR;

// Processes whose command line or environment mentions `needle` (sidecars take their socket
// dir from the environment).
int ProcessesMentioning(const std::string& needle) {
  int n = 0;
  DIR* proc = opendir("/proc");
  while (dirent* e = readdir(proc)) {
    if (!std::isdigit(static_cast<unsigned char>(e->d_name[0]))) continue;
    if (std::atoi(e->d_name) == getpid()) continue;
    for (const char* file : {"/cmdline", "/environ"}) {
      std::ifstream in(std::string("/proc/") + e->d_name + file);
      std::string text((std::istreambuf_iterator<char>(in)), {});
      if (text.find(needle) != std::string::npos) {
        ++n;
        break;
      }
    }
  }
  closedir(proc);
  return n;
}

TEST(DemoTest, TheWholeMeshIsAccountedForAndNothingIsLeftRunning) {
  testing::TempDir dir;
  const int grpc_port = testing::FreePort(), http_port = testing::FreePort();
  const int kEnvelopes = 120;
  auto demo = testing::Subprocess::Start(
      {kBin + "/meshtrace", "demo", "--dir", dir.path(), "--envelopes", std::to_string(kEnvelopes),
       "--seed", "7", "--fail-rate", "0.2", "--grpc-port", std::to_string(grpc_port), "--http-port",
       std::to_string(http_port), "--keep-running"});
  ASSERT_TRUE(demo.ok());
  std::string out, replay_line;
  while (true) {
    auto line = demo->ReadLine(absl::Seconds(120));
    ASSERT_TRUE(line.ok()) << "demo output so far:\n" << out;
    out += *line + "\n";
    if (line->find("meshtrace replay ") != std::string::npos) replay_line = *line;
    if (line->find("the mesh keeps running") != std::string::npos) break;
  }
  EXPECT_NE(out.find(absl::StrCat("all ", kEnvelopes, " traces settled")), std::string::npos)
      << out;
  EXPECT_NE(out.find("setup-payment   payments.CardDeclinedError"), std::string::npos) << out;
  ASSERT_FALSE(replay_line.empty()) << out;

  // Through the HTTP API: every trace complete; succeeded ones end with two envelopes at x-sink
  // (send-welcome fans out), failed ones with one at x-sump, failing at setup-payment.
  httplib::Client http("127.0.0.1", http_port);
  Json list = Json::parse(http.Get("/api/v1/traces?limit=1000")->body);
  ASSERT_EQ(list["traces"].size(), static_cast<size_t>(kEnvelopes));
  int failed = 0, at_sink = 0, at_sump = 0;
  for (const Json& t : list["traces"]) {
    EXPECT_EQ(t["verdict"], "complete") << t.dump();
    Json a =
        Json::parse(http.Get(("/api/v1/traces/" + t["trace_id"].get<std::string>()).c_str())->body);
    int sink = 0, sump = 0;
    for (const Json& hop : a["hops"]) {
      sink += hop["actor"] == "x-sink";
      sump += hop["actor"] == "x-sump";
    }
    at_sink += sink;
    at_sump += sump;
    if (t["outcome"] == "failed") {
      ++failed;
      EXPECT_EQ(t["ended_at_actor"], "setup-payment");
      EXPECT_EQ(t["error_type"], "payments.CardDeclinedError");
      EXPECT_EQ(sump, 1);
      EXPECT_EQ(sink, 0);
    } else {
      EXPECT_EQ(t["outcome"], "succeeded");
      EXPECT_EQ(sink, 2);
      EXPECT_EQ(sump, 0);
    }
  }
  EXPECT_GT(failed, 0);
  EXPECT_EQ(at_sump, failed);
  EXPECT_EQ(at_sink, 2 * (kEnvelopes - failed));

  // Reports were written and name the failing actor and error.
  std::ifstream index(dir.File("reports/index.html"));
  std::string index_html((std::istreambuf_iterator<char>(index)), {});
  EXPECT_NE(index_html.find(absl::StrCat(failed, " failed traces")), std::string::npos);

  // The CLI against the running demo.
  const std::string cli = absl::StrCat(kBin, "/meshtrace --collector 127.0.0.1:", grpc_port, " ");
  auto traces = testing::Run({"/bin/sh", "-c", cli + "traces --outcome failed -o json 2>&1"});
  ASSERT_TRUE(traces.ok());
  EXPECT_EQ(Json::parse(traces->out)["traces"].size(), static_cast<size_t>(failed));

  // The printed replay command runs against the (still failing) actor; against a runtime with
  // the fix it succeeds and shows the change.
  auto again = testing::Run({"/bin/sh", "-c",
                             absl::StrCat(kBin, "/", replay_line.substr(2),
                                          " --collector 127.0.0.1:", grpc_port, " 2>&1")});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->exit_code, 1) << again->out;
  EXPECT_NE(again->out.find("payments.CardDeclinedError"), std::string::npos) << again->out;
  testing::TempDir fixed_dir;
  auto fixed = testing::Subprocess::Start({kBin + "/meshtrace-example-runtime", "--socket-dir",
                                           fixed_dir.path(), "--handler", "enrich"});
  for (int i = 0; i < 100 && !std::filesystem::exists(fixed_dir.File("runtime-ready")); ++i) {
    absl::SleepFor(absl::Milliseconds(50));
  }
  std::string fixed_command = replay_line.substr(2, replay_line.find(" --socket ") - 2);
  auto now = testing::Run(
      {"/bin/sh", "-c",
       absl::StrCat(kBin, "/", fixed_command, " --socket ", fixed_dir.File("asya-runtime.sock"),
                    " --collector 127.0.0.1:", grpc_port, " 2>&1")});
  ASSERT_TRUE(now.ok());
  EXPECT_EQ(now->exit_code, 0) << now->out;
  EXPECT_NE(now->out.find("failed before, succeeds now"), std::string::npos) << now->out;

  // Ctrl-C: everything stops, sockets go, no process of the demo remains.
  demo->Signal(SIGINT);
  auto code = demo->Wait(absl::Seconds(30));
  ASSERT_TRUE(code.ok());
  EXPECT_EQ(*code, 0);  // Ctrl-C is how --keep-running ends
  EXPECT_FALSE(std::filesystem::exists(dir.File("sockets")));
  EXPECT_EQ(ProcessesMentioning(dir.path()), 0);
}

// The pid of the sidecar serving `actor` whose environment mentions `dir`, or -1.
pid_t SidecarPid(const std::string& actor, const std::string& dir) {
  DIR* proc = opendir("/proc");
  pid_t found = -1;
  while (dirent* e = readdir(proc)) {
    if (!std::isdigit(static_cast<unsigned char>(e->d_name[0]))) continue;
    std::ifstream cmd(std::string("/proc/") + e->d_name + "/cmdline");
    std::string cmdline((std::istreambuf_iterator<char>(cmd)), {});
    if (cmdline.find("meshtrace-sidecar") == std::string::npos) continue;
    std::ifstream env(std::string("/proc/") + e->d_name + "/environ");
    std::string environ((std::istreambuf_iterator<char>(env)), {});
    if (environ.find(std::string("ASYA_ACTOR_NAME=") + actor + '\0') != std::string::npos &&
        environ.find(dir) != std::string::npos) {
      found = std::atoi(e->d_name);
    }
  }
  closedir(proc);
  return found;
}

TEST(DemoTest, ASidecarKilledMidRunIsRestartedAndNoEnvelopeIsLost) {
  testing::TempDir dir;
  const int grpc_port = testing::FreePort(), http_port = testing::FreePort();
  const int kEnvelopes = 400;
  auto demo = testing::Subprocess::Start({kBin + "/meshtrace", "demo", "--dir", dir.path(),
                                          "--envelopes", std::to_string(kEnvelopes), "--grpc-port",
                                          std::to_string(grpc_port), "--http-port",
                                          std::to_string(http_port), "--keep-running"});
  ASSERT_TRUE(demo.ok());
  std::string out;
  bool killed = false;
  while (true) {
    auto line = demo->ReadLine(absl::Seconds(150));
    ASSERT_TRUE(line.ok()) << "demo output so far:\n" << out;
    out += *line + "\n";
    if (!killed && line->find("produced") != std::string::npos) {
      const pid_t pid = SidecarPid("issue-token", dir.path());
      ASSERT_GT(pid, 0) << "no issue-token sidecar found";
      ASSERT_EQ(kill(pid, SIGKILL), 0);
      killed = true;
    }
    if (line->find("the mesh keeps running") != std::string::npos) break;
  }
  EXPECT_NE(out.find("issue-token died (exit status 137); restarted it"), std::string::npos) << out;
  EXPECT_NE(out.find(absl::StrCat("all ", kEnvelopes, " traces settled")), std::string::npos)
      << out;
  // Every sign-up reached its end: at-least-once delivery may add redelivered duplicates, never
  // lose one.
  httplib::Client http("127.0.0.1", http_port);
  Json list = Json::parse(http.Get("/api/v1/traces?limit=1000")->body);
  ASSERT_EQ(list["traces"].size(), static_cast<size_t>(kEnvelopes));
  for (const Json& t : list["traces"]) {
    EXPECT_EQ(t["verdict"], "complete") << t.dump();
    Json a =
        Json::parse(http.Get(("/api/v1/traces/" + t["trace_id"].get<std::string>()).c_str())->body);
    int ends = 0;
    for (const Json& hop : a["hops"]) ends += hop["actor"] == "x-sink" || hop["actor"] == "x-sump";
    EXPECT_GE(ends, t["outcome"] == "failed" ? 1 : 2) << t.dump();
  }
  demo->Signal(SIGINT);
  EXPECT_EQ(*demo->Wait(absl::Seconds(30)), 0);
  EXPECT_EQ(ProcessesMentioning(dir.path()), 0);
}

// With one actor's pod down, every trace that reaches it stalls, and the summary names the
// transit: the producer, the missing actor and its queue.
// Tap mode: only the taps on the runtimes' sockets report, and every trace is still proven
// complete, with its failure where it happened.
TEST(DemoTest, InTapModeEveryTraceIsProvenCompleteFromTheTapsAlone) {
  testing::TempDir dir;
  const int grpc_port = testing::FreePort(), http_port = testing::FreePort();
  auto r = testing::Run({kBin + "/meshtrace", "demo", "--tap", "--dir", dir.path(), "--envelopes",
                         "40", "--seed", "3", "--fail-rate", "0.25", "--grpc-port",
                         std::to_string(grpc_port), "--http-port", std::to_string(http_port)},
                        {}, absl::Seconds(150));
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->exit_code, 0) << r->out;
  EXPECT_NE(r->out.find("meshtrace-tap + example runtime: only the taps report"), std::string::npos)
      << r->out;
  EXPECT_NE(r->out.find("all 40 traces settled"), std::string::npos) << r->out;
  EXPECT_NE(r->out.find("verdicts:  complete 40\n"), std::string::npos) << r->out;
  EXPECT_NE(r->out.find("setup-payment   payments.CardDeclinedError"), std::string::npos) << r->out;
}

TEST(DemoTest, ALostActorIsNamedWhereItsTracesStall) {
  testing::TempDir dir;
  const int grpc_port = testing::FreePort(), http_port = testing::FreePort();
  auto r =
      testing::Run({kBin + "/meshtrace", "demo", "--dir", dir.path(), "--envelopes", "40", "--seed",
                    "3", "--fail-rate", "0.25", "--lose", "send-welcome", "--grpc-port",
                    std::to_string(grpc_port), "--http-port", std::to_string(http_port)},
                   {}, absl::Seconds(150));
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->exit_code, 0) << r->out;
  EXPECT_NE(r->out.find("send-welcome is down (--lose)"), std::string::npos) << r->out;
  EXPECT_NE(r->out.find("all 40 traces settled"), std::string::npos) << r->out;
  // The declined cards end at x-sump as before; every other sign-up stops at setup-payment.
  const size_t produced = r->out.find("produced 40 sign-ups (");
  ASSERT_NE(produced, std::string::npos) << r->out;
  const int declined = std::atoi(r->out.c_str() + produced + strlen("produced 40 sign-ups ("));
  ASSERT_GT(declined, 0);
  ASSERT_LT(declined, 40);
  EXPECT_NE(r->out.find(absl::StrCat("complete ", declined, "  stalled ", 40 - declined)),
            std::string::npos)
      << r->out;
  const std::string transit =
      "lost between setup-payment and send-welcome (sent to asya-demo-send-welcome, never "
      "received)";
  const size_t at = r->out.find(transit);
  ASSERT_NE(at, std::string::npos) << r->out;
  const std::string line = r->out.substr(at, r->out.find('\n', at) - at);
  EXPECT_EQ(std::atoi(line.c_str() + line.find_last_of(' ') + 1), 40 - declined) << line;
  EXPECT_NE(r->out.find("one of them: meshtrace show "), std::string::npos) << r->out;
  // Then send-welcome comes back, takes its backlog, and every stalled trace is proven complete.
  const size_t back = r->out.find("bringing send-welcome back");
  ASSERT_NE(back, std::string::npos) << r->out;
  EXPECT_NE(r->out.find(absl::StrCat("all ", 40 - declined, " stalled traces settled"), back),
            std::string::npos)
      << r->out;
  EXPECT_NE(r->out.find("verdicts:  complete 40\n", back), std::string::npos) << r->out;
  EXPECT_NE(r->out.find(absl::StrCat("outcomes:  failed ", declined, "  succeeded ", 40 - declined),
                        back),
            std::string::npos)
      << r->out;
  EXPECT_EQ(ProcessesMentioning(dir.path()), 0);

  // Nothing reaches x-sump without declined cards: nothing stalls, and it still comes back.
  auto none = testing::Run({kBin + "/meshtrace", "demo", "--dir", dir.path(), "--envelopes", "5",
                            "--fail-rate", "0", "--lose", "x-sump", "--grpc-port",
                            std::to_string(grpc_port), "--http-port", std::to_string(http_port)},
                           {}, absl::Seconds(150));
  ASSERT_TRUE(none.ok());
  ASSERT_EQ(none->exit_code, 0) << none->out;
  EXPECT_EQ(none->out.find("stalled envelopes by where they stopped"), std::string::npos)
      << none->out;
  EXPECT_NE(none->out.find("bringing x-sump back"), std::string::npos) << none->out;
  EXPECT_NE(none->out.find("all 0 stalled traces settled"), std::string::npos) << none->out;
  EXPECT_EQ(ProcessesMentioning(dir.path()), 0);

  for (const char* bad : {"create-account", "no-such-actor"}) {
    auto u = testing::Run(
        {"/bin/sh", "-c",
         absl::StrCat(kBin, "/meshtrace demo --dir ", dir.path(), " --lose ", bad, " 2>&1")});
    ASSERT_TRUE(u.ok());
    EXPECT_EQ(u->exit_code, 2) << u->out;
    EXPECT_NE(u->out.find(absl::StrCat("--lose ", bad,
                                       ": one of issue-token, setup-payment, send-welcome")),
              std::string::npos)
        << u->out;
  }
}

TEST(DemoTest, APortInUseIsAClearError) {
  testing::TempDir dir;
  const int port = testing::FreePort();
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  listen(fd, 1);
  auto r = testing::Run(
      {"/bin/sh", "-c",
       absl::StrCat(kBin, "/meshtrace demo --dir ", dir.path(), " --http-port ", port, " 2>&1")});
  close(fd);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code, 2);
  EXPECT_NE(r->out.find(absl::StrCat("port ", port, " on 127.0.0.1 is in use")), std::string::npos)
      << r->out;
}

}  // namespace
}  // namespace meshtrace
