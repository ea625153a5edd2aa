#include "common/envelope.h"

#include <simdjson.h>

#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/json_text.h"
#include "common/padded_copy.h"
#include "common/status_macros.h"

namespace meshtrace {
namespace {

namespace od = simdjson::ondemand;

// Per-thread parsers and a padded copy of the input (parsers are costly to create).
struct ThreadParsers {
  simdjson::dom::parser dom;
  od::parser ondemand;
  PaddedCopy copy;
};

ThreadParsers& KeptParsers() {
  thread_local ThreadParsers parsers;
  return parsers;
}

absl::Status Fail(EnvelopeFault fault, EnvelopeFault* out, std::string message) {
  if (out != nullptr) *out = fault;
  return absl::InvalidArgumentError(std::move(message));
}

const char* TypeName(od::json_type type) {
  switch (type) {
    case od::json_type::array:
      return "an array";
    case od::json_type::object:
      return "an object";
    case od::json_type::number:
      return "a number";
    case od::json_type::string:
      return "a string";
    case od::json_type::boolean:
      return "a boolean";
    case od::json_type::null:
      return "null";
  }
  return "unknown";
}

const char* DomTypeName(simdjson::dom::element_type type) {
  using simdjson::dom::element_type;
  switch (type) {
    case element_type::ARRAY:
      return "an array";
    case element_type::OBJECT:
      return "an object";
    case element_type::STRING:
      return "a string";
    case element_type::BOOL:
      return "a boolean";
    case element_type::NULL_VALUE:
      return "null";
    default:
      return "a number";
  }
}

// A precise message for bytes simdjson rejected. nlohmann reports line and column, so it is
// asked on this (rare) path only; for depth and capacity errors it would be too costly.
std::string NotJsonMessage(std::string_view json, simdjson::error_code code) {
  if (code != simdjson::DEPTH_ERROR && code != simdjson::CAPACITY) {
    try {
      nlohmann::json ignored = nlohmann::json::parse(json.begin(), json.end());
      (void)ignored;
    } catch (const nlohmann::json::parse_error& e) {
      std::string what = e.what();
      // "[json.exception.parse_error.101] parse error at line 1, ..." -> drop the tag.
      if (auto pos = what.find("] "); pos != std::string::npos) what = what.substr(pos + 2);
      // "last read: '...'" quotes the input, which may not be UTF-8: keep the message printable.
      for (char& c : what) {
        if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) c = '?';
      }
      return absl::StrCat("envelope is not valid JSON: ", what);
    } catch (const std::exception&) {
    }
  }
  return absl::StrCat("envelope is not valid JSON: ", simdjson::error_message(code));
}

std::string_view TrimRight(std::string_view s) {
  while (!s.empty() && absl::ascii_isspace(static_cast<unsigned char>(s.back()))) {
    s.remove_suffix(1);
  }
  return s;
}

// The raw text of `value` as it stands in the input (simdjson includes trailing whitespace).
simdjson::simdjson_result<std::string_view> RawJson(od::value value) {
  od::json_type type;
  if (auto error = value.type().get(type)) return error;
  std::string_view raw;
  if (type == od::json_type::object) {
    od::object object;
    if (auto error = value.get_object().get(object)) return error;
    if (auto error = object.raw_json().get(raw)) return error;
  } else if (type == od::json_type::array) {
    od::array array;
    if (auto error = value.get_array().get(array)) return error;
    if (auto error = array.raw_json().get(raw)) return error;
  } else {
    raw = value.raw_json_token();
  }
  return TrimRight(raw);
}

// Reads a JSON array of strings; false when it is not one.
bool ReadStringList(od::value value, std::vector<std::string>* out) {
  od::array array;
  if (value.get_array().get(array)) return false;
  for (auto element : array) {
    std::string_view s;
    if (element.get_string().get(s)) return false;
    out->emplace_back(s);
  }
  return true;
}

absl::Status ParseRoute(od::value value, Route* route, EnvelopeFault* fault) {
  od::object object;
  if (value.get_object().get(object)) {
    od::json_type type = od::json_type::null;
    (void)value.type().get(type);
    return Fail(EnvelopeFault::kRouteNotObject, fault,
                absl::StrCat("route must be an object {prev, curr, next}, got ", TypeName(type)));
  }
  bool has_prev = false, has_curr = false, has_next = false, legacy = false;
  for (auto field : object) {
    std::string_view key;
    if (field.unescaped_key().get(key)) {
      return Fail(EnvelopeFault::kRouteNotObject, fault, "route has an unreadable key");
    }
    if (key == "prev") {
      has_prev = true;
      if (!ReadStringList(field.value(), &route->prev)) {
        return Fail(EnvelopeFault::kPrevNotStringList, fault,
                    "route.prev must be a list of strings");
      }
    } else if (key == "next") {
      has_next = true;
      if (!ReadStringList(field.value(), &route->next)) {
        return Fail(EnvelopeFault::kNextNotStringList, fault,
                    "route.next must be a list of strings");
      }
    } else if (key == "curr") {
      has_curr = true;
      std::string_view curr;
      if (field.value().get_string().get(curr)) {
        return Fail(EnvelopeFault::kCurrNotString, fault, "route.curr must be a string");
      }
      route->curr = curr;
    } else if (key == "actors" || key == "current") {
      legacy = true;
    }
  }
  if (legacy && !has_prev && !has_curr && !has_next) {
    return Fail(EnvelopeFault::kLegacyRoute, fault,
                "route is the legacy {actors, current} form (Asya before 2026-02); "
                "current runtimes need {prev, curr, next}");
  }
  if (!has_prev) {
    return Fail(EnvelopeFault::kPrevNotStringList, fault, "route is missing required field 'prev'");
  }
  if (!has_curr) {
    return Fail(EnvelopeFault::kCurrNotString, fault, "route is missing required field 'curr'");
  }
  if (!has_next) {
    return Fail(EnvelopeFault::kNextNotStringList, fault, "route is missing required field 'next'");
  }
  return absl::OkStatus();
}

absl::Status ParseHeaders(od::value value, Headers* headers, EnvelopeFault* fault) {
  od::object object;
  if (value.get_object().get(object)) {
    return Fail(EnvelopeFault::kHeadersNotObject, fault, "headers must be an object");
  }
  for (auto field : object) {
    std::string_view key, raw;
    if (field.unescaped_key().get(key) || RawJson(field.value()).get(raw)) {
      return Fail(EnvelopeFault::kHeadersNotObject, fault, "headers has an unreadable entry");
    }
    headers->SetRaw(key, std::string(raw));
  }
  return absl::OkStatus();
}

absl::Status ParseFields(od::object object, const ParseOptions& options, Envelope* envelope,
                         EnvelopeFault* fault) {
  bool has_id = false, has_route = false, has_payload = false;
  for (auto field : object) {
    std::string_view key;
    if (field.unescaped_key().get(key)) {
      return Fail(EnvelopeFault::kNotJson, fault, "envelope has an unreadable key");
    }
    od::value value = field.value();
    if (key == "id") {
      std::string_view id;
      if (value.get_string().get(id)) {
        return Fail(EnvelopeFault::kIdNotString, fault, "field 'id' must be a string");
      }
      has_id = true;
      envelope->id = id;
    } else if (key == "parent_id") {
      bool is_null = false;
      if (!value.is_null().get(is_null) && is_null) continue;
      std::string_view parent;
      if (value.get_string().get(parent)) {
        return Fail(EnvelopeFault::kParentIdNotString, fault,
                    "field 'parent_id' must be a string or null");
      }
      envelope->parent_id = std::string(parent);
    } else if (key == "route") {
      has_route = true;
      envelope->route = Route{};
      MESHTRACE_RETURN_IF_ERROR(ParseRoute(value, &envelope->route, fault));
    } else if (key == "headers") {
      bool is_null = false;
      if (!value.is_null().get(is_null) && is_null) continue;
      envelope->headers = Headers{};
      MESHTRACE_RETURN_IF_ERROR(ParseHeaders(value, &envelope->headers, fault));
    } else if (key == "status") {
      bool is_null = false;
      if (!value.is_null().get(is_null) && is_null) continue;
      od::object status;
      std::string_view raw;
      if (value.get_object().get(status) || status.raw_json().get(raw)) {
        return Fail(EnvelopeFault::kStatusNotObject, fault, "status must be an object");
      }
      envelope->status_json = TrimRight(raw);
    } else if (key == "payload") {
      std::string_view raw;
      if (RawJson(value).get(raw)) {
        return Fail(EnvelopeFault::kNotJson, fault, "payload is unreadable");
      }
      has_payload = true;
      envelope->payload_json = raw;
    }
  }
  if (!has_id && options.require_id) {
    return Fail(EnvelopeFault::kMissingId, fault, "missing required field 'id'");
  }
  if (!has_route) {
    return Fail(EnvelopeFault::kMissingRoute, fault, "missing required field 'route'");
  }
  if (!has_payload && options.require_payload) {
    return Fail(EnvelopeFault::kMissingPayload, fault, "missing required field 'payload'");
  }
  if (!has_payload) envelope->payload_json = "null";
  return absl::OkStatus();
}

}  // namespace

