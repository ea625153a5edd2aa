#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "sidecar/queue.h"

namespace meshtrace::sidecar {

// Kafka with at-least-once bookkeeping: a consumed message's offset is committed only after
// it is Finish()ed and every envelope sent for it was acknowledged by the broker, and only when
// every earlier message of its partition is also done. Kafka outages block Send() (the
// producer queue fills) and are retried forever; nothing is dropped. The consumer prefetches
// at most queued.max.messages.kbytes (4 MiB unless the properties say otherwise) and a helper
// thread keeps that queue from running dry (kafka_queue.cc, FetchNudger). Used by one thread
// (the sidecar's processing loop); librdkafka callbacks run inside its calls. The Kafka adapter
// of the sidecar's Queue: the only file that names librdkafka.
class KafkaQueue : public Queue {
 public:
  struct Options {
    std::string brokers;
    std::vector<std::pair<std::string, std::string>> properties;  // applied to both clients
    std::string topic;                                            // consumed
    std::string group;
  };

  using Message = QueueMessage;

  static absl::StatusOr<std::unique_ptr<KafkaQueue>> Open(const Options& options);
  ~KafkaQueue() override;

  // The next message, or nullopt when none arrived within `timeout`. Errors are transport
  // problems that persisted (logged and retried by librdkafka meanwhile).
  absl::StatusOr<std::optional<Message>> Poll(absl::Duration timeout) override;

  // Sends `value` to `topic` as part of processing `ticket`'s message. Blocks while the
  // producer queue is full (e.g. during an outage).
  absl::Status Send(void* ticket, const std::string& topic, const std::string& key,
                    const std::string& value) override;

  // Every send for the message is registered; it may commit once they are acknowledged.
  void Finish(void* ticket) override;

  // Serves delivery reports and commits what is done (at most every 100 ms unless `force`).
  void Service(bool force = false) override;

  // Waits until every send is acknowledged (or `timeout`), then commits synchronously.
  absl::Status Drain(absl::Duration timeout) override;

  // Leaves the consumer group (after Drain).
  void Close() override;

  // A delivery failed permanently: the sidecar must stop without committing it.
  absl::Status delivery_error() const override;
  // Sends not yet acknowledged.
  int64_t outstanding() const override;

  struct State;

 private:
  KafkaQueue() = default;
  std::unique_ptr<State> state_;
};

}  // namespace meshtrace::sidecar
