#include "common/trace_identity.h"

#include <gtest/gtest.h>

namespace meshtrace {
namespace {

Envelope WithHeaders(std::initializer_list<std::pair<std::string, std::string>> raw) {
  Envelope envelope;
  envelope.id = "env-1";
  envelope.payload_json = "{}";
  for (const auto& [k, v] : raw) envelope.headers.SetRaw(k, v);
  return envelope;
}

constexpr char kTraceparent[] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

TEST(TraceIdentityTest, TraceIdHeaderWins) {
  EXPECT_EQ(TraceIdOf(WithHeaders({{"trace_id", "\"t-9\""},
                                   {"traceparent", std::string("\"") + kTraceparent + "\""}})),
            "t-9");
}

TEST(TraceIdentityTest, FallsBackToTraceparentThenEnvelopeId) {
  EXPECT_EQ(TraceIdOf(WithHeaders({{"traceparent", std::string("\"") + kTraceparent + "\""}})),
            "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(TraceIdOf(WithHeaders({})), "env-1");
  EXPECT_EQ(TraceIdOf(WithHeaders({{"trace_id", "\"\""}})), "env-1");
  EXPECT_EQ(TraceIdOf(WithHeaders({{"trace_id", "42"}})), "env-1");
  EXPECT_EQ(TraceIdOf(WithHeaders({{"traceparent", "\"garbage\""}})), "env-1");
}

TEST(TraceIdentityTest, RejectsInvalidTraceparents) {
  EXPECT_TRUE(TraceIdFromTraceparent(kTraceparent).has_value());
  EXPECT_FALSE(TraceIdFromTraceparent("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"));
  EXPECT_FALSE(TraceIdFromTraceparent("00-00000000000000000000000000000000-00f067aa0ba902b7-01"));
  EXPECT_FALSE(TraceIdFromTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"));
  EXPECT_FALSE(TraceIdFromTraceparent("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
  EXPECT_FALSE(
      TraceIdFromTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-xx"));
  EXPECT_TRUE(TraceIdFromTraceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-xx"));
  EXPECT_FALSE(TraceIdFromTraceparent(""));
}

TEST(TraceIdentityTest, EnsureSetsTheHeaderOnce) {
  Envelope envelope = WithHeaders({{"other", "1"}});
  EXPECT_EQ(EnsureTraceId(&envelope), "env-1");
  EXPECT_EQ(envelope.headers.GetString("trace_id"), "env-1");
  envelope.id = "child";
  EXPECT_EQ(EnsureTraceId(&envelope), "env-1");  // inherited by later hops
  EXPECT_EQ(envelope.headers.entries().size(), 2u);
}

}  // namespace
}  // namespace meshtrace
