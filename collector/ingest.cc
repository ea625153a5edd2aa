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
  if (e.has_routed() && (e.routed().envelope_id().empty() || e.routed().to_actor().empty() ||
                         BadId(e.routed().envelope_id()) || BadId(e.routed().to_actor()))) {
    return EventRejection{"bad_routed", "routed needs envelope_id and to_actor"};
  }
  if (e.ByteSizeLong() > max_event_bytes) {
    return EventRejection{"event_too_large", absl::StrCat("event of ", e.ByteSizeLong(),
                                                          " bytes exceeds ", max_event_bytes)};
  }
  return std::nullopt;
}

IngestPipeline::IngestPipeline(TraceStore* store, std::vector<Assembler*> assemblers,
                               CollectorMetrics* metrics, Clock* clock, Options options)
    : store_(store), metrics_(metrics), clock_(clock), options_(options) {
  for (size_t i = 0; i < assemblers.size(); ++i) {
    auto shard = std::make_unique<Shard>();
    shard->index = static_cast<int>(i);
    shard->assembler = assemblers[i];
    shards_.push_back(std::move(shard));
  }
  for (auto& shard : shards_) {
    Shard* s = shard.get();
    s->thread = std::thread([this, s] { Loop(*s); });
  }
}

IngestPipeline::~IngestPipeline() { Stop(); }

void IngestPipeline::Submit(std::vector<v1::LifecycleEvent> events, Done done) {
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
  for (auto& shard : shards_) {
    absl::MutexLock lock(&shard->mu);
    shard->stopping = true;
  }
  for (auto& shard : shards_) {
    if (shard->thread.joinable()) shard->thread.join();
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
  absl::flat_hash_set<std::pair<std::string, uint64_t>> in_group;
  for (size_t i = 0; i < group.size(); ++i) {
    for (PreparedEvent& p : group[i].events) {
      const v1::LifecycleEvent& e = p.stored.event;
      if (!in_group.emplace(e.source_id(), e.sequence()).second ||
          store_->Contains(e.trace_id(), e.source_id(), e.sequence(), shard.index)) {
        ++results[i].duplicates;
        continue;
      }
      ++results[i].accepted;
      set.events.push_back(std::move(p));
    }
  }
  shard.assembler->Add(set.events, now, &set);
  shard.assembler->Tick(now, &set);
  if (set.events.empty() && set.summaries.empty() && set.opened.empty() && set.closed.empty()) {
    for (size_t i = 0; i < group.size(); ++i) group[i].done(results[i]);
    return;
  }
  const size_t n = set.events.size();
  const absl::Time start = absl::Now();
  absl::Status status = store_->Commit(&set, shard.index);
  metrics_->StoreWrite(absl::Now() - start, n);
  if (!status.ok()) {
    Log(LogLevel::kError, "store write failed, exiting (a restart recovers from the store): " +
                              std::string(status.message()));
    for (size_t i = 0; i < group.size(); ++i) {
      group[i].done(BatchResult{absl::UnavailableError(status.message()), 0, 0});
    }
    std::_Exit(1);
  }
  uint64_t accepted = 0, duplicates = 0;
  for (size_t i = 0; i < group.size(); ++i) {
    accepted += results[i].accepted;
    duplicates += results[i].duplicates;
    group[i].done(results[i]);
  }
  metrics_->Ingested(accepted);
  if (duplicates > 0) metrics_->Duplicates(duplicates);
}

}  // namespace meshtrace::collector
