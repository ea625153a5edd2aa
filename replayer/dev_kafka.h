#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace meshtrace::replayer {

struct TopicSpec {
  std::string name;
  int partitions = 1;
};

// Parses `--topics a,b:4` (a topic name, optionally ":partitions"). Errors name the entry.
absl::StatusOr<std::vector<TopicSpec>> ParseTopicSpecs(std::string_view spec);

// librdkafka's mock cluster: a real Kafka-protocol implementation in this process, listening on
// loopback ports. Lives as long as this object. Used by `meshtrace dev-kafka`, the demo and the
// tests. Thread-safe after construction (librdkafka owns its threads).
class DevKafka {
 public:
  static absl::StatusOr<std::unique_ptr<DevKafka>> Start(int brokers,
                                                         const std::vector<TopicSpec>& topics);
  ~DevKafka();
  DevKafka(const DevKafka&) = delete;
  DevKafka& operator=(const DevKafka&) = delete;

  // "127.0.0.1:port,..." for clients in this or other processes.
  const std::string& bootstraps() const { return bootstraps_; }

  // Creates a topic (an error when it exists).
  absl::Status CreateTopic(const TopicSpec& topic);

  // Takes broker `id` (1-based) down or back up, for outage tests.
  absl::Status SetBrokerDown(int id, bool down);

  // Makes the next `count` requests of Kafka API `api_key` (e.g. 0 = Produce) fail with
  // error `error_code` (an rd_kafka_resp_err_t value).
  void PushRequestErrors(int api_key, int count, int error_code);

 private:
  DevKafka() = default;
  struct Handles;
  std::unique_ptr<Handles> handles_;
  std::string bootstraps_;
};

}  // namespace meshtrace::replayer
