#pragma once

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace meshtrace::replayer {

// Publishes messages to Kafka (librdkafka), for the demo's producer and `meshtrace redrive`.
// Not thread-safe.
class KafkaPublisher {
 public:
  // `properties`: extra librdkafka settings "key=value,..." (TLS, SASL).
  static absl::StatusOr<std::unique_ptr<KafkaPublisher>> Open(const std::string& brokers,
                                                              const std::string& properties = "");
  virtual ~KafkaPublisher() = default;
  // Queues one message (waits while librdkafka's queue is full).
  virtual absl::Status Publish(const std::string& topic, const std::string& key,
                               const std::string& value) = 0;
  // Waits until every queued message is acknowledged by the broker, or fails.
  virtual absl::Status Flush(int timeout_ms) = 0;
};

}  // namespace meshtrace::replayer
