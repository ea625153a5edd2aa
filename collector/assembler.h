#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "collector/trace_state.h"
#include "collector/trace_store.h"

namespace meshtrace::collector {

class CollectorMetrics;

// Keeps the state of every open trace in memory and decides verdicts (DESIGN.md §4): a trace
// settles as complete in the same write cycle as the event that closes its last branch; a
// timer (Tick) settles stalled and partial ones. Settled traces leave memory; a late event
// for one reloads it from the store and may change its verdict. Used by the writer thread
// only: not thread-safe.
class Assembler {
 public:
  Assembler(TraceStore* store, Timeouts timeouts, CollectorMetrics* metrics);

  // Rebuilds the open traces from the store (after a restart or crash).
  absl::Status Restore(int64_t now_ns);

  // Takes new (deduplicated) events and appends the summaries that changed to `changed`:
  // new traces, settled ones, and traces whose verdict or outcome moved.
  void Add(const std::vector<StoredEvent>& events, int64_t now_ns,
           std::vector<v1::TraceSummary>* changed);

  // Settles the traces whose stall or partial deadline has passed.
  void Tick(int64_t now_ns, std::vector<v1::TraceSummary>* changed);

  size_t open_traces() const { return open_.size(); }

 private:
  struct Open {
    std::unique_ptr<TraceState> state;
    v1::Verdict verdict = v1::VERDICT_UNSPECIFIED;  // as last stored
    v1::Outcome outcome = v1::OUTCOME_UNSPECIFIED;
    int64_t deadline_ns = 0;
  };

  // Re-evaluates one trace; records a changed summary, settles it (leaves memory) if no
  // longer open.
  void Settle(const std::string& trace_id, Open& open, int64_t now_ns,
              std::vector<v1::TraceSummary>* changed, std::vector<std::string>* settled);

  TraceStore* store_;
  Timeouts timeouts_;
  CollectorMetrics* metrics_;
  absl::flat_hash_map<std::string, Open> open_;
};

}  // namespace meshtrace::collector
