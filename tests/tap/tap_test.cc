// meshtrace-tap: its pieces, then the real binary between real clients and real runtimes on
// real Unix sockets.
#include <curl/curl.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/unix_socket.h"
#include "tap/http_stream.h"
#include "tap/reply_rules.h"
#include "tap/sse.h"
#include "tap/tap_app.h"
#include "tap/tap_config.h"
#include "tests/testing/collector_stub.h"
#include "tests/testing/metrics_text.h"
#include "tests/testing/ports.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"

namespace meshtrace::tap {
namespace {

const std::string kBin = MESHTRACE_BIN_DIR;
const std::string kTestRuntime = MESHTRACE_TEST_RUNTIME;
const std::string kEnvelope =
    R"({"id":"e-1","route":{"prev":[],"curr":"a","next":["b"]},"payload":{"n":1}})";

std::string InvokeRequest(const std::string& body) {
  return absl::StrCat(
      "POST /invoke HTTP/1.1\r\nHost: localhost\r\nUser-Agent: Go-http-client/1.1"
      "\r\nContent-Length: ",
      body.size(), "\r\nContent-Type: application/json\r\nAccept-Encoding: gzip\r\n\r\n", body);
}

// Reads until EOF or `timeout`; `on_read` sees the bytes so far after each read.
std::string ReadToEnd(int fd, absl::Duration timeout,
                      const std::function<void(const std::string&)>& on_read = nullptr) {
  std::string out;
  const absl::Time deadline = absl::Now() + timeout;
  char buf[65536];
  while (absl::Now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (on_read) on_read(out);
  }
  return out;
}

// One request on a fresh connection, the whole reply (the runtime closes after it).
std::string Exchange(const std::string& socket_path, const std::string& request) {
  int fd = DialUnixSocket(socket_path);
  if (fd < 0) return "<connect failed>";
  send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  std::string reply = ReadToEnd(fd, absl::Seconds(5));
  close(fd);
  return reply;
}

bool WaitForFile(const std::string& path, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (std::filesystem::exists(path)) return true;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return false;
}

TEST(SseDecoderTest, DispatchesEachEventAtItsBlankLineWhateverThePieces) {
  std::vector<std::pair<std::string, std::string>> got;
  SseDecoder d([&](std::string_view e, std::string_view data) { got.emplace_back(e, data); });
  const std::string stream =
      "event: downstream\ndata: {\"a\":1}\n\nevent: upstream\r\ndata: x\r\ndata: y\r\n\r\n"
      "id: 7\nevent:nospace\ndata: z\n\nevent: done\ndata: {}\n\n";
  for (char c : stream) d.Feed(std::string_view(&c, 1));  // byte by byte
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[0], (std::pair<std::string, std::string>{"downstream", "{\"a\":1}"}));
  EXPECT_EQ(got[1], (std::pair<std::string, std::string>{"upstream", "x\ny"}));
  // Only the exact "event: " prefix counts (the stock reader's rule).
  EXPECT_EQ(got[2], (std::pair<std::string, std::string>{"", "z"}));
  EXPECT_EQ(got[3].first, "done");
}

TEST(SseDecoderTest, AnOverlongLineStopsDecoding) {
  int events = 0;
  SseDecoder d([&](std::string_view, std::string_view) { ++events; }, 64);
  d.Feed("data: " + std::string(100, 'x'));
  EXPECT_TRUE(d.overflowed());
  d.Feed("\n\n");
  EXPECT_EQ(events, 0);
}

// asya-pod.md §3, the stock client's reply rules, one row each.
TEST(ReplyRulesTest, FollowTheStockSidecarRuleByRule) {
  using K = ReplyVerdict::Kind;
  struct Row {
    const char* rule;
    int status;
    std::string body;
    K kind;
    size_t frames;
  };
  const std::vector<Row> rows = {
      {"204: no frames, the input goes to x-sink", 204, "", K::kNoFrames, 0},
      {"200: the frames", 200, R"({"frames":[{"payload":1},{"payload":2}]})", K::kFrames, 2},
      {"200 with no frame: x-sink", 200, R"({"frames":[]})", K::kNoFrames, 0},
      {"200 that is not {frames}: x-sump", 200, R"({"payload":1})", K::kBadReply, 0},
      {"500 with error: a handler error", 500,
       R"({"error":"processing_error","details":{"type":"ValueError","message":"bad"}})",
       K::kHandlerError, 0},
      {"400 with error", 400, R"({"error":"msg_parsing_error","details":{"message":"x"}})",
       K::kHandlerError, 0},
      {"other status without error: a success frame to x-sink", 503, R"({"payload":1})",
       K::kNoFrames, 0},
      {"other status, empty error: a success", 500, R"({"error":""})", K::kNoFrames, 0},
      {"non-JSON body: x-sump", 500, "<html>oops</html>", K::kBadReply, 0},
      {"404 html page: x-sump", 404, "<html>Not Found</html>", K::kBadReply, 0},
  };
  for (const Row& row : rows) {
    ReplyVerdict v = JudgeReply(row.status, row.body);
    EXPECT_EQ(v.kind, row.kind) << row.rule;
    EXPECT_EQ(v.frames.size(), row.frames) << row.rule;
  }
  ReplyVerdict error = JudgeReply(
      500, R"({"error":"processing_error","details":{"type":"ValueError","mro":["Exception"],)"
           R"("message":"bad","traceback":"tb"}})");
  ASSERT_TRUE(error.error.has_value());
  EXPECT_EQ(error.error->type, "ValueError");
  EXPECT_EQ(error.error->mro, std::vector<std::string>{"Exception"});
  EXPECT_EQ(error.error->traceback, "tb");
  EXPECT_TRUE(IsEventStream("text/event-stream; charset=utf-8"));
  EXPECT_FALSE(IsEventStream("application/json"));
}

struct Recorder : HttpStream::Handler {
  void OnHead(const HttpHead& h) override { heads.push_back(h); }
  void OnBody(std::string_view b) override { body.append(b); }
  void OnComplete() override { ++complete; }
  std::vector<HttpHead> heads;
  std::string body;
  int complete = 0;
};

TEST(HttpStreamTest, FollowsContentLengthChunkedAndCloseDelimitedBodies) {
  Recorder r;
  HttpStream s(HttpStream::Direction::kResponses, &r);
  ASSERT_TRUE(
      s.Feed("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"
             "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nde\r\n0\r\n\r\n"
             "HTTP/1.0 200 OK\r\ncontent-type: text/event-stream\r\n\r\nfg"));
  EXPECT_EQ(r.complete, 2);
  EXPECT_TRUE(s.FeedEof());
  EXPECT_EQ(r.complete, 3);
  EXPECT_EQ(r.body, "abcdefg");
  ASSERT_EQ(r.heads.size(), 3u);
  EXPECT_EQ(r.heads[2].version_minor, 0);
  EXPECT_EQ(r.heads[2].content_type, "text/event-stream");

  Recorder bad;
  HttpStream garbage(HttpStream::Direction::kResponses, &bad);
  EXPECT_FALSE(garbage.Feed("this is not HTTP\r\n\r\n{{{"));
  EXPECT_FALSE(garbage.error().empty());

  Recorder cut;
  HttpStream short_body(HttpStream::Direction::kResponses, &cut);
  ASSERT_TRUE(short_body.Feed("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"));
  EXPECT_FALSE(short_body.FeedEof());
}

TapConfigResult LoadEnv(std::map<std::string, std::string> env,
                        std::vector<std::string> args = {"/opt/asya/asya_runtime.py"}) {
  std::vector<const char*> argv = {"meshtrace-tap"};
  for (const std::string& a : args) argv.push_back(a.c_str());
  if (!env.contains("PATH")) env["PATH"] = "/usr/bin:/bin";
  return LoadTapConfig(static_cast<int>(argv.size()), argv.data(), env, kBin + "/meshtrace-tap");
}

TEST(TapConfigTest, LauncherReadsTheEnvironment) {
  TapConfigResult r = LoadEnv({{"ASYA_SOCKET_DIR", "/var/run/asya"},
                               {"MESHTRACE_TAP_PYTHON", "/bin/sh"},
                               {"MESHTRACE_ACTOR", "x-sink"},
                               {"MESHTRACE_COLLECTOR", "meshtrace-collector:7700"}});
  ASSERT_EQ(r.exit_code, 0) << r.message;
  EXPECT_EQ(r.config.mode, TapConfig::Mode::kLauncher);
  EXPECT_EQ(r.config.command, std::vector<std::string>{"/opt/asya/asya_runtime.py"});
  EXPECT_EQ(r.config.public_socket(), "/var/run/asya/asya-runtime.sock");
  EXPECT_EQ(r.config.upstream_socket(), "/tmp/meshtrace-tap/asya-runtime.sock");
  EXPECT_TRUE(r.config.identity.end_actor);  // x-sink is an end actor
  EXPECT_EQ(r.config.metrics_addr, ":9464");
}

TEST(TapConfigTest, SettingsThatCannotWorkStopWithExitTwoNamingTheSetting) {
  const std::vector<std::pair<std::map<std::string, std::string>, std::string>> cases = {
      {{{"ASYA_SOCKET_DIR", "/var/run/asya"}, {"MESHTRACE_TAP_RUNTIME_DIR", "/var/run/asya/"}},
       "MESHTRACE_TAP_RUNTIME_DIR"},
      {{{"MESHTRACE_TAP_PYTHON", "/nonexistent/python3"}}, "MESHTRACE_TAP_PYTHON"},
      {{{"MESHTRACE_TAP_PYTHON", "no-such-python"}}, "MESHTRACE_TAP_PYTHON"},
      {{{"MESHTRACE_TAP_PYTHON", kBin + "/meshtrace-tap"}}, "MESHTRACE_TAP_PYTHON"},
      {{{"MESHTRACE_COLLECTOR", "not an address"}}, "MESHTRACE_COLLECTOR"},
      {{{"MESHTRACE_TAP_METRICS_ADDR", "9464"}}, "MESHTRACE_TAP_METRICS_ADDR"},
      {{{"MESHTRACE_TAP_END_ACTOR", "true"}}, "MESHTRACE_ACTOR"},
      {{{"MESHTRACE_REDACT", "$.payload.card"}}, "MESHTRACE_REDACT_KEY"},
  };
  for (const auto& [env, named] : cases) {
    auto full = env;
    if (!full.contains("MESHTRACE_TAP_PYTHON")) full["MESHTRACE_TAP_PYTHON"] = "/bin/sh";
    TapConfigResult r = LoadEnv(full);
    EXPECT_EQ(r.exit_code, 2) << named;
    EXPECT_NE(r.message.find(named), std::string::npos) << r.message;
  }
  TapConfigResult proxy = LoadEnv({}, {"--listen", "/tmp/x"});
  EXPECT_EQ(proxy.exit_code, 2);
  EXPECT_NE(proxy.message.find("--upstream"), std::string::npos) << proxy.message;
}

// Redaction rules that cannot be applied stop the tap before it serves anything (fail closed),
// also when its configuration was built without LoadTapConfig.
TEST(TapConfigTest, RunTapRefusesRedactionItCannotApply) {
  TapConfig config;
  config.mode = TapConfig::Mode::kProxy;
  config.events.redact = "$.body";  // not under $.payload or $.headers
  config.events.redact_key = "0123456789abcdef";
  EXPECT_EQ(RunTap(config), 2);
}

// The example runtime behind a meshtrace-tap proxy, in a temp dir.
class TappedRuntime {
 public:
  explicit TappedRuntime(std::vector<std::string> handler,
                         std::map<std::string, std::string> tap_env = {}) {
    std::filesystem::create_directories(dir.path() + "/rt");
    std::filesystem::create_directories(dir.path() + "/pub");
    std::vector<std::string> args = {kBin + "/meshtrace-example-runtime", "--socket-dir",
                                     dir.path() + "/rt"};
    args.insert(args.end(), handler.begin(), handler.end());
    runtime.emplace(*testing::Subprocess::Start(args));
    if (!tap_env.contains("MESHTRACE_TAP_METRICS_ADDR")) tap_env["MESHTRACE_TAP_METRICS_ADDR"] = "";
    tap_env["MESHTRACE_LOG_LEVEL"] = "error";
    tap.emplace(*testing::Subprocess::Start(
        {kBin + "/meshtrace-tap", "--listen", public_dir(), "--upstream", direct()}, tap_env));
    ready = WaitForFile(public_dir() + "/runtime-ready", absl::Seconds(10));
  }
  std::string direct() const { return dir.path() + "/rt/asya-runtime.sock"; }
  std::string public_dir() const { return dir.path() + "/pub"; }
  std::string tapped() const { return public_dir() + "/asya-runtime.sock"; }

