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

// The write path, sharded by trace id: each shard's thread takes its pending batches, drops
// duplicates, runs its assembler and commits events and changed summaries in one synced write
// (RocksDB groups the shards' writes), then reports. A batch is split by shard and reported
// once every part is written. Bounded queues push back on senders: Submit blocks while a
// shard has `max_pending_events` waiting. A failed store write is fatal to the process (the
// store is the truth; a restart rebuilds memory from it), after failing the waiting batches.
// Thread-safe.
class IngestPipeline {
 public:
  struct Options {
    size_t max_pending_events = 262'144;  // per shard
    size_t max_group_events = 65'536;     // events per store write
    absl::Duration tick = absl::Milliseconds(250);
  };
  // One assembler per shard; assemblers[i] must hold shard i of assemblers.size().
  IngestPipeline(TraceStore* store, std::vector<Assembler*> assemblers, CollectorMetrics* metrics,
                 Clock* clock, Options options);
  IngestPipeline(TraceStore* store, Assembler* assembler, CollectorMetrics* metrics, Clock* clock,
                 Options options)
      : IngestPipeline(store, std::vector<Assembler*>{assembler}, metrics, clock, options) {}
  ~IngestPipeline();

  using Done = std::function<void(const BatchResult&)>;
  // `events` come from TraceStore::Prepare (call it on the submitting thread: it hashes and
  // serialises). `done` runs on a writer thread; it must not block. An empty batch makes
  // every shard run a write cycle (its timers included) before `done`.
  void Submit(std::vector<PreparedEvent> events, Done done);
  // Prepares `events` (arrived now) on this thread, then submits them.
  void Submit(std::vector<v1::LifecycleEvent> events, Done done);

  // Finishes what is queued, then stops the threads.
  void Stop();

 private:
  struct Pending {
    std::vector<PreparedEvent> events;
    Done done;
  };
  struct Shard {
    int index = 0;
    Assembler* assembler = nullptr;
    absl::Mutex mu;
    std::deque<Pending> pending ABSL_GUARDED_BY(mu);
    size_t pending_events ABSL_GUARDED_BY(mu) = 0;
    bool stopping ABSL_GUARDED_BY(mu) = false;
    std::thread thread;
  };
  void Enqueue(Shard& shard, std::vector<PreparedEvent> events, Done done);
  void Loop(Shard& shard);
  void Write(Shard& shard, std::vector<Pending>& group);

  TraceStore* store_;
  CollectorMetrics* metrics_;
  Clock* clock_;
  Options options_;
  std::vector<std::unique_ptr<Shard>> shards_;
};

}  // namespace meshtrace::collector
