#include "common/topics.h"

namespace meshtrace {

std::string QueueTopic(std::string_view ns, std::string_view actor) {
  std::string topic = "asya-";
  if (!ns.empty()) (topic += ns) += '-';
  return topic += actor;
}

std::string ActorOfTopic(std::string_view ns, std::string_view topic) {
  std::string prefix = QueueTopic(ns, "");
  if (!topic.starts_with(prefix) || topic.size() == prefix.size()) return "";
  return std::string(topic.substr(prefix.size()));
}

absl::Status ValidateTopicPart(std::string_view what, std::string_view name) {
  const std::string label(what);
  if (name.empty()) return absl::InvalidArgumentError(label + " is empty");
  const std::string quoted = label + " '" + std::string(name) + "'";
  if (name.size() > 200) {
    return absl::InvalidArgumentError(quoted + " is longer than 200 characters");
  }
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) {
      return absl::InvalidArgumentError(
          quoted + " has the character '" + std::string(1, c) +
          "', which a Kafka topic cannot hold (allowed: letters, digits, '.', '_', '-')");
    }
  }
  return absl::OkStatus();
}

}  // namespace meshtrace
