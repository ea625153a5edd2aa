#include "sidecar/sidecar_app.h"

#include <httplib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <deque>
#include <iostream>
#include <thread>

#include "absl/time/clock.h"
#include "common/log.h"
#include "common/redaction.h"
#include "common/runtime_client.h"
#include "common/signals.h"
#include "common/topics.h"
#include "common/trace_identity.h"
#include "meshtrace/v1/events.pb.h"
#include "sidecar/event_emitter.h"
#include "sidecar/kafka_queue.h"
#include "sidecar/proto_writer.h"
#include "sidecar/router.h"

namespace meshtrace::sidecar {
namespace {

bool FileExists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

using Event = v1::LifecycleEvent;

// W is a ProtoWriter or a ProtoSizer: each event is sized, then written straight into its batch.
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

}  // namespace

struct SidecarApp::Impl {
  Impl(const SidecarConfig& config, SidecarMetrics* metrics)
      : config(config),
        metrics(metrics),
        router(RouterConfig{config.actor, config.ns, config.sink, config.sump}, Clock::Real()),
        source_id((config.pod.empty() ? config.actor : config.pod) + "/" +
                  std::to_string(getpid()) + "-" +
                  std::to_string(absl::ToUnixNanos(absl::Now()) % 1000000007)) {
    auto r = Redactor::Create(config.redact, config.redact_key);
    if (r.ok()) redactor = *std::move(r);
  }

  const SidecarConfig& config;
  SidecarMetrics* metrics;
  Router router;
  Redactor redactor;
  std::string source_id;
  uint64_t sequence = 0;
  std::unique_ptr<EventEmitter> emitter;
  std::unique_ptr<RuntimeClient> runtime;
  std::unique_ptr<KafkaQueue> queue;
  httplib::Server http;
  std::thread http_thread;

  bool events() const { return emitter != nullptr; }

  // An event's header is its process's fields (source, actor, pod), its envelope's (trace id,
  // envelope and parent ids, route), then its sequence number and time. The first two parts
  // are encoded once, each the same for many events (an envelope has three or more), and
  // copied into each event as bytes; protobuf takes fields in any order.
  std::string ProcessFields() const {
    return Encode([&](auto& w) {
      w.String(Event::kSourceIdFieldNumber, source_id);
      w.String(Event::kActorFieldNumber, config.actor);
      w.String(Event::kPodFieldNumber, config.pod);
    });
  }
  const std::string process_fields = ProcessFields();
  // The envelope's part (`envelope` may be null: a message that was not an envelope).
  static std::string EnvelopeFields(const std::string& trace_id, const Envelope* envelope) {
    return Encode([&](auto& w) {
      w.String(Event::kTraceIdFieldNumber, trace_id);
      if (envelope == nullptr) return;
      w.String(Event::kEnvelopeIdFieldNumber, envelope->id);
      if (envelope->parent_id) w.String(Event::kParentIdFieldNumber, *envelope->parent_id);
      WriteRoute(envelope->route, Event::kRouteFieldNumber, w);
    });
  }
  template <typename Fields>
  static std::string Encode(const Fields& fields) {
    ProtoSizer sizer;
    fields(sizer);
    std::string out(sizer.size(), '\0');
    ProtoWriter w(out.data(), out.data() + out.size(), &sizer.lengths());
    fields(w);
    return out;
  }

  // Emits an event of time `when`: the header with `envelope_fields` (EnvelopeFields), then what
  // `body(w)` writes. It is sized first, then the emitter has it written into the open batch: no
  // nested length is moved and each capture byte is copied once. `when` is a time the envelope
  // path read anyway (intake, the reply's end, the send), not a clock read of its own.
  ProtoSizer sizer;
  template <typename Body>
  void EmitEvent(std::string_view envelope_fields, absl::Time when, const Body& body) {
    const uint64_t seq = ++sequence;
    const int64_t time_ns = absl::ToUnixNanos(when);
    auto event = [&](auto& w) {
      w.Encoded(process_fields);
      w.Encoded(envelope_fields);
      w.Varint(Event::kSequenceFieldNumber, seq);
      w.Int(Event::kTimeNsFieldNumber, time_ns);
      body(w);
    };
    sizer.Clear();
    event(sizer);
    emitter->Emit(sizer.size(), [&](char* out) {
      ProtoWriter w(out, out + sizer.size(), &sizer.lengths());
      event(w);
      // Short of the end, or cut at it (more was due): a sizing bug, and the event is dropped.
      return w.overflowed() ? sizer.size() + 1 : static_cast<size_t>(w.position() - out);
    });
  }

