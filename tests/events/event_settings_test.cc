// The MESHTRACE_* event settings shared by the sidecar and the tap.
#include "events/event_settings.h"

#include <gtest/gtest.h>

namespace meshtrace::events {
namespace {

absl::Status Apply(std::map<std::string, std::string> values, EventSettings* s) {
  return ApplyEventSettings(values, s);
}

TEST(EventSettingsTest, DefaultsAreEventsOffWithPayloadCaptures) {
  EventSettings s;
  ASSERT_TRUE(Apply({}, &s).ok());
  EXPECT_FALSE(s.enabled());
  EXPECT_EQ(s.capture, CaptureMode::kPayloads);
  EXPECT_EQ(s.capture_max_bytes, 65536u);
  EXPECT_EQ(s.buffer_events, 65536u);
  EXPECT_EQ(s.buffer_bytes, 32u << 20);
}

TEST(EventSettingsTest, CollectorMustBeHostAndPort) {
  for (const char* good :
       {"127.0.0.1:4317", "meshtrace-collector:4317", "dns:///c.ns.svc:4317", "[::1]:4317"}) {
    EventSettings s;
    EXPECT_TRUE(Apply({{"MESHTRACE_COLLECTOR", good}}, &s).ok()) << good;
    EXPECT_EQ(s.emitter_options().collector, good);
  }
  for (const char* bad : {"collector", "collector:", "collector:http", "a b:1", ":1234567"}) {
    EventSettings s;
    absl::Status status = Apply({{"MESHTRACE_COLLECTOR", bad}}, &s);
    EXPECT_FALSE(status.ok()) << bad;
    EXPECT_NE(status.message().find("MESHTRACE_COLLECTOR"), std::string::npos) << status;
  }
}

// An unkeyed (or weakly keyed) hash of a card number is reversed by hashing every card number.
TEST(EventSettingsTest, RedactionWithoutAStrongKeyIsRefused) {
  EventSettings none;
  absl::Status missing = Apply({{"MESHTRACE_REDACT", "$.payload.card"}}, &none);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.message().find("MESHTRACE_REDACT_KEY"), std::string::npos) << missing;

  EventSettings weak;
  absl::Status short_key = Apply(
      {{"MESHTRACE_REDACT", "$.payload.card"}, {"MESHTRACE_REDACT_KEY", "0123456789abcde"}}, &weak);
  ASSERT_FALSE(short_key.ok());
  EXPECT_NE(short_key.message().find("at least 16 bytes"), std::string::npos) << short_key;

  EventSettings strong;
  EXPECT_TRUE(
      Apply({{"MESHTRACE_REDACT", "$.payload.card"}, {"MESHTRACE_REDACT_KEY", "0123456789abcdef"}},
            &strong)
          .ok());
  EXPECT_EQ(strong.redact_key, "0123456789abcdef");
}

TEST(EventSettingsTest, BadValuesNameTheVariable) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"MESHTRACE_CAPTURE", "everything"}, {"MESHTRACE_CAPTURE_MAX_BYTES", "12"},
      {"MESHTRACE_EVENT_BUFFER", "0"},     {"MESHTRACE_EVENT_BUFFER_BYTES", "lots"},
      {"MESHTRACE_REDACT", "$.body"},      {"MESHTRACE_COLLECTOR_CA", "/nonexistent/ca.pem"},
  };
  for (const auto& [variable, value] : cases) {
    EventSettings s;
    absl::Status status = Apply({{variable, value}}, &s);
    ASSERT_FALSE(status.ok()) << variable;
    EXPECT_NE(status.message().find(variable), std::string::npos) << status;
  }
}

}  // namespace
}  // namespace meshtrace::events
