#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/time/time.h"
#include "common/envelope.h"
#include "common/redaction.h"
#include "common/runtime_client.h"
#include "events/event_emitter.h"
#include "events/event_settings.h"
#include "events/proto_writer.h"
#include "meshtrace/v1/events.pb.h"

namespace meshtrace::events {

// Who saw the step an event reports (LifecycleEvent.observer).
enum class Observer { kSidecar, kTap };

// One process's identity in its events.
struct EventSource {
  std::string source_id;  // unique per process instance
  std::string actor;      // empty: each event names its actor (EnvelopeFields' `actor`)
  std::string pod;
  Observer observer = Observer::kSidecar;
};

// A process-unique source id: "<pod or actor>/<pid>-<a time-derived number>".
std::string NewSourceId(std::string_view pod_or_actor);

// Writes lifecycle events (proto/meshtrace/v1/events.proto) straight into the emitter's open
// batch: each event is sized, then written once, with no message object in between. An event's
// header is the process's fields (EventSource), the envelope's (EnvelopeFields), then its
// sequence number and time; the first two parts are encoded once and copied into each event
// as bytes (protobuf takes fields in any order). Captures are redacted, then capped, per the
// EventSettings. Used by one thread (the one that handles envelopes); the emitter is
// thread-safe.
class EventWriter {
 public:
  // `emitter` may be null: events are off, and Emit does nothing.
  EventWriter(EventSource source, const EventSettings& settings, Redactor redactor,
              EventMetrics* metrics, std::unique_ptr<EventEmitter> emitter);

  bool enabled() const { return emitter_ != nullptr; }
  bool capturing() const { return enabled() && settings_.capture != CaptureMode::kNone; }
  size_t capture_max_bytes() const { return settings_.capture_max_bytes; }
  EventEmitter* emitter() { return emitter_.get(); }

  // The envelope's part of an event's header (`envelope` may be null: a message that was not
  // an envelope). `actor` is written when the source names none.
  static std::string EnvelopeFields(const std::string& trace_id, const Envelope* envelope,
                                    std::string_view actor = {});

  // Emits an event of time `when`: the header with `envelope_fields`, then what `body(w)`
  // writes (`w` is a ProtoWriter or a ProtoSizer). `when` is a time the caller read anyway.
  template <typename Body>
  void Emit(std::string_view envelope_fields, absl::Time when, const Body& body);

  // The capture of an envelope per MESHTRACE_CAPTURE: redacted, then capped. `json` is the
  // envelope as it was on the wire (it must outlive the Capture); a rewritten one (metadata,
  // redaction) is held in the Capture. With redaction on, an envelope that could not be
  // parsed (`parsed` null) is not captured at all: it is never sent unredacted.
  struct Capture {
    std::string_view original;
    std::string rewritten;
    bool use_rewritten = false;
    bool payload_omitted = false;
    bool withheld = false;
    std::vector<std::string> redacted;
    std::string_view json() const { return use_rewritten ? rewritten : original; }
  };
  void PrepareCapture(std::string_view json, const Envelope* parsed, Capture* c) const;
  // Writes it as the Capture message `field`.
  template <typename W>
  void WriteCapture(const Capture& c, int field, W& w) const;

 private:
  std::string ProcessFields() const;

  const EventSource source_;
  const EventSettings settings_;
  const Redactor redactor_;
  EventMetrics* const metrics_;
  std::unique_ptr<EventEmitter> emitter_;
  const std::string process_fields_;
  uint64_t sequence_ = 0;
  ProtoSizer sizer_;
};

// Body pieces shared by every event writer.
template <typename W>
void WriteRoute(const Route& route, int field, W& w) {
  const size_t m = w.Begin(field);
  w.Strings(v1::Route::kPrevFieldNumber, route.prev);
  w.String(v1::Route::kCurrFieldNumber, route.curr);
  w.Strings(v1::Route::kNextFieldNumber, route.next);
  w.End(m);
}

template <typename W>
void WriteError(const RuntimeError& error, int field, W& w) {
  using E = v1::ErrorInfo;
  const size_t m = w.Begin(field);
  w.String(E::kCodeFieldNumber, error.code);
  w.String(E::kTypeFieldNumber, error.type);
  w.Strings(E::kMroFieldNumber, error.mro);
  w.String(E::kMessageFieldNumber, error.message);
  w.String(E::kTracebackFieldNumber, error.traceback);
  w.End(m);
}

template <typename Body>
void EventWriter::Emit(std::string_view envelope_fields, absl::Time when, const Body& body) {
  if (!enabled()) return;
  using Event = v1::LifecycleEvent;
  const uint64_t seq = ++sequence_;
  const int64_t time_ns = absl::ToUnixNanos(when);
  auto event = [&](auto& w) {
    w.Encoded(process_fields_);
    w.Encoded(envelope_fields);
    w.Varint(Event::kSequenceFieldNumber, seq);
    w.Int(Event::kTimeNsFieldNumber, time_ns);
    body(w);
  };
  sizer_.Clear();
  event(sizer_);
  emitter_->Emit(sizer_.size(), [&](char* out) {
    ProtoWriter w(out, out + sizer_.size(), &sizer_.lengths());
    event(w);
    // Short of the end, or cut at it (more was due): a sizing bug, and the event is dropped.
    return w.overflowed() ? sizer_.size() + 1 : static_cast<size_t>(w.position() - out);
  });
}

template <typename W>
void EventWriter::WriteCapture(const Capture& c, int field, W& w) const {
  const std::string_view json = c.withheld ? std::string_view() : c.json();
  const std::string_view kept = json.substr(0, settings_.capture_max_bytes);
  using C = v1::Capture;
  const size_t m = w.Begin(field);
  w.String(C::kEnvelopeJsonFieldNumber, kept);
  w.Varint(C::kOriginalSizeFieldNumber, c.withheld ? c.original.size() : json.size());
  w.Bool(C::kTruncatedFieldNumber, kept.size() < json.size() || c.withheld);
  w.Bool(C::kPayloadOmittedFieldNumber, c.payload_omitted);
  w.Strings(C::kRedactedFieldsFieldNumber, c.redacted);
  w.End(m);
}

}  // namespace meshtrace::events