  // The capture of an envelope per MESHTRACE_CAPTURE (redacted, then capped). `json` is the
  // envelope as it was on the wire; a rewritten one (metadata, redaction) is held here.
  struct Capture {
    std::string_view original;
    std::string rewritten;
    bool use_rewritten = false;
    bool payload_omitted = false;
    std::vector<std::string> redacted;
    std::string_view json() const { return use_rewritten ? rewritten : original; }
  };
  void PrepareCapture(std::string_view json, const Envelope* parsed, Capture* c) {
    c->original = json;
    if (config.capture == CaptureMode::kMetadata && parsed != nullptr) {
      Envelope copy = *parsed;
      copy.payload_json = "null";
      c->rewritten =
          SerializeEnvelope(redactor.enabled() ? redactor.Apply(copy, &c->redacted) : copy);
      c->use_rewritten = true;
      c->payload_omitted = true;
    } else if (redactor.enabled() && parsed != nullptr) {
      c->rewritten = SerializeEnvelope(redactor.Apply(*parsed, &c->redacted));
      c->use_rewritten = true;
    }
    metrics->CaptureBytes(std::min(c->json().size(), config.capture_max_bytes));
  }
  // Writes it as the Capture message `field`.
  template <typename W>
  void WriteCapture(const Capture& c, int field, W& w) const {
    const std::string_view json = c.json();
    const std::string_view kept = json.substr(0, config.capture_max_bytes);
    using C = v1::Capture;
    const size_t m = w.Begin(field);
    w.String(C::kEnvelopeJsonFieldNumber, kept);
    w.Varint(C::kOriginalSizeFieldNumber, json.size());
    w.Bool(C::kTruncatedFieldNumber, kept.size() < json.size());
    w.Bool(C::kPayloadOmittedFieldNumber, c.payload_omitted);
    w.Strings(C::kRedactedFieldsFieldNumber, c.redacted);
    w.End(m);
  }

  void LogEnvelope(LogLevel level, const std::string& msg, const std::string& trace_id,
                   const std::string& envelope_id) {
    Log(level, msg,
        {{"actor", config.actor}, {"trace_id", trace_id}, {"envelope_id", envelope_id}});
  }

  // Sends every outgoing envelope of `decision` and records it. Errors are fatal: the
  // message's offset is then never committed, so it will be processed again.
  // `accepted` is null for a rejected message: its events are then of the outgoing envelope.
  absl::Status Deliver(void* ticket, const std::string& trace_id, const Accepted* accepted,
                       const Decision& decision) {
    for (const Outgoing& out : decision.outgoing) {
      std::string json = SerializeEnvelope(out.envelope);
      absl::Time start = absl::Now();
      if (auto s = queue->Send(ticket, out.topic, trace_id, json); !s.ok()) {
        metrics->Failed(out.message_type == "routing" ? "routing_error"
                                                      : "error_queue_send_failed");
        return s;
      }
      metrics->Sent(out.message_type == "routing" ? out.topic : out.to_actor, out.message_type,
                    json.size(), absl::Now() - start);
      if (events()) {
        using R = v1::Routed;
        const bool capture = config.capture != CaptureMode::kNone;
        Capture output;
        if (capture) PrepareCapture(json, &out.envelope, &output);
        const std::string own_fields =
            accepted != nullptr ? std::string() : EnvelopeFields(trace_id, &out.envelope);
        EmitEvent(accepted != nullptr ? accepted->event_fields : own_fields, start, [&](auto& w) {
          const size_t body = w.Begin(Event::kRoutedFieldNumber);
          w.String(R::kEnvelopeIdFieldNumber, out.envelope.id);
          if (out.envelope.parent_id) w.String(R::kParentIdFieldNumber, *out.envelope.parent_id);
          w.String(R::kDestinationFieldNumber, out.topic);
          w.String(R::kMessageTypeFieldNumber, out.message_type);
          w.String(R::kToActorFieldNumber, out.to_actor);
          if (capture) WriteCapture(output, R::kOutputFieldNumber, w);
          w.String(R::kPhaseFieldNumber, out.phase);
          w.String(R::kReasonFieldNumber, out.reason);
          w.End(body);
        });
      }
    }
    return absl::OkStatus();
  }

