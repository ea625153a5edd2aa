#include "collector/ingest.h"

#include <cstdlib>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/log.h"

namespace meshtrace::collector {
namespace {

bool BadId(const std::string& id) {
  return id.size() > kMaxIdBytes || id.find('\0') != std::string::npos;
}

}  // namespace

std::optional<EventRejection> ValidateEvent(const v1::LifecycleEvent& e, size_t max_event_bytes) {
  if (e.source_id().empty()) return EventRejection{"missing_source_id", "source_id is empty"};
  if (e.sequence() == 0) return EventRejection{"missing_sequence", "sequence is 0 (starts at 1)"};
  if (e.trace_id().empty()) return EventRejection{"missing_trace_id", "trace_id is empty"};
  if (e.actor().empty()) return EventRejection{"missing_actor", "actor is empty"};
  if (e.body_case() == v1::LifecycleEvent::BODY_NOT_SET) {
    return EventRejection{"missing_body", "no received/runtime_result/routed/terminated/rejected"};
  }
  if (e.envelope_id().empty()) return EventRejection{"missing_envelope_id", "envelope_id is empty"};
  for (const std::string* id :
       {&e.source_id(), &e.trace_id(), &e.envelope_id(), &e.parent_id(), &e.actor()}) {
    if (BadId(*id)) {
      return EventRejection{"bad_id", absl::StrCat("an id or actor name is longer than ",
                                                   kMaxIdBytes, " bytes or holds a NUL byte")};
    }
  }
  if (e.time_ns() <= 0) return EventRejection{"bad_time", "time_ns is not a positive Unix time"};
  if (e.has_routed()) {
    const v1::Routed& r = e.routed();
    // A tap cannot know a fan-out child's id (the sidecar makes it): an inferred send of a
    // frame after the first names its parent instead.
    const bool id_known = !r.envelope_id().empty() ||
                          (r.inferred() && r.frame_index() > 0 && r.parent_id() == e.envelope_id());
    if (!id_known || r.to_actor().empty() || BadId(r.envelope_id()) || BadId(r.to_actor())) {
      return EventRejection{"bad_routed",
                            "routed needs envelope_id (or, inferred by a tap for a frame after "
                            "the first, the sender as parent_id) and to_actor"};
    }
  }
  if (e.ByteSizeLong() > max_event_bytes) {
    return EventRejection{"event_too_large", absl::StrCat("event of ", e.ByteSizeLong(),
                                                          " bytes exceeds ", max_event_bytes)};
  }
  return std::nullopt;
}

IngestPipeline::IngestPipeline(TraceStore* store, std::vector<Assembler*> assemblers,
                               CollectorMetrics* metrics, Clock* clock, Options options)
    : store_(store),
      metrics_(metrics),
      clock_(clock),
      options_(options),
      stitcher_([store](const std::string& id) { return store->TraceOfEnvelope(id); },
                options.stitch_wait) {
  for (size_t i = 0; i < assemblers.size(); ++i) {
    auto shard = std::make_unique<Shard>();
    shard->index = static_cast<int>(i);
    shard->assembler = assemblers[i];
    shards_.push_back(std::move(shard));
  }
  for (auto& shard : shards_) {
    Shard* s = shard.get();
    s->committer = std::thread([this, s] { CommitLoop(*s); });
    s->thread = std::thread([this, s] { Loop(*s); });
  }
  stitch_thread_ = std::thread([this] {
    while (!stitch_stop_.WaitForNotificationWithTimeout(absl::Milliseconds(100))) {
      stitcher_.Expire(clock_->Now());
    }
  });
}

IngestPipeline::~IngestPipeline() { Stop(); }

void IngestPipeline::Submit(std::vector<v1::LifecycleEvent> events, Done done) {
  stitcher_.Add(std::move(events), clock_->Now(),
                [this, done = std::move(done)](std::vector<v1::LifecycleEvent> ready) mutable {
                  Prepared(std::move(ready), std::move(done));
                });
}

void IngestPipeline::Prepared(std::vector<v1::LifecycleEvent> events, Done done) {
  const int64_t now = absl::ToUnixNanos(clock_->Now());
  std::vector<PreparedEvent> prepared;
  prepared.reserve(events.size());
  for (v1::LifecycleEvent& e : events) prepared.push_back(TraceStore::Prepare(std::move(e), now));
  Submit(std::move(prepared), std::move(done));
}

void IngestPipeline::Submit(std::vector<PreparedEvent> events, Done done) {
  const int n = static_cast<int>(shards_.size());
  if (n == 1) {
    Enqueue(*shards_[0], std::move(events), std::move(done));
    return;
  }
  std::vector<std::vector<PreparedEvent>> parts(n);
  for (PreparedEvent& e : events) {
    parts[ShardOf(e.stored.event.trace_id(), n)].push_back(std::move(e));
  }
  // One report for the whole batch, once every part is written.
  struct Join {
    absl::Mutex mu;
    int remaining = 0;
    BatchResult total;
    Done done;
  };
  auto join = std::make_shared<Join>();
  join->done = std::move(done);
  const bool tick_all = events.empty();
  for (int i = 0; i < n; ++i) join->remaining += tick_all || !parts[i].empty();
  for (int i = 0; i < n; ++i) {
    if (!tick_all && parts[i].empty()) continue;
    Enqueue(*shards_[i], std::move(parts[i]), [join](const BatchResult& r) {
      Done done;
      BatchResult total;
      {
        absl::MutexLock lock(&join->mu);
        if (!r.status.ok() && join->total.status.ok()) join->total.status = r.status;
        join->total.accepted += r.accepted;
        join->total.duplicates += r.duplicates;
        if (--join->remaining > 0) return;
        done = std::move(join->done);
        total = join->total;
      }
      done(total);
    });
  }
}

void IngestPipeline::Enqueue(Shard& shard, std::vector<PreparedEvent> events, Done done) {
  const size_t n = events.size();
  bool stopping = false;
  {
    absl::MutexLock lock(&shard.mu);
    // Back-pressure: wait for room (a batch larger than the whole queue waits for it empty).
    auto room = [this, &shard, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu) {
      return shard.stopping || shard.pending_events == 0 ||
             shard.pending_events + n <= options_.max_pending_events;
    };
    shard.mu.Await(absl::Condition(&room));
    stopping = shard.stopping;
    if (!stopping) {
      shard.pending_events += n;
      shard.pending.push_back(Pending{std::move(events), std::move(done)});
      return;
    }
  }
  done(BatchResult{absl::UnavailableError("collector is shutting down"), 0, 0});
}

void IngestPipeline::Stop() {
  if (stitch_thread_.joinable()) {
    stitch_stop_.Notify();
    stitch_thread_.join();
    stitcher_.Expire(absl::InfiniteFuture());  // what is held goes in as it is
  }
  for (auto& shard : shards_) {
    absl::MutexLock lock(&shard->mu);
    shard->stopping = true;
  }
  for (auto& shard : shards_) {
    if (shard->thread.joinable()) shard->thread.join();
    {
      absl::MutexLock lock(&shard->commit_mu);
      shard->committer_stop = true;
    }
    if (shard->committer.joinable()) shard->committer.join();
  }
}

void IngestPipeline::Loop(Shard& shard) {
  while (true) {
    std::vector<Pending> group;
    bool stop = false;
    {
      absl::MutexLock lock(&shard.mu);
      auto ready = [&shard]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu) {
        return shard.stopping || !shard.pending.empty();
      };
      shard.mu.AwaitWithTimeout(absl::Condition(&ready), options_.tick);
      size_t events = 0;
      while (!shard.pending.empty() &&
             (group.empty() ||
              events + shard.pending.front().events.size() <= options_.max_group_events)) {
        events += shard.pending.front().events.size();
        group.push_back(std::move(shard.pending.front()));
        shard.pending.pop_front();
      }
      shard.pending_events -= events;
      stop = shard.stopping && shard.pending.empty();
    }
    Write(shard, group);
    if (stop) return;
  }
}

