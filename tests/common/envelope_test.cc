#include "common/envelope.h"

#include <gtest/gtest.h>

#include <string>

#include "common/padded_copy.h"

namespace meshtrace {
namespace {

constexpr char kGood[] =
    R"({"id":"e-1","route":{"prev":["ingest"],"curr":"enrich","next":["score","store"]},)"
    R"("headers":{"trace_id":"t-1","n":3},"status":{"phase":"pending","attempt":1},)"
    R"("payload":{"b":1.50,"a":[1e3, -0.0,"\u00e9"],"z":null}})";

TEST(EnvelopeTest, ParsesEveryField) {
  auto envelope = ParseEnvelope(kGood);
  ASSERT_TRUE(envelope.ok()) << envelope.status();
  EXPECT_EQ(envelope->id, "e-1");
  EXPECT_FALSE(envelope->parent_id.has_value());
  EXPECT_EQ(envelope->route, (Route{{"ingest"}, "enrich", {"score", "store"}}));
  EXPECT_EQ(envelope->headers.GetString("trace_id"), "t-1");
  EXPECT_EQ(envelope->headers.FindRaw("n"), "3");
  EXPECT_EQ(envelope->headers.GetString("n"), std::nullopt);
  EXPECT_EQ(envelope->status_json, R"({"phase":"pending","attempt":1})");
}

TEST(EnvelopeTest, PayloadRoundTripsByteForByte) {
  auto envelope = ParseEnvelope(kGood);
  ASSERT_TRUE(envelope.ok());
  EXPECT_EQ(envelope->payload_json, R"({"b":1.50,"a":[1e3, -0.0,"\u00e9"],"z":null})");
  std::string json = SerializeEnvelope(*envelope);
  EXPECT_NE(json.find(R"("payload":{"b":1.50,"a":[1e3, -0.0,"\u00e9"],"z":null})"),
            std::string::npos)
      << json;
  auto again = ParseEnvelope(json);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*again, *envelope);
}

TEST(EnvelopeTest, ScalarPayloadsKeepTheirText) {
  for (std::string payload : {"\"text\"", "12.500", "true", "null", "[]", "-1E+2"}) {
    auto envelope = ParseEnvelope(R"({"id":"x","route":{"prev":[],"curr":"a","next":[]},)"
                                  R"("payload": )" +
                                  payload + " , \"status\": {} }");
    ASSERT_TRUE(envelope.ok()) << payload << ": " << envelope.status();
    EXPECT_EQ(envelope->payload_json, payload);
  }
}

TEST(EnvelopeTest, ParentIdAndNullOptionalFields) {
  auto envelope = ParseEnvelope(
      R"({"id":"c","parent_id":"p","route":{"prev":[],"curr":"a","next":[]},"headers":null,)"
      R"("status":null,"payload":1})");
  ASSERT_TRUE(envelope.ok()) << envelope.status();
  EXPECT_EQ(envelope->parent_id, "p");
  EXPECT_TRUE(envelope->headers.empty());
  EXPECT_TRUE(envelope->status_json.empty());
  EXPECT_EQ(SerializeEnvelope(*envelope),
            R"({"id":"c","parent_id":"p","route":{"prev":[],"curr":"a","next":[]},"payload":1})");
}

TEST(EnvelopeTest, UnknownFieldsAreDroppedLikeTheRuntime) {
  auto envelope = ParseEnvelope(
      R"({"id":"c","extra":{"x":1},"route":{"prev":[],"curr":"a","next":[]},"payload":1})");
  ASSERT_TRUE(envelope.ok());
  EXPECT_EQ(SerializeEnvelope(*envelope).find("extra"), std::string::npos);
}

TEST(EnvelopeTest, EscapesStringsWhenSerialising) {
  Envelope envelope;
  envelope.id = "a\"b\\c\n\x01";
  envelope.route.curr = "é";
  envelope.payload_json = "{}";
  envelope.headers.SetString("k", "v\t");
  std::string json = SerializeEnvelope(envelope);
  EXPECT_EQ(json,
            "{\"id\":\"a\\\"b\\\\c\\n\\u0001\",\"route\":{\"prev\":[],\"curr\":\"é\",\"next\":[]},"
            "\"headers\":{\"k\":\"v\\t\"},\"payload\":{}}");
  auto back = ParseEnvelope(json);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->id, envelope.id);
  EXPECT_EQ(back->headers.GetString("k"), "v\t");
}

