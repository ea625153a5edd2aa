#include "tap/reporter.h"

#include "common/envelope_status.h"
#include "common/trace_identity.h"

namespace meshtrace::tap {
namespace {

using Event = v1::LifecycleEvent;

// The stock sidecar does not route a frame that carries this header (asya-protocol.md §1.3).
constexpr std::string_view kPauseHeader = "x-asya-pause";

}  // namespace

const char* OutcomeName(InvokeEnd::Kind kind) {
  switch (kind) {
    case InvokeEnd::Kind::kFrames:
      return "frames";
    case InvokeEnd::Kind::kNoFrames:
      return "no_content";
    case InvokeEnd::Kind::kHandlerError:
      return "handler_error";
    case InvokeEnd::Kind::kBadReply:
      return "bad_reply";
    case InvokeEnd::Kind::kUpstreamUnavailable:
      return "upstream_unavailable";
    case InvokeEnd::Kind::kClientGone:
      return "client_gone";
  }
  return "bad_reply";
}

Reporter::Reporter(TapIdentity identity, std::unique_ptr<events::EventWriter> writer)
    : identity_(std::move(identity)), writer_(std::move(writer)) {}

Invocation Reporter::Received(std::string_view body, absl::Time at) {
  Invocation in;
  auto parsed = ParseEnvelope(body);
  if (!parsed.ok()) return in;  // the runtime answers 400; the tap is not the judge
  in.reported = true;
  in.envelope = *std::move(parsed);
  in.actor = !identity_.actor.empty() ? identity_.actor : in.envelope.route.curr;
  in.trace_id = TraceIdOf(in.envelope);
  in.event_fields = events::EventWriter::EnvelopeFields(
      in.trace_id, &in.envelope, identity_.actor.empty() ? std::string_view(in.actor) : "");
  const EnvelopeStatus status = ParseEnvelopeStatus(in.envelope.status_json);
  const std::optional<std::string> replay = in.envelope.headers.GetString(kReplayHeader);
  absl::MutexLock lock(&mu_);
  events::EventWriter& w = *writer_;
  if (!w.enabled()) return in;
  events::EventWriter::Capture input;
  const bool capture = w.capturing();
  if (capture) w.PrepareCapture(body, &in.envelope, &input);
  using R = v1::Received;
  w.Emit(in.event_fields, at, [&](auto& p) {
    const size_t m = p.Begin(Event::kReceivedFieldNumber);
    p.Int(R::kAttemptFieldNumber, status.attempt);
    p.String(R::kStatusJsonFieldNumber, in.envelope.status_json);
    if (capture) w.WriteCapture(input, R::kInputFieldNumber, p);
    if (replay) p.String(R::kReplayIdFieldNumber, *replay);
    p.End(m);
  });
  return in;
}

void Reporter::Frame(const Invocation& in, std::string_view frame_json, int index, absl::Time at) {
  if (!in.reported || identity_.end_actor) return;  // end actors never route
  ParseOptions options;
  options.require_id = false;
  auto frame = ParseEnvelope(frame_json, options);
  absl::MutexLock lock(&mu_);
  const std::string id = index == 0 ? in.envelope.id : std::string();
  if (!frame.ok()) {
    EmitSend(in, id, identity_.sump, "sump", "failed", "RuntimeError", index, frame_json, nullptr,
             at);
    return;
  }
  if (frame->headers.FindRaw(kPauseHeader).has_value()) {
    EmitTerminated(in, "paused", "Paused", std::nullopt, at);
    return;
  }
  frame->id = id;
  if (index > 0) frame->parent_id = in.envelope.id;
  const bool done = frame->route.curr.empty();
  EmitSend(in, id, done ? identity_.sink : frame->route.curr, done ? "sink" : "routing",
           done ? "succeeded" : "pending", done ? "Completed" : "", index, frame_json, &*frame, at);
}

void Reporter::End(const Invocation& in, const InvokeEnd& end, absl::Time at) {
  if (!in.reported) return;
  absl::MutexLock lock(&mu_);
  events::EventWriter& w = *writer_;
  using R = v1::RuntimeResult;
  w.Emit(in.event_fields, at, [&](auto& p) {
    const size_t m = p.Begin(Event::kRuntimeResultFieldNumber);
    p.Int(R::kHttpStatusFieldNumber, end.http_status);
    p.Int(R::kDurationNsFieldNumber, absl::ToInt64Nanoseconds(end.duration));
    p.Int(R::kFrameCountFieldNumber, end.frames);
    if (end.error.has_value()) events::WriteError(*end.error, R::kErrorFieldNumber, p);
    p.Bool(R::kTimedOutFieldNumber, end.kind == InvokeEnd::Kind::kClientGone);
    p.End(m);
  });
  if (identity_.end_actor) {
    // A failed call on an end actor is requeued by the stock sidecar: it comes back.
    if (end.kind == InvokeEnd::Kind::kFrames || end.kind == InvokeEnd::Kind::kNoFrames) {
      const EnvelopeStatus status = ParseEnvelopeStatus(in.envelope.status_json);
      std::optional<RuntimeError> error;
      if (status.error) {
        error = RuntimeError{"", status.error->type, status.error->mro, status.error->message,
                             status.error->traceback};
      }
      EmitTerminated(in, status.phase, status.reason, error, at);
    }
    return;
  }
  switch (end.kind) {
    case InvokeEnd::Kind::kFrames:
      return;  // each frame was reported as it passed
    case InvokeEnd::Kind::kNoFrames:
      EmitSend(in, in.envelope.id, identity_.sink, "sink", "succeeded", "Completed", 0, {}, nullptr,
               at);
      return;
    default:
      EmitSend(in, in.envelope.id, identity_.sump, "sump", "failed", "RuntimeError", 0, {}, nullptr,
               at);
      return;
  }
}

void Reporter::EmitSend(const Invocation& in, std::string_view id, std::string_view to_actor,
                        std::string_view message_type, std::string_view phase,
                        std::string_view reason, int index, std::string_view capture_json,
                        const Envelope* capture_parsed, absl::Time at) {
  events::EventWriter& w = *writer_;
  if (!w.enabled()) return;
  events::EventWriter::Capture output;
  const bool capture = w.capturing() && !capture_json.empty();
  if (capture) w.PrepareCapture(capture_json, capture_parsed, &output);
  using R = v1::Routed;
  w.Emit(in.event_fields, at, [&](auto& p) {
    const size_t m = p.Begin(Event::kRoutedFieldNumber);
    p.String(R::kEnvelopeIdFieldNumber, id);
    if (index > 0) p.String(R::kParentIdFieldNumber, in.envelope.id);
    p.String(R::kMessageTypeFieldNumber, message_type);
    p.String(R::kToActorFieldNumber, to_actor);
    if (capture) w.WriteCapture(output, R::kOutputFieldNumber, p);
    p.String(R::kPhaseFieldNumber, phase);
    p.String(R::kReasonFieldNumber, reason);
    p.Bool(R::kInferredFieldNumber, true);
    p.Int(R::kFrameIndexFieldNumber, index);
    p.End(m);
  });
}

void Reporter::EmitTerminated(const Invocation& in, std::string_view phase, std::string_view reason,
                              const std::optional<RuntimeError>& error, absl::Time at) {
  events::EventWriter& w = *writer_;
  using T = v1::Terminated;
  w.Emit(in.event_fields, at, [&](auto& p) {
    const size_t m = p.Begin(Event::kTerminatedFieldNumber);
    p.String(T::kPhaseFieldNumber, phase);
    p.String(T::kReasonFieldNumber, reason);
    if (error) events::WriteError(*error, T::kErrorFieldNumber, p);
    p.End(m);
  });
}

}  // namespace meshtrace::tap
