// The runtime client against the example runtime as a real process on a real Unix socket.
#include "common/runtime_client.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "absl/time/clock.h"
#include "common/padded_copy.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"

namespace meshtrace::sidecar {
namespace {

const std::string kRuntime = std::string(MESHTRACE_BIN_DIR) + "/meshtrace-example-runtime";

constexpr char kEnvelope[] =
    R"({"id":"e-1","route":{"prev":["ingest"],"curr":"enrich","next":["score"]},)"
    R"("headers":{"trace_id":"t"},"payload":{"k":1,"bad":true}})";

class RuntimeClientTest : public ::testing::Test {
 protected:
  void StartRuntime(std::vector<std::string> args) {
    args.insert(args.begin(), {kRuntime, "--socket-dir", dir_.path()});
    auto process = testing::Subprocess::Start(args);
    ASSERT_TRUE(process.ok());
    runtime_.emplace(*std::move(process));
    const std::string ready = dir_.File("runtime-ready");
    struct stat st;
    for (int i = 0; i < 500 && stat(ready.c_str(), &st) != 0; ++i)
      absl::SleepFor(absl::Milliseconds(10));
    client_ = NewUdsRuntimeClient(dir_.File("asya-runtime.sock"));
  }

  RuntimeReply Invoke(std::string_view body = kEnvelope,
                      absl::Duration timeout = absl::Seconds(5)) {
    return client_->Invoke(body, timeout);
  }

  testing::TempDir dir_;
  std::optional<testing::Subprocess> runtime_;
  std::unique_ptr<RuntimeClient> client_;
};

TEST_F(RuntimeClientTest, EchoReturnsOneFrameAndHealthIsOk) {
  StartRuntime({"--handler", "echo"});
  EXPECT_TRUE(client_->Health(absl::Seconds(2)).ok());
  RuntimeReply reply = Invoke();
  ASSERT_EQ(reply.kind, RuntimeReply::Kind::kFrames) << reply.error->message;
  EXPECT_EQ(reply.http_status, 200);
  ASSERT_EQ(reply.frames.size(), 1u);
  auto frame = nlohmann::json::parse(reply.frames[0]);
  EXPECT_EQ(frame["route"]["curr"], "score");
  EXPECT_EQ(frame["route"]["prev"], nlohmann::json::array({"ingest", "enrich"}));
  EXPECT_EQ(frame["headers"]["trace_id"], "t");
  EXPECT_NE(reply.frames[0].find(R"("payload":{"k":1,"bad":true})"), std::string::npos)
      << "the payload comes back byte for byte: " << reply.frames[0];
  EXPECT_GT(reply.duration, absl::ZeroDuration());
}

// A reply over kMaxKeptDocumentBytes is split with parsers of its own; the next small reply
// still uses the kept ones.
TEST_F(RuntimeClientTest, ALargeReplyIsSplitAndTheNextSmallOneToo) {
  StartRuntime({"--handler", "echo"});
  const std::string text(kMaxKeptDocumentBytes + 4096, 'y');
  const std::string big =
      R"({"id":"e-big","route":{"prev":[],"curr":"enrich","next":["score"]},"payload":{"s":")" +
      text + R"("}})";
  RuntimeReply large = Invoke(big);
  ASSERT_EQ(large.kind, RuntimeReply::Kind::kFrames) << large.error->message;
  ASSERT_EQ(large.frames.size(), 1u);
  EXPECT_NE(large.frames[0].find(R"("payload":{"s":")" + text + R"("})"), std::string::npos);
  RuntimeReply small = Invoke();
  ASSERT_EQ(small.kind, RuntimeReply::Kind::kFrames) << small.error->message;
  EXPECT_NE(small.frames[0].find(R"("payload":{"k":1,"bad":true})"), std::string::npos);
}

TEST_F(RuntimeClientTest, AbortIsNoContent) {
  StartRuntime({"--handler", "abort"});
  RuntimeReply reply = Invoke();
  EXPECT_EQ(reply.kind, RuntimeReply::Kind::kNoContent);
  EXPECT_EQ(reply.http_status, 204);
}

