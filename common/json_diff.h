#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace meshtrace {

// One difference between two JSON documents.
struct JsonChange {
  enum class Kind { kAdded, kRemoved, kChanged };
  Kind kind = Kind::kChanged;
  std::string path;    // "$.payload.items[2].price"
  std::string before;  // compact JSON of the old value ("" when added), cut at 240 bytes
  std::string after;   // compact JSON of the new value ("" when removed), cut at 240 bytes
};

// The differences turning `a` into `b` (RFC 6902 diff), with paths written as JSON paths.
// A change at or below a path in `ignore` ("$.status.updated_at", "$.headers.trace_id") is left
// out. InvalidArgument names the side that is not JSON.
absl::StatusOr<std::vector<JsonChange>> DiffJson(std::string_view a, std::string_view b,
                                                 const std::vector<std::string>& ignore = {});

const char* JsonChangeKindName(JsonChange::Kind kind);

}  // namespace meshtrace
