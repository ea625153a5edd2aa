#include "sidecar/config.h"

#include <gtest/gtest.h>

namespace meshtrace::sidecar {
namespace {

ConfigResult Load(std::vector<const char*> args, std::map<std::string, std::string> env) {
  args.insert(args.begin(), "meshtrace-sidecar");
  return LoadSidecarConfig(static_cast<int>(args.size()), args.data(), env);
}

TEST(SidecarConfigTest, DefaultsFollowAsya) {
  ConfigResult r = Load({}, {{"ASYA_ACTOR_NAME", "enrich"}});
  ASSERT_EQ(r.exit_code, 0) << r.message;
  const SidecarConfig& c = r.config;
  EXPECT_EQ(c.ns, "");
  EXPECT_EQ(c.socket_path(), "/var/run/asya/asya-runtime.sock");
  EXPECT_EQ(c.ready_path(), "/var/run/asya/runtime-ready");
  EXPECT_EQ(c.actor_timeout, absl::Minutes(5));
  EXPECT_EQ(c.ready_timeout, absl::Minutes(5));
  EXPECT_EQ(c.sink, "x-sink");
  EXPECT_EQ(c.sump, "x-sump");
  EXPECT_FALSE(c.is_end_actor);
  EXPECT_TRUE(c.metrics_enabled);
  EXPECT_EQ(c.metrics_addr, ":8080");
  EXPECT_EQ(c.metrics_namespace, "asya_actor");
  EXPECT_EQ(c.events.collector, "");
  EXPECT_EQ(c.events.capture, CaptureMode::kPayloads);
  EXPECT_EQ(c.events.capture_max_bytes, 65536u);
  EXPECT_EQ(c.events.buffer_events, 65536u);
  EXPECT_EQ(c.events.buffer_bytes, 32u << 20);
}

TEST(SidecarConfigTest, FlagsWinOverEnvironment) {
  ConfigResult r =
      Load({"--actor-name", "b", "--capture", "metadata", "--resiliency-actor-timeout", "1h30m"},
           {{"ASYA_ACTOR_NAME", "a"},
            {"MESHTRACE_CAPTURE", "none"},
            {"ASYA_IS_END_ACTOR", "TRUE"},
            {"HOSTNAME", "pod-7"}});
  ASSERT_EQ(r.exit_code, 0) << r.message;
  EXPECT_EQ(r.config.actor, "b");
  EXPECT_EQ(r.config.events.capture, CaptureMode::kMetadata);
  EXPECT_EQ(r.config.actor_timeout, absl::Minutes(90));
  EXPECT_TRUE(r.config.is_end_actor);
  EXPECT_EQ(r.config.pod, "pod-7");
}

TEST(SidecarConfigTest, KafkaPropertiesWithEscapedCommas) {
  ConfigResult r =
      Load({}, {{"ASYA_ACTOR_NAME", "a"},
                {"ASYA_KAFKA_PROPERTIES",
                 "security.protocol=SASL_SSL, debug=cgrp\\,fetch ,sasl.mechanism=PLAIN"}});
  ASSERT_EQ(r.exit_code, 0) << r.message;
  EXPECT_EQ(r.config.kafka_properties,
            (std::vector<std::pair<std::string, std::string>>{{"security.protocol", "SASL_SSL"},
                                                              {"debug", "cgrp,fetch"},
                                                              {"sasl.mechanism", "PLAIN"}}));
  ConfigResult bad = Load({}, {{"ASYA_ACTOR_NAME", "a"}, {"ASYA_KAFKA_PROPERTIES", "=x"}});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.message.find("ASYA_KAFKA_PROPERTIES"), std::string::npos) << bad.message;
}

TEST(SidecarConfigTest, HelpExitsZeroAndUnknownFlagsTwo) {
  ConfigResult help = Load({"--help"}, {});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.message.find("--actor-name"), std::string::npos);
  EXPECT_NE(help.message.find("[ASYA_ACTOR_NAME]"), std::string::npos);
  EXPECT_EQ(Load({"--no-such-flag"}, {{"ASYA_ACTOR_NAME", "a"}}).exit_code, 2);
}