TEST_F(RuntimeClientTest, HandlerErrorCarriesTypeMroAndTraceback) {
  StartRuntime({"--handler", "fail", "--fail-type", "KeyError", "--fail-message", "'card'"});
  RuntimeReply reply = Invoke();
  ASSERT_EQ(reply.kind, RuntimeReply::Kind::kHandlerError);
  EXPECT_EQ(reply.http_status, 500);
  EXPECT_EQ(reply.error->code, "processing_error");
  EXPECT_EQ(reply.error->type, "KeyError");
  EXPECT_EQ(reply.error->mro, (std::vector<std::string>{"LookupError", "Exception"}));
  EXPECT_EQ(reply.error->message, "'card'");
  EXPECT_NE(reply.error->traceback.find("Traceback (most recent call last)"), std::string::npos);
}

TEST_F(RuntimeClientTest, FailWhenFailsOnlyMatchingPayloads) {
  StartRuntime({"--handler", "enrich", "--fail-when", "bad"});
  EXPECT_EQ(Invoke().kind, RuntimeReply::Kind::kHandlerError);
  RuntimeReply ok =
      Invoke(R"({"id":"e","route":{"prev":[],"curr":"a","next":[]},"payload":{"bad":false}})");
  ASSERT_EQ(ok.kind, RuntimeReply::Kind::kFrames);
  EXPECT_EQ(nlohmann::json::parse(ok.frames[0])["payload"]["a"], true);
}

TEST_F(RuntimeClientTest, RuntimeRejectsBadEnvelopesWith400) {
  StartRuntime({"--handler", "echo"});
  RuntimeReply reply = Invoke(R"({"id":"x","route":{"actors":["a"],"current":0},"payload":1})");
  ASSERT_EQ(reply.kind, RuntimeReply::Kind::kHandlerError);
  EXPECT_EQ(reply.http_status, 400);
  EXPECT_EQ(reply.error->code, "msg_parsing_error");
  RuntimeReply not_json = Invoke("{nope");
  EXPECT_EQ(not_json.http_status, 400);
  EXPECT_EQ(not_json.error->type, "json.decoder.JSONDecodeError");
}

TEST_F(RuntimeClientTest, FanoutStreamsFramesOverSse) {
  StartRuntime({"--handler", "fanout", "--fanout", "3"});
  RuntimeReply reply = Invoke();
  ASSERT_EQ(reply.kind, RuntimeReply::Kind::kFrames);
  EXPECT_EQ(reply.frames.size(), 3u);
  EXPECT_EQ(reply.upstream.size(), 1u);
  EXPECT_EQ(nlohmann::json::parse(reply.frames[2])["payload"]["index"], 2);
}

TEST_F(RuntimeClientTest, SseErrorAfterFramesKeepsTheFrames) {
  StartRuntime({"--handler", "fanout", "--fanout", "3", "--fanout-fail-after", "1", "--fail-type",
                "KeyError"});
  RuntimeReply reply = Invoke();
  ASSERT_EQ(reply.kind, RuntimeReply::Kind::kHandlerError);
  EXPECT_EQ(reply.frames.size(), 1u);
  EXPECT_EQ(reply.error->type, "KeyError");
}

TEST_F(RuntimeClientTest, RerouteChangesTheNextActor) {
  StartRuntime({"--handler", "reroute", "--reroute", "reviewer,publisher"});
  RuntimeReply reply = Invoke();
  ASSERT_EQ(reply.kind, RuntimeReply::Kind::kFrames);
  auto frame = nlohmann::json::parse(reply.frames[0]);
  EXPECT_EQ(frame["route"]["curr"], "reviewer");
  EXPECT_EQ(frame["route"]["next"], nlohmann::json::array({"publisher"}));
}

TEST_F(RuntimeClientTest, GarbageReplyIsBadReply) {
  StartRuntime({"--handler", "garbage"});
  RuntimeReply reply = Invoke();
  EXPECT_EQ(reply.kind, RuntimeReply::Kind::kBadReply);
  EXPECT_NE(reply.error->message.find("not valid HTTP"), std::string::npos) << reply.error->message;
}

TEST_F(RuntimeClientTest, CloseWithoutReplyIsBadReply) {
  StartRuntime({"--handler", "close"});
  RuntimeReply reply = Invoke();
  EXPECT_EQ(reply.kind, RuntimeReply::Kind::kBadReply);
  EXPECT_NE(reply.error->message.find("without a reply"), std::string::npos)
      << reply.error->message;
}

TEST_F(RuntimeClientTest, HangIsTimeout) {
  StartRuntime({"--handler", "hang"});
  RuntimeReply reply = Invoke(kEnvelope, absl::Milliseconds(300));
  EXPECT_EQ(reply.kind, RuntimeReply::Kind::kTimeout);
  EXPECT_GE(reply.duration, absl::Milliseconds(250));
}

