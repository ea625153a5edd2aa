#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/envelope.h"

namespace meshtrace {

// One step of a JSON path: `.key` / `["key"]`, `[3]` (negative counts from the end), `[*]`.
struct PathStep {
  enum class Kind { kKey, kIndex, kAny };
  Kind kind = Kind::kKey;
  std::string key;
  long index = 0;
};

// A parsed path into an envelope, e.g. `$.payload.card.number`, `$.payload.items[*].ssn`,
// `$.headers.auth.token`. The first step is always `payload` or `headers`.
struct JsonPath {
  std::string text;
  std::vector<PathStep> steps;
};

// Parses a path; errors name the offending character position.
absl::StatusOr<JsonPath> ParseJsonPath(std::string_view text);

// Replaces sensitive parts of an envelope with a keyed hash before a capture leaves the pod
// (DESIGN.md §8). Equal values give equal hashes under one key, so two redacted runs still
// diff. Immutable after creation; thread-safe.
class Redactor {
 public:
  // A redactor that changes nothing.
  Redactor() = default;

  // `spec` is a comma-separated list (MESHTRACE_REDACT): entries starting with `$` are JSON
  // paths, other entries header names (matched case-insensitively). A leading `allow:` turns
  // the list into an allow-list: every header and payload leaf *not* listed is hashed
  // (fail-closed), except the trace identity headers `trace_id` and `traceparent`.
  static absl::StatusOr<Redactor> Create(std::string_view spec, std::string key);

  bool enabled() const { return allow_list_ || !header_names_.empty() || !paths_.empty(); }

  // A redacted copy of `envelope`. The paths of the replaced fields are appended to `*fields`
  // (e.g. `$.headers.authorization`, `$.payload.card.number`), at most kMaxReportedFields.
  Envelope Apply(const Envelope& envelope, std::vector<std::string>* fields) const;

  // The replacement for a value given as raw JSON text: "redacted:<16 hex of HMAC-SHA256>".
  std::string Hash(std::string_view raw_json) const;

  static constexpr size_t kMaxReportedFields = 64;

 private:
  bool HeaderListed(std::string_view name) const;

  std::vector<std::string> header_names_;  // lower case
  std::vector<JsonPath> paths_;
  bool allow_list_ = false;
  std::string key_;
};

}  // namespace meshtrace
