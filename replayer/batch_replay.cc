#include "replayer/batch_replay.h"

#include <fstream>
#include <ostream>
#include <set>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/ids.h"
#include "common/topics.h"
#include "replayer/kafka_publisher.h"
#include "replayer/replay.h"

namespace meshtrace::replayer {
namespace {

std::string Key(const std::string& trace, const v1::Hop& hop) {
  return absl::StrCat(trace, "\t", hop.envelope_id(), "\t", hop.actor(), "\t", hop.attempt());
}

std::set<std::string> LoadDone(const std::string& path) {
  std::set<std::string> done;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    const auto last = line.rfind('\t');  // the outcome column
    if (last != std::string::npos) done.insert(line.substr(0, last));
  }
  return done;
}

struct Work {
  v1::TraceArtifact trace;
  int hop;
};

// The failed hops to work on, minus those done in an earlier run (counted in `*skipped`).
absl::StatusOr<std::vector<Work>> CollectFailedHops(QueryClient& client,
                                                    const BatchReplayOptions& o, int* skipped) {
  std::vector<Work> work;
  const std::set<std::string> done =
      o.resume.empty() ? std::set<std::string>() : LoadDone(o.resume);
  v1::ListTracesRequest request;
  request.set_outcome(v1::OUTCOME_FAILED);
  request.set_actor(o.actor);
  request.set_reason(o.reason);
  request.set_since_ns(o.since_ns);
  request.set_limit(1000);
  do {
    auto page = client.List(request);
    if (!page.ok()) return page.status();
    for (const v1::TraceSummary& s : page->traces()) {
      auto trace = client.Get(s.trace_id());
      if (!trace.ok()) return trace.status();
      for (int i = 0; i < trace->hops_size(); ++i) {
        const v1::Hop& hop = trace->hops(i);
        if (!IsFailedHop(hop) || (!o.actor.empty() && hop.actor() != o.actor)) continue;
        if (done.contains(Key(trace->trace_id(), hop))) {
          ++*skipped;
          continue;
        }
        work.push_back({*trace, i});
      }
    }
    request.set_cursor(page->next_cursor());
  } while (!request.cursor().empty());
  if (o.limit > 0 && static_cast<int>(work.size()) > o.limit) work.resize(o.limit);
  return work;
}

void ProgressLine(std::ostream& progress, bool tty, const std::string& line) {
  if (tty) {
    progress << "\r\033[K" << line << std::flush;
  } else {
    progress << line << "\n";
  }
}

}  // namespace