  testing::TempDir dir;
  std::optional<testing::Subprocess> runtime;
  std::optional<testing::Subprocess> tap;
  bool ready = false;
};

// Every row of the outcome table passes through unchanged: the bytes the client reads through
// the tap are the bytes it reads from the runtime directly.
TEST(TapProxyTest, EveryReplyPassesThroughByteForByte) {
  const std::vector<std::vector<std::string>> handlers = {
      {"--handler", "echo"},
      {"--handler", "fail", "--fail-type", "ValueError", "--fail-message", "bad"},
      {"--handler", "abort"},
      {"--handler", "fanout", "--fanout", "3"},
      {"--handler", "fanout", "--fanout", "3", "--fanout-fail-after", "1"},
      {"--handler", "garbage"},
      {"--handler", "close"},
  };
  for (const auto& handler : handlers) {
    TappedRuntime rt(handler);
    ASSERT_TRUE(rt.ready) << handler[1];
    const std::string request = InvokeRequest(kEnvelope);
    const std::string direct = Exchange(rt.direct(), request);
    const std::string tapped = Exchange(rt.tapped(), request);
    EXPECT_EQ(tapped, direct) << handler[1];
    const std::string health = "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n";
    EXPECT_EQ(Exchange(rt.tapped(), health), Exchange(rt.direct(), health)) << handler[1];
  }
}

size_t CurlAppend(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

// A client that keeps its connection alive (as Go's net/http does) against a runtime that
// answers HTTP/1.0 and closes: each call still gets its reply.
TEST(TapProxyTest, KeepAliveClientAgainstARuntimeThatClosesEachConnection) {
  TappedRuntime rt({"--handler", "echo"});
  ASSERT_TRUE(rt.ready);
  CURL* curl = curl_easy_init();
  curl_easy_setopt(curl, CURLOPT_UNIX_SOCKET_PATH, rt.tapped().c_str());
  curl_easy_setopt(curl, CURLOPT_URL, "http://localhost/invoke");
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, kEnvelope.c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, CurlAppend);
  for (int i = 0; i < 3; ++i) {
    std::string body;
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
    ASSERT_EQ(curl_easy_perform(curl), CURLE_OK) << i;
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    EXPECT_EQ(status, 200) << i;
    EXPECT_NE(body.find("\"frames\""), std::string::npos) << body;
  }
  curl_easy_cleanup(curl);
}

// The stock sidecar's start-up probe connects and closes without sending anything; a runtime
// that is down looks down (the connection closes, nothing is invented).
TEST(TapProxyTest, EmptyProbeIsAcceptedAndADeadRuntimeLooksDead) {
  TappedRuntime rt({"--handler", "echo"});
  ASSERT_TRUE(rt.ready);
  int probe = DialUnixSocket(rt.tapped());
  ASSERT_GE(probe, 0);
  close(probe);
  EXPECT_NE(Exchange(rt.tapped(), InvokeRequest(kEnvelope)).find("200 OK"), std::string::npos);
  rt.runtime->Signal(SIGKILL);
  (void)rt.runtime->Wait();
  std::filesystem::remove(rt.direct());
  EXPECT_EQ(Exchange(rt.tapped(), InvokeRequest(kEnvelope)), "");
}

// A client that hangs up at its deadline while the runtime is still busy: the tap lets go of
// both sides and goes on serving.
TEST(TapProxyTest, ClientHangingUpMidCallLeavesTheTapServing) {
  TappedRuntime rt({"--handler", "slow", "--sleep-ms", "400"});
  ASSERT_TRUE(rt.ready);
  int fd = DialUnixSocket(rt.tapped());
  const std::string request = InvokeRequest(kEnvelope);
  send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  absl::SleepFor(absl::Milliseconds(50));
  close(fd);
  EXPECT_NE(Exchange(rt.tapped(), request).find("200 OK"), std::string::npos);
}

// Bad replies are forwarded as they are and counted with a reason; the tap's metrics say what
// passed.
TEST(TapProxyTest, BadRepliesAreForwardedAndCountedByReason) {
  const int port = testing::FreePort();
  TappedRuntime rt({"--handler", "garbage"},
                   {{"MESHTRACE_TAP_METRICS_ADDR", absl::StrCat("127.0.0.1:", port)}});
  ASSERT_TRUE(rt.ready);
  EXPECT_EQ(Exchange(rt.tapped(), InvokeRequest(kEnvelope)), "this is not HTTP\r\n\r\n{{{");
  EXPECT_EQ(Exchange(rt.tapped(), "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n"),
            Exchange(rt.direct(), "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n"));
  httplib::Client http("127.0.0.1", port);
  std::string metrics;
  for (int i = 0; i < 50 && metrics.find("bad_reply") == std::string::npos; ++i) {
    auto res = http.Get("/metrics");
    if (res) metrics = res->body;
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_EQ(testing::MetricValue(metrics, R"(meshtrace_tap_requests_total{outcome="bad_reply"})"),
            1)
      << metrics;
  EXPECT_EQ(testing::MetricValue(metrics,
                                 R"(meshtrace_tap_protocol_faults_total{reason="reply_not_http"})"),
            1);
  EXPECT_EQ(testing::MetricValue(metrics, R"(meshtrace_tap_requests_total{outcome="other"})"), 1);
  EXPECT_GT(testing::MetricValue(metrics, R"(meshtrace_tap_bytes_total{direction="request"})"), 0);
  EXPECT_EQ(testing::MetricValue(metrics, "meshtrace_tap_upstream_connect_failures_total"), 0);
}

// The tap reports what passed, marked as seen by a tap, with the sends it inferred.
TEST(TapProxyTest, ReportsTheExchangeAndTheSendsTheReplyImplies) {
  testing::CollectorStub collector;
  TappedRuntime rt({"--handler", "fanout", "--fanout", "2"},
                   {{"MESHTRACE_COLLECTOR", collector.address()}});
  ASSERT_TRUE(rt.ready);
  EXPECT_NE(Exchange(rt.tapped(), InvokeRequest(kEnvelope)).find("event: done"), std::string::npos);
  ASSERT_TRUE(collector.WaitForEvents(4, absl::Seconds(10)));
  std::vector<v1::LifecycleEvent> events = collector.events();
  ASSERT_EQ(events.size(), 4u);
  for (const auto& e : events) {
    EXPECT_EQ(e.observer(), v1::OBSERVER_TAP);
    EXPECT_EQ(e.actor(), "a");
    EXPECT_EQ(e.envelope_id(), "e-1");
    EXPECT_EQ(e.trace_id(), "e-1");
  }
  EXPECT_TRUE(events[0].has_received());
  EXPECT_NE(events[0].received().input().envelope_json().find("\"n\":1"), std::string::npos);
  ASSERT_TRUE(events[1].has_routed());
  EXPECT_TRUE(events[1].routed().inferred());
  EXPECT_EQ(events[1].routed().envelope_id(), "e-1");  // frame 0 keeps the input's id
  EXPECT_EQ(events[1].routed().to_actor(), "b");
  ASSERT_TRUE(events[2].has_routed());
  EXPECT_EQ(events[2].routed().envelope_id(), "");  // the sidecar names later frames
  EXPECT_EQ(events[2].routed().parent_id(), "e-1");
  EXPECT_EQ(events[2].routed().frame_index(), 1);
  ASSERT_TRUE(events[3].has_runtime_result());
  EXPECT_EQ(events[3].runtime_result().http_status(), 200);
  EXPECT_EQ(events[3].runtime_result().frame_count(), 2);
}

// The launcher, as an AsyncActor runs it: meshtrace-tap SCRIPT with the interpreter from
// MESHTRACE_TAP_PYTHON, a runtime that takes a while to import its handler.
class TapLauncherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::filesystem::create_directories(public_dir());
    env_ = {{"ASYA_SOCKET_DIR", public_dir()},
            {"MESHTRACE_TAP_RUNTIME_DIR", dir_.path() + "/private"},
            {"MESHTRACE_TAP_PYTHON", "/usr/bin/python3"},
            {"MESHTRACE_TAP_METRICS_ADDR", ""},
            {"MESHTRACE_LOG_LEVEL", "error"}};
  }
  std::string public_dir() const { return dir_.path() + "/pub"; }
  std::string ready() const { return public_dir() + "/runtime-ready"; }
  std::string socket() const { return public_dir() + "/asya-runtime.sock"; }
  testing::Subprocess Launch(std::map<std::string, std::string> more = {}) {
    auto env = env_;
    for (const auto& [k, v] : more) env[k] = v;
    return *testing::Subprocess::Start({kBin + "/meshtrace-tap", kTestRuntime}, env);
  }

