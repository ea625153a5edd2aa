#include "replayer/dev_kafka.h"

// rdkafka.h must come before rdkafka_mock.h.
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/absl_compat.h"
#include "common/topics.h"

namespace meshtrace::replayer {

struct DevKafka::Handles {
  rd_kafka_t* rk = nullptr;
  rd_kafka_mock_cluster_t* cluster = nullptr;
  ~Handles() {
    if (cluster != nullptr) rd_kafka_mock_cluster_destroy(cluster);
    if (rk != nullptr) rd_kafka_destroy(rk);
  }
};

absl::StatusOr<std::vector<TopicSpec>> ParseTopicSpecs(std::string_view spec) {
  std::vector<TopicSpec> topics;
  for (absl::string_view piece : absl::StrSplit(AsAbsl(spec), ',', absl::SkipWhitespace())) {
    absl::string_view entry = absl::StripAsciiWhitespace(piece);
    std::vector<absl::string_view> parts = absl::StrSplit(entry, ':');
    if (parts.size() > 2) {
      return absl::InvalidArgumentError(
          absl::StrCat("topic '", entry, "': expected NAME or NAME:PARTITIONS"));
    }
    TopicSpec topic{std::string(parts[0]), 1};
    if (auto status = ValidateTopicPart("topic name", topic.name); !status.ok()) return status;
    if (parts.size() == 2 && (!absl::SimpleAtoi(parts[1], &topic.partitions) ||
                              topic.partitions < 1 || topic.partitions > 1000)) {
      return absl::InvalidArgumentError(
          absl::StrCat("topic '", entry, "': partitions must be a whole number from 1 to 1000"));
    }
    topics.push_back(std::move(topic));
  }
  return topics;
}

absl::StatusOr<std::unique_ptr<DevKafka>> DevKafka::Start(int brokers,
                                                          const std::vector<TopicSpec>& topics) {
  if (brokers < 1 || brokers > 16) {
    return absl::InvalidArgumentError("brokers must be from 1 to 16");
  }
  std::unique_ptr<DevKafka> kafka(new DevKafka());
  kafka->handles_ = std::make_unique<Handles>();
  char errstr[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof(errstr));
  kafka->handles_->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
  if (kafka->handles_->rk == nullptr) {
    rd_kafka_conf_destroy(conf);
    return absl::InternalError(absl::StrCat("cannot create a Kafka handle: ", errstr));
  }
  kafka->handles_->cluster = rd_kafka_mock_cluster_new(kafka->handles_->rk, brokers);
  if (kafka->handles_->cluster == nullptr) {
    return absl::UnavailableError("cannot start the mock Kafka cluster (no free loopback port?)");
  }
  kafka->bootstraps_ = rd_kafka_mock_cluster_bootstraps(kafka->handles_->cluster);
  for (const TopicSpec& topic : topics) {
    if (auto status = kafka->CreateTopic(topic); !status.ok()) return status;
  }
  return kafka;
}

DevKafka::~DevKafka() = default;

absl::Status DevKafka::CreateTopic(const TopicSpec& topic) {
  rd_kafka_resp_err_t err =
      rd_kafka_mock_topic_create(handles_->cluster, topic.name.c_str(), topic.partitions, 1);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot create topic '", topic.name, "': ", rd_kafka_err2str(err)));
  }
  return absl::OkStatus();
}

absl::Status DevKafka::SetBrokerDown(int id, bool down) {
  rd_kafka_resp_err_t err = down ? rd_kafka_mock_broker_set_down(handles_->cluster, id)
                                 : rd_kafka_mock_broker_set_up(handles_->cluster, id);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return absl::InvalidArgumentError(absl::StrCat("broker ", id, ": ", rd_kafka_err2str(err)));
  }
  return absl::OkStatus();
}

void DevKafka::PushRequestErrors(int api_key, int count, int error_code) {
  std::vector<rd_kafka_resp_err_t> errors(count, static_cast<rd_kafka_resp_err_t>(error_code));
  rd_kafka_mock_push_request_errors_array(handles_->cluster, static_cast<int16_t>(api_key),
                                          errors.size(), errors.data());
}

}  // namespace meshtrace::replayer