void IngestPipeline::Write(Shard& shard, std::vector<Pending>& group) {
  const int64_t now = absl::ToUnixNanos(clock_->Now());
  WriteSet set;
  std::vector<BatchResult> results(group.size());
  // Duplicates are found first, by views into the events (nothing is moved yet), then the
  // new events move into the write.
  size_t total = 0;
  for (const Pending& pending : group) total += pending.events.size();
  absl::flat_hash_set<std::pair<std::string_view, uint64_t>> in_group;
  in_group.reserve(total);
  std::vector<bool> duplicate(total);
  for (size_t i = 0, k = 0; i < group.size(); ++i) {
    for (const PreparedEvent& p : group[i].events) {
      const v1::LifecycleEvent& e = p.stored.event;
      bool dup = !in_group.emplace(e.source_id(), e.sequence()).second;
      if (!dup && store_->MayContain(e.source_id(), e.sequence(), shard.index)) {
        WaitIdle(shard);  // a resend: only the store can tell, and it must hold what is staged
        dup = store_->Contains(e.trace_id(), e.source_id(), e.sequence(), shard.index);
      }
      duplicate[k++] = dup;
      ++(dup ? results[i].duplicates : results[i].accepted);
    }
  }
  set.events.reserve(total);
  for (size_t i = 0, k = 0; i < group.size(); ++i) {
    for (PreparedEvent& p : group[i].events) {
      if (!duplicate[k++]) set.events.push_back(std::move(p));
    }
  }
  // The assembler reads the store for a trace it does not hold (a late event for a settled
  // one), and a replaced summary is read back for its index keys: wait when that trace is in
  // the write in flight.
  auto in_flight = [&shard](const std::string& id) {
    return !shard.in_flight_traces.empty() && shard.in_flight_traces.contains(id);
  };
  for (const PreparedEvent& p : set.events) {
    const std::string& id = p.stored.event.trace_id();
    if (in_flight(id) && !shard.assembler->Holds(id)) {
      WaitIdle(shard);
      break;
    }
  }
  shard.assembler->Add(set.events, now, &set);
  shard.assembler->Tick(now, &set);
  for (const SummaryWrite& summary : set.summaries) {
    if (summary.replaces && in_flight(summary.summary.trace_id())) {
      WaitIdle(shard);
      break;
    }
  }
  if (set.events.empty() && set.summaries.empty() && set.opened.empty() && set.closed.empty()) {
    WaitIdle(shard);  // reported once everything before it is durable
    for (size_t i = 0; i < group.size(); ++i) group[i].done(results[i]);
    return;
  }
  absl::flat_hash_set<std::string> traces;
  for (const PreparedEvent& p : set.events) traces.insert(p.stored.event.trace_id());
  for (const SummaryWrite& summary : set.summaries) traces.insert(summary.summary.trace_id());
  InFlight write;
  write.events = set.events.size();
  write.write = store_->Stage(&set, shard.index);
  write.group = std::move(group);
  write.results = std::move(results);
  Hand(shard, std::move(write), std::move(traces));
}

