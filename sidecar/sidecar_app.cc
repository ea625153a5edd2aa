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
#include "events/event_writer.h"
#include "meshtrace/v1/events.pb.h"
#include "sidecar/kafka_queue.h"
#include "sidecar/router.h"

namespace meshtrace::sidecar {
namespace {

bool FileExists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

using Event = v1::LifecycleEvent;
using events::EventWriter;
using Capture = EventWriter::Capture;

}  // namespace

struct SidecarApp::Impl {
  Impl(const SidecarConfig& config, SidecarMetrics* metrics, Redactor redactor)
      : config(config),
        metrics(metrics),
        router(RouterConfig{config.actor, config.ns, config.sink, config.sump}, Clock::Real()),
        writer(
            events::EventSource{events::NewSourceId(config.pod.empty() ? config.actor : config.pod),
                                config.actor, config.pod, events::Observer::kSidecar},
            config.events, std::move(redactor), metrics,
            config.events.enabled()
                ? events::NewGrpcEventEmitter(config.events.emitter_options(), metrics)
                : nullptr) {}

  const SidecarConfig& config;
  SidecarMetrics* metrics;
  Router router;
  EventWriter writer;
  std::unique_ptr<RuntimeClient> runtime;
  std::unique_ptr<Queue> queue;
  httplib::Server http;
  std::thread http_thread;

  bool events() const { return writer.enabled(); }
  static std::string EnvelopeFields(const std::string& trace_id, const Envelope* envelope) {
    return EventWriter::EnvelopeFields(trace_id, envelope);
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
        const bool capture = writer.capturing();
        Capture output;
        if (capture) writer.PrepareCapture(json, &out.envelope, &output);
        const std::string own_fields =
            accepted != nullptr ? std::string() : EnvelopeFields(trace_id, &out.envelope);
        writer.Emit(accepted != nullptr ? accepted->event_fields : own_fields, start, [&](auto& w) {
          const size_t body = w.Begin(Event::kRoutedFieldNumber);
          w.String(R::kEnvelopeIdFieldNumber, out.envelope.id);
          if (out.envelope.parent_id) w.String(R::kParentIdFieldNumber, *out.envelope.parent_id);
          w.String(R::kDestinationFieldNumber, out.topic);
          w.String(R::kMessageTypeFieldNumber, out.message_type);
          w.String(R::kToActorFieldNumber, out.to_actor);
          if (capture) writer.WriteCapture(output, R::kOutputFieldNumber, w);
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
    writer.Emit(accepted.event_fields, ended, [&](auto& w) {
      const size_t body = w.Begin(Event::kRuntimeResultFieldNumber);
      w.Int(R::kHttpStatusFieldNumber, reply.http_status);
      w.Int(R::kDurationNsFieldNumber, absl::ToInt64Nanoseconds(reply.duration));
      w.Int(R::kFrameCountFieldNumber, static_cast<int64_t>(reply.frames.size()));
      if (reply.error.has_value()) WriteError(*reply.error, R::kErrorFieldNumber, w);
      w.Bool(R::kTimedOutFieldNumber, reply.kind == RuntimeReply::Kind::kTimeout);
      w.End(body);
    });
  }

  void EmitReceived(const QueueMessage& message, const Accepted& accepted, absl::Time taken) {
    if (!events()) return;
    using R = v1::Received;
    const bool capture = writer.capturing();
    Capture input;
    if (capture) writer.PrepareCapture(message.value, &accepted.envelope, &input);
    const std::optional<std::string> replay = accepted.envelope.headers.GetString(kReplayHeader);
    writer.Emit(accepted.event_fields, taken, [&](auto& w) {
      const size_t body = w.Begin(Event::kReceivedFieldNumber);
      w.String(R::kTopicFieldNumber, message.topic);
      w.Int(R::kPartitionFieldNumber, message.partition);
      w.Int(R::kOffsetFieldNumber, message.offset);
      w.Int(R::kAttemptFieldNumber, accepted.status.attempt);
      w.String(R::kStatusJsonFieldNumber, accepted.incoming_status_json);
      if (capture) writer.WriteCapture(input, R::kInputFieldNumber, w);
      w.Int(R::kQueueEnqueuedNsFieldNumber, message.timestamp_ms * 1'000'000);
      if (replay) w.String(R::kReplayIdFieldNumber, *replay);
      w.End(body);
    });
  }

  void EmitRejected(const QueueMessage& message, const Decision& decision,
                    const std::string& trace_id, absl::Time taken) {
    if (!events()) return;
    using R = v1::Rejected;
    const Envelope* e = decision.outgoing.empty() ? nullptr : &decision.outgoing[0].envelope;
    const std::string_view raw =
        std::string_view(message.value).substr(0, writer.capture_max_bytes());
    writer.Emit(EnvelopeFields(trace_id, e), taken, [&](auto& w) {
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
    writer.Emit(accepted.event_fields, absl::Now(), [&](auto& w) {
      const size_t body = w.Begin(Event::kTerminatedFieldNumber);
      w.String(T::kPhaseFieldNumber, phase);
      w.String(T::kReasonFieldNumber, reason);
      if (error) WriteError(*error, T::kErrorFieldNumber, w);
      w.End(body);
    });
  }

  // An accepted envelope whose /invoke call was started and is not completed yet.
  struct InFlight {
    QueueMessage message;
    Accepted accepted;
    absl::Time start;        // when its processing began
    absl::Duration timeout;  // the actor timeout, or less when its SLA leaves less
    std::unique_ptr<RuntimeCall> call;
  };
  std::deque<InFlight> in_flight;  // in start order; the runtime serves them in this order
  absl::Time runtime_free = absl::InfinitePast();  // when the last completed call ended

  // Each of these returns false when the sidecar must stop (fatal), with *exit_code.

  // Takes one message in: rejects it, expires it (SLA), or starts its /invoke call.
  bool Intake(QueueMessage& message, int* exit_code) {
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
  bool Conclude(QueueMessage& message, absl::Time start, const std::string& trace_id,
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
    // A copy, not a move: the two arguments may be initialised in either order.
    : SidecarApp(config, Redactor::Create(config.events.redact, config.events.redact_key)) {}

SidecarApp::SidecarApp(SidecarConfig config, absl::StatusOr<Redactor> redactor)
    : config_(std::move(config)),
      metrics_(std::make_unique<SidecarMetrics>(config_.metrics_namespace, config_.actor)),
      redactor_status_(redactor.status()),
      impl_(std::make_unique<Impl>(config_, metrics_.get(),
                                   std::move(redactor).value_or(Redactor()))) {}

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
  if (!redactor_status_.ok()) {  // redaction asked for and impossible: fail closed
    Log(LogLevel::kError, "MESHTRACE_REDACT: " + std::string(redactor_status_.message()));
    return 2;
  }
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
          (config_.events.enabled() ? "; events to " + config_.events.collector : "; events off"),
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
  if (s.writer.emitter() != nullptr) s.writer.emitter()->Stop(absl::Seconds(5));
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
