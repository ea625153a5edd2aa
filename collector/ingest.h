#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "collector/assembler.h"
#include "collector/metrics.h"
#include "collector/stitcher.h"
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
// duplicates, runs its assembler and stages events and changed summaries as one write; the
// shard's committer thread makes it durable (one synced write; RocksDB groups the shards'
// writes), then reports. A shard stages its next write while the last one is being made
// durable; a step that must read the store for a trace the write in flight touches waits
// for it. A batch is split by shard and reported
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
    // How long a tap's fan-out child waits for its parent's trace to be known (TraceStitcher).
    absl::Duration stitch_wait = absl::Seconds(2);
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
  // Puts tap-only fan-out children into their parents' traces (TraceStitcher: a batch may be
  // held up to `stitch_wait`), prepares the events, then submits them.
  void Submit(std::vector<v1::LifecycleEvent> events, Done done);

  // Finishes what is queued, then stops the threads.
  void Stop();

 private:
  struct Pending {
    std::vector<PreparedEvent> events;
    Done done;
  };
  // A staged write on its way to the disk, with the batches it reports on.
  struct InFlight {
    TraceStore::Staged write;
    std::vector<Pending> group;
    std::vector<BatchResult> results;
    size_t events = 0;
  };
  struct Shard {
    int index = 0;
    Assembler* assembler = nullptr;
    absl::Mutex mu;
    std::deque<Pending> pending ABSL_GUARDED_BY(mu);
    size_t pending_events ABSL_GUARDED_BY(mu) = 0;
    bool stopping ABSL_GUARDED_BY(mu) = false;
    std::thread thread;

    absl::Mutex commit_mu;
    std::optional<InFlight> next ABSL_GUARDED_BY(commit_mu);  // handed over, not yet taken
    bool committing ABSL_GUARDED_BY(commit_mu) = false;
    bool committer_stop ABSL_GUARDED_BY(commit_mu) = false;
    std::thread committer;
    // The traces the write in flight touches (shard thread only; empty when none is).
    absl::flat_hash_set<std::string> in_flight_traces;
  };
  void Enqueue(Shard& shard, std::vector<PreparedEvent> events, Done done);
  void Loop(Shard& shard);
  void Write(Shard& shard, std::vector<Pending>& group);
  void CommitLoop(Shard& shard);
  // Waits until the shard has no write in flight.
  void WaitIdle(Shard& shard);
  // Waits for the write in flight to finish, then hands `write` to the committer.
  void Hand(Shard& shard, InFlight write, absl::flat_hash_set<std::string> traces);

  void Prepared(std::vector<v1::LifecycleEvent> events, Done done);

  TraceStore* store_;
  CollectorMetrics* metrics_;
  Clock* clock_;
  Options options_;
  std::vector<std::unique_ptr<Shard>> shards_;
  TraceStitcher stitcher_;
  absl::Notification stitch_stop_;
  std::thread stitch_thread_;  // releases held batches whose wait has passed
};

}  // namespace meshtrace::collector
