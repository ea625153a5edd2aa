#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace meshtrace::sidecar {

// A message taken from the actor's queue.
struct QueueMessage {
  std::string topic;         // the topic or queue it came from
  int32_t partition = 0;     // Kafka's partition; 0 where the broker has none
  int64_t offset = 0;        // Kafka's offset; where the broker has none, its delivery's number
  int64_t timestamp_ms = 0;  // producer/broker timestamp, 0 if unknown
  std::string key;
  std::string value;
  void* ticket = nullptr;  // identifies the message to Send() and Finish()
};

// The actor's queue, at least once: a message is acknowledged only after it is Finish()ed and
// every envelope sent for it is confirmed by the broker. The router and the app depend on this
// interface; each broker library has one adapter (kafka_queue.cc). Used by one thread (the
// sidecar's processing loop).
class Queue {
 public:
  virtual ~Queue() = default;

  // The next message, or nullopt when none arrived within `timeout`. An error is a transport
  // problem that persisted.
  virtual absl::StatusOr<std::optional<QueueMessage>> Poll(absl::Duration timeout) = 0;

  // Sends `value` to `destination` as part of processing `ticket`'s message. Blocks while the
  // broker pushes back (an outage, flow control); never drops.
  virtual absl::Status Send(void* ticket, const std::string& destination, const std::string& key,
                            const std::string& value) = 0;

  // Every send for the message is registered: it is acknowledged once they are confirmed.
  virtual void Finish(void* ticket) = 0;

  // Serves confirmations and acknowledges what is done (batched unless `force`).
  virtual void Service(bool force = false) = 0;

  // Waits until every send is confirmed (or `timeout`), then acknowledges what is done.
  virtual absl::Status Drain(absl::Duration timeout) = 0;

  // Stops consuming (after Drain).
  virtual void Close() = 0;

  // A send failed for good: the sidecar must stop without acknowledging its message.
  virtual absl::Status delivery_error() const = 0;
  // Sends not yet confirmed.
  virtual int64_t outstanding() const = 0;
};

}  // namespace meshtrace::sidecar