TEST(EnvelopeTest, HeadersSetReplacesInPlaceAndErases) {
  Headers headers;
  headers.SetString("a", "1");
  headers.SetRaw("b", "{\"x\":2}");
  headers.SetString("a", "3");
  ASSERT_EQ(headers.entries().size(), 2u);
  EXPECT_EQ(headers.entries()[0].first, "a");
  EXPECT_EQ(headers.GetString("a"), "3");
  EXPECT_TRUE(headers.Erase("a"));
  EXPECT_FALSE(headers.Erase("a"));
  EXPECT_EQ(headers.FindRaw("b"), "{\"x\":2}");
}

struct BadCase {
  std::string name;
  std::string json;
  EnvelopeFault fault;
  std::string message_part;
  std::string reason;
};

void PrintTo(const BadCase& c, std::ostream* os) { *os << c.name; }

class EnvelopeBadInputTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(EnvelopeBadInputTest, RejectsWithPreciseMessage) {
  const BadCase& c = GetParam();
  EnvelopeFault fault = EnvelopeFault::kNone;
  ParseOptions options;
  options.max_bytes = 200;
  auto envelope = ParseEnvelope(c.json, options, &fault);
  ASSERT_FALSE(envelope.ok()) << c.name;
  EXPECT_EQ(envelope.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(fault, c.fault) << envelope.status();
  EXPECT_NE(envelope.status().message().find(c.message_part), std::string::npos)
      << "message: " << envelope.status().message();
  EXPECT_EQ(FaultReason(fault), c.reason);
}

const char kRoute[] = R"("route":{"prev":[],"curr":"a","next":[]})";

INSTANTIATE_TEST_SUITE_P(
    AllFaults, EnvelopeBadInputTest,
    ::testing::Values(
        BadCase{"NotJson", R"({"id": tru})", EnvelopeFault::kNotJson,
                "not valid JSON: parse error at line 1, column", "parse_error"},
        BadCase{"Truncated", R"({"id":"x")", EnvelopeFault::kNotJson, "not valid JSON",
                "parse_error"},
        BadCase{"Empty", "", EnvelopeFault::kNotJson, "not valid JSON", "parse_error"},
        BadCase{"BadUtf8", "{\"id\":\"\xff\"}", EnvelopeFault::kNotJson, "not valid JSON",
                "parse_error"},
        BadCase{"Array", "[1,2]", EnvelopeFault::kNotObject, "must be a JSON object, got an array",
                "parse_error"},
        BadCase{"String", "\"x\"", EnvelopeFault::kNotObject, "got a string", "parse_error"},
        BadCase{"MissingId", std::string("{") + kRoute + R"(,"payload":1})",
                EnvelopeFault::kMissingId, "missing required field 'id'", "validation_error"},
        BadCase{"NumericId", std::string(R"({"id":7,)") + kRoute + R"(,"payload":1})",
                EnvelopeFault::kIdNotString, "field 'id' must be a string", "validation_error"},
        BadCase{"NumericParent",
                std::string(R"({"id":"x","parent_id":3,)") + kRoute + R"(,"payload":1})",
                EnvelopeFault::kParentIdNotString, "'parent_id' must be a string",
                "validation_error"},
        BadCase{"MissingRoute", R"({"id":"x","payload":1})", EnvelopeFault::kMissingRoute,
                "missing required field 'route'", "validation_error"},
        BadCase{"RouteList", R"({"id":"x","route":["a"],"payload":1})",
                EnvelopeFault::kRouteNotObject, "route must be an object", "validation_error"},
        BadCase{"LegacyRoute", R"({"id":"x","route":{"actors":["a","b"],"current":0},"payload":1})",
                EnvelopeFault::kLegacyRoute, "legacy {actors, current} form", "validation_error"},
        BadCase{"MissingPrev", R"({"id":"x","route":{"curr":"a","next":[]},"payload":1})",
                EnvelopeFault::kPrevNotStringList, "missing required field 'prev'",
                "validation_error"},
        BadCase{"PrevNotList",
                R"({"id":"x","route":{"prev":"a","curr":"a","next":[]},"payload":1})",
                EnvelopeFault::kPrevNotStringList, "route.prev must be a list of strings",
                "validation_error"},
        BadCase{"PrevHoldsNumber",
                R"({"id":"x","route":{"prev":[1],"curr":"a","next":[]},"payload":1})",
                EnvelopeFault::kPrevNotStringList, "route.prev must be a list of strings",
                "validation_error"},
        BadCase{"CurrNotString",
                R"({"id":"x","route":{"prev":[],"curr":null,"next":[]},"payload":1})",
                EnvelopeFault::kCurrNotString, "route.curr must be a string", "validation_error"},
        BadCase{"MissingCurr", R"({"id":"x","route":{"prev":[],"next":[]},"payload":1})",
                EnvelopeFault::kCurrNotString, "missing required field 'curr'", "validation_error"},
        BadCase{"NextNotList", R"({"id":"x","route":{"prev":[],"curr":"a","next":{}},"payload":1})",
                EnvelopeFault::kNextNotStringList, "route.next must be a list of strings",
                "validation_error"},
        BadCase{"MissingNext", R"({"id":"x","route":{"prev":[],"curr":"a"},"payload":1})",
                EnvelopeFault::kNextNotStringList, "missing required field 'next'",
                "validation_error"},
        BadCase{"MissingPayload", std::string(R"({"id":"x",)") + kRoute + "}",
                EnvelopeFault::kMissingPayload, "missing required field 'payload'",
                "validation_error"},
        BadCase{"HeadersList",
                std::string(R"({"id":"x",)") + kRoute + R"(,"headers":[],"payload":1})",
                EnvelopeFault::kHeadersNotObject, "headers must be an object", "validation_error"},
        BadCase{"StatusString",
                std::string(R"({"id":"x",)") + kRoute + R"(,"status":"ok","payload":1})",
                EnvelopeFault::kStatusNotObject, "status must be an object", "validation_error"},
        BadCase{"TooLarge",
                std::string(R"({"id":"x",)") + kRoute + R"(,"payload":")" + std::string(200, 'a') +
                    "\"}",
                EnvelopeFault::kTooLarge, "over the limit of 200", "validation_error"}),
    [](const ::testing::TestParamInfo<BadCase>& info) { return info.param.name; });

