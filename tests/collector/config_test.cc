#include "collector/config.h"

#include <gtest/gtest.h>

#include <vector>

namespace meshtrace::collector {
namespace {

CollectorConfigResult Load(std::vector<const char*> args,
                           std::map<std::string, std::string> env = {}) {
  args.insert(args.begin(), "meshtrace-collector");
  return LoadCollectorConfig(static_cast<int>(args.size()), args.data(), env);
}

TEST(CollectorConfigTest, DefaultsAreTheDocumentedOnes) {
  CollectorConfigResult r = Load({});
  ASSERT_EQ(r.exit_code, 0) << r.message;
  EXPECT_TRUE(r.message.empty());
  const CollectorConfig& c = r.config;
  EXPECT_EQ(c.grpc_listen, "127.0.0.1:7700");
  EXPECT_EQ(c.http_listen, "127.0.0.1:7701");
  EXPECT_EQ(c.data_dir, "./meshtrace-data");
  EXPECT_EQ(c.stall_timeout, absl::Minutes(5));
  EXPECT_EQ(c.retention, absl::Hours(72));
  EXPECT_EQ(c.max_disk_bytes, 0u);
  EXPECT_EQ(c.api_token, "");
}

TEST(CollectorConfigTest, EnvironmentSetsAndFlagsWin) {
  CollectorConfigResult r = Load({"--data-dir", "/flag/dir", "--stall-timeout", "90s"},
                                 {{"MESHTRACE_DATA_DIR", "/env/dir"},
                                  {"MESHTRACE_STALL_TIMEOUT", "1h"},
                                  {"MESHTRACE_MAX_DISK", "10GiB"},
                                  {"MESHTRACE_API_TOKEN", "s3cret"}});
  ASSERT_EQ(r.exit_code, 0) << r.message;
  EXPECT_EQ(r.config.data_dir, "/flag/dir");
  EXPECT_EQ(r.config.stall_timeout, absl::Seconds(90));
  EXPECT_EQ(r.config.max_disk_bytes, 10ull << 30);
  EXPECT_EQ(r.config.api_token, "s3cret");
}

TEST(CollectorConfigTest, HelpAndVersionExitZeroAndUnknownFlagsTwo) {
  CollectorConfigResult help = Load({"--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.message.find("--stall-timeout"), std::string::npos) << help.message;
  EXPECT_NE(help.message.find("[MESHTRACE_STALL_TIMEOUT]"), std::string::npos) << help.message;

  CollectorConfigResult version = Load({"--version"});
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_NE(version.message.find("meshtrace-collector "), std::string::npos) << version.message;

  CollectorConfigResult unknown = Load({"--data-dri", "x"});
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_NE(unknown.message.find("--data-dri"), std::string::npos) << unknown.message;
}

TEST(CollectorConfigTest, BadValuesNameTheFlagAndItsVariable) {
  CollectorConfigResult from_env = Load({}, {{"MESHTRACE_RETENTION", "forever"}});
  EXPECT_EQ(from_env.exit_code, 2);
  EXPECT_NE(from_env.message.find("--retention=forever"), std::string::npos) << from_env.message;
  EXPECT_NE(from_env.message.find("MESHTRACE_RETENTION"), std::string::npos) << from_env.message;

  CollectorConfigResult from_flag = Load({"--max-disk", "lots"});
  EXPECT_EQ(from_flag.exit_code, 2);
  EXPECT_NE(from_flag.message.find("--max-disk=lots"), std::string::npos) << from_flag.message;

  CollectorConfigResult half_tls = Load({"--tls-cert", "cert.pem"});
  EXPECT_EQ(half_tls.exit_code, 2);
  EXPECT_NE(half_tls.message.find("--tls-key"), std::string::npos) << half_tls.message;
}

}  // namespace
}  // namespace meshtrace::collector