// Two calls started back to back: the single-threaded runtime takes the second when the first
// is done. The second's timeout counts from then (RuntimeCall::runtime_free), not from its
// start, so a 400 ms timeout holds for a 300 ms handler queued behind another 300 ms call.
TEST_F(RuntimeClientTest, StartedCallsAreServedInOrderAndTimedFromWhenTheRuntimeTookThem) {
  StartRuntime({"--handler", "slow", "--sleep-ms", "300"});
  std::string first = kEnvelope, second = kEnvelope;
  first.replace(first.find("\"k\":1"), 5, "\"k\":\"A\"");
  second.replace(second.find("\"k\":1"), 5, "\"k\":\"B\"");
  std::unique_ptr<RuntimeCall> a = client_->Start(first);
  std::unique_ptr<RuntimeCall> b = client_->Start(second);
  RuntimeReply ra = client_->Complete(*a, absl::Seconds(2));
  ASSERT_EQ(ra.kind, RuntimeReply::Kind::kFrames) << ra.error->message;
  b->runtime_free = std::max(b->runtime_free, absl::Now());
  RuntimeReply rb = client_->Complete(*b, absl::Milliseconds(400));
  ASSERT_EQ(rb.kind, RuntimeReply::Kind::kFrames) << rb.error->message;
  EXPECT_EQ(nlohmann::json::parse(ra.frames[0])["payload"]["k"], "A");
  EXPECT_EQ(nlohmann::json::parse(rb.frames[0])["payload"]["k"], "B");
  EXPECT_GE(rb.duration, absl::Milliseconds(250));
  EXPECT_LT(rb.duration, absl::Milliseconds(400));

  // Counted from its start instead, the same wait is a timeout.
  a = client_->Start(first);
  b = client_->Start(second);
  ASSERT_EQ(client_->Complete(*a, absl::Seconds(2)).kind, RuntimeReply::Kind::kFrames);
  EXPECT_EQ(client_->Complete(*b, absl::Milliseconds(400)).kind, RuntimeReply::Kind::kTimeout);
}

TEST_F(RuntimeClientTest, MissingSocketIsUnreachable) {
  client_ = NewUdsRuntimeClient(dir_.File("asya-runtime.sock"));
  RuntimeReply reply = Invoke();
  EXPECT_EQ(reply.kind, RuntimeReply::Kind::kUnreachable);
  EXPECT_FALSE(client_->Health(absl::Seconds(1)).ok());
  // A started call fails the same way when completed.
  std::unique_ptr<RuntimeCall> call = client_->Start(kEnvelope);
  EXPECT_EQ(client_->Complete(*call, absl::Seconds(1)).kind, RuntimeReply::Kind::kUnreachable);
}

TEST_F(RuntimeClientTest, RuntimeRemovesSocketAndReadyFileOnSigterm) {
  StartRuntime({"--handler", "echo"});
  runtime_->Signal(SIGTERM);
  ASSERT_EQ(*runtime_->Wait(), 0);
  struct stat st;
  EXPECT_NE(stat(dir_.File("runtime-ready").c_str(), &st), 0);
  EXPECT_NE(stat(dir_.File("asya-runtime.sock").c_str(), &st), 0);
}

// A one-shot server on a Unix socket that answers any request with `reply` and, unless
// `close_after`, keeps the connection open (as an HTTP/1.1 keep-alive server would).
class CannedServer {
 public:
  CannedServer(const std::string& path, std::string reply, bool close_after) {
    fd_ = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strcpy(addr.sun_path, path.c_str());
    bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    listen(fd_, 4);
    thread_ = std::thread([this, reply = std::move(reply), close_after] {
      int conn = accept(fd_, nullptr, nullptr);
      char buf[65536];
      (void)read(conn, buf, sizeof(buf));
      (void)write(conn, reply.data(), reply.size());
      if (close_after) {
        close(conn);
      } else {
        (void)read(conn, buf, sizeof(buf));  // held open until the client goes away
        close(conn);
      }
    });
  }
  ~CannedServer() {
    thread_.join();
    close(fd_);
  }

 private:
  int fd_;
  std::thread thread_;
};

