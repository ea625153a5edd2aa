#include "common/envelope_status.h"

#include <simdjson.h>

#include <limits>

#include "common/json_text.h"
#include "common/padded_copy.h"

namespace meshtrace {
namespace {

using simdjson::dom::element;

// Built by hand rather than through a JSON DOM: two status blocks are written per envelope,
// and a DOM round trip was ~6 % of the sidecar's CPU (perf).
std::string StringField(element object, std::string_view key) {
  std::string_view value;
  return object[key].get_string().get(value) ? std::string() : std::string(value);
}

int IntField(element object, std::string_view key) {
  int64_t value = 0;
  if (object[key].get_int64().get(value)) return 0;
  if (value < std::numeric_limits<int>::min() || value > std::numeric_limits<int>::max()) return 0;
  return static_cast<int>(value);
}

void AppendField(std::string_view key, std::string_view value, std::string* out) {
  out->push_back(',');
  AppendJsonString(key, out);
  out->push_back(':');
  AppendJsonString(value, out);
}

}  // namespace

EnvelopeStatus ParseEnvelopeStatus(std::string_view json) {
  EnvelopeStatus status;
  if (json.empty()) return status;
  thread_local ParserAndCopy<simdjson::dom::parser> kept;
  KeptOrOwn p(kept, json.size());
  element object;
  if (p->parser.parse(p->copy.Pad(json)).get(object) || !object.is_object()) {
    return status;
  }
  status.phase = StringField(object, "phase");
  status.reason = StringField(object, "reason");
  status.actor = StringField(object, "actor");
  status.attempt = IntField(object, "attempt");
  status.max_attempts = IntField(object, "max_attempts");
  status.created_at = StringField(object, "created_at");
  status.updated_at = StringField(object, "updated_at");
  status.deadline_at = StringField(object, "deadline_at");
  element error_object;
  if (!object["error"].get(error_object) && error_object.is_object()) {
    StatusError error;
    error.type = StringField(error_object, "type");
    error.message = StringField(error_object, "message");
    error.traceback = StringField(error_object, "traceback");
    simdjson::dom::array mro;
    if (!error_object["mro"].get_array().get(mro)) {
      for (element item : mro) {
        std::string_view s;
        if (!item.get_string().get(s)) error.mro.emplace_back(s);
      }
    }
    status.error = std::move(error);
  }
  return status;
}

std::string EnvelopeStatusJson(const EnvelopeStatus& status) {
  std::string out = "{\"phase\":";
  out.reserve(160);
  AppendJsonString(status.phase, &out);
  if (!status.reason.empty()) AppendField("reason", status.reason, &out);
  AppendField("actor", status.actor, &out);
  out += ",\"attempt\":";
  out += std::to_string(status.attempt);
  out += ",\"max_attempts\":";
  out += std::to_string(status.max_attempts);
  if (!status.created_at.empty()) AppendField("created_at", status.created_at, &out);
  if (!status.updated_at.empty()) AppendField("updated_at", status.updated_at, &out);
  if (!status.deadline_at.empty()) AppendField("deadline_at", status.deadline_at, &out);
  if (status.error.has_value()) {
    const StatusError& e = *status.error;
    out += ",\"error\":{\"type\":";
    AppendJsonString(e.type, &out);
    out += ",\"mro\":[";
    for (size_t i = 0; i < e.mro.size(); ++i) {
      if (i > 0) out.push_back(',');
      AppendJsonString(e.mro[i], &out);
    }
    out += "]";
    AppendField("message", e.message, &out);
    AppendField("traceback", e.traceback, &out);
    out.push_back('}');
  }
  out.push_back('}');
  return out;
}

}  // namespace meshtrace
