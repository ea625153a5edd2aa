#pragma once

#include <atomic>
#include <functional>
#include <iosfwd>
#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/runtime_client.h"
#include "replayer/query_client.h"

namespace meshtrace::replayer {

struct BatchReplayOptions {
  std::string actor;     // only failed hops at this actor
  std::string reason;    // only traces with this reason
  int64_t since_ns = 0;  // only traces started after this
  double rate = 20;      // replays per second at most
  int limit = 0;         // at most this many replays (0 = all)
  std::string resume;    // file of finished replays: skipped on the next run, appended to
  bool dry_run = false;
  bool allow_redacted = false;
  absl::Duration timeout = absl::Minutes(5);
};

struct BatchReplaySummary {
  int replayed = 0;
  int fixed = 0;  // failed originally, succeed now
  int still_failing = 0;
  int refused = 0;  // captures that cannot be replayed
  int skipped = 0;  // already done in an earlier run (--resume)
  bool interrupted = false;
  std::map<std::string, int> failing_by_error;  // error type → count
};

struct RedriveSummary {
  int published = 0;
  int refused = 0;  // captures that cannot be sent as they were
  int skipped = 0;  // already done in an earlier run (--resume)
  bool interrupted = false;
};

// Re-publishes the captured input of every failed hop (selected as for RunBatchReplay) to the
// topic of its actor, asya-{ns}-{actor}, keyed by trace id, with headers.x-meshtrace-replay
// set to a fresh id, paced at `rate`. With `publisher` null (dry run) only prints what it
// would send. Flushes before returning: what it reports published is acknowledged.
absl::StatusOr<RedriveSummary> RunRedrive(QueryClient& client, class KafkaPublisher* publisher,
                                          const std::string& ns, Clock* clock,
                                          const BatchReplayOptions& options,
                                          const std::atomic<bool>* stop, std::ostream& progress,
                                          bool tty);

// Replays every failed hop (the ones whose envelope went to x-sump) of the failed traces that
// match, paced at `rate` on `clock`, printing one progress line per replay to `progress`
// (rewritten in place when `tty`). Stops early, between replays, when `*stop` becomes true.
absl::StatusOr<BatchReplaySummary> RunBatchReplay(
    QueryClient& client, const std::function<std::unique_ptr<RuntimeClient>()>& runtime,
    Clock* clock, const BatchReplayOptions& options, const std::atomic<bool>* stop,
    std::ostream& progress, bool tty);

}  // namespace meshtrace::replayer
