#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace meshtrace {

// `status.error` of an Asya envelope.
struct StatusError {
  std::string type;
  std::vector<std::string> mro;
  std::string message;
  std::string traceback;
};

// The `status` block of an Asya envelope (asya-protocol.md §1.4). Times are RFC 3339 strings
// as on the wire; empty means absent.
struct EnvelopeStatus {
  std::string phase;
  std::string reason;
  std::string actor;
  int attempt = 0;
  int max_attempts = 0;
  std::string created_at;
  std::string updated_at;
  std::string deadline_at;
  std::optional<StatusError> error;
};

// Reads a status block leniently: fields of the wrong type are ignored, as the Asya sidecar
// rebuilds the block anyway. Empty or invalid text gives an empty status.
EnvelopeStatus ParseEnvelopeStatus(std::string_view json);

// Compact JSON of the block; absent (empty) optional fields are left out.
std::string EnvelopeStatusJson(const EnvelopeStatus& status);

}  // namespace meshtrace
