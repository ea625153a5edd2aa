#include "common/redaction.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/absl_compat.h"
#include "common/json_text.h"

namespace meshtrace {
namespace {

using Json = nlohmann::ordered_json;

absl::Status PathError(std::string_view text, size_t pos, std::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("bad JSON path '", AsAbsl(text), "' at character ",
                                                 pos + 1, ": ", AsAbsl(what)));
}

// Counts replaced values and keeps the first few of their paths for the capture.
struct Recorder {
  std::vector<std::string>* fields;
  size_t count = 0;
};

void Record(Recorder* recorder, std::string path) {
  ++recorder->count;
  if (recorder->fields != nullptr && recorder->fields->size() < Redactor::kMaxReportedFields) {
    recorder->fields->push_back(std::move(path));
  }
}

// Applies `hash` to every value `steps[i..]` selects under `node` (deny-list mode).
template <typename HashFn>
void RedactAt(Json& node, const std::vector<PathStep>& steps, size_t i, const std::string& where,
              const HashFn& hash, Recorder* fields) {
  if (i == steps.size()) {
    node = hash(node.dump());
    Record(fields, where);
    return;
  }
  const PathStep& step = steps[i];
  switch (step.kind) {
    case PathStep::Kind::kKey:
      if (node.is_object() && node.contains(step.key)) {
        RedactAt(node[step.key], steps, i + 1, absl::StrCat(where, ".", step.key), hash, fields);
      }
      return;
    case PathStep::Kind::kIndex: {
      if (!node.is_array()) return;
      long n = static_cast<long>(node.size());
      long index = step.index < 0 ? n + step.index : step.index;
      if (index < 0 || index >= n) return;
      RedactAt(node[index], steps, i + 1, absl::StrCat(where, "[", index, "]"), hash, fields);
      return;
    }
    case PathStep::Kind::kAny:
      if (node.is_array()) {
        for (size_t k = 0; k < node.size(); ++k) {
          RedactAt(node[k], steps, i + 1, absl::StrCat(where, "[", k, "]"), hash, fields);
        }
      } else if (node.is_object()) {
        for (auto& [key, child] : node.items()) {
          RedactAt(child, steps, i + 1, absl::StrCat(where, ".", key), hash, fields);
        }
      }
      return;
  }
}

// Whether `allowed` (a path's steps from `from`) covers the concrete location `at`.
bool Covers(const std::vector<PathStep>& allowed, size_t from, const std::vector<PathStep>& at) {
  if (allowed.size() - from > at.size()) return false;
  for (size_t k = 0; from + k < allowed.size(); ++k) {
    const PathStep& a = allowed[from + k];
    const PathStep& b = at[k];
    if (a.kind == PathStep::Kind::kAny) continue;
    if (a.kind != b.kind) return false;
    if (a.kind == PathStep::Kind::kKey && a.key != b.key) return false;
    if (a.kind == PathStep::Kind::kIndex && a.index != b.index) return false;
  }
  return true;
}

// Allow-list mode: hashes every leaf under `node` that no allowed path covers.
template <typename HashFn>
void RedactUnlisted(Json& node, std::vector<PathStep>* at, const std::string& where,
                    const std::vector<const std::vector<PathStep>*>& allowed, size_t from,
                    const HashFn& hash, Recorder* fields) {
  for (const auto* steps : allowed) {
    if (Covers(*steps, from, *at)) return;
  }
  if (node.is_object()) {
    for (auto& [key, child] : node.items()) {
      at->push_back({PathStep::Kind::kKey, key, 0});
      RedactUnlisted(child, at, absl::StrCat(where, ".", key), allowed, from, hash, fields);
      at->pop_back();
    }
  } else if (node.is_array()) {
    for (size_t k = 0; k < node.size(); ++k) {
      at->push_back({PathStep::Kind::kIndex, "", static_cast<long>(k)});
      RedactUnlisted(node[k], at, absl::StrCat(where, "[", k, "]"), allowed, from, hash, fields);
      at->pop_back();
    }
  } else {
    node = hash(node.dump());
    Record(fields, where);
  }
}

}  // namespace

absl::StatusOr<JsonPath> ParseJsonPath(std::string_view text) {
  JsonPath path{std::string(text), {}};
  if (text.empty() || text[0] != '$') return PathError(text, 0, "a path starts with '$'");
  size_t i = 1;
  while (i < text.size()) {
    if (text[i] == '.') {
      size_t start = ++i;
      while (i < text.size() && text[i] != '.' && text[i] != '[') ++i;
      if (i == start) return PathError(text, start, "empty key after '.'");
      path.steps.push_back({PathStep::Kind::kKey, std::string(text.substr(start, i - start)), 0});
    } else if (text[i] == '[') {
      size_t close = text.find(']', i);
      if (close == std::string_view::npos) return PathError(text, i, "'[' without ']'");
      std::string_view inner = text.substr(i + 1, close - i - 1);
      if (inner == "*") {
        path.steps.push_back({PathStep::Kind::kAny, "", 0});
      } else if (inner.size() >= 2 && (inner.front() == '"' || inner.front() == '\'') &&
                 inner.back() == inner.front()) {
        path.steps.push_back(
            {PathStep::Kind::kKey, std::string(inner.substr(1, inner.size() - 2)), 0});
      } else {
        long index = 0;
        if (!absl::SimpleAtoi(AsAbsl(inner), &index)) {
          return PathError(text, i + 1, "expected an index, '*' or a quoted key inside [...]");
        }
        path.steps.push_back({PathStep::Kind::kIndex, "", index});
      }
      i = close + 1;
    } else {
      return PathError(text, i, "expected '.' or '['");
    }
  }
  if (path.steps.empty() || path.steps[0].kind != PathStep::Kind::kKey ||
      (path.steps[0].key != "payload" && path.steps[0].key != "headers")) {
    return PathError(text, 1, "a path must start with $.payload or $.headers");
  }
  if (path.steps[0].key == "headers" &&
      (path.steps.size() < 2 || path.steps[1].kind != PathStep::Kind::kKey)) {
    return PathError(text, 9, "a headers path must name a header: $.headers.NAME");
  }
  return path;
}

