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
// for one reloads it from the store and may change its verdict. One per writer shard, holding
// the traces with ShardOf(trace_id, shards) == shard; used by that shard's writer thread
// only: not thread-safe.
class Assembler {
 public:
  Assembler(TraceStore* store, Timeouts timeouts, CollectorMetrics* metrics, int shard = 0,
            int shards = 1);

  // Rebuilds this shard's open traces from the store (after a restart or crash).
  absl::Status Restore(int64_t now_ns);

  // Takes new (deduplicated) events and adds to `set` what must be written with them: the
  // summaries that changed (settled traces, verdicts or outcomes that moved) and the traces
  // that became or stopped being open. A new trace's open summary is written after
  // kOpenSummaryDelay if it is still open then (most traces settle sooner: one write).
  void Add(const std::vector<PreparedEvent>& events, int64_t now_ns, WriteSet* set);

  // Settles the traces whose stall or partial deadline has passed; writes due open summaries.
  void Tick(int64_t now_ns, WriteSet* set);

  static constexpr absl::Duration kOpenSummaryDelay = absl::Seconds(1);

  size_t open_traces() const { return open_.size(); }
  // True when the trace is open here (Add will not read the store for it).
  bool Holds(const std::string& trace_id) const { return open_.contains(trace_id); }

 private:
  struct Open {
    std::unique_ptr<TraceState> state;
    v1::Verdict verdict = v1::VERDICT_UNSPECIFIED;  // as last stored; unspecified = no summary
    v1::Outcome outcome = v1::OUTCOME_UNSPECIFIED;
    int64_t deadline_ns = 0;     // when Tick must look again (0 = only on new events)
    int64_t summary_due_ns = 0;  // when the first open summary is written
    bool listed_open = false;    // in the store's open list
  };

  // Re-evaluates one trace; records what changed in `set`; adds it to `settled` (it leaves
  // memory) when no longer open.
  void Settle(const std::string& trace_id, Open& open, int64_t now_ns, WriteSet* set,
              std::vector<std::string>* settled);

  TraceStore* store_;
  Timeouts timeouts_;
  CollectorMetrics* metrics_;
  int shard_;
  int shards_;
  absl::flat_hash_map<std::string, Open> open_;
};

}  // namespace meshtrace::collector