std::string_view FaultReason(EnvelopeFault fault) {
  switch (fault) {
    case EnvelopeFault::kNotJson:
    case EnvelopeFault::kNotObject:
      return "parse_error";
    default:
      return "validation_error";
  }
}

absl::StatusOr<Envelope> ParseEnvelope(std::string_view json, const ParseOptions& options,
                                       EnvelopeFault* fault) {
  if (fault != nullptr) *fault = EnvelopeFault::kNone;
  if (json.size() > options.max_bytes) {
    return Fail(
        EnvelopeFault::kTooLarge, fault,
        absl::StrCat("envelope is ", json.size(), " bytes, over the limit of ", options.max_bytes));
  }
  KeptOrOwn<ThreadParsers> parsers(KeptParsers(), json.size());
  const simdjson::padded_string_view padded = parsers->copy.Pad(json);
  // The DOM pass validates every byte (the on-demand pass below skips what it does not read).
  simdjson::dom::element root;
  if (auto error = parsers->dom.parse(padded).get(root)) {
    return Fail(EnvelopeFault::kNotJson, fault, NotJsonMessage(json, error));
  }
  if (!root.is_object()) {
    return Fail(EnvelopeFault::kNotObject, fault,
                absl::StrCat("envelope must be a JSON object, got ", DomTypeName(root.type())));
  }
  od::document doc;
  od::object object;
  if (parsers->ondemand.iterate(padded).get(doc) || doc.get_object().get(object)) {
    return Fail(EnvelopeFault::kNotJson, fault, "envelope is not readable JSON");
  }
  Envelope envelope;
  MESHTRACE_RETURN_IF_ERROR(ParseFields(object, options, &envelope, fault));
  return envelope;
}

