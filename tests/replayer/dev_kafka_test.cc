#include "replayer/dev_kafka.h"

#include <gtest/gtest.h>
#include <librdkafka/rdkafkacpp.h>

#include <csignal>
#include <memory>

#include "tests/testing/subprocess.h"

namespace meshtrace::replayer {
namespace {

const std::string kMeshtrace = std::string(MESHTRACE_BIN_DIR) + "/meshtrace";

TEST(TopicSpecTest, ParsesNamesAndPartitions) {
  auto topics = ParseTopicSpecs("a, b:4");
  ASSERT_TRUE(topics.ok()) << topics.status();
  ASSERT_EQ(topics->size(), 2u);
  EXPECT_EQ((*topics)[0].name, "a");
  EXPECT_EQ((*topics)[0].partitions, 1);
  EXPECT_EQ((*topics)[1].partitions, 4);
}

TEST(TopicSpecTest, RejectsBadEntriesNamingThem) {
  for (const char* bad : {"a:0", "a:x", "a:1:2", "bad/topic"}) {
    auto topics = ParseTopicSpecs(bad);
    EXPECT_FALSE(topics.ok()) << bad;
  }
  EXPECT_NE(ParseTopicSpecs("a:0").status().message().find("topic 'a:0'"), std::string::npos);
}

// Produces `count` messages to `topic` and consumes them back by assignment.
void ProduceAndConsume(const std::string& bootstraps, const std::string& topic, int count) {
  std::string err;
  std::unique_ptr<RdKafka::Conf> pconf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  ASSERT_EQ(pconf->set("bootstrap.servers", bootstraps, err), RdKafka::Conf::CONF_OK);
  std::unique_ptr<RdKafka::Producer> producer(RdKafka::Producer::create(pconf.get(), err));
  ASSERT_NE(producer, nullptr) << err;
  for (int i = 0; i < count; ++i) {
    std::string value = "message-" + std::to_string(i);
    ASSERT_EQ(producer->produce(topic, 0, RdKafka::Producer::RK_MSG_COPY, value.data(),
                                value.size(), nullptr, 0, 0, nullptr),
              RdKafka::ERR_NO_ERROR);
  }
  ASSERT_EQ(producer->flush(10000), RdKafka::ERR_NO_ERROR);

  std::unique_ptr<RdKafka::Conf> cconf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  cconf->set("bootstrap.servers", bootstraps, err);
  cconf->set("group.id", "dev-kafka-test", err);
  cconf->set("enable.auto.commit", "false", err);
  std::unique_ptr<RdKafka::KafkaConsumer> consumer(
      RdKafka::KafkaConsumer::create(cconf.get(), err));
  ASSERT_NE(consumer, nullptr) << err;
  std::vector<RdKafka::TopicPartition*> parts = {
      RdKafka::TopicPartition::create(topic, 0, RdKafka::Topic::OFFSET_BEGINNING)};
  ASSERT_EQ(consumer->assign(parts), RdKafka::ERR_NO_ERROR);
  RdKafka::TopicPartition::destroy(parts);
  int got = 0;
  for (int polls = 0; polls < 200 && got < count; ++polls) {
    std::unique_ptr<RdKafka::Message> m(consumer->consume(100));
    if (m->err() == RdKafka::ERR_NO_ERROR) {
      EXPECT_EQ(std::string(static_cast<const char*>(m->payload()), m->len()),
                "message-" + std::to_string(got));
      ++got;
    }
  }
  EXPECT_EQ(got, count);
  consumer->close();
}

TEST(DevKafkaTest, InProcessClusterCarriesMessages) {
  auto kafka = DevKafka::Start(1, {{"asya-t", 2}});
  ASSERT_TRUE(kafka.ok()) << kafka.status();
  ProduceAndConsume((*kafka)->bootstraps(), "asya-t", 5);
  EXPECT_FALSE((*kafka)->CreateTopic({"asya-t", 2}).ok());
}

TEST(DevKafkaCommandTest, PrintsBootstrapsServesAndStopsOnSigterm) {
  auto process = testing::Subprocess::Start(
      {kMeshtrace, "dev-kafka", "--brokers", "2", "--topics", "asya-orders:3"});
  ASSERT_TRUE(process.ok()) << process.status();
  auto line = process->ReadLine();
  ASSERT_TRUE(line.ok()) << line.status();
  EXPECT_NE(line->find("127.0.0.1:"), std::string::npos) << *line;
  EXPECT_NE(line->find(','), std::string::npos) << "two brokers: " << *line;
  ProduceAndConsume(*line, "asya-orders", 20);
  process->Signal(SIGTERM);
  auto code = process->Wait();
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 0);
}

TEST(DevKafkaCommandTest, BadArgumentsExitTwo) {
  for (std::vector<std::string> args : {std::vector<std::string>{"dev-kafka", "--brokers", "0"},
                                        std::vector<std::string>{"dev-kafka", "--topics", "a:zero"},
                                        std::vector<std::string>{"no-such-command"}}) {
    args.insert(args.begin(), kMeshtrace);
    auto result = testing::Run(args);
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(result->exit_code, 2) << args[1];
  }
}

TEST(CliTest, VersionAndHelp) {
  auto version = testing::Run({kMeshtrace, "--version"});
  ASSERT_TRUE(version.ok());
  EXPECT_EQ(version->exit_code, 0);
  EXPECT_NE(version->out.find("meshtrace 0."), std::string::npos) << version->out;
  auto help = testing::Run({kMeshtrace, "--help"});
  ASSERT_TRUE(help.ok());
  EXPECT_EQ(help->exit_code, 0);
  EXPECT_NE(help->out.find("dev-kafka"), std::string::npos) << help->out;
}

}  // namespace
}  // namespace meshtrace::replayer
