#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace meshtrace {

// The largest envelope accepted by default. The Asya sidecar reads SSE lines up to 16 MiB.
inline constexpr size_t kDefaultMaxEnvelopeBytes = 16u << 20;

struct Route {
  std::vector<std::string> prev;
  std::string curr;
  std::vector<std::string> next;

  bool operator==(const Route&) const = default;
};

// Envelope headers in wire order. Values are kept as raw JSON text (Asya headers may hold any
// JSON value), so untouched headers serialise exactly as received.
class Headers {
 public:
  using Entry = std::pair<std::string, std::string>;  // name, raw JSON value

  // The raw JSON value of `name`, if present.
  std::optional<std::string_view> FindRaw(std::string_view name) const;
  // The value of `name` when it is present and a JSON string.
  std::optional<std::string> GetString(std::string_view name) const;
  // Sets `name` to the JSON string `value`, replacing an existing entry in place.
  void SetString(std::string_view name, std::string_view value);
  // Sets `name` to `raw_json`, which must be valid JSON text.
  void SetRaw(std::string_view name, std::string raw_json);
  // Removes `name`; returns whether it was present.
  bool Erase(std::string_view name);

  const std::vector<Entry>& entries() const { return entries_; }
  bool empty() const { return entries_.empty(); }
  bool operator==(const Headers&) const = default;

 private:
  std::vector<Entry> entries_;
};

// An Asya envelope (asya-protocol.md §1). `payload_json` and `status_json` hold the raw JSON
// text from the wire, so a payload round-trips byte for byte (numbers and key order intact).
struct Envelope {
  std::string id;
  std::optional<std::string> parent_id;
  Route route;
  Headers headers;
  std::string status_json;   // a JSON object, or empty when the envelope has no status
  std::string payload_json;  // any JSON value; never empty in a parsed envelope

  bool operator==(const Envelope&) const = default;
};

// What was wrong with an envelope that failed to parse.
enum class EnvelopeFault {
  kNone,
  kTooLarge,
  kNotJson,
  kNotObject,
  kMissingId,
  kIdNotString,
  kParentIdNotString,
  kMissingRoute,
  kRouteNotObject,
  kLegacyRoute,
  kPrevNotStringList,
  kCurrNotString,
  kNextNotStringList,
  kMissingPayload,
  kHeadersNotObject,
  kStatusNotObject,
};

// The Asya metric reason label for a fault: "parse_error" when the bytes are not a JSON
// object, "validation_error" otherwise.
std::string_view FaultReason(EnvelopeFault fault);

struct ParseOptions {
  size_t max_bytes = kDefaultMaxEnvelopeBytes;
  // Asya's runtime requires `payload`; its sidecar does not look at it. The sidecar parses
  // with this on, as the runtime would reject the envelope anyway.
  bool require_payload = true;
  // Runtime frames carry no id; the sidecar parses them with this off.
  bool require_id = true;
};

// Parses and strictly validates an envelope. On failure the status is InvalidArgument with a
// message naming the fault (e.g. "route is the legacy {actors,current} form ..."), and
// `*fault` (when given) says which one. Fields other than the six of the schema are dropped,
// as the Asya runtime does. Thread-safe (parsers are per thread).
absl::StatusOr<Envelope> ParseEnvelope(std::string_view json, const ParseOptions& options = {},
                                       EnvelopeFault* fault = nullptr);

// Compact JSON for `envelope`: id, parent_id (when set), route, headers and status (when
// non-empty), payload. The payload text is copied verbatim.
std::string SerializeEnvelope(const Envelope& envelope);
void AppendEnvelopeJson(const Envelope& envelope, std::string* out);

// Compact JSON for a route object.
void AppendRouteJson(const Route& route, std::string* out);

}  // namespace meshtrace
