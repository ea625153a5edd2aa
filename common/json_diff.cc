#include "common/json_diff.h"

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"

namespace meshtrace {
namespace {

constexpr size_t kMaxValueText = 240;

// "/payload/items/2" → "$.payload.items[2]" (RFC 6901 escapes undone).
std::string PointerToPath(const std::string& pointer) {
  std::string path = "$";
  size_t pos = 0;
  while (pos < pointer.size()) {
    size_t next = pointer.find('/', pos + 1);
    std::string token =
        pointer.substr(pos + 1, next == std::string::npos ? std::string::npos : next - pos - 1);
    std::string unescaped;
    for (size_t i = 0; i < token.size(); ++i) {
      if (token[i] == '~' && i + 1 < token.size()) {
        unescaped += token[i + 1] == '1' ? '/' : '~';
        ++i;
      } else {
        unescaped += token[i];
      }
    }
    const bool index =
        !unescaped.empty() && unescaped.find_first_not_of("0123456789") == std::string::npos;
    const bool plain = !unescaped.empty() && unescaped.find_first_not_of(
                                                 "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTU"
                                                 "VWXYZ0123456789_-") == std::string::npos;
    if (unescaped == "-") {  // RFC 6902: the end of an array
      absl::StrAppend(&path, "[end]");
    } else if (index) {
      absl::StrAppend(&path, "[", unescaped, "]");
    } else if (plain) {
      absl::StrAppend(&path, ".", unescaped);
    } else {
      absl::StrAppend(&path, "[", nlohmann::json(unescaped).dump(), "]");
    }
    if (next == std::string::npos) break;
    pos = next;
  }
  return path;
}

std::string Text(const nlohmann::json& value) {
  std::string s = value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (s.size() > kMaxValueText) s = s.substr(0, kMaxValueText - 3) + "...";
  return s;
}

bool Ignored(const std::string& path, const std::vector<std::string>& ignore) {
  for (const std::string& prefix : ignore) {
    if (path == prefix) return true;
    if (path.size() > prefix.size() && path.compare(0, prefix.size(), prefix) == 0 &&
        (path[prefix.size()] == '.' || path[prefix.size()] == '[')) {
      return true;
    }
  }
  return false;
}

}  // namespace

const char* JsonChangeKindName(JsonChange::Kind kind) {
  switch (kind) {
    case JsonChange::Kind::kAdded:
      return "added";
    case JsonChange::Kind::kRemoved:
      return "removed";
    default:
      return "changed";
  }
}

absl::StatusOr<std::vector<JsonChange>> DiffJson(std::string_view a, std::string_view b,
                                                 const std::vector<std::string>& ignore) {
  nlohmann::json ja = nlohmann::json::parse(a, nullptr, false);
  if (ja.is_discarded()) return absl::InvalidArgumentError("the first document is not JSON");
  nlohmann::json jb = nlohmann::json::parse(b, nullptr, false);
  if (jb.is_discarded()) return absl::InvalidArgumentError("the second document is not JSON");
  std::vector<JsonChange> changes;
  for (const nlohmann::json& op : nlohmann::json::diff(ja, jb)) {
    const std::string pointer = op.value("path", "");
    JsonChange change;
    change.path = PointerToPath(pointer);
    if (Ignored(change.path, ignore)) continue;
    const std::string name = op.value("op", "");
    const nlohmann::json::json_pointer ptr(pointer);
    if (name == "add") {
      change.kind = JsonChange::Kind::kAdded;
      change.after = Text(op["value"]);
    } else if (name == "remove") {
      change.kind = JsonChange::Kind::kRemoved;
      change.before = ja.contains(ptr) ? Text(ja.at(ptr)) : "";
    } else {
      change.kind = JsonChange::Kind::kChanged;
      change.before = ja.contains(ptr) ? Text(ja.at(ptr)) : "";
      change.after = Text(op["value"]);
    }
    changes.push_back(std::move(change));
  }
  return changes;
}

}  // namespace meshtrace