  testing::TempDir dir_;
  std::map<std::string, std::string> env_;
};

TEST_F(TapLauncherTest, PublishesTheReadyFileOnlyOnceTheRuntimeAnswers) {
  // Stale files of a previous container: removed at start.
  std::ofstream(ready()) << "ready";
  auto tap = Launch({{"TEST_RUNTIME_START_DELAY", "1.0"}});
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_FALSE(std::filesystem::exists(ready())) << "a stale ready file was left in place";
  ASSERT_TRUE(WaitForFile(ready(), absl::Seconds(15)));
  // The moment it exists, the public socket answers with the runtime behind it.
  EXPECT_TRUE(std::filesystem::exists(dir_.path() + "/private/runtime-ready"));
  EXPECT_EQ(std::filesystem::status(socket()).permissions() & std::filesystem::perms::all,
            static_cast<std::filesystem::perms>(0666));
  EXPECT_NE(Exchange(socket(), InvokeRequest(kEnvelope)).find("\"frames\""), std::string::npos);
  tap.Signal(SIGTERM);
  auto code = tap.Wait(absl::Seconds(10));
  ASSERT_TRUE(code.ok());
  EXPECT_EQ(*code, 0);  // the runtime's own status on SIGTERM
  EXPECT_FALSE(std::filesystem::exists(ready()));
  EXPECT_FALSE(std::filesystem::exists(socket()));
}

