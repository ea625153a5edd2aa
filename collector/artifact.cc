#include "collector/artifact.h"

#include <algorithm>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/clock.h"

namespace meshtrace::collector {
namespace {

std::string NodeKey(const std::string& envelope_id, const std::string& actor) {
  std::string key = envelope_id;
  key.push_back('\0');
  return key + actor;
}

std::string Ms(int64_t ns) { return absl::StrCat(absl::FormatDuration(absl::Nanoseconds(ns))); }

bool IsFailedHop(const v1::Hop& hop) {
  if (!hop.terminal_phase().empty()) return false;  // an end actor's own hop
  if (hop.rejected() || hop.has_error()) return true;
  for (const v1::HopOutput& out : hop.outputs()) {
    if (out.message_type() == "sump" || out.phase() == "failed") return true;
  }
  return false;
}

std::string ShellQuote(const std::string& s) {
  if (!s.empty() && s.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                        "0123456789-_./:=@") == std::string::npos) {
    return s;
  }
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

v1::Anomaly MakeAnomaly(v1::Anomaly::Kind kind, std::string message, const std::string& from,
                        const std::string& to, const std::string& envelope_id,
                        const std::string& queue, int64_t at) {
  v1::Anomaly a;
  a.set_kind(kind);
  a.set_message(std::move(message));
  a.set_from_actor(from);
  a.set_to_actor(to);
  a.set_envelope_id(envelope_id);
  a.set_queue(queue);
  a.set_at_ns(at);
  return a;
}

}  // namespace

v1::TraceArtifact BuildArtifact(const std::string& trace_id, const std::vector<StoredEvent>& events,
                                const std::optional<v1::TraceSummary>& stored, int64_t now_ns,
                                const ArtifactOptions& options) {
  v1::TraceArtifact a;
  a.set_trace_id(trace_id);
  TraceState state(trace_id);
  for (const StoredEvent& e : events) state.Add(e.event, e.ingested_ns);
  Evaluation ev = state.Evaluate(now_ns, options.timeouts);
  if (stored.has_value()) ev.verdict = stored->verdict();
  a.set_verdict(ev.verdict);
  a.set_outcome(ev.outcome);
  a.set_headline(state.Headline(ev));
  a.set_event_count(events.size());

  // Clock skew: a pod whose receive is stamped before the send it received gets an offset
  // that moves all its times after the send (events are in time order, so offsets cascade).
  struct SendRef {
    int64_t at;
    std::string pod;
  };
  absl::flat_hash_map<std::string, SendRef> first_send;  // (envelope, to_actor) → send
  for (const StoredEvent& s : events) {
    if (!s.event.has_routed()) continue;
    const std::string key = NodeKey(s.event.routed().envelope_id(), s.event.routed().to_actor());
    if (!first_send.contains(key)) first_send[key] = {s.event.time_ns(), s.event.pod()};
  }
  absl::flat_hash_map<std::string, int64_t> offset;  // pod → ns added to its times
  for (const StoredEvent& s : events) {
    const v1::LifecycleEvent& e = s.event;
    if (!e.has_received()) continue;
    auto it = first_send.find(NodeKey(e.envelope_id(), e.actor()));
    if (it == first_send.end() || it->second.pod == e.pod()) continue;
    const int64_t sent = it->second.at + offset[it->second.pod];
    const int64_t received = e.time_ns() + offset[e.pod()];
    if (received < sent) {
      offset[e.pod()] += sent - received;
      *a.add_anomalies() = MakeAnomaly(
          v1::Anomaly::KIND_CLOCK_SKEW,
          absl::StrCat("clock skew: ", e.actor(), " (pod ", e.pod(), ") stamped the receive of ",
                       e.envelope_id(), " ", Ms(sent - received),
                       " before it was sent; its times are shifted by that for display"),
          "", e.actor(), e.envelope_id(), "", e.time_ns());
    }
  }
  auto corrected = [&](const v1::LifecycleEvent& e) {
    auto it = offset.find(e.pod());
    return e.time_ns() + (it == offset.end() ? 0 : it->second);
  };

  // Hops: one per delivery of an envelope at an actor.
  absl::flat_hash_map<std::string, std::vector<int>> attempts;  // node → hop indexes
  absl::flat_hash_map<std::string, int64_t> sent_at;            // (envelope, to) → first send
  auto new_hop = [&](const v1::LifecycleEvent& e) -> v1::Hop& {
    std::vector<int>& list = attempts[NodeKey(e.envelope_id(), e.actor())];
    list.push_back(a.hops_size());
    v1::Hop* hop = a.add_hops();
    hop->set_envelope_id(e.envelope_id());
    hop->set_parent_id(e.parent_id());
    hop->set_actor(e.actor());
    hop->set_pod(e.pod());
    hop->set_attempt(static_cast<int>(list.size()));
    *hop->mutable_route() = e.route();
    hop->set_received_at_ns(corrected(e));
    hop->set_observed_by_tap(e.observer() == v1::OBSERVER_TAP);
    return *hop;
  };
  auto hop_for = [&](const v1::LifecycleEvent& e) -> v1::Hop& {
    auto it = attempts.find(NodeKey(e.envelope_id(), e.actor()));
    if (it == attempts.end()) return new_hop(e);  // its receive was never seen
    return *a.mutable_hops(it->second.back());
  };
  for (const StoredEvent& s : events) {
    const v1::LifecycleEvent& e = s.event;
    switch (e.body_case()) {
      case v1::LifecycleEvent::kReceived: {
        v1::Hop& hop = new_hop(e);
        const v1::Received& r = e.received();
        hop.set_topic(r.topic());
        *hop.mutable_input() = r.input();
        hop.set_replay_id(r.replay_id());
        break;
      }
      case v1::LifecycleEvent::kRejected: {
        v1::Hop& hop = new_hop(e);
        const v1::Rejected& r = e.rejected();
        hop.set_topic(r.topic());
        hop.set_rejected(true);
        hop.set_reject_reason(r.reason());
        hop.mutable_error()->set_code(r.reason());
        hop.mutable_error()->set_message(r.message());
        hop.mutable_input()->set_envelope_json(r.raw());
        hop.mutable_input()->set_truncated(r.raw_truncated());
        hop.mutable_input()->set_original_size(r.raw().size());
        break;
      }
      case v1::LifecycleEvent::kRuntimeResult: {
        v1::Hop& hop = hop_for(e);
        const v1::RuntimeResult& r = e.runtime_result();
        hop.set_runtime_ns(r.duration_ns());
        hop.set_http_status(r.http_status());
        hop.set_frame_count(r.frame_count());
        hop.set_timed_out(r.timed_out());
        if (r.has_error()) *hop.mutable_error() = r.error();
        break;
      }
      case v1::LifecycleEvent::kRouted: {
        v1::Hop& hop = hop_for(e);
        const v1::Routed& r = e.routed();
        v1::HopOutput* out = hop.add_outputs();
        out->set_envelope_id(r.envelope_id());
        out->set_parent_id(r.parent_id());
        out->set_destination(r.destination());
        out->set_message_type(r.message_type());
        out->set_to_actor(r.to_actor());
        *out->mutable_envelope() = r.output();
        out->set_phase(r.phase());
        out->set_reason(r.reason());
        out->set_inferred(r.inferred());
        const std::string key = NodeKey(r.envelope_id(), r.to_actor());
        if (!sent_at.contains(key)) sent_at[key] = corrected(e);
        v1::Edge* edge = a.add_edges();
        edge->set_from_actor(e.actor());
        edge->set_to_actor(r.to_actor());
        edge->set_envelope_id(r.envelope_id());
        edge->set_queue(r.destination());
        edge->set_sent_at_ns(corrected(e));
        break;
      }
      case v1::LifecycleEvent::kTerminated: {
        v1::Hop& hop = hop_for(e);
        hop.set_terminal_phase(e.terminated().phase());
        hop.set_terminal_reason(e.terminated().reason());
        if (e.terminated().has_error() && !hop.has_error())
          *hop.mutable_error() = e.terminated().error();
        break;
      }
      default:
        break;
    }
  }

  // Timings, edges' receive times, replay commands, per-hop anomalies.
  for (v1::Hop& hop : *a.mutable_hops()) {
    auto sent = sent_at.find(NodeKey(hop.envelope_id(), hop.actor()));
    if (sent != sent_at.end())
      hop.set_queue_wait_ns(std::max<int64_t>(0, hop.received_at_ns() - sent->second));
    if (IsFailedHop(hop) && !hop.rejected()) {
      hop.set_replay_command(absl::StrCat(
          "meshtrace replay ", ShellQuote(trace_id), " --envelope ", ShellQuote(hop.envelope_id()),
          " --actor ", ShellQuote(hop.actor()), " --socket ", ShellQuote(options.runtime_socket)));
    }
    if (hop.rejected()) {
      *a.add_anomalies() =
          MakeAnomaly(v1::Anomaly::KIND_REJECTED,
                      absl::StrCat("rejected at ", hop.actor(), " (", hop.reject_reason(),
                                   "): ", hop.error().message()),
                      "", hop.actor(), hop.envelope_id(), hop.topic(), hop.received_at_ns());
    }
    if (hop.timed_out()) {
      *a.add_anomalies() = MakeAnomaly(
          v1::Anomaly::KIND_RUNTIME_TIMEOUT,
          absl::StrCat("runtime timed out at ", hop.actor(), " after ", Ms(hop.runtime_ns())), "",
          hop.actor(), hop.envelope_id(), "", hop.received_at_ns());
    }
  }
  for (v1::Edge& edge : *a.mutable_edges()) {
    auto it = attempts.find(NodeKey(edge.envelope_id(), edge.to_actor()));
    if (it != attempts.end()) edge.set_received_at_ns(a.hops(it->second.front()).received_at_ns());
  }
  for (const auto& [key, list] : attempts) {
    if (list.size() < 2) continue;
    const v1::Hop& first = a.hops(list.front());
    *a.add_anomalies() =
        MakeAnomaly(v1::Anomaly::KIND_REDELIVERY,
                    absl::StrCat("envelope ", first.envelope_id(), " received ", list.size(),
                                 " times at ", first.actor(), " (shown as attempts)"),
                    "", first.actor(), first.envelope_id(), first.topic(), first.received_at_ns());
  }
  if (ev.verdict == v1::VERDICT_STALLED) {
    for (const OpenBranch& b : ev.stalled) {
      *a.add_anomalies() =
          b.kind == OpenBranch::Kind::kTransit
              ? MakeAnomaly(v1::Anomaly::KIND_STALLED,
                            absl::StrCat("lost between ", b.from_actor, " and ", b.to_actor,
                                         ": envelope ", b.envelope_id, " sent to ", b.queue, " at ",
                                         TimeText(b.at_ns), ", never received"),
                            b.from_actor, b.to_actor, b.envelope_id, b.queue, b.at_ns)
              : MakeAnomaly(
                    v1::Anomaly::KIND_STALLED,
                    absl::StrCat("stuck at ", b.from_actor, ": envelope ", b.envelope_id,
                                 " received at ", TimeText(b.at_ns), ", never routed onward"),
                    b.from_actor, b.to_actor, b.envelope_id, "", b.at_ns);
    }
  }
  for (const OpenBranch& b : ev.unobserved) {
    *a.add_anomalies() = MakeAnomaly(
        v1::Anomaly::KIND_UNOBSERVED,
        absl::StrCat("not observed beyond ", b.from_actor, ": ",
                     b.child ? "a fan-out child of envelope " : "envelope ", b.envelope_id,
                     " went on to ", b.to_actor, " at ", TimeText(b.at_ns),
                     " (per the runtime's reply); no tap or sidecar reported it there"),
        b.from_actor, b.to_actor, b.envelope_id, "", b.at_ns);
  }
  if (ev.verdict == v1::VERDICT_PARTIAL || ev.verdict == v1::VERDICT_STALLED) {
    for (const MissingUpstream& m : ev.missing_upstream) {
      *a.add_anomalies() = MakeAnomaly(
          v1::Anomaly::KIND_PARTIAL,
          absl::StrCat("partial: envelope ", m.envelope_id, " at ", m.actor,
                       " has no upstream events (its producer is not instrumented, or its "
                       "events were lost)"),
          "", m.actor, m.envelope_id, "", 0);
    }
  }

  // Routes: planned = the first hop's route; taken = actors in order of first processing.
  std::vector<const v1::Hop*> by_time;
  for (const v1::Hop& hop : a.hops()) by_time.push_back(&hop);
  std::stable_sort(by_time.begin(), by_time.end(), [](const v1::Hop* x, const v1::Hop* y) {
    return x->received_at_ns() < y->received_at_ns();
  });
  if (!by_time.empty()) *a.mutable_planned_route() = by_time.front()->route();
  absl::flat_hash_set<std::string> seen;
  for (const v1::Hop* hop : by_time) {
    if (seen.insert(hop->actor()).second) a.add_taken_route(hop->actor());
  }
  int64_t start = INT64_MAX, end = 0;
  for (const v1::Hop& hop : a.hops()) {
    start = std::min(start, hop.received_at_ns());
    end = std::max(end, hop.received_at_ns() + hop.runtime_ns());
  }
  for (const v1::Edge& edge : a.edges()) end = std::max(end, edge.sent_at_ns());
  a.set_started_at_ns(start == INT64_MAX ? state.started_ns() : start);
  a.set_ended_at_ns(std::max(end, a.started_at_ns()));
  return a;
}

nlohmann::json CaptureJson(const v1::Capture& c) {
  nlohmann::json j = nlohmann::json::object();
  if (!c.envelope_json().empty()) {
    nlohmann::json parsed =
        c.truncated() ? nlohmann::json() : nlohmann::json::parse(c.envelope_json(), nullptr, false);
    if (!parsed.is_discarded() && !c.truncated()) {
      j["envelope"] = std::move(parsed);
    } else {
      j["text"] = c.envelope_json();
    }
  }
  j["original_size"] = c.original_size();
  j["truncated"] = c.truncated();
  j["payload_omitted"] = c.payload_omitted();
  j["redacted_fields"] =
      std::vector<std::string>(c.redacted_fields().begin(), c.redacted_fields().end());
  if (!c.content_hash().empty()) j["content_hash"] = c.content_hash();
  return j;
}

namespace {

nlohmann::json RouteJson(const v1::Route& r) {
  return {{"prev", std::vector<std::string>(r.prev().begin(), r.prev().end())},
          {"curr", r.curr()},
          {"next", std::vector<std::string>(r.next().begin(), r.next().end())}};
}

double ToMs(int64_t ns) { return static_cast<double>(ns) / 1e6; }

}  // namespace

nlohmann::json HopJson(const v1::Hop& h) {
  nlohmann::json j = {{"envelope_id", h.envelope_id()},
                      {"parent_id", h.parent_id()},
                      {"actor", h.actor()},
                      {"pod", h.pod()},
                      {"attempt", h.attempt()},
                      {"route", RouteJson(h.route())},
                      {"topic", h.topic()},
                      {"received_at", TimeText(h.received_at_ns())},
                      {"received_at_ns", h.received_at_ns()},
                      {"queue_wait_ms", ToMs(h.queue_wait_ns())},
                      {"runtime_ms", ToMs(h.runtime_ns())},
                      {"http_status", h.http_status()},
                      {"frame_count", h.frame_count()},
                      {"timed_out", h.timed_out()},
                      {"rejected", h.rejected()},
                      {"observed_by", h.observed_by_tap() ? "tap" : "sidecar"},
                      {"input", CaptureJson(h.input())}};
  if (h.rejected()) j["reject_reason"] = h.reject_reason();
  if (!h.replay_id().empty()) j["replay_id"] = h.replay_id();
  if (!h.terminal_phase().empty()) {
    j["terminal_phase"] = h.terminal_phase();
    j["terminal_reason"] = h.terminal_reason();
  }
  if (h.has_error()) {
    const v1::ErrorInfo& e = h.error();
    j["error"] = {{"code", e.code()},
                  {"type", e.type()},
                  {"mro", std::vector<std::string>(e.mro().begin(), e.mro().end())},
                  {"message", e.message()},
                  {"traceback", e.traceback()}};
  }
  nlohmann::json outputs = nlohmann::json::array();
  for (const v1::HopOutput& o : h.outputs()) {
    outputs.push_back({{"envelope_id", o.envelope_id()},
                       {"parent_id", o.parent_id()},
                       {"destination", o.destination()},
                       {"message_type", o.message_type()},
                       {"to_actor", o.to_actor()},
                       {"phase", o.phase()},
                       {"reason", o.reason()},
                       {"inferred", o.inferred()},
                       {"envelope", CaptureJson(o.envelope())}});
  }
  j["outputs"] = std::move(outputs);
  if (!h.replay_command().empty()) j["replay_command"] = h.replay_command();
  return j;
}

nlohmann::json ArtifactJson(const v1::TraceArtifact& a) {
  static const char* const kKinds[] = {"unknown",    "stalled",  "partial",         "clock_skew",
                                       "redelivery", "rejected", "runtime_timeout", "unobserved"};
  nlohmann::json hops = nlohmann::json::array();
  for (const v1::Hop& h : a.hops()) hops.push_back(HopJson(h));
  nlohmann::json edges = nlohmann::json::array();
  for (const v1::Edge& e : a.edges()) {
    edges.push_back({{"from_actor", e.from_actor()},
                     {"to_actor", e.to_actor()},
                     {"envelope_id", e.envelope_id()},
                     {"queue", e.queue()},
                     {"sent_at", TimeText(e.sent_at_ns())},
                     {"received_at", TimeText(e.received_at_ns())}});
  }
  nlohmann::json anomalies = nlohmann::json::array();
  for (const v1::Anomaly& x : a.anomalies()) {
    const int k = static_cast<int>(x.kind());
    anomalies.push_back({{"kind", k >= 0 && k < 8 ? kKinds[k] : "unknown"},
                         {"message", x.message()},
                         {"from_actor", x.from_actor()},
                         {"to_actor", x.to_actor()},
                         {"envelope_id", x.envelope_id()},
                         {"queue", x.queue()},
                         {"at", TimeText(x.at_ns())}});
  }
  return {{"trace_id", a.trace_id()},
          {"verdict", VerdictName(a.verdict())},
          {"outcome", OutcomeName(a.outcome())},
          {"headline", a.headline()},
          {"started_at", TimeText(a.started_at_ns())},
          {"ended_at", TimeText(a.ended_at_ns())},
          {"duration_ms", ToMs(a.ended_at_ns() - a.started_at_ns())},
          {"event_count", a.event_count()},
          {"planned_route", RouteJson(a.planned_route())},
          {"taken_route", std::vector<std::string>(a.taken_route().begin(), a.taken_route().end())},
          {"hops", std::move(hops)},
          {"edges", std::move(edges)},
          {"anomalies", std::move(anomalies)}};
}

}  // namespace meshtrace::collector
