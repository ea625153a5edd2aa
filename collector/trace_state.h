#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"
#include "common/trace_view.h"
#include "meshtrace/v1/artifact.pb.h"
#include "meshtrace/v1/events.pb.h"
#include "meshtrace/v1/query.pb.h"

namespace meshtrace::collector {

// Timers of the completeness rule (DESIGN.md §4).
struct Timeouts {
  absl::Duration stall = absl::Minutes(5);  // a branch open this long is a stalled transit
  // A hop whose upstream was never seen waits this long for it (events of different pods
  // arrive in any order) before the trace is called partial.
  absl::Duration partial_grace = absl::Seconds(30);
};

// Something still in flight: an envelope sent but not received (a transit), or received but
// neither routed onward nor terminated (a hop in progress).
struct OpenBranch {
  enum class Kind { kTransit, kInProgress };
  Kind kind = Kind::kTransit;
  std::string envelope_id;
  std::string from_actor;  // transit: the producer; in progress: the actor holding it
  std::string to_actor;
  std::string queue;
  int64_t at_ns = 0;        // sent (transit) or received (in progress), sidecar clock
  int64_t ingested_ns = 0;  // when the collector learnt of it: the stall timer runs from here
  // A transit a tap inferred from a reply: its envelope id is empty for a fan-out child (the
  // tap cannot know it); `envelope_id` then names the parent.
  bool inferred = false;
  bool child = false;
};

// A hop whose upstream send was never seen (an uninstrumented producer, or not yet arrived).
struct MissingUpstream {
  std::string envelope_id;
  std::string actor;
  int64_t ingested_ns = 0;
};

struct Evaluation {
  v1::Verdict verdict = v1::VERDICT_OPEN;
  v1::Outcome outcome = v1::OUTCOME_UNSPECIFIED;
  std::vector<OpenBranch> open;     // every open branch
  std::vector<OpenBranch> stalled;  // the open branches past the stall timeout
  // Inferred transits past the stall timeout: the tap at the sender saw the envelope go on,
  // and nothing reported it at the destination (not tapped, or lost there). The verdict is
  // then partial ("not observed beyond A"), not stalled.
  std::vector<OpenBranch> unobserved;
  std::vector<MissingUpstream> missing_upstream;
  // Collector time at which the verdict changes if no event arrives (stall or partial);
  // 0 when it cannot change by waiting (complete, stalled, partial).
  int64_t deadline_ns = 0;
};

// The compact state of one trace from which its verdict, outcome and summary follow:
// envelopes per actor with their deliveries and closing events, and every send. Captures are
// not kept (they live in the store). Events may arrive in any order and late; each event must
// be added once (the store deduplicates). Thread-compatible.
//
// The rule (DESIGN.md §4): every envelope sent to a queue is open until a delivery of it is
// received at the destination actor (sends and distinct deliveries are counted, so a resend
// needs its own delivery), and every received envelope is open until it is routed onward or
// terminated after its last receipt. No open branch and no missing upstream = complete.
//
// Taps see /invoke exchanges only, so their sends are inferred from replies: a send of a
// fan-out child (no id known) towards X is claimed by an arrival at X whose parent_id is the
// sender's envelope, counted per (sender envelope, X); an inferred send to the failure end
// actor is also claimed by a later receipt of the same envelope at the same actor (a retry).
class TraceState {
 public:
  explicit TraceState(std::string trace_id) : trace_id_(std::move(trace_id)) {}

  // `ingested_ns` is the collector's clock when the event arrived.
  void Add(const v1::LifecycleEvent& event, int64_t ingested_ns);

  Evaluation Evaluate(int64_t now_ns, const Timeouts& timeouts) const;

  // The list row for this trace under `verdict` (from Evaluate, or stored).
  v1::TraceSummary Summary(const Evaluation& evaluation) const;
  // "failed at actor X with ValueError: ..." and its kin.
  std::string Headline(const Evaluation& evaluation) const;

  // Values the trace is indexed by.
  std::vector<std::string> Actors() const;
  std::vector<std::string> Reasons() const;

  const std::string& trace_id() const { return trace_id_; }
  int64_t started_ns() const { return started_ns_; }
  int64_t ended_ns() const { return ended_ns_; }
  uint64_t event_count() const { return event_count_; }
  // Approximate heap bytes held, for the open-trace memory budget.
  size_t ApproximateBytes() const;

 private:
  struct Node {  // one envelope at one actor
    std::string envelope_id;
    std::string actor;
    std::string parent_id;
    bool root_shaped = false;  // no parent and empty route.prev: a trace's first hop
    bool rejected = false;
    bool rejected_unparsed = false;  // its envelope id was made up by the rejecting sidecar
    std::string reject_reason;
    std::string reject_message;
    int receipts = 0;
    std::vector<int64_t> delivery_keys;  // distinct (partition, offset) of the deliveries
    int64_t first_received_ns = 0;
    int64_t last_received_ns = 0;
    int64_t last_received_ingested_ns = 0;
    int64_t closed_ns = INT64_MIN;  // latest send from it or termination
    bool terminated = false;
    std::string terminal_phase;
    std::string terminal_reason;
    std::string error_type;
    std::string error_message;
    int http_status = 0;
    bool timed_out = false;
    bool tapped = false;  // reported by a tap
  };
  struct Send {
    std::string from_envelope;
    std::string from_actor;
    std::string envelope_id;
    std::string to_actor;
    std::string queue;
    std::string message_type;
    std::string phase;
    std::string reason;
    int64_t at_ns = 0;
    int64_t ingested_ns = 0;
    bool inferred = false;
  };

  Node& NodeFor(const v1::LifecycleEvent& event);
  const Node* FindNode(const std::string& envelope_id, const std::string& actor) const;
  const Send* FailingSend() const;
  void OpenTransits(Evaluation* ev) const;
  void OpenHops(Evaluation* ev) const;
  // An inferred send to an end actor that a later receipt at the sender (a retry) answers.
  bool RetriedAfter(const Send& send) const;

  std::string trace_id_;
  absl::flat_hash_map<std::string, Node> nodes_;  // key: envelope_id \0 actor
  std::vector<Send> sends_;
  int64_t started_ns_ = 0;
  int64_t ended_ns_ = 0;
  uint64_t event_count_ = 0;
};

}  // namespace meshtrace::collector