void IngestPipeline::Hand(Shard& shard, InFlight write, absl::flat_hash_set<std::string> traces) {
  WaitIdle(shard);
  shard.in_flight_traces = std::move(traces);
  absl::MutexLock lock(&shard.commit_mu);
  shard.next = std::move(write);
}

void IngestPipeline::WaitIdle(Shard& shard) {
  {
    absl::MutexLock lock(&shard.commit_mu);
    auto idle = [&shard]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.commit_mu) {
      return !shard.next.has_value() && !shard.committing;
    };
    shard.commit_mu.Await(absl::Condition(&idle));
  }
  shard.in_flight_traces.clear();
}

void IngestPipeline::CommitLoop(Shard& shard) {
  while (true) {
    InFlight write;
    {
      absl::MutexLock lock(&shard.commit_mu);
      auto ready = [&shard]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.commit_mu) {
        return shard.next.has_value() || shard.committer_stop;
      };
      shard.commit_mu.Await(absl::Condition(&ready));
      if (!shard.next.has_value()) return;
      write = std::move(*shard.next);
      shard.next.reset();
      shard.committing = true;
    }
    const absl::Time start = absl::Now();
    const absl::Status status = store_->Apply(std::move(write.write));
    metrics_->StoreWrite(absl::Now() - start, write.events);
    if (!status.ok()) {
      Log(LogLevel::kError, "store write failed, exiting (a restart recovers from the store): " +
                                std::string(status.message()));
      for (Pending& p : write.group) {
        p.done(BatchResult{absl::UnavailableError(status.message()), 0, 0});
      }
      std::_Exit(1);
    }
    uint64_t accepted = 0, duplicates = 0;
    for (size_t i = 0; i < write.group.size(); ++i) {
      accepted += write.results[i].accepted;
      duplicates += write.results[i].duplicates;
      write.group[i].done(write.results[i]);
    }
    metrics_->Ingested(accepted);
    if (duplicates > 0) metrics_->Duplicates(duplicates);
    absl::MutexLock lock(&shard.commit_mu);
    shard.committing = false;
  }
}

}  // namespace meshtrace::collector
