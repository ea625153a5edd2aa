#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "meshtrace/v1/events.pb.h"

namespace meshtrace::collector {

// Puts the events of fan-out children that only taps saw into their parent's trace.
//
// A tap names a trace by the envelope's trace_id or traceparent header, else by the envelope's
// own id. The stock Asya sidecar sets neither header and gives each fan-out child a fresh id,
// so a child's events arrive named after the child. Such an event (from a tap, its trace id its
// own envelope id) is moved to the trace its envelope id (among events seen here) or, failing
// that, its parent's id (seen here, or in the store's envelope index) is already known in.
//
// The parent's events come from another tap and may arrive later: a batch with an event whose
// parent is not known yet is held until the parent shows up or `wait` has passed, then goes on
// with what could be resolved. Other batches pass at once (the assembler takes events in any
// order).
// Thread-safe; `release` runs on the calling thread, outside the lock.
class TraceStitcher {
 public:
  using StoreLookup = std::function<std::optional<std::string>(const std::string& envelope_id)>;
  using Release = std::function<void(std::vector<v1::LifecycleEvent>)>;

  TraceStitcher(StoreLookup lookup, absl::Duration wait, size_t max_known = 1u << 17);

  // Takes a batch that arrived at `now`; releases it, and any held batch that is now ready.
  void Add(std::vector<v1::LifecycleEvent> events, absl::Time now, Release release);
  // Releases the held batches whose wait has passed (and those behind them that are ready).
  void Expire(absl::Time now);
  size_t held() const;

 private:
  struct Held {
    std::vector<v1::LifecycleEvent> events;
    absl::Time deadline;
    Release release;
  };
  using Ready = std::vector<std::pair<std::vector<v1::LifecycleEvent>, Release>>;

  // Resolves what it can of `events`; true when none waits for a parent.
  bool Resolve(std::vector<v1::LifecycleEvent>& events) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::optional<std::string> TraceOf(const std::string& envelope_id, bool ask_store)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Learn(const std::vector<v1::LifecycleEvent>& events) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Drain(absl::Time now, Ready* ready) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const StoreLookup lookup_;
  const absl::Duration wait_;
  const size_t max_known_;
  mutable absl::Mutex mu_;
  std::deque<Held> held_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, std::string> known_ ABSL_GUARDED_BY(mu_);  // envelope → trace
  std::deque<std::string> known_order_ ABSL_GUARDED_BY(mu_);  // oldest first, for eviction
};

}  // namespace meshtrace::collector