  void Count(const Decision& decision) {
    if (!decision.processed_status.empty()) metrics->Processed(decision.processed_status);
    if (!decision.failed_reason.empty()) metrics->Failed(decision.failed_reason);
    if (!decision.runtime_error_type.empty()) metrics->RuntimeError(decision.runtime_error_type);
  }

  void EmitRuntimeResult(const Accepted& accepted, const RuntimeReply& reply, absl::Time ended) {
    if (!events()) return;
    using R = v1::RuntimeResult;
    EmitEvent(accepted.event_fields, ended, [&](auto& w) {
      const size_t body = w.Begin(Event::kRuntimeResultFieldNumber);
      w.Int(R::kHttpStatusFieldNumber, reply.http_status);
      w.Int(R::kDurationNsFieldNumber, absl::ToInt64Nanoseconds(reply.duration));
      w.Int(R::kFrameCountFieldNumber, static_cast<int64_t>(reply.frames.size()));
      if (reply.error.has_value()) WriteError(*reply.error, R::kErrorFieldNumber, w);
      w.Bool(R::kTimedOutFieldNumber, reply.kind == RuntimeReply::Kind::kTimeout);
      w.End(body);
    });
  }

  void EmitReceived(const KafkaQueue::Message& message, const Accepted& accepted,
                    absl::Time taken) {
    if (!events()) return;
    using R = v1::Received;
    const bool capture = config.capture != CaptureMode::kNone;
    Capture input;
    if (capture) PrepareCapture(message.value, &accepted.envelope, &input);
    const std::optional<std::string> replay = accepted.envelope.headers.GetString(kReplayHeader);
    EmitEvent(accepted.event_fields, taken, [&](auto& w) {
      const size_t body = w.Begin(Event::kReceivedFieldNumber);
      w.String(R::kTopicFieldNumber, message.topic);
      w.Int(R::kPartitionFieldNumber, message.partition);
      w.Int(R::kOffsetFieldNumber, message.offset);
      w.Int(R::kAttemptFieldNumber, accepted.status.attempt);
      w.String(R::kStatusJsonFieldNumber, accepted.incoming_status_json);
      if (capture) WriteCapture(input, R::kInputFieldNumber, w);
      w.Int(R::kQueueEnqueuedNsFieldNumber, message.timestamp_ms * 1'000'000);
      if (replay) w.String(R::kReplayIdFieldNumber, *replay);
      w.End(body);
    });
  }

  void EmitRejected(const KafkaQueue::Message& message, const Decision& decision,
                    const std::string& trace_id, absl::Time taken) {
    if (!events()) return;
    using R = v1::Rejected;
    const Envelope* e = decision.outgoing.empty() ? nullptr : &decision.outgoing[0].envelope;
    const std::string_view raw =
        std::string_view(message.value).substr(0, config.capture_max_bytes);
    EmitEvent(EnvelopeFields(trace_id, e), taken, [&](auto& w) {
      const size_t body = w.Begin(Event::kRejectedFieldNumber);
      w.String(R::kReasonFieldNumber, decision.failed_reason);
      w.String(R::kMessageFieldNumber, decision.summary);
      w.String(R::kRawFieldNumber, raw);
      w.Bool(R::kRawTruncatedFieldNumber, raw.size() < message.value.size());
      w.String(R::kTopicFieldNumber, message.topic);
      w.Int(R::kPartitionFieldNumber, message.partition);
      w.Int(R::kOffsetFieldNumber, message.offset);
      w.End(body);
    });
  }

