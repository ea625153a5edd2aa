#include "replayer/kafka_publisher.h"

#include <librdkafka/rdkafkacpp.h>

#include "absl/strings/str_split.h"

namespace meshtrace::replayer {
namespace {

class DeliveryReports : public RdKafka::DeliveryReportCb {
 public:
  void dr_cb(RdKafka::Message& message) override {
    if (message.err() != RdKafka::ERR_NO_ERROR && error.empty()) error = message.errstr();
  }
  std::string error;
};

class RdKafkaPublisher : public KafkaPublisher {
 public:
  absl::Status Init(const std::string& brokers, const std::string& properties) {
    std::string err;
    std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
    if (conf->set("bootstrap.servers", brokers, err) != RdKafka::Conf::CONF_OK ||
        conf->set("linger.ms", "5", err) != RdKafka::Conf::CONF_OK ||
        conf->set("enable.idempotence", "true", err) != RdKafka::Conf::CONF_OK ||
        conf->set("dr_cb", static_cast<RdKafka::DeliveryReportCb*>(&reports_), err) !=
            RdKafka::Conf::CONF_OK) {
      return absl::InvalidArgumentError("Kafka producer: " + err);
    }
    for (absl::string_view pair : absl::StrSplit(properties, ',', absl::SkipEmpty())) {
      const auto eq = pair.find('=');
      if (eq == absl::string_view::npos ||
          conf->set(std::string(pair.substr(0, eq)), std::string(pair.substr(eq + 1)), err) !=
              RdKafka::Conf::CONF_OK) {
        return absl::InvalidArgumentError("Kafka property '" + std::string(pair) + "': " + err);
      }
    }
    producer_.reset(RdKafka::Producer::create(conf.get(), err));
    if (!producer_) return absl::InvalidArgumentError("Kafka producer: " + err);
    return absl::OkStatus();
  }

  absl::Status Publish(const std::string& topic, const std::string& key,
                       const std::string& value) override {
    while (true) {
      RdKafka::ErrorCode code = producer_->produce(
          topic, RdKafka::Topic::PARTITION_UA, RdKafka::Producer::RK_MSG_COPY,
          const_cast<char*>(value.data()), value.size(), key.data(), key.size(), 0, nullptr);
      if (code == RdKafka::ERR_NO_ERROR) break;
      if (code != RdKafka::ERR__QUEUE_FULL) {
        return absl::UnavailableError("publish to " + topic + ": " + RdKafka::err2str(code));
      }
      producer_->poll(50);
    }
    producer_->poll(0);
    return absl::OkStatus();
  }

  absl::Status Flush(int timeout_ms) override {
    if (producer_->flush(timeout_ms) != RdKafka::ERR_NO_ERROR) {
      return absl::DeadlineExceededError("Kafka did not acknowledge every message in time");
    }
    if (!reports_.error.empty()) return absl::UnavailableError("Kafka: " + reports_.error);
    return absl::OkStatus();
  }

 private:
  DeliveryReports reports_;
  std::unique_ptr<RdKafka::Producer> producer_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<KafkaPublisher>> KafkaPublisher::Open(
    const std::string& brokers, const std::string& properties) {
  auto publisher = std::make_unique<RdKafkaPublisher>();
  if (auto s = publisher->Init(brokers, properties); !s.ok()) return s;
  return std::unique_ptr<KafkaPublisher>(std::move(publisher));
}

}  // namespace meshtrace::replayer
