#include "events/event_writer.h"

#include <unistd.h>

#include <algorithm>

#include "absl/time/clock.h"

namespace meshtrace::events {
namespace {

using Event = v1::LifecycleEvent;

template <typename Fields>
std::string Encode(const Fields& fields) {
  ProtoSizer sizer;
  fields(sizer);
  std::string out(sizer.size(), '\0');
  ProtoWriter w(out.data(), out.data() + out.size(), &sizer.lengths());
  fields(w);
  return out;
}

}  // namespace

std::string NewSourceId(std::string_view pod_or_actor) {
  return std::string(pod_or_actor) + "/" + std::to_string(getpid()) + "-" +
         std::to_string(absl::ToUnixNanos(absl::Now()) % 1000000007);
}

EventWriter::EventWriter(EventSource source, const EventSettings& settings, Redactor redactor,
                         EventMetrics* metrics, std::unique_ptr<EventEmitter> emitter)
    : source_(std::move(source)),
      settings_(settings),
      redactor_(std::move(redactor)),
      metrics_(metrics),
      emitter_(std::move(emitter)),
      process_fields_(ProcessFields()) {}

std::string EventWriter::ProcessFields() const {
  return Encode([&](auto& w) {
    w.String(Event::kSourceIdFieldNumber, source_.source_id);
    w.String(Event::kActorFieldNumber, source_.actor);
    w.String(Event::kPodFieldNumber, source_.pod);
    if (source_.observer == Observer::kTap) {
      w.Varint(Event::kObserverFieldNumber, v1::OBSERVER_TAP);
    }
  });
}

std::string EventWriter::EnvelopeFields(const std::string& trace_id, const Envelope* envelope,
                                        std::string_view actor) {
  return Encode([&](auto& w) {
    w.String(Event::kTraceIdFieldNumber, trace_id);
    w.String(Event::kActorFieldNumber, actor);
    if (envelope == nullptr) return;
    w.String(Event::kEnvelopeIdFieldNumber, envelope->id);
    if (envelope->parent_id) w.String(Event::kParentIdFieldNumber, *envelope->parent_id);
    WriteRoute(envelope->route, Event::kRouteFieldNumber, w);
  });
}

void EventWriter::PrepareCapture(std::string_view json, const Envelope* parsed, Capture* c) const {
  c->original = json;
  if (redactor_.enabled() && parsed == nullptr) {
    c->withheld = true;  // cannot be redacted: never sent raw
  } else if (settings_.capture == CaptureMode::kMetadata && parsed != nullptr) {
    Envelope copy = *parsed;
    copy.payload_json = "null";
    c->rewritten =
        SerializeEnvelope(redactor_.enabled() ? redactor_.Apply(copy, &c->redacted) : copy);
    c->use_rewritten = true;
    c->payload_omitted = true;
  } else if (redactor_.enabled()) {
    c->rewritten = SerializeEnvelope(redactor_.Apply(*parsed, &c->redacted));
    c->use_rewritten = true;
  }
  if (metrics_ != nullptr && !c->withheld) {
    metrics_->CaptureBytes(std::min(c->json().size(), settings_.capture_max_bytes));
  }
}

}  // namespace meshtrace::events