  // The envelope's journey ends here: an end actor consumed it, or a frame paused it.
  void EmitTerminated(const Accepted& accepted, const std::string& phase,
                      const std::string& reason) {
    if (!events()) return;
    using T = v1::Terminated;
    std::optional<RuntimeError> error;
    if (accepted.status.error.has_value()) {
      const StatusError& e = *accepted.status.error;
      error = RuntimeError{"", e.type, e.mro, e.message, e.traceback};
    }
    EmitEvent(accepted.event_fields, absl::Now(), [&](auto& w) {
      const size_t body = w.Begin(Event::kTerminatedFieldNumber);
      w.String(T::kPhaseFieldNumber, phase);
      w.String(T::kReasonFieldNumber, reason);
      if (error) WriteError(*error, T::kErrorFieldNumber, w);
      w.End(body);
    });
  }

  // An accepted envelope whose /invoke call was started and is not completed yet.
  struct InFlight {
    KafkaQueue::Message message;
    Accepted accepted;
    absl::Time start;        // when its processing began
    absl::Duration timeout;  // the actor timeout, or less when its SLA leaves less
    std::unique_ptr<RuntimeCall> call;
  };
  std::deque<InFlight> in_flight;  // in start order; the runtime serves them in this order
  absl::Time runtime_free = absl::InfinitePast();  // when the last completed call ended

  // Each of these returns false when the sidecar must stop (fatal), with *exit_code.

  // Takes one message in: rejects it, expires it (SLA), or starts its /invoke call.
  bool Intake(KafkaQueue::Message& message, int* exit_code) {
    const absl::Time start = absl::Now();
    auto intake =
        config.is_end_actor ? router.AcceptAtEnd(message.value) : router.Accept(message.value);
    if (auto* rejected = std::get_if<Decision>(&intake)) {
      if (!CompleteAll(exit_code)) return false;  // outcomes stay in arrival order
      Decision decision = std::move(*rejected);
      const std::string trace_id =
          decision.outgoing.empty() ? "" : TraceIdOf(decision.outgoing[0].envelope);
      const std::string envelope_id =
          decision.outgoing.empty() ? "" : decision.outgoing[0].envelope.id;
      LogEnvelope(LogLevel::kWarn, "rejected (" + decision.failed_reason + "): " + decision.summary,
                  trace_id, envelope_id);
      EmitRejected(message, decision, trace_id, start);
      return Conclude(message, start, trace_id, nullptr, decision, exit_code);
    }
    Accepted accepted = std::move(std::get<Accepted>(intake));
    if (events()) accepted.event_fields = EnvelopeFields(accepted.trace_id, &accepted.envelope);
    EmitReceived(message, accepted, start);
    absl::Duration timeout = config.actor_timeout;
    if (!config.is_end_actor && accepted.deadline.has_value()) {
      // The SLA is checked when the runtime is free to take the envelope, as with one call at
      // a time: a call queued behind another could otherwise run past its deadline.
      if (!CompleteAll(exit_code)) return false;
      if (std::optional<Decision> expired =
              router.CheckDeadline(accepted, config.actor_timeout, &timeout)) {
        return Conclude(message, start, accepted.trace_id, &accepted, *expired, exit_code);
      }
    }
    std::unique_ptr<RuntimeCall> call = runtime->Start(SerializeEnvelope(accepted.envelope));
    in_flight.push_back(
        InFlight{std::move(message), std::move(accepted), start, timeout, std::move(call)});
    metrics->SetActive(static_cast<int64_t>(in_flight.size()));
    return true;
  }

  // Waits for the oldest call's reply and routes it.
  bool CompleteOldest(int* exit_code) {
    InFlight f = std::move(in_flight.front());
    in_flight.pop_front();
    // The runtime took this call when it finished the one before: count from there.
    f.call->runtime_free = std::max(f.call->runtime_free, runtime_free);
    RuntimeReply reply = runtime->Complete(*f.call, f.timeout);
    runtime_free = absl::Now();
    if (reply.kind == RuntimeReply::Kind::kTimeout && reply.error.has_value()) {
      reply.error->message = "Runtime timeout exceeded after " + absl::FormatDuration(f.timeout);
    }
    metrics->RuntimeTime(reply.duration);
    EmitRuntimeResult(f.accepted, reply, runtime_free);
    Decision decision =
        config.is_end_actor ? router.Terminate(f.accepted, reply) : router.Route(f.accepted, reply);
    return Conclude(f.message, f.start, f.accepted.trace_id, &f.accepted, decision, exit_code);
  }