TEST(SidecarConfigTest, InvokePipelineDefaultsToSixAndTakesOne) {
  EXPECT_EQ(Load({}, {{"ASYA_ACTOR_NAME", "a"}}).config.invoke_pipeline, 6);
  ConfigResult one = Load({}, {{"ASYA_ACTOR_NAME", "a"}, {"MESHTRACE_INVOKE_PIPELINE", "1"}});
  EXPECT_EQ(one.exit_code, 0) << one.message;
  EXPECT_EQ(one.config.invoke_pipeline, 1);
}

TEST(SidecarConfigTest, EventBufferBytesTakesSizesWithUnits) {
  for (auto [value, bytes] : std::vector<std::pair<std::string, size_t>>{
           {"64MiB", 64u << 20}, {"1gib", 1u << 30}, {"2000000", 2'000'000}, {"5MB", 5'000'000}}) {
    ConfigResult r = Load({}, {{"ASYA_ACTOR_NAME", "a"}, {"MESHTRACE_EVENT_BUFFER_BYTES", value}});
    ASSERT_EQ(r.exit_code, 0) << r.message;
    EXPECT_EQ(r.config.events.buffer_bytes, bytes) << value;
  }
  ConfigResult flag = Load({"--event-buffer-bytes", "8MiB"}, {{"ASYA_ACTOR_NAME", "a"}});
  ASSERT_EQ(flag.exit_code, 0) << flag.message;
  EXPECT_EQ(flag.config.events.buffer_bytes, 8u << 20);
}

TEST(SidecarConfigTest, EventBufferBytesMustHoldTwoCapturesAtTheCap) {
  ConfigResult r = Load({}, {{"ASYA_ACTOR_NAME", "a"},
                             {"MESHTRACE_CAPTURE_MAX_BYTES", "16777216"},
                             {"MESHTRACE_EVENT_BUFFER_BYTES", "16MiB"}});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.message.find("MESHTRACE_EVENT_BUFFER_BYTES (16777216) must be at least twice "
                           "MESHTRACE_CAPTURE_MAX_BYTES (16777216)"),
            std::string::npos)
      << r.message;
  ConfigResult ok = Load({}, {{"ASYA_ACTOR_NAME", "a"},
                              {"MESHTRACE_CAPTURE_MAX_BYTES", "16777216"},
                              {"MESHTRACE_EVENT_BUFFER_BYTES", "32MiB"}});
  EXPECT_EQ(ok.exit_code, 0) << ok.message;
}

TEST(SidecarConfigTest, BadNumbersAndDurationsNameTheVariable) {
  for (auto [var, value] :
       std::vector<std::pair<std::string, std::string>>{{"MESHTRACE_CAPTURE_MAX_BYTES", "12"},
                                                        {"MESHTRACE_EVENT_BUFFER", "lots"},
                                                        {"MESHTRACE_EVENT_BUFFER_BYTES", "64KiB"},
                                                        {"MESHTRACE_EVENT_BUFFER_BYTES", "9XB"},
                                                        {"MESHTRACE_INVOKE_PIPELINE", "17"},
                                                        {"ASYA_RUNTIME_READY_TIMEOUT", "-5s"},
                                                        {"ASYA_METRICS_NAMESPACE", "asya-actor"},
                                                        {"ASYA_LOG_LEVEL", "verbose"}}) {
    ConfigResult r = Load({}, {{"ASYA_ACTOR_NAME", "a"}, {var, value}});
    EXPECT_EQ(r.exit_code, 2) << var;
    EXPECT_NE(r.message.find(var + "='" + value + "'"), std::string::npos) << r.message;
  }
}

}  // namespace
}  // namespace meshtrace::sidecar
