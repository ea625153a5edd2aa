#pragma once

#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace meshtrace {

// The Kafka topic of an actor's queue: "asya-{ns}-{actor}", or "asya-{actor}" when the
// namespace is empty (asya-protocol.md §12). The same rule names x-sink and x-sump.
std::string QueueTopic(std::string_view ns, std::string_view actor);

// The actor behind a queue topic of namespace `ns`, or "" when the topic is not one.
std::string ActorOfTopic(std::string_view ns, std::string_view topic);

// OK when `name` can be part of a Kafka topic: non-empty, at most 200 characters of
// [A-Za-z0-9._-]. The message names `what` ("actor name", "namespace") and the bad character.
absl::Status ValidateTopicPart(std::string_view what, std::string_view name);

}  // namespace meshtrace