absl::StatusOr<RedriveSummary> RunRedrive(QueryClient& client, KafkaPublisher* publisher,
                                          const std::string& ns, Clock* clock,
                                          const BatchReplayOptions& o,
                                          const std::atomic<bool>* stop, std::ostream& progress,
                                          bool tty) {
  if (o.rate <= 0)
    return absl::InvalidArgumentError("--rate: expected a positive rate such as 20/s");
  RedriveSummary summary;
  auto work = CollectFailedHops(client, o, &summary.skipped);
  if (!work.ok()) return work.status();
  std::ofstream resume;
  if (!o.resume.empty() && publisher != nullptr) {
    resume.open(o.resume, std::ios::app);
    if (!resume) return absl::FailedPreconditionError("cannot write --resume file " + o.resume);
  }
  const absl::Time start = clock->Now();
  for (size_t i = 0; i < work->size(); ++i) {
    if (stop != nullptr && stop->load()) {
      summary.interrupted = true;
      break;
    }
    const absl::Time due = start + absl::Seconds(static_cast<double>(i) / o.rate);
    if (due > clock->Now()) clock->SleepFor(due - clock->Now());
    const v1::TraceArtifact& trace = (*work)[i].trace;
    const v1::Hop& hop = trace.hops((*work)[i].hop);
    const std::string topic = QueueTopic(ns, hop.actor());
    std::string outcome;
    if (auto ok = CheckReplayable(hop.input(), o.allow_redacted); !ok.ok()) {
      ++summary.refused;
      outcome = "refused: " + std::string(ok.message());
    } else {
      auto envelope = ReplayEnvelope(hop.input(), NewUuid4());
      if (!envelope.ok()) {
        ++summary.refused;
        outcome = "refused: " + std::string(envelope.status().message());
      } else if (publisher == nullptr) {
        outcome = "would publish to " + topic + ": " + *envelope;
      } else {
        if (auto s = publisher->Publish(topic, trace.trace_id(), *envelope); !s.ok()) return s;
        ++summary.published;
        outcome = "published to " + topic;
      }
    }
    if (resume.is_open() && outcome.rfind("published", 0) == 0) {
      resume << Key(trace.trace_id(), hop) << "\t"
             << "published" << std::endl;
    }
    ProgressLine(progress, tty && publisher != nullptr,
                 absl::StrFormat("[%zu/%zu] %s %s: %s", i + 1, work->size(), hop.actor(),
                                 trace.trace_id(), outcome));
  }
  if (tty && publisher != nullptr) progress << "\n";
  if (publisher != nullptr) {
    if (auto s = publisher->Flush(30'000); !s.ok()) return s;
  }
  return summary;
}

absl::StatusOr<BatchReplaySummary> RunBatchReplay(
    QueryClient& client, const std::function<std::unique_ptr<RuntimeClient>()>& runtime,
    Clock* clock, const BatchReplayOptions& o, const std::atomic<bool>* stop,
    std::ostream& progress, bool tty) {
  if (o.rate <= 0)
    return absl::InvalidArgumentError("--rate: expected a positive rate such as 20/s");
  BatchReplaySummary summary;
  auto collected = CollectFailedHops(client, o, &summary.skipped);
  if (!collected.ok()) return collected.status();
  std::vector<Work>& work = *collected;

  std::ofstream resume;
  if (!o.resume.empty()) {
    resume.open(o.resume, std::ios::app);
    if (!resume) return absl::FailedPreconditionError("cannot write --resume file " + o.resume);
  }
  const absl::Time start = clock->Now();
  for (size_t i = 0; i < work.size(); ++i) {
    if (stop != nullptr && stop->load()) {
      summary.interrupted = true;
      break;
    }
    const absl::Time due = start + absl::Seconds(static_cast<double>(i) / o.rate);
    if (due > clock->Now()) clock->SleepFor(due - clock->Now());
    const v1::Hop& hop = work[i].trace.hops(work[i].hop);
    std::unique_ptr<RuntimeClient> rt = o.dry_run ? nullptr : runtime();
    ReplayResult r =
        ReplayHop(work[i].trace.trace_id(), hop, rt.get(), o.timeout, o.dry_run, o.allow_redacted);
    std::string outcome;
    if (!r.refused.empty()) {
      ++summary.refused;
      outcome = "refused";
    } else if (o.dry_run) {
      outcome = "dry-run";
    } else {
      ++summary.replayed;
      if (r.now_succeeds) {
        ++summary.fixed;
        outcome = "fixed";
      } else {
        ++summary.still_failing;
        const std::string type = r.reply.error ? (r.reply.error->type.empty() ? r.reply.error->code
                                                                              : r.reply.error->type)
                                               : "unknown";
        ++summary.failing_by_error[type];
        outcome = "failing " + type;
      }
    }
    if (resume.is_open())
      resume << Key(work[i].trace.trace_id(), hop) << "\t" << outcome << std::endl;
    const double elapsed = absl::ToDoubleSeconds(clock->Now() - start);
    const double rate = elapsed > 0 ? static_cast<double>(i + 1) / elapsed : 0;
    const double eta = rate > 0 ? static_cast<double>(work.size() - i - 1) / rate : 0;
    const std::string line = absl::StrFormat(
        "[%zu/%zu] %.1f/s  eta %.0fs  fixed %d  failing %d  refused %d  | %s %s: %s", i + 1,
        work.size(), rate, eta, summary.fixed, summary.still_failing, summary.refused, hop.actor(),
        work[i].trace.trace_id(), outcome);
    ProgressLine(progress, tty, line);
  }
  if (tty) progress << "\n";
  return summary;
}

}  // namespace meshtrace::replayer