void AppendRouteJson(const Route& route, std::string* out) {
  auto append_list = [out](const std::vector<std::string>& list) {
    out->push_back('[');
    for (size_t i = 0; i < list.size(); ++i) {
      if (i > 0) out->push_back(',');
      AppendJsonString(list[i], out);
    }
    out->push_back(']');
  };
  out->append("{\"prev\":");
  append_list(route.prev);
  out->append(",\"curr\":");
  AppendJsonString(route.curr, out);
  out->append(",\"next\":");
  append_list(route.next);
  out->push_back('}');
}

void AppendEnvelopeJson(const Envelope& envelope, std::string* out) {
  out->append("{\"id\":");
  AppendJsonString(envelope.id, out);
  if (envelope.parent_id.has_value()) {
    out->append(",\"parent_id\":");
    AppendJsonString(*envelope.parent_id, out);
  }
  out->append(",\"route\":");
  AppendRouteJson(envelope.route, out);
  if (!envelope.headers.empty()) {
    out->append(",\"headers\":{");
    bool first = true;
    for (const auto& [name, raw] : envelope.headers.entries()) {
      if (!first) out->push_back(',');
      first = false;
      AppendJsonString(name, out);
      out->push_back(':');
      out->append(raw);
    }
    out->push_back('}');
  }
  if (!envelope.status_json.empty()) {
    out->append(",\"status\":");
    out->append(envelope.status_json);
  }
  out->append(",\"payload\":");
  out->append(envelope.payload_json.empty() ? std::string_view("null")
                                            : std::string_view(envelope.payload_json));
  out->push_back('}');
}

std::string SerializeEnvelope(const Envelope& envelope) {
  std::string out;
  out.reserve(envelope.payload_json.size() + envelope.status_json.size() + 256);
  AppendEnvelopeJson(envelope, &out);
  return out;
}

std::optional<std::string_view> Headers::FindRaw(std::string_view name) const {
  for (const auto& [key, raw] : entries_) {
    if (key == name) return std::string_view(raw);
  }
  return std::nullopt;
}

std::optional<std::string> Headers::GetString(std::string_view name) const {
  std::optional<std::string_view> raw = FindRaw(name);
  if (!raw.has_value() || raw->empty() || raw->front() != '"') return std::nullopt;
  // Raw values come from validated JSON: a string without escapes is its own text.
  if (raw->size() >= 2 && raw->back() == '"' && raw->find('\\') == std::string_view::npos) {
    return std::string(raw->substr(1, raw->size() - 2));
  }
  nlohmann::json value = nlohmann::json::parse(raw->begin(), raw->end(), nullptr, false);
  if (!value.is_string()) return std::nullopt;
  return value.get<std::string>();
}

void Headers::SetString(std::string_view name, std::string_view value) {
  SetRaw(name, JsonString(value));
}

void Headers::SetRaw(std::string_view name, std::string raw_json) {
  for (auto& [key, raw] : entries_) {
    if (key == name) {
      raw = std::move(raw_json);
      return;
    }
  }
  entries_.emplace_back(std::string(name), std::move(raw_json));
}

bool Headers::Erase(std::string_view name) {
  for (auto it = entries_.begin(); it != entries_.end(); ++it) {
    if (it->first == name) {
      entries_.erase(it);
      return true;
    }
  }
  return false;
}

}  // namespace meshtrace
