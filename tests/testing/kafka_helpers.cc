#include "tests/testing/kafka_helpers.h"

#include <librdkafka/rdkafkacpp.h>

#include <memory>

#include "absl/time/clock.h"

namespace meshtrace::testing {

absl::Status ProduceAll(const std::string& brokers, const std::string& topic,
                        const std::vector<std::string>& values, int partitions) {
  std::string err;
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  conf->set("bootstrap.servers", brokers, err);
  conf->set("log_level", "3", err);
  std::unique_ptr<RdKafka::Producer> producer(RdKafka::Producer::create(conf.get(), err));
  if (!producer) return absl::InternalError(err);
  for (size_t i = 0; i < values.size(); ++i) {
    const std::string& value = values[i];
    const int32_t partition =
        partitions > 0 ? static_cast<int32_t>(i % partitions) : RdKafka::Topic::PARTITION_UA;
    while (true) {
      auto code =
          producer->produce(topic, partition, RdKafka::Producer::RK_MSG_COPY,
                            const_cast<char*>(value.data()), value.size(), nullptr, 0, 0, nullptr);
      if (code == RdKafka::ERR_NO_ERROR) break;
      if (code != RdKafka::ERR__QUEUE_FULL) return absl::InternalError(RdKafka::err2str(code));
      producer->poll(50);
    }
  }
  if (producer->flush(20000) != RdKafka::ERR_NO_ERROR) {
    return absl::DeadlineExceededError("produce not acknowledged");
  }
  return absl::OkStatus();
}

std::vector<std::string> ConsumeAll(const std::string& brokers, const std::string& topic,
                                    size_t want, absl::Duration timeout) {
  std::vector<std::string> out;
  std::string err;
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  conf->set("bootstrap.servers", brokers, err);
  conf->set("group.id", "test-reader", err);
  conf->set("enable.auto.commit", "false", err);
  conf->set("log_level", "3", err);
  std::unique_ptr<RdKafka::KafkaConsumer> consumer(RdKafka::KafkaConsumer::create(conf.get(), err));
  if (!consumer) return out;
  // Assign every partition from the beginning (no group join: quick and deterministic).
  std::unique_ptr<RdKafka::Topic> handle(
      RdKafka::Topic::create(consumer.get(), topic, nullptr, err));
  RdKafka::Metadata* metadata = nullptr;
  std::vector<RdKafka::TopicPartition*> parts;
  absl::Time deadline = absl::Now() + timeout;
  while (parts.empty() && absl::Now() < deadline) {
    if (consumer->metadata(false, handle.get(), &metadata, 5000) == RdKafka::ERR_NO_ERROR) {
      for (const auto* t : *metadata->topics()) {
        for (const auto* p : *t->partitions()) {
          parts.push_back(
              RdKafka::TopicPartition::create(topic, p->id(), RdKafka::Topic::OFFSET_BEGINNING));
        }
      }
      delete metadata;
    }
    if (parts.empty()) absl::SleepFor(absl::Milliseconds(50));
  }
  consumer->assign(parts);
  RdKafka::TopicPartition::destroy(parts);
  while (out.size() < want && absl::Now() < deadline) {
    std::unique_ptr<RdKafka::Message> m(consumer->consume(50));
    if (m->err() == RdKafka::ERR_NO_ERROR) {
      out.emplace_back(static_cast<const char*>(m->payload()), m->len());
    }
  }
  consumer->close();
  return out;
}

}  // namespace meshtrace::testing