  bool CompleteAll(int* exit_code) {
    while (!in_flight.empty()) {
      if (!CompleteOldest(exit_code)) return false;
    }
    return true;
  }

  // Sends what `decision` says, counts it and marks the message done for the commit.
  // `accepted` is null for a rejected message.
  bool Conclude(KafkaQueue::Message& message, absl::Time start, const std::string& trace_id,
                const Accepted* accepted, const Decision& decision, int* exit_code) {
    if (accepted != nullptr) {
      if (config.is_end_actor) {
        EmitTerminated(*accepted, accepted->status.phase, accepted->status.reason);
      } else if (decision.paused && decision.outgoing.empty()) {
        // Nothing goes onward: tell the collector this branch ends here, paused.
        EmitTerminated(*accepted, "paused", "Paused");
      }
      LogEnvelope(decision.failed_reason.empty() ? LogLevel::kInfo : LogLevel::kWarn,
                  decision.summary, trace_id, accepted->envelope.id);
    }
    if (auto s = Deliver(message.ticket, trace_id, accepted, decision); !s.ok()) {
      LogEnvelope(LogLevel::kError, "cannot deliver: " + std::string(s.message()), trace_id,
                  accepted != nullptr ? accepted->envelope.id : "");
      *exit_code = 1;
      return false;
    }
    Count(decision);
    queue->Finish(message.ticket);
    metrics->ProcessingTime(absl::Now() - start);
    metrics->SetActive(static_cast<int64_t>(in_flight.size()));
    if (decision.exit_after) {
      Log(LogLevel::kError,
          "runtime timeout: exiting after delivering the error envelope "
          "(crash-on-timeout, as the Asya sidecar does)",
          {{"actor", config.actor}, {"trace_id", trace_id}});
      *exit_code = 1;
      return false;
    }
    return true;
  }
};

SidecarApp::SidecarApp(SidecarConfig config)
    : config_(std::move(config)),
      metrics_(std::make_unique<SidecarMetrics>(config_.metrics_namespace, config_.actor)),
      impl_(std::make_unique<Impl>(config_, metrics_.get())) {}

SidecarApp::~SidecarApp() {
  Stop();
  if (impl_->http_thread.joinable()) {
    impl_->http.stop();
    impl_->http_thread.join();
  }
}

void SidecarApp::Stop() { stop_.store(true); }

int SidecarApp::Run() {
  Impl& s = *impl_;
  if (config_.metrics_enabled) {
    s.http.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(metrics_->Render(), "text/plain; version=0.0.4; charset=utf-8");
    });
    s.http.Get("/health", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("OK", "text/plain");
    });
    // SO_REUSEADDR only: httplib's default SO_REUSEPORT would let two processes share a port.
    s.http.set_socket_options([](int sock) {
      int yes = 1;
      setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    });
    auto colon = config_.metrics_addr.rfind(':');
    std::string host = config_.metrics_addr.substr(0, colon);
    if (host.empty()) host = "0.0.0.0";
    int port = std::stoi(config_.metrics_addr.substr(colon + 1));
    if (port == 0) {
      port = s.http.bind_to_any_port(host);
    } else if (!s.http.bind_to_port(host, port)) {
      port = -1;
    }
    if (port < 0) {
      Log(LogLevel::kError,
          "cannot listen on ASYA_METRICS_ADDR " + config_.metrics_addr + " (port in use?)");
      return 1;
    }
    metrics_port_ = port;
    s.http_thread = std::thread([&s] { s.http.listen_after_bind(); });
  }
  if (!config_.collector.empty()) {
    EmitterOptions options;
    options.collector = config_.collector;
    options.token = config_.collector_token;
    options.tls_ca_pem = config_.collector_ca_pem;
    options.buffer_events = config_.event_buffer;
    options.buffer_bytes = config_.event_buffer_bytes;
    s.emitter = NewGrpcEventEmitter(options, metrics_.get());
  }

  // Wait for the runtime: the ready file, then a successful /healthz.
  s.runtime = NewUdsRuntimeClient(config_.socket_path());
  const absl::Time ready_deadline = absl::Now() + config_.ready_timeout;
  while (true) {
    if (stop_.load()) return 0;
    if (FileExists(config_.ready_path()) && s.runtime->Health(absl::Seconds(2)).ok()) break;
    if (absl::Now() >= ready_deadline) {
      Log(LogLevel::kError, "runtime not ready after " +
                                absl::FormatDuration(config_.ready_timeout) + ": no " +
                                config_.ready_path() + " or no answer on " + config_.socket_path());
      return 1;
    }
    absl::SleepFor(absl::Milliseconds(100));
  }

  const std::string topic = QueueTopic(config_.ns, config_.actor);
  auto queue = KafkaQueue::Open({config_.kafka_brokers, config_.kafka_properties, topic, topic});
  if (!queue.ok()) {
    Log(LogLevel::kError, std::string(queue.status().message()));
    return 1;
  }
  s.queue = *std::move(queue);
  Log(LogLevel::kInfo,
      "consuming " + topic + " from " + config_.kafka_brokers + "; runtime " +
          config_.socket_path() +
          (config_.metrics_enabled ? "; metrics on port " + std::to_string(metrics_port_.load())
                                   : "") +
          (config_.collector.empty() ? "; events off" : "; events to " + config_.collector),
      {{"actor", config_.actor}});
  started_.Notify();

  // Calls are started in bursts: when no more than `low` are left in flight, a call is started
  // for every message at hand, up to `pipeline`. The runtime then finds the next call waiting
  // when it is done, and a runtime that went idle is woken once per burst, not once per call.
  const size_t pipeline = static_cast<size_t>(config_.invoke_pipeline);
  const size_t low = pipeline / 2;
  int exit_code = 0;
  bool fatal = false;
  while (!fatal) {
    const bool stopping = stop_.load();
    if (stopping && s.in_flight.empty()) break;
    bool took = false;
    const bool refill = !stopping && s.in_flight.size() <= low;
    while (refill && s.in_flight.size() < pipeline) {
      // Waits only when nothing is in flight.
      absl::Time poll_start = absl::Now();
      auto message =
          s.queue->Poll(s.in_flight.empty() ? absl::Milliseconds(100) : absl::ZeroDuration());
      if (!message.ok()) {
        Log(LogLevel::kError, std::string(message.status().message()));
        exit_code = 1;
        fatal = true;
        break;
      }
      if (!message->has_value()) break;
      took = true;
      metrics_->Received((*message)->value.size(), absl::Now() - poll_start);
      if (!s.Intake(**message, &exit_code)) {
        fatal = true;
        break;
      }
    }
    if (fatal) break;
    if (!s.in_flight.empty() && (!took || s.in_flight.size() > low)) {
      if (!s.CompleteOldest(&exit_code)) break;
    }
    s.queue->Service();
    if (!s.queue->delivery_error().ok()) {
      exit_code = 1;
      break;
    }
  }
  absl::Status drained = s.queue->Drain(absl::Seconds(30));
  if (!drained.ok()) {
    Log(LogLevel::kError, "shutdown: " + std::string(drained.message()));
    exit_code = 1;
  }
  s.queue->Close();
  if (s.emitter) s.emitter->Stop(absl::Seconds(5));
  Log(LogLevel::kInfo, "stopped", {{"actor", config_.actor}});
  return exit_code;
}

int SidecarMain(int argc, char** argv) {
  ConfigResult loaded = LoadSidecarConfig(argc, argv, ProcessEnvironment());
  if (loaded.exit_code != 0 || !loaded.message.empty()) {
    (loaded.exit_code == 0 ? std::cout : std::cerr) << loaded.message << "\n";
    return loaded.exit_code;
  }
  InitLogging("sidecar", loaded.config.log_level);
  // Stop signals are taken by a thread of our own; every other thread has them blocked.
  SidecarApp app(loaded.config);
  HandleStopSignals([&app](int sig) {
    Log(LogLevel::kInfo, std::string("received ") + strsignal(sig) + ": draining");
    app.Stop();
  });
  return app.Run();
}

}  // namespace meshtrace::sidecar
