#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "meshtrace/v1/events.pb.h"
#include "meshtrace/v1/query.pb.h"

namespace meshtrace::collector {

// An event as stored: what arrived, and when the collector received it (collector clock).
struct StoredEvent {
  v1::LifecycleEvent event;
  int64_t ingested_ns = 0;
};

// An event made ready for the store off the writer thread: captures moved out into blobs
// (keyed by SHA-256, content_hash set), the stored record serialised.
struct PreparedEvent {
  StoredEvent stored;  // captures stripped: what the assembler and the event family keep
  std::string record;  // the event's record in its trace's chunk
  std::vector<std::pair<std::string, std::string>> blobs;  // SHA-256 hex → capture bytes
};

// A trace summary to store. `replaces` = one may be stored already (its index keys must go);
// false skips reading it back, for a trace's first summary.
struct SummaryWrite {
  v1::TraceSummary summary;
  bool replaces = true;
};

// One atomic, durable write: new events, the trace summaries they changed, and which traces
// became or stopped being open (the restart list).
struct WriteSet {
  std::vector<PreparedEvent> events;
  std::vector<SummaryWrite> summaries;  // replace the stored ones (indexes follow)
  std::vector<std::string> opened;      // trace ids now open
  std::vector<std::string> closed;      // trace ids settled
};

// The writer shard of a trace.
int ShardOf(const std::string& trace_id, int shards);

struct ListResult {
  std::vector<v1::TraceSummary> traces;
  std::string next_cursor;  // empty at the end
};

// The collector's durable store: RocksDB under one directory, with column families
//   events     trace_id \0 source_id \0 seq    → a chunk: the trace's events of one write
//                                                (with ingest time; captures by hash) and
//                                                the capture bytes that write added to the
//                                                trace (each stored about once per trace);
//                                                keyed by the chunk's first event
//   summaries  trace_id                         → TraceSummary
//   index      kind \0 value \0 ~started \0 id  → "" (time, verdict, outcome, actor set,
//                                                reason; no verdict key for complete nor
//                                                outcome key for succeeded: lists of those
//                                                walk time; the actors of a trace are one
//                                                key, under the name of their set)
//              m \0 actor \0 set                → "" (the actor sets an actor is in)
//   envelopes  envelope_id                      → trace_id
//   sources    source_id                        → highest sequence stored
//   open       trace_id                         → "" while the trace is open
// Every Commit (Stage + Apply) is one WriteBatch written with a synced WAL, so what Commit or
// Apply returned OK for survives kill -9. Reads are safe from any thread. Writers are sharded by
// trace id: each shard (0 .. shards-1) has its own writer thread and caches, so Commit and Contains
// with one shard number must come from one thread at a time; different shards write concurrently
// (RocksDB commits them as a group). DeleteTraces may run beside them.
class TraceStore {
 public:
  static absl::StatusOr<std::unique_ptr<TraceStore>> Open(const std::string& dir, int shards = 1);
  ~TraceStore();

  // Strips and hashes the captures of `event` and serialises it. Thread-safe, no I/O.
  static PreparedEvent Prepare(v1::LifecycleEvent event, int64_t ingested_ns);

  // Writes `set` durably (one synced WriteBatch): Apply(Stage(set, shard)).
  absl::Status Commit(WriteSet* set, int shard = 0);

  // A write in two steps, so that a shard can build the next write while one is being made
  // durable. Stage builds the WriteBatch and moves the shard's view (highest sequences, ids
  // written) ahead as if it were stored; Apply writes it. Stages and Applies of one shard must
  // come in the same order, and an Apply that fails leaves that view ahead of the disk: the
  // caller must not go on writing (the collector exits; a restart rebuilds from the store).
  // Reads of the store see a staged write only once it is applied. A default-constructed
  // Staged is empty (a placeholder): only what Stage returned may be applied.
  class Staged {
   public:
    Staged();
    ~Staged();
    Staged(Staged&&) noexcept;
    Staged& operator=(Staged&&) noexcept;

   private:
    friend class TraceStore;
    struct Rep;
    std::unique_ptr<Rep> rep_;
  };
  Staged Stage(WriteSet* set, int shard = 0);
  absl::Status Apply(Staged write);

  // False when `sequence` is above the highest staged for `source_id` (certainly new);
  // true when only a read can tell (Contains).
  bool MayContain(const std::string& source_id, uint64_t sequence, int shard = 0) const;

  // True when the event (source_id, sequence) of `trace_id` is stored. Fast for new events:
  // anything above the source's highest stored sequence is new without a read; below it
  // (resends) the trace's event ids are read once and kept while the shard checks that trace.
  bool Contains(const std::string& trace_id, const std::string& source_id, uint64_t sequence,
                int shard = 0);

  int shards() const;

  // Every event of a trace in (time, source, sequence) order; with captures filled back in
  // when `with_captures`. NotFound when the trace has no event.
  absl::StatusOr<std::vector<StoredEvent>> LoadTrace(const std::string& trace_id,
                                                     bool with_captures) const;
  std::optional<v1::TraceSummary> GetSummary(const std::string& trace_id) const;
  std::optional<std::string> TraceOfEnvelope(const std::string& envelope_id) const;

  // Newest first, filtered. `scan_budget` bounds the index entries read per call; when it
  // runs out the result carries a cursor to continue.
  absl::StatusOr<ListResult> List(const v1::ListTracesRequest& request,
                                  size_t scan_budget = 200'000) const;
  // Trace ids open at the last write (to rebuild in-memory state after a restart).
  std::vector<std::string> OpenTraceIds() const;

  // Deletes whole traces (events and captures, summary, indexes, envelope ids).
  absl::Status DeleteTraces(const std::vector<std::string>& trace_ids);
  // Up to `max` trace ids, oldest first, started before `before_ns` (0 = any time).
  std::vector<std::string> OldestTraces(size_t max, int64_t before_ns) const;
  // Bytes held (SST and blob files, memtables), and a full compaction that gives the space of
  // deleted traces back (it rewrites the live chunks of every blob file).
  uint64_t DiskBytes() const;
  void CompactAll();

  size_t trace_count_estimate() const;

 private:
  struct Impl;
  explicit TraceStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace meshtrace::collector
