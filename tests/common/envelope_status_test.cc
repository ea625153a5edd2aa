#include "common/envelope_status.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace meshtrace {
namespace {

TEST(EnvelopeStatusTest, WritesTheBlockInAsyaOrderLeavingOutEmptyFields) {
  EnvelopeStatus status;
  status.phase = "pending";
  status.actor = "score";
  status.attempt = 1;
  status.max_attempts = 1;
  status.created_at = "2026-01-01T00:00:00.000Z";
  EXPECT_EQ(EnvelopeStatusJson(status),
            R"({"phase":"pending","actor":"score","attempt":1,"max_attempts":1,)"
            R"("created_at":"2026-01-01T00:00:00.000Z"})");
}

TEST(EnvelopeStatusTest, RoundTripsEveryFieldWithEscapes) {
  EnvelopeStatus status;
  status.phase = "failed";
  status.reason = "RuntimeError";
  status.actor = "a\"b";
  status.attempt = 3;
  status.max_attempts = 5;
  status.created_at = "c";
  status.updated_at = "u";
  status.deadline_at = "d";
  status.error = StatusError{
      "ValueError", {"ValueError", "Exception"}, "bad \\ \n value", "Traceback:\n  line 1\t\u00e9"};
  const std::string json = EnvelopeStatusJson(status);
  ASSERT_TRUE(nlohmann::json::accept(json)) << json;
  EnvelopeStatus back = ParseEnvelopeStatus(json);
  EXPECT_EQ(back.phase, "failed");
  EXPECT_EQ(back.reason, "RuntimeError");
  EXPECT_EQ(back.actor, "a\"b");
  EXPECT_EQ(back.attempt, 3);
  EXPECT_EQ(back.max_attempts, 5);
  EXPECT_EQ(back.created_at, "c");
  EXPECT_EQ(back.updated_at, "u");
  EXPECT_EQ(back.deadline_at, "d");
  ASSERT_TRUE(back.error.has_value());
  EXPECT_EQ(back.error->type, "ValueError");
  EXPECT_EQ(back.error->mro, (std::vector<std::string>{"ValueError", "Exception"}));
  EXPECT_EQ(back.error->message, "bad \\ \n value");
  EXPECT_EQ(back.error->traceback, "Traceback:\n  line 1\t\u00e9");
}

TEST(EnvelopeStatusTest, ReadsLenientlyIgnoringWrongTypes) {
  EnvelopeStatus s = ParseEnvelopeStatus(
      R"({"phase":7,"actor":"a","attempt":2.5,"max_attempts":"3","error":{"mro":["X",1]}})");
  EXPECT_EQ(s.phase, "");
  EXPECT_EQ(s.actor, "a");
  EXPECT_EQ(s.attempt, 0);
  EXPECT_EQ(s.max_attempts, 0);
  ASSERT_TRUE(s.error.has_value());
  EXPECT_EQ(s.error->mro, (std::vector<std::string>{"X"}));
  EXPECT_EQ(ParseEnvelopeStatus(R"({"attempt":99999999999})").attempt, 0);  // out of range
  EXPECT_EQ(ParseEnvelopeStatus("").phase, "");
  EXPECT_EQ(ParseEnvelopeStatus("not json").phase, "");
  EXPECT_EQ(ParseEnvelopeStatus("[1,2]").phase, "");
  EXPECT_FALSE(ParseEnvelopeStatus(R"({"error":"boom"})").error.has_value());
}

}  // namespace
}  // namespace meshtrace