TEST_F(TapLauncherTest, ExitsWithTheRuntimesStatusAndCleansUp) {
  auto tap = Launch({{"TEST_RUNTIME_EXIT_AFTER", "1"}});
  ASSERT_TRUE(WaitForFile(ready(), absl::Seconds(15)));
  Exchange(socket(), InvokeRequest(kEnvelope));
  auto code = tap.Wait(absl::Seconds(10));
  ASSERT_TRUE(code.ok());
  EXPECT_EQ(*code, 3);
  EXPECT_FALSE(std::filesystem::exists(ready()));
  EXPECT_FALSE(std::filesystem::exists(socket()));
}

// SSE frames reach the client as the handler yields them, not when it is done.
TEST_F(TapLauncherTest, StreamsEachFrameAsTheHandlerYieldsIt) {
  auto tap = Launch({{"TEST_RUNTIME_MODE", "stream"}});
  ASSERT_TRUE(WaitForFile(ready(), absl::Seconds(15)));
  int fd = DialUnixSocket(socket());
  ASSERT_GE(fd, 0);
  const std::string request = InvokeRequest(kEnvelope);
  send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  bool first_frame_before_done = false;
  std::string all = ReadToEnd(fd, absl::Seconds(10), [&](const std::string& so_far) {
    if (so_far.find("event: downstream") != std::string::npos &&
        so_far.find("event: done") == std::string::npos) {
      first_frame_before_done = true;
    }
  });
  close(fd);
  EXPECT_TRUE(first_frame_before_done) << all;
  EXPECT_NE(all.find("event: done"), std::string::npos);
}

