#include "common/envelope_status.h"

#include <nlohmann/json.hpp>

namespace meshtrace {
namespace {

using Json = nlohmann::ordered_json;

std::string StringField(const Json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

int IntField(const Json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_number_integer() ? it->get<int>() : 0;
}

}  // namespace

EnvelopeStatus ParseEnvelopeStatus(std::string_view json) {
  EnvelopeStatus status;
  if (json.empty()) return status;
  Json object = Json::parse(json, nullptr, false);
  if (!object.is_object()) return status;
  status.phase = StringField(object, "phase");
  status.reason = StringField(object, "reason");
  status.actor = StringField(object, "actor");
  status.attempt = IntField(object, "attempt");
  status.max_attempts = IntField(object, "max_attempts");
  status.created_at = StringField(object, "created_at");
  status.updated_at = StringField(object, "updated_at");
  status.deadline_at = StringField(object, "deadline_at");
  if (auto it = object.find("error"); it != object.end() && it->is_object()) {
    StatusError error;
    error.type = StringField(*it, "type");
    error.message = StringField(*it, "message");
    error.traceback = StringField(*it, "traceback");
    if (auto mro = it->find("mro"); mro != it->end() && mro->is_array()) {
      for (const auto& item : *mro) {
        if (item.is_string()) error.mro.push_back(item.get<std::string>());
      }
    }
    status.error = std::move(error);
  }
  return status;
}

std::string EnvelopeStatusJson(const EnvelopeStatus& status) {
  Json object = Json::object();
  object["phase"] = status.phase;
  if (!status.reason.empty()) object["reason"] = status.reason;
  object["actor"] = status.actor;
  object["attempt"] = status.attempt;
  object["max_attempts"] = status.max_attempts;
  if (!status.created_at.empty()) object["created_at"] = status.created_at;
  if (!status.updated_at.empty()) object["updated_at"] = status.updated_at;
  if (!status.deadline_at.empty()) object["deadline_at"] = status.deadline_at;
  if (status.error.has_value()) {
    object["error"] = Json{{"type", status.error->type},
                           {"mro", status.error->mro},
                           {"message", status.error->message},
                           {"traceback", status.error->traceback}};
  }
  return object.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace meshtrace
