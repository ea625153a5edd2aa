// KafkaQueue against librdkafka's mock cluster (three brokers, in this process): the bounded
// prefetch keeps being refilled while a backlog waits, and a first send to a topic is not held
// back until librdkafka's topic scan.
#include "sidecar/kafka_queue.h"

#include <gtest/gtest.h>

#include <set>

#include "absl/time/clock.h"
#include "common/log.h"
#include "replayer/dev_kafka.h"
#include "tests/testing/kafka_helpers.h"

namespace meshtrace::sidecar {
namespace {

class KafkaQueueTest : public ::testing::Test {
 protected:
  void SetUp() override {
    InitLogging("kafka-queue-test", "warn");
    auto kafka = replayer::DevKafka::Start(3, {{"asya-q-in", 6},
                                               {"asya-q-out-1", 2},
                                               {"asya-q-out-2", 2},
                                               {"asya-q-out-3", 2},
                                               {"asya-q-out-4", 2}});
    ASSERT_TRUE(kafka.ok()) << kafka.status();
    kafka_ = *std::move(kafka);
  }

  absl::StatusOr<std::unique_ptr<KafkaQueue>> Open(
      std::vector<std::pair<std::string, std::string>> properties = {}) {
    return KafkaQueue::Open({kafka_->bootstraps(), std::move(properties), "asya-q-in", "q"});
  }

  std::unique_ptr<replayer::DevKafka> kafka_;
};

// librdkafka 2.0 stops fetching at queued.max.messages.kbytes and, left alone, fetches again
// only after its broker threads' 1 s idle wait: each refill of a 64 KiB queue would then leave
// the consumer idle. A 250 ms poll coming back empty while messages wait is that stall.
TEST_F(KafkaQueueTest, BoundedPrefetchIsRefilledBeforeItRunsDry) {
  constexpr int kMessages = 3000;  // ~3 MB: ~45 refills of the 64 KiB queue
  std::vector<std::string> values;
  for (int i = 0; i < kMessages; ++i) {
    values.push_back("{\"i\":" + std::to_string(i) + ",\"pad\":\"" + std::string(1000, 'x') +
                     "\"}");
  }
  ASSERT_TRUE(testing::ProduceAll(kafka_->bootstraps(), "asya-q-in", values, 6).ok());
  auto queue = Open({{"queued.max.messages.kbytes", "64"}});
  ASSERT_TRUE(queue.ok()) << queue.status();

  std::set<std::pair<int32_t, int64_t>> seen;
  int empty_polls = 0;
  size_t waiting_at_first_stall = 0;
  absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (seen.size() < kMessages && absl::Now() < deadline && empty_polls < 3) {
    // The group join comes first: the wait for the first message is not a stall.
    auto m = (*queue)->Poll(seen.empty() ? absl::Seconds(10) : absl::Milliseconds(250));
    ASSERT_TRUE(m.ok()) << m.status();
    if (!m->has_value()) {
      if (empty_polls++ == 0) waiting_at_first_stall = kMessages - seen.size();
      continue;
    }
    seen.insert({(*m)->partition, (*m)->offset});
    (*queue)->Finish((*m)->ticket);
    (*queue)->Service();
  }
  EXPECT_EQ(seen.size(), static_cast<size_t>(kMessages));
  EXPECT_EQ(empty_polls, 0) << "the consumer ran dry with " << waiting_at_first_stall
                            << " messages still waiting";
  EXPECT_TRUE((*queue)->Drain(absl::Seconds(10)).ok());
}

// librdkafka 2.0 learns a new topic's partitions on its 1 s topic scan and holds sends to it
// until then; one send to each of four new topics, one after another, would take 3-4 s.
TEST_F(KafkaQueueTest, FirstSendToATopicIsNotHeldUntilTheTopicScan) {
  auto queue = Open();
  ASSERT_TRUE(queue.ok()) << queue.status();
  absl::Time start = absl::Now();
  for (int t = 1; t <= 4; ++t) {
    const std::string topic = "asya-q-out-" + std::to_string(t);
    ASSERT_TRUE((*queue)->Send(nullptr, topic, "", "{\"t\":" + std::to_string(t) + "}").ok());
    absl::Time sent = absl::Now();
    while ((*queue)->outstanding() > 0 && absl::Now() - sent < absl::Seconds(10)) {
      (*queue)->Service();
      absl::SleepFor(absl::Milliseconds(1));
    }
    ASSERT_EQ((*queue)->outstanding(), 0) << topic;
  }
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  for (int t = 1; t <= 4; ++t) {
    EXPECT_EQ(testing::ConsumeAll(kafka_->bootstraps(), "asya-q-out-" + std::to_string(t), 1,
                                  absl::Seconds(10))
                  .size(),
              1u);
  }
}

// The bound docs/sidecar.md says to raise, given a bad value: an error naming it, no queue.
TEST_F(KafkaQueueTest, BadPrefetchBoundIsRejectedNamingTheProperty) {
  for (const char* value : {"lots", "0", "9999999999"}) {
    auto queue = Open({{"queued.max.messages.kbytes", value}});
    ASSERT_FALSE(queue.ok()) << value;
    EXPECT_NE(queue.status().message().find("queued.max.messages.kbytes=" + std::string(value)),
              std::string::npos)
        << queue.status();
  }
}

}  // namespace
}  // namespace meshtrace::sidecar
