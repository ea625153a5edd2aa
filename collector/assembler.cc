#include "collector/assembler.h"

#include "collector/metrics.h"
#include "common/log.h"

namespace meshtrace::collector {

Assembler::Assembler(TraceStore* store, Timeouts timeouts, CollectorMetrics* metrics, int shard,
                     int shards)
    : store_(store), timeouts_(timeouts), metrics_(metrics), shard_(shard), shards_(shards) {}

absl::Status Assembler::Restore(int64_t now_ns) {
  for (const std::string& id : store_->OpenTraceIds()) {
    if (ShardOf(id, shards_) != shard_) continue;
    auto events = store_->LoadTrace(id, false);
    if (!events.ok()) continue;
    Open& open = open_[id];
    open.state = std::make_unique<TraceState>(id);
    open.listed_open = true;
    if (std::optional<v1::TraceSummary> summary = store_->GetSummary(id)) {
      open.verdict = summary->verdict();
      open.outcome = summary->outcome();
    }
    open.summary_due_ns = now_ns;  // open since before the restart: list it now
    for (const StoredEvent& e : *events) open.state->Add(e.event, e.ingested_ns);
  }
  Log(LogLevel::kInfo, "restored " + std::to_string(open_.size()) + " open traces");
  WriteSet set;
  std::vector<std::string> settled;
  for (auto& [id, open] : open_) Settle(id, open, now_ns, &set, &settled);
  for (const std::string& id : settled) open_.erase(id);
  metrics_->SetOpenTraces(shard_, open_.size());
  if (set.summaries.empty() && set.closed.empty()) return absl::OkStatus();
  return store_->Commit(&set, shard_);
}

void Assembler::Add(const std::vector<PreparedEvent>& events, int64_t now_ns, WriteSet* set) {
  std::vector<std::string> touched;
  touched.reserve(events.size());
  for (const PreparedEvent& prepared : events) {
    const StoredEvent& stored = prepared.stored;
    const std::string& id = stored.event.trace_id();
    auto it = open_.find(id);
    if (it == open_.end()) {
      Open open;
      open.state = std::make_unique<TraceState>(id);
      // A late event for a settled trace: the trace comes back from the store.
      if (std::optional<v1::TraceSummary> summary = store_->GetSummary(id)) {
        open.verdict = summary->verdict();
        open.outcome = summary->outcome();
        if (auto old = store_->LoadTrace(id, false); old.ok()) {
          for (const StoredEvent& e : *old) open.state->Add(e.event, e.ingested_ns);
        }
      }
      it = open_.emplace(id, std::move(open)).first;
    }
    it->second.state->Add(stored.event, stored.ingested_ns);
    if (touched.empty() || touched.back() != id) touched.push_back(id);
  }
  std::sort(touched.begin(), touched.end());
  touched.erase(std::unique(touched.begin(), touched.end()), touched.end());
  std::vector<std::string> settled;
  for (const std::string& id : touched) Settle(id, open_[id], now_ns, set, &settled);
  for (const std::string& id : settled) open_.erase(id);
  metrics_->SetOpenTraces(shard_, open_.size());
}

void Assembler::Tick(int64_t now_ns, WriteSet* set) {
  std::vector<std::string> settled;
  for (auto& [id, open] : open_) {
    if (open.deadline_ns != 0 && now_ns >= open.deadline_ns) {
      Settle(id, open, now_ns, set, &settled);
    }
  }
  for (const std::string& id : settled) open_.erase(id);
  metrics_->SetOpenTraces(shard_, open_.size());
}

void Assembler::Settle(const std::string& id, Open& open, int64_t now_ns, WriteSet* set,
                       std::vector<std::string>* settled) {
  Evaluation ev = open.state->Evaluate(now_ns, timeouts_);
  bool write = false;
  if (ev.verdict == v1::VERDICT_OPEN) {
    if (!open.listed_open) {
      set->opened.push_back(id);
      open.listed_open = true;
    }
    if (open.verdict == v1::VERDICT_UNSPECIFIED) {
      if (open.summary_due_ns == 0)
        open.summary_due_ns = now_ns + absl::ToInt64Nanoseconds(kOpenSummaryDelay);
      write = now_ns >= open.summary_due_ns;
    } else {
      write = open.verdict != v1::VERDICT_OPEN || open.outcome != ev.outcome;  // reopened
    }
    open.deadline_ns = ev.deadline_ns;
    if (!write && open.verdict == v1::VERDICT_UNSPECIFIED) {
      open.deadline_ns = open.deadline_ns == 0 ? open.summary_due_ns
                                               : std::min(open.deadline_ns, open.summary_due_ns);
    }
  } else {
    write = true;
    if (open.listed_open) set->closed.push_back(id);
    settled->push_back(id);
  }
  if (!write) return;

  v1::TraceSummary summary = open.state->Summary(ev);
  summary.set_headline(open.state->Headline(ev));
  for (const std::string& a : open.state->Actors()) summary.add_actors(a);
  for (const std::string& r : open.state->Reasons()) summary.add_reasons(r);
  summary.set_event_count(open.state->event_count());
  // Nothing is stored for this trace yet unless it had a verdict (a summary) before.
  set->summaries.push_back({std::move(summary), open.verdict != v1::VERDICT_UNSPECIFIED});

  if (ev.verdict != v1::VERDICT_OPEN && ev.verdict != open.verdict) {
    metrics_->Settled(VerdictName(ev.verdict), OutcomeName(ev.outcome));
    for (const OpenBranch& b : ev.stalled) metrics_->StalledTransit(b.from_actor, b.to_actor);
  }
  open.verdict = ev.verdict;
  open.outcome = ev.outcome;
}

}  // namespace meshtrace::collector