absl::StatusOr<Redactor> Redactor::Create(std::string_view spec, std::string key) {
  Redactor redactor;
  redactor.key_ = std::move(key);
  absl::string_view list = absl::StripAsciiWhitespace(AsAbsl(spec));
  if (absl::ConsumePrefix(&list, "allow:")) redactor.allow_list_ = true;
  for (absl::string_view piece : absl::StrSplit(list, ',', absl::SkipWhitespace())) {
    std::string_view entry = AsStd(absl::StripAsciiWhitespace(piece));
    if (entry.front() == '$') {
      auto path = ParseJsonPath(entry);
      if (!path.ok()) return path.status();
      redactor.paths_.push_back(*std::move(path));
    } else {
      redactor.header_names_.push_back(absl::AsciiStrToLower(AsAbsl(entry)));
    }
  }
  return redactor;
}

std::string Redactor::Hash(std::string_view raw_json) const {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), key_.data(), static_cast<int>(key_.size()),
       reinterpret_cast<const unsigned char*>(raw_json.data()), raw_json.size(), digest, &length);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "redacted:";
  for (unsigned int k = 0; k < 8 && k < length; ++k) {
    out.push_back(kHex[digest[k] >> 4]);
    out.push_back(kHex[digest[k] & 0xF]);
  }
  return out;
}

bool Redactor::HeaderListed(std::string_view name) const {
  std::string lower = absl::AsciiStrToLower(AsAbsl(name));
  for (const auto& listed : header_names_) {
    if (listed == lower) return true;
  }
  return false;
}

Envelope Redactor::Apply(const Envelope& envelope, std::vector<std::string>* fields) const {
  Envelope out = envelope;
  if (!enabled()) return out;
  auto hash = [this](const std::string& raw) { return Json(Hash(raw)); };

  // Headers: whole values by name, then paths into header values.
  Recorder recorder{fields};
  Headers headers;
  for (const auto& [name, raw] : envelope.headers.entries()) {
    const bool identity = name == "trace_id" || name == "traceparent";
    std::vector<const std::vector<PathStep>*> allowed_inside;
    std::vector<const JsonPath*> deny_inside;
    for (const auto& path : paths_) {
      if (path.steps[0].key == "headers" && path.steps[1].key == name) {
        (allow_list_ ? allowed_inside.push_back(&path.steps) : deny_inside.push_back(&path));
      }
    }
    const std::string where = absl::StrCat("$.headers.", name);
    if (allow_list_ ? (!identity && !HeaderListed(name) && allowed_inside.empty())
                    : HeaderListed(name)) {
      headers.SetRaw(name, JsonString(Hash(raw)));
      Record(&recorder, where);
      continue;
    }
    if (deny_inside.empty() && (!allow_list_ || identity || HeaderListed(name))) {
      headers.SetRaw(name, raw);
      continue;
    }
    Json value = Json::parse(raw, nullptr, false);
    if (deny_inside.empty()) {
      std::vector<PathStep> at;
      RedactUnlisted(value, &at, where, allowed_inside, 2, hash, &recorder);
    }
    for (const JsonPath* path : deny_inside) {
      RedactAt(value, path->steps, 2, where, hash, &recorder);
    }
    headers.SetRaw(name, value.dump());
  }
  out.headers = std::move(headers);

  // Payload.
  std::vector<const std::vector<PathStep>*> payload_paths;
  for (const auto& path : paths_) {
    if (path.steps[0].key == "payload") payload_paths.push_back(&path.steps);
  }
  if (!allow_list_ && payload_paths.empty()) return out;
  Json payload = Json::parse(envelope.payload_json, nullptr, false);
  if (payload.is_discarded()) return out;
  Recorder payload_recorder{fields};
  if (allow_list_) {
    std::vector<PathStep> at;
    RedactUnlisted(payload, &at, "$.payload", payload_paths, 1, hash, &payload_recorder);
  } else {
    for (const auto* steps : payload_paths) {
      RedactAt(payload, *steps, 1, "$.payload", hash, &payload_recorder);
    }
  }
  if (payload_recorder.count > 0) out.payload_json = payload.dump();
  return out;
}

}  // namespace meshtrace
