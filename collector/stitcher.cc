#include "collector/stitcher.h"

namespace meshtrace::collector {
namespace {

// An event whose trace is named after its own envelope: a tap found no trace header.
bool NamedAfterItself(const v1::LifecycleEvent& e) {
  return e.observer() == v1::OBSERVER_TAP && e.trace_id() == e.envelope_id();
}

}  // namespace

TraceStitcher::TraceStitcher(StoreLookup lookup, absl::Duration wait, size_t max_known)
    : lookup_(std::move(lookup)), wait_(wait), max_known_(max_known) {}

std::optional<std::string> TraceStitcher::TraceOf(const std::string& envelope_id, bool ask_store) {
  if (auto it = known_.find(envelope_id); it != known_.end()) return it->second;
  return ask_store && lookup_ ? lookup_(envelope_id) : std::nullopt;
}

bool TraceStitcher::Resolve(std::vector<v1::LifecycleEvent>& events) {
  bool all = true;
  for (v1::LifecycleEvent& e : events) {
    if (!NamedAfterItself(e)) continue;
    // An envelope's own id is looked up in memory only: the first hop of every untraced
    // envelope names itself, and the store is read (under the lock) only for a parent.
    std::optional<std::string> trace = TraceOf(e.envelope_id(), /*ask_store=*/false);
    if ((!trace || *trace == e.envelope_id()) && !e.parent_id().empty()) {
      trace = TraceOf(e.parent_id(), /*ask_store=*/true);
      if (!trace) all = false;
    }
    if (trace) e.set_trace_id(*trace);
  }
  return all;
}

void TraceStitcher::Learn(const std::vector<v1::LifecycleEvent>& events) {
  for (const v1::LifecycleEvent& e : events) {
    // Only taps' events: a sidecar's always carry the trace id they were given.
    if (e.observer() != v1::OBSERVER_TAP || e.envelope_id().empty()) continue;
    auto [it, added] = known_.try_emplace(e.envelope_id(), e.trace_id());
    if (!added) {
      it->second = e.trace_id();
      continue;
    }
    known_order_.push_back(e.envelope_id());
    if (known_order_.size() > max_known_) {
      known_.erase(known_order_.front());
      known_order_.pop_front();
    }
  }
}

void TraceStitcher::Drain(absl::Time now, Ready* ready) {
  for (auto it = held_.begin(); it != held_.end();) {
    if (!Resolve(it->events) && now < it->deadline) {
      ++it;
      continue;
    }
    Learn(it->events);
    ready->emplace_back(std::move(it->events), std::move(it->release));
    it = held_.erase(it);
  }
}

void TraceStitcher::Add(std::vector<v1::LifecycleEvent> events, absl::Time now, Release release) {
  Ready ready;
  {
    absl::MutexLock lock(&mu_);
    const bool resolved = Resolve(events);
    Learn(events);  // what this batch teaches may free held ones
    if (resolved) {
      ready.emplace_back(std::move(events), std::move(release));
    } else {
      held_.push_back(Held{std::move(events), now + wait_, std::move(release)});
    }
    if (held_.size() > (resolved ? 0u : 1u)) Drain(now, &ready);
  }
  for (auto& [batch, done] : ready) done(std::move(batch));
}

void TraceStitcher::Expire(absl::Time now) {
  Ready ready;
  {
    absl::MutexLock lock(&mu_);
    Drain(now, &ready);
  }
  for (auto& [batch, done] : ready) done(std::move(batch));
}

size_t TraceStitcher::held() const {
  absl::MutexLock lock(&mu_);
  return held_.size();
}

}  // namespace meshtrace::collector
