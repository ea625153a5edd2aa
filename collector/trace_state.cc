#include "collector/trace_state.h"

#include <algorithm>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"

namespace meshtrace::collector {
namespace {

// "envelope \0 actor", the key of nodes_, built in a buffer of the thread's: a lookup
// allocates nothing (Evaluate looks up every send on every write that touches the trace).
const std::string& ScratchKey(std::string_view envelope_id, std::string_view actor) {
  thread_local std::string key;
  key.assign(envelope_id);
  key.push_back('\0');
  key.append(actor);
  return key;
}

// (envelope, actor) as views into a Send or Node, for maps that live within one call.
using PairKey = std::pair<std::string_view, std::string_view>;

bool IsTerminalSend(const std::string& message_type) {
  return message_type == "sink" || message_type == "sump";
}

// The outcome signal of one envelope reaching an end actor: true = failed.
bool FailedPhase(const std::string& message_type_or_actor_kind, const std::string& phase) {
  return message_type_or_actor_kind == "sump" || phase == "failed";
}

}  // namespace

TraceState::Node& TraceState::NodeFor(const v1::LifecycleEvent& event) {
  Node& node = nodes_[ScratchKey(event.envelope_id(), event.actor())];
  if (node.envelope_id.empty()) {
    node.envelope_id = event.envelope_id();
    node.actor = event.actor();
  }
  return node;
}

const TraceState::Node* TraceState::FindNode(const std::string& envelope_id,
                                             const std::string& actor) const {
  auto it = nodes_.find(ScratchKey(envelope_id, actor));
  return it == nodes_.end() ? nullptr : &it->second;
}

void TraceState::Add(const v1::LifecycleEvent& event, int64_t ingested_ns) {
  ++event_count_;
  const int64_t t = event.time_ns();
  if (started_ns_ == 0 || t < started_ns_) started_ns_ = t;
  ended_ns_ = std::max(ended_ns_, t);

  auto receive = [&](Node& node) {
    ++node.receipts;
    node.tapped = node.tapped || event.observer() == v1::OBSERVER_TAP;
    if (node.first_received_ns == 0 || t < node.first_received_ns) node.first_received_ns = t;
    if (t >= node.last_received_ns) {
      node.last_received_ns = t;
      node.last_received_ingested_ns = ingested_ns;
    }
    node.parent_id = event.parent_id();
    node.root_shaped = event.parent_id().empty() && event.route().prev().empty();
  };

  switch (event.body_case()) {
    case v1::LifecycleEvent::kReceived: {
      Node& node = NodeFor(event);
      receive(node);
      const v1::Received& r = event.received();
      // A replayed or redriven envelope enters mid-route on purpose: it needs no upstream.
      if (!r.replay_id().empty()) node.root_shaped = true;
      // A redelivery of the same message is one delivery; a resend is a new one.
      const int64_t key = r.topic().empty()
                              ? INT64_MIN + node.receipts
                              : static_cast<int64_t>(static_cast<uint64_t>(r.offset()) * 4099 +
                                                     static_cast<uint64_t>(r.partition()));
      if (std::find(node.delivery_keys.begin(), node.delivery_keys.end(), key) ==
          node.delivery_keys.end()) {
        node.delivery_keys.push_back(key);
      }
      break;
    }
    case v1::LifecycleEvent::kRejected: {
      Node& node = NodeFor(event);
      receive(node);
      const v1::Rejected& r = event.rejected();
      node.rejected = true;
      node.rejected_unparsed = r.reason() == "parse_error" || r.reason() == "validation_error";
      node.reject_reason = r.reason();
      node.reject_message = r.message();
      node.delivery_keys.push_back(static_cast<int64_t>(static_cast<uint64_t>(r.offset()) * 4099 +
                                                        static_cast<uint64_t>(r.partition())));
      break;
    }
    case v1::LifecycleEvent::kRuntimeResult: {
      Node& node = NodeFor(event);
      const v1::RuntimeResult& r = event.runtime_result();
      node.http_status = r.http_status();
      node.timed_out = r.timed_out();
      if (r.has_error()) {
        node.error_type = r.error().type().empty() ? r.error().code() : r.error().type();
        node.error_message = r.error().message();
      } else {
        node.error_type.clear();
        node.error_message.clear();
      }
      break;
    }
    case v1::LifecycleEvent::kRouted: {
      Node& node = NodeFor(event);
      node.closed_ns = std::max(node.closed_ns, t);
      const v1::Routed& r = event.routed();
      sends_.push_back(Send{event.envelope_id(), event.actor(), r.envelope_id(), r.to_actor(),
                            r.destination(), r.message_type(), r.phase(), r.reason(), t,
                            ingested_ns, r.inferred()});
      break;
    }
    case v1::LifecycleEvent::kTerminated: {
      Node& node = NodeFor(event);
      node.closed_ns = std::max(node.closed_ns, t);
      node.terminated = true;
      node.terminal_phase = event.terminated().phase();
      node.terminal_reason = event.terminated().reason();
      if (event.terminated().has_error() && node.error_type.empty()) {
        node.error_type = event.terminated().error().type();
        node.error_message = event.terminated().error().message();
      }
      break;
    }
    default:
      break;
  }
}

bool TraceState::RetriedAfter(const Send& send) const {
  if (!send.inferred || send.message_type != "sump") return false;
  const Node* again = FindNode(send.from_envelope, send.from_actor);
  return again != nullptr && again->last_received_ns > send.at_ns;
}

// Transits: sends to (envelope, actor) against distinct deliveries there; inferred sends of
// fan-out children against arrivals whose parent is the sender. Hops whose send was never seen
// are missing their upstream.
void TraceState::OpenTransits(Evaluation* ev) const {
  struct EdgeCount {
    int sends = 0;
    int claims = 0;
    const Send* first = nullptr;
    const Send* last = nullptr;
    void Add(const Send& send) {
      ++sends;
      if (first == nullptr || send.at_ns < first->at_ns) first = &send;
      if (last == nullptr || send.at_ns >= last->at_ns) last = &send;
    }
  };
  absl::flat_hash_map<PairKey, EdgeCount> edges;     // (envelope, to actor)
  absl::flat_hash_map<PairKey, EdgeCount> children;  // (parent envelope, to actor)
  edges.reserve(sends_.size());
  for (const Send& send : sends_) {
    if (RetriedAfter(send)) continue;
    if (send.envelope_id.empty()) {
      children[PairKey(send.from_envelope, send.to_actor)].Add(send);
    } else {
      edges[PairKey(send.envelope_id, send.to_actor)].Add(send);
    }
  }
  for (const auto& [unused, node] : nodes_) {
    if (node.receipts == 0) {
      // Routed or terminated here, but its receipt was never seen.
      ev->missing_upstream.push_back({node.envelope_id, node.actor, 0});
      continue;
    }
    if (node.root_shaped || node.rejected_unparsed ||
        edges.contains(PairKey(node.envelope_id, node.actor))) {
      continue;
    }
    auto child = children.find(PairKey(node.parent_id, node.actor));
    if (child != children.end() && child->second.claims < child->second.sends) {
      ++child->second.claims;
      continue;
    }
    ev->missing_upstream.push_back({node.envelope_id, node.actor, node.last_received_ingested_ns});
  }
  for (const auto& [key, edge] : edges) {
    const Send& s = *edge.last;
    const Node* node = FindNode(s.envelope_id, s.to_actor);
    const int deliveries = node == nullptr ? 0 : static_cast<int>(node->delivery_keys.size());
    if (edge.sends > deliveries) {
      const Send& open = deliveries == 0 ? *edge.first : *edge.last;
      ev->open.push_back(OpenBranch{OpenBranch::Kind::kTransit, open.envelope_id, open.from_actor,
                                    open.to_actor, open.queue, open.at_ns, open.ingested_ns,
                                    open.inferred, false});
    }
  }
  for (const auto& [key, edge] : children) {
    if (edge.claims >= edge.sends) continue;
    const Send& open = *edge.first;
    ev->open.push_back(OpenBranch{OpenBranch::Kind::kTransit, open.from_envelope, open.from_actor,
                                  open.to_actor, open.queue, open.at_ns, open.ingested_ns, true,
                                  true});
  }
}

// Hops received and neither routed onward nor terminated since.
void TraceState::OpenHops(Evaluation* ev) const {
  for (const auto& [unused, node] : nodes_) {
    if (node.receipts > 0 && node.closed_ns < node.last_received_ns) {
      ev->open.push_back(OpenBranch{OpenBranch::Kind::kInProgress, node.envelope_id, node.actor,
                                    node.actor, "", node.last_received_ns,
                                    node.last_received_ingested_ns});
    }
  }
}

Evaluation TraceState::Evaluate(int64_t now_ns, const Timeouts& timeouts) const {
  Evaluation ev;
  OpenTransits(&ev);
  OpenHops(&ev);
  auto by_time = [](const OpenBranch& a, const OpenBranch& b) {
    return std::tie(a.at_ns, a.envelope_id, a.to_actor) <
           std::tie(b.at_ns, b.envelope_id, b.to_actor);
  };
  std::sort(ev.open.begin(), ev.open.end(), by_time);
  std::sort(ev.missing_upstream.begin(), ev.missing_upstream.end(),
            [](const MissingUpstream& a, const MissingUpstream& b) {
              return std::tie(a.actor, a.envelope_id) < std::tie(b.actor, b.envelope_id);
            });

  const int64_t stall_ns = absl::ToInt64Nanoseconds(timeouts.stall);
  const int64_t grace_ns = absl::ToInt64Nanoseconds(timeouts.partial_grace);
  int64_t earliest_open = INT64_MAX;
  std::vector<OpenBranch> waiting;
  for (const OpenBranch& b : ev.open) {
    if (now_ns - b.ingested_ns < stall_ns) {
      waiting.push_back(b);
      earliest_open = std::min(earliest_open, b.ingested_ns);
    } else {
      (b.inferred ? ev.unobserved : ev.stalled).push_back(b);
    }
  }
  int64_t latest_missing = 0;
  for (const MissingUpstream& m : ev.missing_upstream) {
    latest_missing = std::max(latest_missing, m.ingested_ns);
  }
  if (!ev.stalled.empty()) {
    ev.verdict = v1::VERDICT_STALLED;
  } else if (!waiting.empty()) {
    ev.verdict = v1::VERDICT_OPEN;
    ev.deadline_ns = earliest_open + stall_ns;
  } else if (!ev.unobserved.empty()) {
    ev.verdict = v1::VERDICT_PARTIAL;
  } else if (!ev.missing_upstream.empty()) {
    if (now_ns - latest_missing >= grace_ns) {
      ev.verdict = v1::VERDICT_PARTIAL;
    } else {
      ev.verdict = v1::VERDICT_OPEN;
      ev.deadline_ns = latest_missing + grace_ns;
    }
  } else {
    ev.verdict = nodes_.empty() ? v1::VERDICT_OPEN : v1::VERDICT_COMPLETE;
  }

  // Outcome: every envelope that reached an end actor, known from the send or the end actor.
  // Paused and canceled envelopes count as neither.
  absl::flat_hash_map<PairKey, bool> terminal_failed;
  for (const Send& s : sends_) {
    if (!IsTerminalSend(s.message_type)) continue;
    if (FailedPhase(s.message_type, s.phase) || s.phase == "succeeded") {
      terminal_failed[PairKey(s.envelope_id, s.to_actor)] = FailedPhase(s.message_type, s.phase);
    }
  }
  for (const auto& [unused, node] : nodes_) {
    const PairKey key(node.envelope_id, node.actor);
    if (!node.terminated || terminal_failed.contains(key)) continue;
    if (node.terminal_phase == "failed" || node.terminal_phase == "succeeded") {
      terminal_failed[key] = node.terminal_phase == "failed";
    }
  }
  bool any_failed = false, any_succeeded = false;
  for (const auto& [key, failed] : terminal_failed) (failed ? any_failed : any_succeeded) = true;
  ev.outcome = any_failed && any_succeeded ? v1::OUTCOME_MIXED
               : any_failed                ? v1::OUTCOME_FAILED
               : any_succeeded             ? v1::OUTCOME_SUCCEEDED
                                           : v1::OUTCOME_UNSPECIFIED;
  return ev;
}

const TraceState::Send* TraceState::FailingSend() const {
  const Send* failing = nullptr;
  for (const Send& s : sends_) {
    if (!IsTerminalSend(s.message_type) || !FailedPhase(s.message_type, s.phase)) continue;
    if (failing == nullptr || s.at_ns < failing->at_ns) failing = &s;
  }
  return failing;
}

std::string TraceState::Headline(const Evaluation& ev) const {
  if (const Send* failing = FailingSend(); failing != nullptr) {
    const Node* node = FindNode(failing->from_envelope, failing->from_actor);
    std::string where = "failed at actor " + failing->from_actor;
    if (node != nullptr && node->rejected) {
      return absl::StrCat("rejected at actor ", failing->from_actor, " (", node->reject_reason,
                          "): ", node->reject_message);
    }
    if (node != nullptr && !node->error_type.empty()) {
      return absl::StrCat(where, " with ", node->error_type, ": ", node->error_message);
    }
    return absl::StrCat(where, failing->reason.empty() ? "" : ": " + failing->reason);
  }
  if (!ev.stalled.empty()) {
    const OpenBranch& b = ev.stalled.front();
    if (b.kind == OpenBranch::Kind::kTransit) {
      return absl::StrCat("stalled: envelope ", b.envelope_id, " lost between ", b.from_actor,
                          " and ", b.to_actor, " (sent to ", b.queue, ", never received)");
    }
    return absl::StrCat("stalled: envelope ", b.envelope_id, " received at ", b.from_actor,
                        " but never routed onward");
  }
  if (ev.verdict == v1::VERDICT_OPEN) {
    return absl::StrCat("in flight: ", ev.open.size(), " open branch",
                        ev.open.size() == 1 ? "" : "es");
  }
  if (ev.verdict == v1::VERDICT_PARTIAL && !ev.unobserved.empty()) {
    const OpenBranch& b = ev.unobserved.front();
    return absl::StrCat("not observed beyond ", b.from_actor, ": ",
                        b.child ? "a fan-out child of envelope " : "envelope ", b.envelope_id,
                        " went on to ", b.to_actor,
                        ", where no tap or sidecar reported it (not tapped, or lost there)");
  }
  if (ev.verdict == v1::VERDICT_PARTIAL) {
    const MissingUpstream& m = ev.missing_upstream.front();
    return absl::StrCat("partial: no upstream events for envelope ", m.envelope_id, " at ", m.actor,
                        " (uninstrumented producer?)");
  }
  if (ev.outcome == v1::OUTCOME_SUCCEEDED) {
    return absl::StrCat("succeeded in ", nodes_.size(), " hop", nodes_.size() == 1 ? "" : "s");
  }
  return VerdictName(ev.verdict);
}

v1::TraceSummary TraceState::Summary(const Evaluation& ev) const {
  v1::TraceSummary s;
  s.set_trace_id(trace_id_);
  s.set_verdict(ev.verdict);
  s.set_outcome(ev.outcome);
  s.set_started_at_ns(started_ns_);
  s.set_duration_ms((ended_ns_ - started_ns_) / 1'000'000);
  s.set_hops(static_cast<uint32_t>(nodes_.size()));
  uint32_t tapped = 0;
  for (const auto& [unused, node] : nodes_) tapped += node.tapped;
  s.set_tapped_hops(tapped);
  if (const Send* failing = FailingSend(); failing != nullptr) {
    s.set_ended_at_actor(failing->from_actor);
    s.set_reason(failing->reason);
    if (const Node* node = FindNode(failing->from_envelope, failing->from_actor)) {
      s.set_error_type(node->rejected ? node->reject_reason : node->error_type);
      s.set_error_message(node->rejected ? node->reject_message : node->error_message);
    }
  } else {
    const Send* last = nullptr;
    for (const Send& send : sends_) {
      if (send.message_type == "sink" && (last == nullptr || send.at_ns >= last->at_ns)) {
        last = &send;
      }
    }
    if (last != nullptr) {
      s.set_ended_at_actor(last->from_actor);
      s.set_reason(last->reason);
    } else if (!ev.stalled.empty()) {
      s.set_ended_at_actor(ev.stalled.front().from_actor);
    } else if (!ev.unobserved.empty()) {
      s.set_ended_at_actor(ev.unobserved.front().from_actor);
    }
  }
  return s;
}

std::vector<std::string> TraceState::Actors() const {
  absl::flat_hash_set<std::string> set;
  for (const auto& [key, node] : nodes_) set.insert(node.actor);
  for (const Send& s : sends_) set.insert(s.from_actor);
  std::vector<std::string> out(set.begin(), set.end());
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> TraceState::Reasons() const {
  absl::flat_hash_set<std::string> set;
  for (const Send& s : sends_) {
    if (!s.reason.empty()) set.insert(s.reason);
  }
  for (const auto& [key, node] : nodes_) {
    if (!node.reject_reason.empty()) set.insert(node.reject_reason);
    if (!node.terminal_reason.empty()) set.insert(node.terminal_reason);
  }
  std::vector<std::string> out(set.begin(), set.end());
  std::sort(out.begin(), out.end());
  return out;
}

size_t TraceState::ApproximateBytes() const {
  size_t bytes = sizeof(*this) + trace_id_.capacity();
  for (const auto& [key, node] : nodes_) {
    bytes += sizeof(node) + key.capacity() + node.envelope_id.capacity() + node.actor.capacity() +
             node.parent_id.capacity() + node.error_message.capacity() +
             node.reject_message.capacity() + node.delivery_keys.capacity() * 8 + 16;
  }
  for (const Send& s : sends_) {
    bytes += sizeof(s) + s.from_envelope.capacity() + s.envelope_id.capacity() +
             s.queue.capacity() + s.to_actor.capacity() + s.from_actor.capacity();
  }
  return bytes;
}

}  // namespace meshtrace::collector
