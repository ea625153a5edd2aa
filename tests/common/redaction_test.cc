#include "common/redaction.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace meshtrace {
namespace {

Envelope Sample() {
  auto envelope = ParseEnvelope(
      R"({"id":"e","route":{"prev":[],"curr":"a","next":[]},)"
      R"("headers":{"trace_id":"t","Authorization":"Bearer s3cret","auth":{"token":"tk","user":"u"}},)"
      R"("payload":{"card":{"number":"4111","cvc":123},"items":[{"ssn":"1"},{"ssn":"2"}],"n":1.50}})");
  EXPECT_TRUE(envelope.ok()) << envelope.status();
  return *envelope;
}

TEST(RedactionTest, EmptySpecChangesNothing) {
  auto redactor = Redactor::Create("", "k");
  ASSERT_TRUE(redactor.ok());
  EXPECT_FALSE(redactor->enabled());
  std::vector<std::string> fields;
  EXPECT_EQ(redactor->Apply(Sample(), &fields), Sample());
  EXPECT_TRUE(fields.empty());
}

TEST(RedactionTest, HashesHeaderNamesCaseInsensitively) {
  auto redactor = Redactor::Create("authorization", "k");
  ASSERT_TRUE(redactor.ok());
  std::vector<std::string> fields;
  Envelope out = redactor->Apply(Sample(), &fields);
  auto value = out.headers.GetString("Authorization");
  ASSERT_TRUE(value.has_value());
  EXPECT_EQ(value->rfind("redacted:", 0), 0u);
  EXPECT_EQ(value->size(), 9u + 16u);
  EXPECT_EQ(fields, std::vector<std::string>{"$.headers.Authorization"});
  EXPECT_EQ(out.payload_json, Sample().payload_json);  // untouched, byte for byte
}

TEST(RedactionTest, HashesJsonPathsWithWildcards) {
  auto redactor = Redactor::Create("$.payload.card.number, $.payload.items[*].ssn", "k");
  ASSERT_TRUE(redactor.ok()) << redactor.status();
  std::vector<std::string> fields;
  Envelope out = redactor->Apply(Sample(), &fields);
  auto payload = nlohmann::json::parse(out.payload_json);
  EXPECT_EQ(payload["card"]["cvc"], 123);
  EXPECT_EQ(payload["card"]["number"].get<std::string>().rfind("redacted:", 0), 0u);
  EXPECT_NE(payload["items"][0]["ssn"], payload["items"][1]["ssn"]);
  EXPECT_EQ(fields, (std::vector<std::string>{"$.payload.card.number", "$.payload.items[0].ssn",
                                              "$.payload.items[1].ssn"}));
}

TEST(RedactionTest, EqualValuesGiveEqualHashesUnderOneKey) {
  auto a = Redactor::Create("x", "key-1");
  auto b = Redactor::Create("x", "key-1");
  auto c = Redactor::Create("x", "key-2");
  EXPECT_EQ(a->Hash("\"v\""), b->Hash("\"v\""));
  EXPECT_NE(a->Hash("\"v\""), a->Hash("\"w\""));
  EXPECT_NE(a->Hash("\"v\""), c->Hash("\"v\""));
}

TEST(RedactionTest, PathsIntoHeaderValues) {
  auto redactor = Redactor::Create("$.headers.auth.token", "k");
  ASSERT_TRUE(redactor.ok()) << redactor.status();
  std::vector<std::string> fields;
  Envelope out = redactor->Apply(Sample(), &fields);
  auto auth = nlohmann::json::parse(*out.headers.FindRaw("auth"));
  EXPECT_EQ(auth["user"], "u");
  EXPECT_NE(auth["token"], "tk");
  EXPECT_EQ(fields, std::vector<std::string>{"$.headers.auth.token"});
}

TEST(RedactionTest, AllowListHashesEverythingUnlisted) {
  auto redactor = Redactor::Create("allow:$.payload.card.cvc,$.payload.n", "k");
  ASSERT_TRUE(redactor.ok()) << redactor.status();
  std::vector<std::string> fields;
  Envelope out = redactor->Apply(Sample(), &fields);
  auto payload = nlohmann::json::parse(out.payload_json);
  EXPECT_EQ(payload["card"]["cvc"], 123);
  EXPECT_EQ(payload["n"], 1.5);
  EXPECT_NE(payload["card"]["number"], "4111");
  EXPECT_NE(payload["items"][0]["ssn"], "1");
  // Trace identity survives; every other header is hashed.
  EXPECT_EQ(out.headers.GetString("trace_id"), "t");
  EXPECT_NE(out.headers.GetString("Authorization"), "Bearer s3cret");
  EXPECT_NE(std::find(fields.begin(), fields.end(), "$.headers.auth"), fields.end());
}

TEST(RedactionTest, BadPathsAreRejectedWithPosition) {
  for (const char* spec :
       {"$payload", "$.body.x", "$.payload[", "$.payload[abc]", "$.payload..x", "$.headers"}) {
    auto redactor = Redactor::Create(spec, "k");
    EXPECT_FALSE(redactor.ok()) << spec;
    EXPECT_NE(redactor.status().message().find("bad JSON path"), std::string::npos)
        << redactor.status();
  }
}

TEST(RedactionTest, ParsesIndexAndQuotedKeys) {
  auto path = ParseJsonPath(R"($.payload["a.b"][-1])");
  ASSERT_TRUE(path.ok()) << path.status();
  ASSERT_EQ(path->steps.size(), 3u);
  EXPECT_EQ(path->steps[1].key, "a.b");
  EXPECT_EQ(path->steps[2].kind, PathStep::Kind::kIndex);
  EXPECT_EQ(path->steps[2].index, -1);
}

}  // namespace
}  // namespace meshtrace
