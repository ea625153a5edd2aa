#include "tap/reply_rules.h"

#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "common/absl_compat.h"

namespace meshtrace::tap {
namespace {

ReplyVerdict Bad(std::string message) {
  ReplyVerdict v;
  v.kind = ReplyVerdict::Kind::kBadReply;
  v.error = RuntimeError{"bad_reply", "BadRuntimeReply", {}, std::move(message), ""};
  return v;
}

}  // namespace

bool IsEventStream(std::string_view content_type) {
  return absl::StartsWithIgnoreCase(absl::StripLeadingAsciiWhitespace(AsAbsl(content_type)),
                                    "text/event-stream");
}

RuntimeError SseError(std::string_view data) {
  RuntimeReply reply = InterpretResponse(500, "application/json", data);
  if (reply.kind == RuntimeReply::Kind::kHandlerError && reply.error.has_value()) {
    return *reply.error;
  }
  return RuntimeError{"processing_error",
                      "",
                      {},
                      "unreadable SSE error event: " + std::string(data.substr(0, 200)),
                      ""};
}

ReplyVerdict JudgeReply(int http_status, std::string_view body) {
  if (http_status == 204) return ReplyVerdict{ReplyVerdict::Kind::kNoFrames, {}, std::nullopt};
  if (http_status == 200) {
    RuntimeReply reply = InterpretResponse(200, "application/json", body);
    if (reply.kind == RuntimeReply::Kind::kFrames) {
      return ReplyVerdict{ReplyVerdict::Kind::kFrames, std::move(reply.frames), std::nullopt};
    }
    if (reply.kind == RuntimeReply::Kind::kNoContent) {
      return ReplyVerdict{ReplyVerdict::Kind::kNoFrames, {}, std::nullopt};
    }
    return Bad("runtime answered 200 without a {\"frames\": [...]} body");
  }
  // Any other status: one response object.
  const nlohmann::json object = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!object.is_object()) {
    return Bad("runtime answered HTTP " + std::to_string(http_status) +
               " with a body that is "
               "not a JSON object");
  }
  auto error = object.find("error");
  const bool has_error = error != object.end() && !error->is_null() &&
                         !(error->is_string() && error->get_ref<const std::string&>().empty());
  if (!has_error) {
    // The stock client takes it as one success frame with an empty route: x-sink.
    return ReplyVerdict{ReplyVerdict::Kind::kNoFrames, {}, std::nullopt};
  }
  ReplyVerdict v;
  v.kind = ReplyVerdict::Kind::kHandlerError;
  v.error = SseError(body);
  if (v.error->code.empty() && error->is_string()) v.error->code = error->get<std::string>();
  return v;
}

}  // namespace meshtrace::tap
