#include "replayer/replay.h"

#include "absl/strings/str_cat.h"
#include "common/ids.h"
#include "common/json_diff.h"

namespace meshtrace::replayer {
namespace {

using OrderedJson = nlohmann::ordered_json;

bool IsFailed(const v1::Hop& hop) {
  if (!hop.terminal_phase().empty()) return false;
  if (hop.has_error() || hop.rejected()) return true;
  for (const auto& o : hop.outputs()) {
    if (o.message_type() == "sump" || o.phase() == "failed") return true;
  }
  return false;
}

// {route, payload} of an envelope: what a handler decides; ids, status and headers are the
// sidecar's.
std::string Essentials(const std::string& envelope_json) {
  OrderedJson j = OrderedJson::parse(envelope_json, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return "";
  OrderedJson out = OrderedJson::object();
  out["route"] = j.contains("route") ? j["route"] : OrderedJson();
  out["payload"] = j.contains("payload") ? j["payload"] : OrderedJson();
  return out.dump();
}

void Compare(const v1::Hop& hop, ReplayResult* r) {
  if (r->original_failed) {
    r->same = false;
    r->changes.push_back(r->now_succeeds ? "failed before, succeeds now" : "fails again");
    return;
  }
  const auto& frames = r->reply.frames;
  std::vector<const v1::HopOutput*> outputs;
  for (const auto& o : hop.outputs()) outputs.push_back(&o);
  if (frames.size() != outputs.size()) {
    r->changes.push_back(absl::StrCat(frames.size(), " frame", frames.size() == 1 ? "" : "s",
                                      ", was ", outputs.size()));
  }
  for (size_t i = 0; i < std::min(frames.size(), outputs.size()); ++i) {
    const std::string before = Essentials(outputs[i]->envelope().envelope_json());
    const std::string after = Essentials(frames[i]);
    if (before.empty() || after.empty()) continue;
    auto diff = DiffJson(before, after);
    if (!diff.ok()) continue;
    for (const JsonChange& c : *diff) {
      r->changes.push_back(absl::StrCat("frame ", i + 1, " ", c.path, ": ",
                                        c.before.empty() ? "(none)" : c.before, " -> ",
                                        c.after.empty() ? "(none)" : c.after));
    }
  }
  r->same = r->now_succeeds && r->changes.empty();
}

}  // namespace

bool IsFailedHop(const v1::Hop& hop) { return IsFailed(hop); }

std::vector<const v1::Hop*> SelectHops(const v1::TraceArtifact& trace,
                                       const std::string& envelope_id, const std::string& actor) {
  std::vector<const v1::Hop*> chosen;
  for (const v1::Hop& hop : trace.hops()) {
    if (!hop.terminal_phase().empty()) continue;  // an end actor consuming
    if (!envelope_id.empty()) {
      if (hop.envelope_id() != envelope_id || (!actor.empty() && hop.actor() != actor)) continue;
    } else if (!actor.empty()) {
      if (hop.actor() != actor) continue;
    } else if (!IsFailed(hop)) {
      continue;
    }
    chosen.push_back(&hop);
  }
  return chosen;
}

absl::Status CheckReplayable(const v1::Capture& input, bool allow_redacted) {
  if (input.envelope_json().empty()) {
    return absl::FailedPreconditionError(
        input.payload_omitted()
            ? "the input was captured without its payload (MESHTRACE_CAPTURE=metadata)"
            : "no input was captured (MESHTRACE_CAPTURE=none?)");
  }
  if (input.truncated()) {
    return absl::FailedPreconditionError(
        absl::StrCat("the input capture was cut at ", input.envelope_json().size(), " of ",
                     input.original_size(), " bytes (raise MESHTRACE_CAPTURE_MAX_BYTES)"));
  }
  if (input.payload_omitted()) {
    return absl::FailedPreconditionError("the input was captured without its payload");
  }
  if (input.redacted_fields_size() > 0 && !allow_redacted) {
    std::string fields;
    for (const auto& f : input.redacted_fields())
      absl::StrAppend(&fields, fields.empty() ? "" : ", ", f);
    return absl::FailedPreconditionError("redacted fields in the capture: " + fields +
                                         " (replay anyway with --allow-redacted)");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReplayEnvelope(const v1::Capture& input, const std::string& replay_id) {
  OrderedJson j = OrderedJson::parse(input.envelope_json(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::InvalidArgumentError("the captured input is not a JSON envelope");
  }
  if (!j.contains("headers") || !j["headers"].is_object()) j["headers"] = OrderedJson::object();
  j["headers"][kReplayHeaderName] = replay_id;
  return j.dump();
}

ReplayResult ReplayHop(const std::string& trace_id, const v1::Hop& hop, RuntimeClient* runtime,
                       absl::Duration timeout, bool dry_run, bool allow_redacted) {
  ReplayResult r;
  r.trace_id = trace_id;
  r.actor = hop.actor();
  r.envelope_id = hop.envelope_id();
  r.attempt = hop.attempt();
  r.dry_run = dry_run;
  r.original_failed = IsFailed(hop);
  r.original_http = hop.http_status();
  r.original_outputs = hop.outputs_size();
  if (hop.has_error()) {
    r.original_error = (hop.error().type().empty() ? hop.error().code() : hop.error().type()) +
                       ": " + hop.error().message();
  }
  if (auto s = CheckReplayable(hop.input(), allow_redacted); !s.ok()) {
    r.refused = std::string(s.message());
    return r;
  }
  r.replay_id = NewUuid4();
  auto envelope = ReplayEnvelope(hop.input(), r.replay_id);
  if (!envelope.ok()) {
    r.refused = std::string(envelope.status().message());
    return r;
  }
  r.sent = *std::move(envelope);
  if (dry_run || runtime == nullptr) return r;
  runtime->SetRequestHeader(kReplayHeaderName, r.replay_id);
  r.reply = runtime->Invoke(r.sent, timeout);
  r.now_succeeds =
      r.reply.kind == RuntimeReply::Kind::kFrames || r.reply.kind == RuntimeReply::Kind::kNoContent;
  Compare(hop, &r);
  return r;
}

nlohmann::json ReplayResultJson(const ReplayResult& r) {
  static const char* const kKinds[] = {"frames",      "no_content", "handler_error",
                                       "unreachable", "bad_reply",  "timeout"};
  nlohmann::json j = {{"trace_id", r.trace_id},
                      {"actor", r.actor},
                      {"envelope_id", r.envelope_id},
                      {"attempt", r.attempt},
                      {"original",
                       {{"failed", r.original_failed},
                        {"http_status", r.original_http},
                        {"error", r.original_error},
                        {"outputs", r.original_outputs}}}};
  if (!r.refused.empty()) {
    j["refused"] = r.refused;
    return j;
  }
  j["replay_id"] = r.replay_id;
  if (r.dry_run) {
    j["dry_run"] = true;
    j["would_send"] = nlohmann::json::parse(r.sent, nullptr, false);
    return j;
  }
  nlohmann::json frames = nlohmann::json::array();
  for (const auto& f : r.reply.frames) frames.push_back(nlohmann::json::parse(f, nullptr, false));
  j["now"] = {{"result", kKinds[static_cast<int>(r.reply.kind)]},
              {"succeeds", r.now_succeeds},
              {"http_status", r.reply.http_status},
              {"error", r.reply.error ? (r.reply.error->type.empty() ? r.reply.error->code
                                                                     : r.reply.error->type) +
                                            ": " + r.reply.error->message
                                      : ""},
              {"frames", std::move(frames)},
              {"duration_ms", absl::ToDoubleMilliseconds(r.reply.duration)}};
  j["same_as_original"] = r.same;
  j["changes"] = r.changes;
  return j;
}

}  // namespace meshtrace::replayer
