#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "collector/assembler.h"
#include "collector/metrics.h"
#include "collector/trace_store.h"
#include "common/clock.h"
#include "meshtrace/v1/events.pb.h"

namespace meshtrace::collector {

constexpr size_t kMaxIdBytes = 256;
constexpr size_t kDefaultMaxEventBytes = 1 << 20;

struct EventRejection {
  std::string reason;   // the counted label
  std::string message;  // what was wrong
};

// Checks one event from a sender: ids present and sane, a body, a plausible time, bounded
// size. nullopt = acceptable.
std::optional<EventRejection> ValidateEvent(const v1::LifecycleEvent& event,
                                            size_t max_event_bytes = kDefaultMaxEventBytes);

// What became of one submitted batch, reported after the write.
struct BatchResult {
  absl::Status status;  // not OK: nothing of the batch is stored; the sender should resend
  uint32_t accepted = 0;
  uint32_t duplicates = 0;
};

// The write path: one thread takes every pending batch, drops duplicates, runs the assembler
// and commits events and changed summaries in one synced write (group commit), then reports
// each batch. A bounded queue pushes back on senders: Submit blocks while `max_pending_events`
// are waiting. A failed store write is fatal to the process (the store is the truth; a
// restart rebuilds memory from it), after failing the waiting batches. Thread-safe.
class IngestPipeline {
 public:
  struct Options {
    size_t max_pending_events = 262'144;
    size_t max_group_events = 65'536;  // events per store write
    absl::Duration tick = absl::Milliseconds(250);
  };
  IngestPipeline(TraceStore* store, Assembler* assembler, CollectorMetrics* metrics, Clock* clock,
                 Options options);
  ~IngestPipeline();

  using Done = std::function<void(const BatchResult&)>;
  // `events` come from TraceStore::Prepare (call it on the submitting thread: it hashes and
  // serialises). `done` runs on the writer thread; it must not block.
  void Submit(std::vector<PreparedEvent> events, Done done);
  // Prepares `events` (arrived now) on this thread, then submits them.
  void Submit(std::vector<v1::LifecycleEvent> events, Done done);

  // Finishes what is queued, then stops the thread.
  void Stop();

 private:
  struct Pending {
    std::vector<PreparedEvent> events;
    Done done;
  };
  void Loop();
  void Write(std::vector<Pending>& group);

  TraceStore* store_;
  Assembler* assembler_;
  CollectorMetrics* metrics_;
  Clock* clock_;
  Options options_;

  absl::Mutex mu_;
  std::deque<Pending> pending_ ABSL_GUARDED_BY(mu_);
  size_t pending_events_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace meshtrace::collector