TEST(EnvelopeTest, PayloadIsOptionalWhenNotRequired) {
  ParseOptions options;
  options.require_payload = false;
  auto envelope = ParseEnvelope(std::string(R"({"id":"x",)") + kRoute + "}", options);
  ASSERT_TRUE(envelope.ok());
  EXPECT_EQ(envelope->payload_json, "null");
}

// Over kMaxKeptDocumentBytes an envelope gets parsers of its own (the thread's kept ones would
// hold its buffers for good); small and large ones alternate and parse the same either way.
TEST(EnvelopeTest, LargeEnvelopesParseBesideSmallOnes) {
  const std::string big_text(kMaxKeptDocumentBytes + 1000, 'x');
  const std::string big =
      std::string(R"({"id":"big",)") + kRoute + R"(,"payload":{"s":")" + big_text + R"("}})";
  for (int round = 0; round < 2; ++round) {
    auto large = ParseEnvelope(big);
    ASSERT_TRUE(large.ok()) << large.status();
    EXPECT_EQ(large->payload_json, R"({"s":")" + big_text + R"("})");
    auto small = ParseEnvelope(kGood);
    ASSERT_TRUE(small.ok()) << small.status();
    EXPECT_EQ(small->id, "e-1");
    auto broken = ParseEnvelope(big.substr(0, big.size() - 1));
    EXPECT_FALSE(broken.ok());
  }
}

TEST(PaddedCopyTest, PadsAndKeepsOnlyDocumentsUpToTheBound) {
  PaddedCopy copy;
  const simdjson::padded_string_view view = copy.Pad(R"({"a":1})");
  EXPECT_EQ(std::string_view(view), R"({"a":1})");
  EXPECT_GE(view.capacity(), view.length() + simdjson::SIMDJSON_PADDING);
  struct Parsers {
    int id = 0;
  };
  Parsers kept;
  KeptOrOwn small(kept, kMaxKeptDocumentBytes);
  EXPECT_EQ(small.operator->(), &kept);
  KeptOrOwn large(kept, kMaxKeptDocumentBytes + 1);
  EXPECT_NE(large.operator->(), &kept);  // its own, freed with it
}

TEST(EnvelopeTest, DeepNestingIsRejectedNotCrashing) {
  std::string deep(100000, '[');
  auto envelope = ParseEnvelope(std::string(R"({"id":"x",)") + kRoute + R"(,"payload":)" + deep);
  EXPECT_FALSE(envelope.ok());
}

}  // namespace
}  // namespace meshtrace