TEST(UdsHttpTest, Http11ContentLengthWithoutCloseCompletes) {
  testing::TempDir dir;
  const std::string body = "{\"frames\":[{\"payload\":1}]}";
  CannedServer server(dir.File("s.sock"),
                      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
                          std::to_string(body.size()) + "\r\n\r\n" + body,
                      /*close_after=*/false);
  RuntimeReply reply = NewUdsRuntimeClient(dir.File("s.sock"))->Invoke("{}", absl::Seconds(5));
  ASSERT_EQ(reply.kind, RuntimeReply::Kind::kFrames);
  EXPECT_EQ(reply.frames, std::vector<std::string>{"{\"payload\":1}"});
  EXPECT_LT(reply.duration, absl::Seconds(2));
}

TEST(UdsHttpTest, ChunkedSseStream) {
  testing::TempDir dir;
  std::string events = "event: downstream\ndata: {\"payload\":2}\n\nevent: done\ndata: {}\n\n";
  char size[16];
  std::snprintf(size, sizeof(size), "%zx", events.size() - 10);
  std::string body = std::string(size) + "\r\n" + events.substr(0, events.size() - 10) +
                     "\r\na\r\n" + events.substr(events.size() - 10) + "\r\n0\r\n\r\n";
  CannedServer server(dir.File("s.sock"),
                      "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                      "Transfer-Encoding: chunked\r\n\r\n" +
                          body,
                      /*close_after=*/false);
  RuntimeReply reply = NewUdsRuntimeClient(dir.File("s.sock"))->Invoke("{}", absl::Seconds(5));
  ASSERT_EQ(reply.kind, RuntimeReply::Kind::kFrames) << (reply.error ? reply.error->message : "");
  EXPECT_EQ(reply.frames, std::vector<std::string>{"{\"payload\":2}"});
}

TEST(UdsHttpTest, Http10CloseDelimitedBody) {
  testing::TempDir dir;
  CannedServer server(dir.File("s.sock"),
                      "HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n"
                      "{\"frames\":[{\"payload\":3}]}",
                      /*close_after=*/true);
  RuntimeReply reply = NewUdsRuntimeClient(dir.File("s.sock"))->Invoke("{}", absl::Seconds(5));
  ASSERT_EQ(reply.kind, RuntimeReply::Kind::kFrames);
  EXPECT_EQ(reply.frames, std::vector<std::string>{"{\"payload\":3}"});
}

TEST(UdsHttpTest, TruncatedBodyIsBadReply) {
  testing::TempDir dir;
  CannedServer server(dir.File("s.sock"),
                      "HTTP/1.0 200 OK\r\nContent-Length: 100\r\n\r\n{\"frames\"",
                      /*close_after=*/true);
  RuntimeReply reply = NewUdsRuntimeClient(dir.File("s.sock"))->Invoke("{}", absl::Seconds(5));
  EXPECT_EQ(reply.kind, RuntimeReply::Kind::kBadReply);
  EXPECT_NE(reply.error->message.find("shorter than its Content-Length"), std::string::npos);
}

TEST(InterpretResponseTest, ProtocolEdgeCases) {
  EXPECT_EQ(InterpretResponse(200, "application/json", R"({"frames":[]})").kind,
            RuntimeReply::Kind::kNoContent);
  EXPECT_EQ(InterpretResponse(200, "application/json", "[]").kind, RuntimeReply::Kind::kBadReply);
  EXPECT_EQ(InterpretResponse(404, "text/html", "<html>").kind, RuntimeReply::Kind::kBadReply);
  EXPECT_EQ(InterpretResponse(500, "text/html", "<html>").kind, RuntimeReply::Kind::kBadReply);
  EXPECT_EQ(InterpretResponse(200, "text/event-stream", "event: downstream\ndata: {}\n\n").kind,
            RuntimeReply::Kind::kBadReply);  // no `done`: the stream was cut
  RuntimeReply empty = InterpretResponse(200, "text/event-stream", "event: done\ndata: {}\n\n");
  EXPECT_EQ(empty.kind, RuntimeReply::Kind::kNoContent);
  RuntimeReply crlf = InterpretResponse(
      200, "text/event-stream",
      "event: downstream\r\ndata: {\"payload\":1}\r\n\r\nevent: done\r\ndata: {}\r\n\r\n");
  ASSERT_EQ(crlf.frames.size(), 1u);
  EXPECT_EQ(crlf.frames[0], "{\"payload\":1}");
}

}  // namespace
}  // namespace meshtrace::sidecar