// A runtime that keeps its connections alive and chunks its bodies: a keep-alive client's calls
// share one connection through the tap, and each reply arrives whole.
TEST_F(TapLauncherTest, KeepAliveRuntimeWithChunkedRepliesServesManyCallsOnOneConnection) {
  auto tap = Launch({{"TEST_RUNTIME_MODE", "chunked"}});
  ASSERT_TRUE(WaitForFile(ready(), absl::Seconds(15)));
  CURL* curl = curl_easy_init();
  curl_easy_setopt(curl, CURLOPT_UNIX_SOCKET_PATH, socket().c_str());
  curl_easy_setopt(curl, CURLOPT_URL, "http://localhost/invoke");
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, kEnvelope.c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, CurlAppend);
  long connects = 0;
  for (int i = 0; i < 3; ++i) {
    std::string body;
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
    ASSERT_EQ(curl_easy_perform(curl), CURLE_OK) << i;
    EXPECT_NE(body.find(R"("frames")"), std::string::npos) << body;
    EXPECT_EQ(body.back(), '}') << body;
    long n = 0;
    curl_easy_getinfo(curl, CURLINFO_NUM_CONNECTS, &n);
    connects += n;
  }
  curl_easy_cleanup(curl);
  EXPECT_EQ(connects, 1);  // the later calls reused the first connection
}

TEST_F(TapLauncherTest, AMissingInterpreterStopsWithExitTwo) {
  auto run = testing::Run({kBin + "/meshtrace-tap", kTestRuntime},
                          {{"MESHTRACE_TAP_PYTHON", "/nonexistent/python3"}});
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->exit_code, 2);
}

}  // namespace
}  // namespace meshtrace::tap
