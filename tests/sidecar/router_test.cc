#include "sidecar/router.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/trace_identity.h"

namespace meshtrace::sidecar {
namespace {

using Json = nlohmann::json;

class RouterTest : public ::testing::Test {
 protected:
  RouterTest() : clock_(absl::FromUnixSeconds(1'800'000'000)), router_(Config(), &clock_) {}

  static RouterConfig Config() {
    RouterConfig config;
    config.actor = "enrich";
    config.ns = "prod";
    return config;
  }

  Accepted MustAccept(const std::string& raw) {
    auto intake = router_.Accept(raw);
    EXPECT_TRUE(std::holds_alternative<Accepted>(intake)) << std::get<Decision>(intake).summary;
    return std::get<Accepted>(intake);
  }

  static RuntimeReply Frames(std::vector<std::string> frames) {
    RuntimeReply reply;
    reply.kind = RuntimeReply::Kind::kFrames;
    reply.http_status = 200;
    reply.frames = std::move(frames);
    return reply;
  }

  static Json Status(const Outgoing& out) { return Json::parse(out.envelope.status_json); }
  static Json Payload(const Outgoing& out) { return Json::parse(out.envelope.payload_json); }

  FakeClock clock_;
  Router router_;
};

constexpr char kInput[] =
    R"({"id":"e-1","route":{"prev":["ingest"],"curr":"enrich","next":["score","store"]},)"
    R"("headers":{"trace_id":"t-1"},"status":{"phase":"pending","actor":"enrich","attempt":1,)"
    R"("max_attempts":1,"created_at":"2026-01-01T00:00:00.000Z","deadline_at":"2027-01-15T08:00:00Z"},)"
    R"("payload":{"n":1.50}})";

constexpr char kFrame[] =
    R"({"payload":{"n":1.50,"x":true},"route":{"prev":["ingest","enrich"],"curr":"score","next":["store"]},)"
    R"("headers":{"trace_id":"t-1"}})";

TEST_F(RouterTest, AcceptStampsStatusForProcessing) {
  Accepted accepted = MustAccept(kInput);
  EXPECT_EQ(accepted.trace_id, "t-1");
  Json status = Json::parse(accepted.envelope.status_json);
  EXPECT_EQ(status["phase"], "processing");
  EXPECT_EQ(status["actor"], "enrich");
  EXPECT_EQ(status["attempt"], 1);
  EXPECT_EQ(status["max_attempts"], 0);
  EXPECT_EQ(status["created_at"], "2026-01-01T00:00:00.000Z");
  EXPECT_EQ(status["updated_at"], "2027-01-15T08:00:00.000Z");
  EXPECT_TRUE(accepted.envelope.headers.FindRaw("x-asya-first-attempt").has_value());
  EXPECT_EQ(accepted.incoming_status_json.find("\"pending\"") != std::string::npos, true);
}

TEST_F(RouterTest, AcceptSetsTraceIdWhenMissingAndResetsAttemptFromOtherActor) {
  Accepted accepted =
      MustAccept(R"({"id":"e-9","route":{"prev":[],"curr":"enrich","next":[]},)"
                 R"("status":{"phase":"retrying","actor":"other","attempt":4},"payload":1})");
  EXPECT_EQ(accepted.trace_id, "e-9");
  EXPECT_EQ(accepted.envelope.headers.GetString("trace_id"), "e-9");
  EXPECT_EQ(accepted.status.attempt, 1);
}

TEST_F(RouterTest, FramesGoToTheNextActorWithPendingStatus) {
  Accepted accepted = MustAccept(kInput);
  Decision d = router_.Route(accepted, Frames({kFrame}));
  ASSERT_EQ(d.outgoing.size(), 1u);
  const Outgoing& out = d.outgoing[0];
  EXPECT_EQ(out.topic, "asya-prod-score");
  EXPECT_EQ(out.message_type, "routing");
  EXPECT_EQ(out.envelope.id, "e-1");
  EXPECT_FALSE(out.envelope.parent_id.has_value());
  EXPECT_EQ(out.envelope.payload_json, R"({"n":1.50,"x":true})");  // byte for byte
  EXPECT_EQ(Status(out)["phase"], "pending");
  EXPECT_EQ(out.phase, "pending");
  EXPECT_EQ(Status(out)["actor"], "score");
  EXPECT_EQ(Status(out)["attempt"], 1);
  EXPECT_EQ(Status(out)["max_attempts"], 1);
  EXPECT_EQ(Status(out)["created_at"], "2026-01-01T00:00:00.000Z");
  EXPECT_EQ(Status(out)["deadline_at"], "2027-01-15T08:00:00Z");  // carried (§12)
  EXPECT_EQ(d.processed_status, "success");
  EXPECT_TRUE(d.failed_reason.empty());
}

TEST_F(RouterTest, FinishedRouteGoesToSinkAsSucceeded) {
  Accepted accepted = MustAccept(kInput);
  Decision d = router_.Route(
      accepted, Frames({R"({"payload":2,"route":{"prev":["enrich"],"curr":"","next":[]}})"}));
  ASSERT_EQ(d.outgoing.size(), 1u);
  EXPECT_EQ(d.outgoing[0].topic, "asya-prod-x-sink");
  EXPECT_EQ(d.outgoing[0].message_type, "sink");
  EXPECT_EQ(Status(d.outgoing[0])["phase"], "succeeded");
  EXPECT_EQ(Status(d.outgoing[0])["reason"], "Completed");
  // Frames without headers keep the incoming ones, trace id included.
  EXPECT_EQ(d.outgoing[0].envelope.headers.GetString("trace_id"), "t-1");
}

TEST_F(RouterTest, NoContentFinishesTheOriginalAtSink) {
  Accepted accepted = MustAccept(kInput);
  RuntimeReply reply;
  reply.kind = RuntimeReply::Kind::kNoContent;
  reply.http_status = 204;
  Decision d = router_.Route(accepted, reply);
  ASSERT_EQ(d.outgoing.size(), 1u);
  EXPECT_EQ(d.outgoing[0].topic, "asya-prod-x-sink");
  EXPECT_EQ(d.outgoing[0].envelope.payload_json, R"({"n":1.50})");
  EXPECT_EQ(Status(d.outgoing[0])["phase"], "succeeded");
  EXPECT_EQ(d.processed_status, "empty_response");
}

TEST_F(RouterTest, FanOutFirstKeepsIdLaterGetUuidAndParent) {
  Accepted accepted = MustAccept(kInput);
  Decision d = router_.Route(accepted, Frames({kFrame, kFrame, kFrame}));
  ASSERT_EQ(d.outgoing.size(), 3u);
  EXPECT_EQ(d.outgoing[0].envelope.id, "e-1");
  EXPECT_FALSE(d.outgoing[0].envelope.parent_id.has_value());
  for (int i = 1; i < 3; ++i) {
    EXPECT_EQ(d.outgoing[i].envelope.id.size(), 36u);
    EXPECT_EQ(d.outgoing[i].envelope.id[14], '4');
    EXPECT_EQ(d.outgoing[i].envelope.parent_id, "e-1");
    EXPECT_EQ(TraceIdOf(d.outgoing[i].envelope), "t-1");
  }
  EXPECT_NE(d.outgoing[1].envelope.id, d.outgoing[2].envelope.id);
}

TEST_F(RouterTest, HandlerErrorGoesToSumpWithTraceback) {
  Accepted accepted = MustAccept(kInput);
  RuntimeReply reply;
  reply.kind = RuntimeReply::Kind::kHandlerError;
  reply.http_status = 500;
  reply.error = RuntimeError{"processing_error",
                             "ValueError",
                             {"Exception"},
                             "bad input",
                             "Traceback ...\nValueError: bad input\n"};
  Decision d = router_.Route(accepted, reply);
  ASSERT_EQ(d.outgoing.size(), 1u);
  const Outgoing& out = d.outgoing[0];
  EXPECT_EQ(out.topic, "asya-prod-x-sump");
  EXPECT_EQ(out.message_type, "sump");
  EXPECT_EQ(out.envelope.id, "e-1");
  Json status = Status(out);
  EXPECT_EQ(status["phase"], "failed");
  EXPECT_EQ(status["reason"], "RuntimeError");
  EXPECT_EQ(out.phase, "failed");
  EXPECT_EQ(out.reason, "RuntimeError");
  EXPECT_EQ(status["error"]["type"], "ValueError");
  EXPECT_EQ(status["error"]["mro"], Json::array({"Exception"}));
  EXPECT_EQ(status["error"]["traceback"], "Traceback ...\nValueError: bad input\n");
  Json payload = Payload(out);
  EXPECT_EQ(payload["error"], "processing_error");
  EXPECT_EQ(payload["details"]["message"], "bad input");
  EXPECT_EQ(payload["original_payload"]["n"], 1.5);
  EXPECT_NE(out.envelope.payload_json.find(R"("original_payload":{"n":1.50})"), std::string::npos);
  EXPECT_EQ(d.processed_status, "error");
  EXPECT_EQ(d.failed_reason, "runtime_error");
  EXPECT_EQ(d.runtime_error_type, "execution_error");
  EXPECT_FALSE(d.exit_after);
}

TEST_F(RouterTest, RuntimeParseErrorIsReasonParseError) {
  Accepted accepted = MustAccept(kInput);
  RuntimeReply reply;
  reply.kind = RuntimeReply::Kind::kHandlerError;
  reply.http_status = 400;
  reply.error = RuntimeError{"msg_parsing_error", "ValueError", {"Exception"}, "Missing x", ""};
  Decision d = router_.Route(accepted, reply);
  EXPECT_EQ(Status(d.outgoing[0])["reason"], "ParseError");
  EXPECT_EQ(Payload(d.outgoing[0])["error"], "msg_parsing_error");
}

TEST_F(RouterTest, StreamErrorAfterFramesRoutesFramesThenSump) {
  Accepted accepted = MustAccept(kInput);
  RuntimeReply reply = Frames({kFrame});
  reply.kind = RuntimeReply::Kind::kHandlerError;
  reply.error =
      RuntimeError{"processing_error", "KeyError", {"LookupError", "Exception"}, "'k'", ""};
  Decision d = router_.Route(accepted, reply);
  ASSERT_EQ(d.outgoing.size(), 2u);
  EXPECT_EQ(d.outgoing[0].topic, "asya-prod-score");
  EXPECT_EQ(d.outgoing[1].topic, "asya-prod-x-sump");
  EXPECT_EQ(d.failed_reason, "runtime_error");
}

TEST_F(RouterTest, UnreachableAndGarbageGoToSump) {
  Accepted accepted = MustAccept(kInput);
  for (auto kind : {RuntimeReply::Kind::kUnreachable, RuntimeReply::Kind::kBadReply}) {
    RuntimeReply reply;
    reply.kind = kind;
    reply.error = RuntimeError{"connection_error", "", {}, "cannot connect", ""};
    Decision d = router_.Route(accepted, reply);
    ASSERT_EQ(d.outgoing.size(), 1u);
    EXPECT_EQ(d.outgoing[0].topic, "asya-prod-x-sump");
    EXPECT_EQ(Status(d.outgoing[0])["error"]["type"], "ConnectionError");
    EXPECT_EQ(d.failed_reason, "runtime_error");
    EXPECT_FALSE(d.exit_after);
  }
}

TEST_F(RouterTest, RuntimeTimeoutGoesToSumpAndExits) {
  Accepted accepted = MustAccept(kInput);
  RuntimeReply reply;
  reply.kind = RuntimeReply::Kind::kTimeout;
  reply.error =
      RuntimeError{"timeout", "TimeoutError", {}, "Runtime timeout exceeded after 5s", ""};
  Decision d = router_.Route(accepted, reply);
  ASSERT_EQ(d.outgoing.size(), 1u);
  EXPECT_EQ(d.outgoing[0].topic, "asya-prod-x-sump");
  EXPECT_EQ(Status(d.outgoing[0])["reason"], "Timeout");
  EXPECT_EQ(d.runtime_error_type, "timeout");
  EXPECT_TRUE(d.exit_after);
}

TEST_F(RouterTest, ExpiredDeadlineGoesToSinkAsFailedTimeoutWithoutCallingRuntime) {
  clock_.Set(absl::FromUnixSeconds(1'800'000'000) + absl::Hours(24 * 400));  // past the SLA
  Accepted accepted = MustAccept(kInput);
  absl::Duration timeout;
  auto d = router_.CheckDeadline(accepted, absl::Minutes(5), &timeout);
  ASSERT_TRUE(d.has_value());
  ASSERT_EQ(d->outgoing.size(), 1u);
  EXPECT_EQ(d->outgoing[0].topic, "asya-prod-x-sink");
  EXPECT_EQ(Status(d->outgoing[0])["phase"], "failed");
  EXPECT_EQ(Status(d->outgoing[0])["reason"], "Timeout");
  EXPECT_EQ(d->processed_status, "sla_expired");
  EXPECT_EQ(d->failed_reason, "sla_timeout");
}

TEST_F(RouterTest, DeadlineBoundsTheCallTimeout) {
  absl::Time deadline;
  ASSERT_TRUE(absl::ParseTime(absl::RFC3339_full, "2027-01-15T08:00:00Z", &deadline, nullptr));
  clock_.Set(deadline - absl::Seconds(30));
  Accepted accepted = MustAccept(kInput);
  absl::Duration timeout;
  EXPECT_FALSE(router_.CheckDeadline(accepted, absl::Minutes(5), &timeout).has_value());
  EXPECT_EQ(timeout, absl::Seconds(30));
  EXPECT_FALSE(router_.CheckDeadline(accepted, absl::Seconds(2), &timeout).has_value());
  EXPECT_EQ(timeout, absl::Seconds(2));
  clock_.Set(deadline - absl::Milliseconds(500));  // under the 1 s guard margin
  EXPECT_TRUE(router_.CheckDeadline(accepted, absl::Minutes(5), &timeout).has_value());
}

TEST_F(RouterTest, RouteMismatchGoesToSump) {
  auto intake =
      router_.Accept(R"({"id":"e-2","route":{"prev":[],"curr":"other","next":[]},"payload":1})");
  ASSERT_TRUE(std::holds_alternative<Decision>(intake));
  const Decision& d = std::get<Decision>(intake);
  EXPECT_EQ(d.failed_reason, "route_mismatch");
  ASSERT_EQ(d.outgoing.size(), 1u);
  EXPECT_EQ(d.outgoing[0].topic, "asya-prod-x-sump");
  EXPECT_EQ(d.outgoing[0].envelope.id, "e-2");
  EXPECT_EQ(Status(d.outgoing[0])["reason"], "RouteMismatch");
  EXPECT_NE(d.summary.find("route.curr is 'other'"), std::string::npos) << d.summary;
}

struct BadIntake {
  const char* name;
  std::string raw;
  const char* reason;
};

void PrintTo(const BadIntake& c, std::ostream* os) { *os << c.name; }

class RouterBadInputTest : public RouterTest, public ::testing::WithParamInterface<BadIntake> {};

TEST_P(RouterBadInputTest, RejectsToSumpWithReasonAndOriginal) {
  auto intake = router_.Accept(GetParam().raw);
  ASSERT_TRUE(std::holds_alternative<Decision>(intake));
  const Decision& d = std::get<Decision>(intake);
  EXPECT_EQ(d.failed_reason, GetParam().reason);
  ASSERT_EQ(d.outgoing.size(), 1u);
  EXPECT_EQ(d.outgoing[0].topic, "asya-prod-x-sump");
  Json payload = Payload(d.outgoing[0]);  // the error envelope is itself valid JSON
  EXPECT_EQ(payload["error"], GetParam().reason);
  EXPECT_FALSE(payload["details"]["message"].get<std::string>().empty());
  EXPECT_TRUE(payload.contains("original_payload"));
  EXPECT_EQ(Status(d.outgoing[0])["reason"], "ParseError");
}

INSTANTIATE_TEST_SUITE_P(
    Protocol, RouterBadInputTest,
    ::testing::Values(
        BadIntake{"NotJson", "not json", "parse_error"},
        BadIntake{"NotUtf8", "\xff\xfe", "parse_error"},
        BadIntake{"MissingId", R"({"route":{"prev":[],"curr":"enrich","next":[]},"payload":1})",
                  "validation_error"},
        BadIntake{"LegacyRoute",
                  R"({"id":"x","route":{"actors":["enrich"],"current":0},"payload":1})",
                  "validation_error"},
        BadIntake{"Oversize",
                  R"({"id":"x","route":{"prev":[],"curr":"enrich","next":[]},"payload":")" +
                      std::string(17 << 20, 'a') + "\"}",
                  "validation_error"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST_F(RouterTest, NonUtf8OriginalIsKeptAsBase64) {
  auto intake = router_.Accept("\xff\xfe");
  Json payload = Payload(std::get<Decision>(intake).outgoing[0]);
  EXPECT_EQ(payload["original_payload"]["base64"], "//4=");
}

TEST_F(RouterTest, PausedFrameIsNotRouted) {
  Accepted accepted = MustAccept(kInput);
  Decision d = router_.Route(
      accepted,
      Frames(
          {R"({"payload":1,"route":{"prev":[],"curr":"x","next":[]},"headers":{"x-asya-pause":true}})"}));
  EXPECT_TRUE(d.outgoing.empty());
  EXPECT_EQ(d.processed_status, "paused");
}

TEST_F(RouterTest, InvalidFrameSendsErrorEnvelope) {
  Accepted accepted = MustAccept(kInput);
  Decision d = router_.Route(accepted, Frames({R"({"payload":1,"route":"bad"})"}));
  ASSERT_EQ(d.outgoing.size(), 1u);
  EXPECT_EQ(d.outgoing[0].topic, "asya-prod-x-sump");
  EXPECT_NE(d.summary.find("frame 0 is not a valid frame"), std::string::npos) << d.summary;
}

TEST_F(RouterTest, EndActorAcceptsAnyRouteAndRoutesNothing) {
  RouterConfig config = Config();
  config.actor = "x-sump";
  Router end(config, &clock_);
  auto intake = end.AcceptAtEnd(
      R"({"id":"e","route":{"prev":[],"curr":"enrich","next":[]},"status":{"phase":"failed","reason":"RuntimeError"},"payload":1})");
  ASSERT_TRUE(std::holds_alternative<Accepted>(intake));
  RuntimeReply reply;
  reply.kind = RuntimeReply::Kind::kNoContent;
  Decision d = end.Terminate(std::get<Accepted>(intake), reply);
  EXPECT_TRUE(d.outgoing.empty());
  EXPECT_EQ(d.processed_status, "end_consumed");
  auto bad = end.AcceptAtEnd("{");
  ASSERT_TRUE(std::holds_alternative<Decision>(bad));
  EXPECT_TRUE(std::get<Decision>(bad).outgoing.empty());  // nowhere further to send it
  EXPECT_EQ(std::get<Decision>(bad).failed_reason, "parse_error");
}

}  // namespace
}  // namespace meshtrace::sidecar
