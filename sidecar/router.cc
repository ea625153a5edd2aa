#include "sidecar/router.h"

#include <simdjson.h>

#include "absl/strings/escaping.h"
#include "common/absl_compat.h"
#include "common/ids.h"
#include "common/json_text.h"
#include "common/topics.h"
#include "common/trace_identity.h"

namespace meshtrace::sidecar {
namespace {

constexpr std::string_view kFirstAttemptHeader = "x-asya-first-attempt";
constexpr std::string_view kPauseHeader = "x-asya-pause";

StatusError FromRuntime(const RuntimeError& error) {
  return StatusError{error.type, error.mro, error.message, error.traceback};
}

// The original message as JSON: its own text when it is valid UTF-8, else base64 (bytes that
// are not UTF-8 cannot sit in a JSON string).
std::string RawAsJson(std::string_view raw) {
  if (simdjson::validate_utf8(raw.data(), raw.size())) return JsonString(raw);
  return "{\"base64\":" + JsonString(absl::Base64Escape(AsAbsl(raw))) + "}";
}

void AppendStringList(const std::vector<std::string>& list, std::string* out) {
  out->push_back('[');
  for (size_t i = 0; i < list.size(); ++i) {
    if (i > 0) out->push_back(',');
    AppendJsonString(list[i], out);
  }
  out->push_back(']');
}

}  // namespace

Router::Router(RouterConfig config, Clock* clock) : config_(std::move(config)), clock_(clock) {}

EnvelopeStatus Router::NextStatus(const EnvelopeStatus& current, std::string_view next_actor,
                                  std::string_view phase, std::string_view reason) const {
  EnvelopeStatus next;
  next.phase = phase;
  next.reason = reason;
  next.actor = next_actor;
  next.attempt = 1;
  next.max_attempts = 1;
  const std::string now = FormatRfc3339(clock_->Now());
  next.created_at = current.created_at.empty() ? now : current.created_at;
  next.updated_at = now;
  next.deadline_at = current.deadline_at;  // meshtrace carries the SLA to every hop (§12)
  return next;
}

Outgoing Router::ToSump(const Envelope* original, std::string_view raw, std::string_view code,
                        const StatusError& error, std::string_view reason,
                        const EnvelopeStatus* status) const {
  Outgoing out;
  out.topic = QueueTopic(config_.ns, config_.sump);
  out.to_actor = config_.sump;
  out.message_type = "sump";
  Envelope& envelope = out.envelope;
  if (original != nullptr) {
    envelope.id = original->id;
    envelope.parent_id = original->parent_id;
    envelope.route = original->route;
    envelope.headers = original->headers;
  } else {
    envelope.id = NewUuid4();
    envelope.route.curr = config_.actor;
  }
  EnsureTraceId(&envelope);
  EnvelopeStatus base = status != nullptr ? *status : EnvelopeStatus{};
  EnvelopeStatus failed = NextStatus(base, config_.actor, "failed", reason);
  failed.attempt = base.attempt > 0 ? base.attempt : 1;
  failed.max_attempts = base.max_attempts;
  failed.error = error;
  envelope.status_json = EnvelopeStatusJson(failed);
  out.phase = failed.phase;
  out.reason = failed.reason;

  std::string payload = "{\"error\":";
  AppendJsonString(code, &payload);
  payload += ",\"details\":{\"message\":";
  AppendJsonString(error.message, &payload);
  payload += ",\"type\":";
  AppendJsonString(error.type, &payload);
  payload += ",\"mro\":";
  AppendStringList(error.mro, &payload);
  payload += ",\"traceback\":";
  AppendJsonString(error.traceback, &payload);
  payload += "},\"original_payload\":";
  payload += original != nullptr ? original->payload_json : RawAsJson(raw);
  payload += '}';
  envelope.payload_json = std::move(payload);
  return out;
}

Decision Router::Reject(std::string_view raw, const Envelope* parsed, std::string_view reason_label,
                        std::string_view status_reason, std::string message) const {
  Decision decision;
  decision.processed_status = "error";
  decision.failed_reason = reason_label;
  decision.error = RuntimeError{std::string(reason_label), "", {}, message, ""};
  decision.summary = std::move(message);
  StatusError error{
      reason_label == "route_mismatch" ? "RouteMismatch" : "ParseError", {}, decision.summary, ""};
  EnvelopeStatus status;
  if (parsed != nullptr) status = ParseEnvelopeStatus(parsed->status_json);
  decision.outgoing.push_back(
      ToSump(parsed, raw, reason_label, error, status_reason, parsed ? &status : nullptr));
  return decision;
}

std::variant<Accepted, Decision> Router::Accept(std::string_view raw) const {
  ParseOptions options;
  options.max_bytes = config_.max_envelope_bytes;
  EnvelopeFault fault = EnvelopeFault::kNone;
  auto envelope = ParseEnvelope(raw, options, &fault);
  if (!envelope.ok()) {
    return Reject(raw, nullptr, FaultReason(fault), "ParseError",
                  std::string(envelope.status().message()));
  }
  if (envelope->route.curr != config_.actor) {
    return Reject(raw, &*envelope, "route_mismatch", "RouteMismatch",
                  "route.curr is '" + envelope->route.curr + "' but this sidecar serves actor '" +
                      config_.actor + "'");
  }
  Accepted accepted;
  accepted.incoming_status_json = envelope->status_json;
  EnvelopeStatus status = ParseEnvelopeStatus(envelope->status_json);
  const std::string now = FormatRfc3339(clock_->Now());
  if (status.actor != config_.actor || status.attempt < 1) status.attempt = 1;
  status.actor = config_.actor;
  status.phase = "processing";
  status.reason.clear();
  status.error.reset();
  status.max_attempts = 0;
  if (status.created_at.empty()) status.created_at = now;
  status.updated_at = now;
  if (!status.deadline_at.empty()) {
    absl::Time deadline;
    std::string error;
    if (absl::ParseTime(absl::RFC3339_full, status.deadline_at, &deadline, &error)) {
      accepted.deadline = deadline;
    }
  }
  envelope->status_json = EnvelopeStatusJson(status);
  accepted.status = std::move(status);
  accepted.trace_id = EnsureTraceId(&*envelope);
  if (!envelope->headers.FindRaw(kFirstAttemptHeader).has_value()) {
    envelope->headers.SetString(kFirstAttemptHeader, now);
  }
  accepted.envelope = *std::move(envelope);
  return accepted;
}

std::variant<Accepted, Decision> Router::AcceptAtEnd(std::string_view raw) const {
  ParseOptions options;
  options.max_bytes = config_.max_envelope_bytes;
  options.require_payload = false;
  EnvelopeFault fault = EnvelopeFault::kNone;
  auto envelope = ParseEnvelope(raw, options, &fault);
  if (!envelope.ok()) {
    Decision decision;
    decision.processed_status = "error";
    decision.failed_reason = FaultReason(fault);
    decision.summary = std::string(envelope.status().message());
    decision.error = RuntimeError{decision.failed_reason, "", {}, decision.summary, ""};
    return decision;
  }
  Accepted accepted;
  accepted.incoming_status_json = envelope->status_json;
  accepted.status = ParseEnvelopeStatus(envelope->status_json);
  accepted.trace_id = TraceIdOf(*envelope);
  accepted.envelope = *std::move(envelope);
  return accepted;
}

std::optional<Decision> Router::CheckDeadline(const Accepted& accepted,
                                              absl::Duration actor_timeout,
                                              absl::Duration* timeout) const {
  *timeout = actor_timeout;
  if (!accepted.deadline.has_value()) return std::nullopt;
  absl::Duration left = *accepted.deadline - clock_->Now();
  if (left >= absl::Seconds(1)) {
    *timeout = std::min(actor_timeout, left);
    return std::nullopt;
  }
  Decision decision;
  decision.processed_status = "sla_expired";
  decision.failed_reason = "sla_timeout";
  decision.summary =
      "SLA deadline expired (deadline_at " + accepted.status.deadline_at + "); runtime not called";
  decision.error = RuntimeError{"timeout", "TimeoutError", {}, decision.summary, ""};
  Outgoing out;
  out.topic = QueueTopic(config_.ns, config_.sink);
  out.to_actor = config_.sink;
  out.message_type = "sink";
  out.envelope = accepted.envelope;
  EnvelopeStatus status = NextStatus(accepted.status, config_.sink, "failed", "Timeout");
  status.error = StatusError{"TimeoutError", {}, decision.summary, ""};
  out.envelope.status_json = EnvelopeStatusJson(status);
  out.phase = status.phase;
  out.reason = status.reason;
  decision.outgoing.push_back(std::move(out));
  return decision;
}

Decision Router::Route(const Accepted& accepted, const RuntimeReply& reply) const {
  Decision decision;
  const Envelope& in = accepted.envelope;
  // Frames first: for an SSE stream that failed midway they were already emitted.
  int index = 0;
  for (const std::string& raw_frame : reply.frames) {
    ParseOptions options;
    options.require_id = false;
    options.max_bytes = config_.max_envelope_bytes;
    auto frame = ParseEnvelope(raw_frame, options);
    if (!frame.ok()) {
      RuntimeReply bad;
      bad.kind = RuntimeReply::Kind::kBadReply;
      bad.error =
          RuntimeError{"bad_reply",
                       "BadRuntimeReply",
                       {},
                       "runtime frame " + std::to_string(index) +
                           " is not a valid frame: " + std::string(frame.status().message()),
                       ""};
      Decision failed = Route(accepted, bad);
      decision.outgoing.insert(decision.outgoing.end(), failed.outgoing.begin(),
                               failed.outgoing.end());
      decision.processed_status = failed.processed_status;
      decision.failed_reason = failed.failed_reason;
      decision.runtime_error_type = failed.runtime_error_type;
      decision.error = failed.error;
      decision.summary = failed.summary;
      return decision;
    }
    if (frame->headers.FindRaw(kPauseHeader).has_value()) {
      decision.paused = true;
      ++index;
      continue;
    }
    Outgoing out;
    Envelope& envelope = out.envelope;
    envelope.id = index == 0 ? in.id : NewUuid4();
    envelope.parent_id = index == 0 ? in.parent_id : std::optional<std::string>(in.id);
    envelope.route = std::move(frame->route);
    envelope.headers = frame->headers.empty() ? in.headers : std::move(frame->headers);
    if (envelope.headers.GetString("trace_id") != accepted.trace_id) {
      envelope.headers.SetString("trace_id", accepted.trace_id);
    }
    envelope.payload_json = std::move(frame->payload_json);
    const bool finished = envelope.route.curr.empty();
    out.to_actor = finished ? config_.sink : envelope.route.curr;
    out.topic = QueueTopic(config_.ns, out.to_actor);
    out.message_type = finished ? "sink" : "routing";
    EnvelopeStatus status =
        finished ? NextStatus(accepted.status, config_.sink, "succeeded", "Completed")
                 : NextStatus(accepted.status, out.to_actor, "pending", "");
    envelope.status_json = EnvelopeStatusJson(status);
    out.phase = status.phase;
    out.reason = status.reason;
    decision.outgoing.push_back(std::move(out));
    ++index;
  }

  switch (reply.kind) {
    case RuntimeReply::Kind::kFrames:
      decision.processed_status =
          decision.paused && decision.outgoing.empty() ? "paused" : "success";
      decision.summary = "routed " + std::to_string(decision.outgoing.size()) + " envelope(s)";
      return decision;
    case RuntimeReply::Kind::kNoContent: {
      Outgoing out;
      out.topic = QueueTopic(config_.ns, config_.sink);
      out.to_actor = config_.sink;
      out.message_type = "sink";
      out.envelope = in;
      out.envelope.status_json =
          EnvelopeStatusJson(NextStatus(accepted.status, config_.sink, "succeeded", "Completed"));
      out.phase = "succeeded";
      out.reason = "Completed";
      decision.outgoing.push_back(std::move(out));
      decision.processed_status = "empty_response";
      decision.summary = "runtime returned no frames: envelope finished at x-sink";
      return decision;
    }
    default:
      break;
  }

  // Failures: an error envelope to x-sump.
  RuntimeError error =
      reply.error.value_or(RuntimeError{"bad_reply", "", {}, "unknown failure", ""});
  std::string status_reason = "RuntimeError";
  decision.failed_reason = "runtime_error";
  decision.runtime_error_type = "execution_error";
  switch (reply.kind) {
    case RuntimeReply::Kind::kHandlerError:
      if (reply.http_status == 400) status_reason = "ParseError";
      decision.summary = "handler failed: " + error.type + ": " + error.message;
      break;
    case RuntimeReply::Kind::kTimeout:
      status_reason = "Timeout";
      decision.runtime_error_type = "timeout";
      decision.exit_after = true;
      decision.summary = error.message;
      break;
    default:
      if (error.type.empty()) error.type = "ConnectionError";
      decision.summary = error.message;
      break;
  }
  decision.processed_status = "error";
  decision.error = error;
  const std::string code = error.code.empty() ? "processing_error" : error.code;
  decision.outgoing.push_back(
      ToSump(&in, "", code, FromRuntime(error), status_reason, &accepted.status));
  return decision;
}

Decision Router::Terminate(const Accepted& accepted, const RuntimeReply& reply) const {
  Decision decision;
  decision.processed_status = "end_consumed";
  decision.summary = "consumed at " + config_.actor + " (phase " + accepted.status.phase + ")";
  if (reply.kind != RuntimeReply::Kind::kFrames && reply.kind != RuntimeReply::Kind::kNoContent &&
      reply.error.has_value()) {
    decision.runtime_error_type =
        reply.kind == RuntimeReply::Kind::kTimeout ? "timeout" : "execution_error";
    decision.error = reply.error;
    decision.exit_after = reply.kind == RuntimeReply::Kind::kTimeout;
  }
  return decision;
}

}  // namespace meshtrace::sidecar
