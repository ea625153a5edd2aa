#include "collector/trace_store.h"

#include <openssl/evp.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/perf_level.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include <algorithm>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "collector/chunk.h"
#include "collector/trace_state.h"
#include "common/absl_compat.h"
#include "common/log.h"
#include "common/status_macros.h"

namespace meshtrace::collector {
namespace {

constexpr char kSep = '\0';
enum Cf { kDefault, kEvents, kSummaries, kIndex, kEnvelopes, kSources, kOpen, kCfCount };
const char* const kCfNames[kCfCount] = {"default",   "events",  "summaries", "index",
                                        "envelopes", "sources", "open"};
// A family only the first store format had (captures under their own keys).
constexpr char kFormat1Family[] = "blobs";

using chunk::GetBigEndian;
using chunk::PutBigEndian;

std::string EventKey(const std::string& trace_id, const std::string& source, uint64_t seq) {
  std::string key;
  key.reserve(trace_id.size() + source.size() + 10);
  key.append(trace_id).push_back(kSep);
  key.append(source).push_back(kSep);
  PutBigEndian(seq, &key);
  return key;
}

std::string TracePrefix(const std::string& trace_id) { return trace_id + kSep; }

// The "kind \0 value \0" head of index keys.
std::string IndexHead(std::string_view kind, std::string_view value) {
  std::string head(kind);
  head.push_back(kSep);
  head.append(value).push_back(kSep);
  return head;
}

// Index keys sort newest first: the time is stored inverted.
std::string IndexKey(std::string_view kind, std::string_view value, int64_t started_ns,
                     std::string_view trace_id) {
  std::string key = IndexHead(kind, value);
  PutBigEndian(~static_cast<uint64_t>(started_ns), &key);
  key.append(trace_id);
  return key;
}

// A trace's actors are indexed as one set (a name for the sorted, distinct actors), not one key
// per actor: a five-actor chain had six actor keys of its eight, and each key is a memtable
// insert. The name is 16 hex digits of a 64-bit FNV-1a hash of the names, each ended by NUL
// (which no name holds). Two sets with one name would share a list, which is still right:
// List checks each summary's actors.
std::string ActorSetName(const v1::TraceSummary& s) {
  std::vector<std::string_view> actors(s.actors().begin(), s.actors().end());
  if (!std::is_sorted(actors.begin(), actors.end())) std::sort(actors.begin(), actors.end());
  uint64_t hash = 0xcbf29ce484222325ull;
  auto mix = [&hash](unsigned char c) { hash = (hash ^ c) * 0x100000001b3ull; };
  for (size_t i = 0; i < actors.size(); ++i) {
    if (i > 0 && actors[i] == actors[i - 1]) continue;
    for (char c : actors[i]) mix(static_cast<unsigned char>(c));
    mix(0);
  }
  return absl::StrCat(absl::Hex(hash, absl::kZeroPad16));
}

// Verdicts and outcomes are indexed except the usual ones (complete, succeeded): a list of
// those walks the time index, where nearly every trace matches, and most traces get two
// index keys fewer.
bool VerdictIndexed(v1::Verdict v) { return v != v1::VERDICT_COMPLETE; }
bool OutcomeIndexed(v1::Outcome o) { return o != v1::OUTCOME_SUCCEEDED; }

std::vector<std::string> IndexKeys(const v1::TraceSummary& s) {
  std::vector<std::string> keys;
  const int64_t t = s.started_at_ns();
  keys.push_back(IndexKey("t", "", t, s.trace_id()));
  if (VerdictIndexed(s.verdict())) {
    keys.push_back(IndexKey("v", VerdictName(s.verdict()), t, s.trace_id()));
  }
  if (OutcomeIndexed(s.outcome())) {
    keys.push_back(IndexKey("o", OutcomeName(s.outcome()), t, s.trace_id()));
  }
  if (!s.actors().empty()) keys.push_back(IndexKey("s", ActorSetName(s), t, s.trace_id()));
  for (const std::string& r : s.reasons()) keys.push_back(IndexKey("r", r, t, s.trace_id()));
  return keys;
}

// Which actor sets hold `actor`: "m \0 actor \0 set" → "" (a set's keys are written once per
// writer and process; they stay when its traces are deleted, a few keys per distinct route).
std::string MemberKey(std::string_view actor, std::string_view set) {
  return IndexHead("m", actor).append(set);
}

// IndexKeys sorted, without repeats (a summary may name an actor twice).
std::vector<std::string> SortedIndexKeys(const v1::TraceSummary& s) {
  std::vector<std::string> keys = IndexKeys(s);
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  return keys;
}

// The algorithm is fetched once and each thread keeps its context: given EVP_sha256(),
// OpenSSL 3 looks the implementation up again on every digest (a third of the hashing's
// cost for a 512-byte capture).
std::string Sha256Hex(std::string_view data) {
  static EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  thread_local const std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx(EVP_MD_CTX_new(),
                                                                            EVP_MD_CTX_free);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (md == nullptr || ctx == nullptr || EVP_DigestInit_ex2(ctx.get(), md, nullptr) != 1 ||
      EVP_DigestUpdate(ctx.get(), data.data(), data.size()) != 1 ||
      EVP_DigestFinal_ex(ctx.get(), digest, &len) != 1) {
    EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr);
  }
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(digest), len));
}

absl::Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return absl::OkStatus();
  return absl::InternalError(absl::StrCat(AsAbsl(what), ": ", s.ToString()));
}

bool ContainsCaseInsensitive(const std::string& haystack, const std::string& needle) {
  return absl::AsciiStrToLower(haystack).find(absl::AsciiStrToLower(needle)) != std::string::npos;
}

// Bounded set of (id, trace) pairs written lately (captures, envelope ids), to skip
// rewriting them. Pairs are kept as two independent 64-bit hashes (std::hash and absl's): no
// strings are copied, and telling two pairs apart wrongly would take both to collide.
class RecentKeys {
 public:
  // True when the pair is new (and now remembered).
  bool Insert(std::string_view id, std::string_view trace_id) {
    const Fingerprint f{absl::HashOf(id, trace_id),
                        std::hash<std::string_view>()(id) ^
                            (std::hash<std::string_view>()(trace_id) * 0x9e3779b97f4a7c15ULL)};
    if (!keys_.insert(f).second) return false;
    if (order_.size() < kCapacity) {
      order_.push_back(f);
    } else {
      keys_.erase(order_[next_]);
      order_[next_] = f;
      next_ = (next_ + 1) % kCapacity;
    }
    return true;
  }

 private:
  static constexpr size_t kCapacity = 1 << 16;
  struct Fingerprint {
    uint64_t a, b;
    bool operator==(const Fingerprint&) const = default;
    template <typename H>
    friend H AbslHashValue(H h, const Fingerprint& f) {
      return H::combine(std::move(h), f.a);  // already a hash
    }
  };
  absl::flat_hash_set<Fingerprint> keys_;
  std::vector<Fingerprint> order_;  // ring: the oldest is at next_ once full
  size_t next_ = 0;
};

// The "kind \0 value \0" head of an index key: keys under one head arrive in time order.
class IndexPrefix : public rocksdb::SliceTransform {
 public:
  const char* Name() const override { return "meshtrace.IndexPrefix"; }
  rocksdb::Slice Transform(const rocksdb::Slice& key) const override {
    return rocksdb::Slice(key.data(), Head(key));
  }
  bool InDomain(const rocksdb::Slice& key) const override { return Head(key) > 0; }

 private:
  static size_t Head(const rocksdb::Slice& key) {
    const std::string_view k = key.ToStringView();
    const size_t first = k.find(kSep);
    if (first == std::string_view::npos) return 0;
    const size_t second = k.find(kSep, first + 1);
    return second == std::string_view::npos ? 0 : second + 1;
  }
};

}  // namespace

struct TraceStore::Staged::Rep {
  rocksdb::WriteBatch batch;
};

struct TraceStore::Impl {
  std::unique_ptr<rocksdb::DB> db;
  std::vector<rocksdb::ColumnFamilyHandle*> cf;

  ~Impl() {
    for (auto* h : cf) db->DestroyColumnFamilyHandle(h);
  }

  rocksdb::ColumnFamilyHandle* h(Cf c) const { return cf[c]; }

  // A writer shard's view of what is stored, to skip reads and rewrites on the hot path.
  struct Shard {
    absl::flat_hash_map<std::string, uint64_t> high_water;  // source → highest stored sequence
    RecentKeys recent_blobs, recent_envelopes;
    chunk::Compressor compressor;
    std::string chunk, sealed;  // a chunk being built and compressed, reused
    // The event ids of the trace Contains read last (resends come a trace at a time).
    std::string checked_trace;
    absl::flat_hash_set<std::pair<std::string, uint64_t>> checked_ids;
    absl::flat_hash_set<std::string> member_sets;  // actor sets whose member keys it wrote
  };
  std::vector<Shard> shards;

  // Write batches already applied, kept with their capacity for the next Stage: a new one grew
  // to megabytes by doubling, faulting in fresh pages on every write.
  absl::Mutex spare_mu;
  std::vector<std::unique_ptr<Staged::Rep>> spare ABSL_GUARDED_BY(spare_mu);

  // Calls `fn` for every record of every chunk of a trace.
  template <typename Fn>
  absl::Status ForEachRecord(const std::string& trace_id, Fn fn) const {
    const std::string prefix = TracePrefix(trace_id);
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), h(kEvents)));
    std::string buffer;
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
      chunk::Reader reader(chunk::Unseal(it->value().ToStringView(), &buffer));
      for (chunk::Record r; reader.Next(&r);) fn(r);
    }
    return FromRocks(it->status(), "reading trace " + trace_id);
  }

  // Stores of earlier collectors indexed each actor under its own key ("a \0 actor \0 ..."):
  // each summary gets its actor set's keys instead, then those keys go (point deletes: the
  // index family's insert hint rules out DeleteRange). A crash midway leaves some old keys,
  // and the next open does it again.
  absl::Status UpgradeActorIndex(const std::string& dir) {
    const std::string legacy("a\0", 2);
    std::unique_ptr<rocksdb::Iterator> index(db->NewIterator(rocksdb::ReadOptions(), h(kIndex)));
    index->Seek(legacy);
    if (!index->Valid() || !index->key().starts_with(legacy)) {
      return FromRocks(index->status(), "reading the index");
    }
    Log(LogLevel::kInfo, "upgrading the actor index of the store in " + dir);
    rocksdb::WriteBatch batch;
    // Not synced until the last: a synced write makes every earlier one durable too.
    auto write = [&](bool last) {
      rocksdb::WriteOptions options;
      options.sync = last;
      rocksdb::Status st = db->Write(options, &batch);
      batch.Clear();
      return FromRocks(st, "upgrading the actor index");
    };
    absl::flat_hash_set<std::string> member_sets;
    size_t traces = 0;
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), h(kSummaries)));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      v1::TraceSummary summary;
      if (!summary.ParseFromArray(it->value().data(), static_cast<int>(it->value().size())) ||
          summary.actors().empty()) {
        continue;
      }
      PutMembers(member_sets, summary, &batch);
      batch.Put(h(kIndex),
                IndexKey("s", ActorSetName(summary), summary.started_at_ns(), summary.trace_id()),
                "");
      if (++traces % 10'000 == 0) MESHTRACE_RETURN_IF_ERROR(write(false));
    }
    MESHTRACE_RETURN_IF_ERROR(FromRocks(it->status(), "upgrading the actor index"));
    size_t deleted = 0;
    for (; index->Valid() && index->key().starts_with(legacy); index->Next()) {
      batch.Delete(h(kIndex), index->key());
      if (++deleted % 10'000 == 0) MESHTRACE_RETURN_IF_ERROR(write(false));
    }
    MESHTRACE_RETURN_IF_ERROR(FromRocks(index->status(), "upgrading the actor index"));
    MESHTRACE_RETURN_IF_ERROR(write(true));
    Log(LogLevel::kInfo, "upgraded the actor index of " + std::to_string(traces) +
                             " traces: one key per trace for " + std::to_string(deleted) +
                             " per-actor keys");
    return absl::OkStatus();
  }

  void PutEnvelope(Shard& shard, const std::string& envelope_id, const std::string& trace_id,
                   rocksdb::WriteBatch* b) {
    if (shard.recent_envelopes.Insert(envelope_id, trace_id)) {
      b->Put(h(kEnvelopes), envelope_id, trace_id);
    }
  }

  // The member keys of the summary's actor set, unless they are in `written` already.
  void PutMembers(absl::flat_hash_set<std::string>& written, const v1::TraceSummary& summary,
                  rocksdb::WriteBatch* b) {
    if (summary.actors().empty()) return;
    std::string set = ActorSetName(summary);
    if (written.contains(set)) return;
    for (const std::string& actor : summary.actors()) b->Put(h(kIndex), MemberKey(actor, set), "");
    written.insert(std::move(set));
  }

  // Writes the summary and moves its index keys from the stored summary's to its own. An
  // open trace's summary is rewritten by every write that adds to it, and most of its keys
  // (time, actors so far) stay the same: only the keys that differ are deleted or put, since
  // each one is a memtable insert (key compares were the collector's largest single cost).
  void PutSummary(Shard& shard, const SummaryWrite& write, rocksdb::WriteBatch* b) {
    const v1::TraceSummary& summary = write.summary;
    PutMembers(shard.member_sets, summary, b);
    std::vector<std::string> keys = SortedIndexKeys(summary);
    std::vector<std::string> stored;
    std::string old_value;
    if (write.replaces &&
        db->Get(rocksdb::ReadOptions(), h(kSummaries), summary.trace_id(), &old_value).ok()) {
      v1::TraceSummary old;
      if (old.ParseFromString(old_value)) stored = SortedIndexKeys(old);
    }
    b->Put(h(kSummaries), summary.trace_id(), summary.SerializeAsString());
    auto k = keys.begin();
    auto o = stored.begin();
    while (k != keys.end() || o != stored.end()) {
      if (o == stored.end() || (k != keys.end() && *k < *o)) {
        b->Put(h(kIndex), *k++, "");
      } else if (k == keys.end() || *o < *k) {
        b->Delete(h(kIndex), *o++);
      } else {
        ++k, ++o;  // stored already
      }
    }
  }
};

TraceStore::TraceStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TraceStore::~TraceStore() = default;

int ShardOf(const std::string& trace_id, int shards) {
  return shards <= 1 ? 0 : static_cast<int>(std::hash<std::string>()(trace_id) % shards);
}

absl::StatusOr<std::unique_ptr<TraceStore>> TraceStore::Open(const std::string& dir, int shards) {
  std::vector<std::string> existing;
  if (rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), dir, &existing).ok() &&
      std::find(existing.begin(), existing.end(), kFormat1Family) != existing.end()) {
    return absl::FailedPreconditionError(
        absl::StrCat("the data dir ", dir,
                     " holds a store of an earlier meshtrace-collector (format 1: captures in a "
                     "'blobs' family); move it away or delete it"));
  }
  rocksdb::Options options;
  options.allow_concurrent_memtable_write = false;  // required by the insert hint below
  options.create_if_missing = true;
  options.create_missing_column_families = true;
  options.IncreaseParallelism(2);
  options.max_total_wal_size = 256 << 20;
  rocksdb::BlockBasedTableOptions table;
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  rocksdb::ColumnFamilyOptions cf_options(options);
  cf_options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  cf_options.compression = rocksdb::kLZ4Compression;
  cf_options.write_buffer_size = 64 << 20;
  std::vector<rocksdb::ColumnFamilyDescriptor> families;
  for (const char* name : kCfNames) families.emplace_back(name, cf_options);
  // One writer at a time (the committer of each shard), so the index family can keep an
  // insert hint per "kind, value": its keys arrive in time order under each.
  families[kIndex].options.memtable_insert_with_hint_prefix_extractor =
      std::make_shared<IndexPrefix>();
  // Every new trace's summary is looked up (a late event may belong to a settled trace) and
  // nearly every lookup misses: a memtable bloom filter answers those without a skiplist walk.
  families[kSummaries].options.memtable_prefix_bloom_size_ratio = 0.02;
  families[kSummaries].options.memtable_whole_key_filtering = true;
  // Chunks (a trace's events of one write, ~0.5-5 KB compressed) go to blob files at flush
  // and stay there: compaction moves only their keys (it had taken a quarter of a core at
  // full ingest). Retention deletes the oldest traces, so the oldest blob files turn to
  // garbage first; compaction relocates what is still live in them once they are half
  // garbage. Chunks arrive compressed (chunk::Compressor): the blob files do not compress
  // them again.
  rocksdb::ColumnFamilyOptions& events = families[kEvents].options;
  events.enable_blob_files = true;
  events.min_blob_size = 256;
  events.blob_file_size = 64 << 20;
  events.blob_compression_type = rocksdb::kNoCompression;
  events.enable_blob_garbage_collection = true;
  events.blob_garbage_collection_force_threshold = 0.5;

  auto impl = std::make_unique<Impl>();
  rocksdb::DB* db = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(options, dir, families, &impl->cf, &db);
  if (!s.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot open the data dir ", dir, ": ", s.ToString()));
  }
  impl->db.reset(db);
  impl->shards.resize(std::max(1, shards));
  // Restore what the writers need: the highest stored sequence of each source. Keys are
  // source \x1f shard; every shard starts from the highest of all (safe for any shard count:
  // a higher mark only means more reads to tell a resend from a new event).
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), impl->h(kSources)));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    std::string source = it->key().ToString();
    source = source.substr(0, source.rfind('\x1f'));
    const uint64_t seq = GetBigEndian(it->value().ToStringView());
    for (auto& shard : impl->shards) {
      uint64_t& hw = shard.high_water[source];
      hw = std::max(hw, seq);
    }
  }
  if (absl::Status st = impl->UpgradeActorIndex(dir); !st.ok()) return st;
  return std::unique_ptr<TraceStore>(new TraceStore(std::move(impl)));
}

namespace {

void StripCapture(v1::Capture* capture, PreparedEvent* out) {
  if (capture->envelope_json().empty()) return;
  std::string hash = Sha256Hex(capture->envelope_json());
  capture->set_content_hash(hash);
  out->blobs.emplace_back(std::move(hash), std::move(*capture->mutable_envelope_json()));
  capture->clear_envelope_json();
}

void FillCapture(const absl::flat_hash_map<std::string, std::string>& blobs, v1::Capture* capture) {
  if (capture->content_hash().empty() || !capture->envelope_json().empty()) return;
  if (auto it = blobs.find(capture->content_hash()); it != blobs.end()) {
    capture->set_envelope_json(it->second);
  }
}

}  // namespace

PreparedEvent TraceStore::Prepare(v1::LifecycleEvent event, int64_t ingested_ns) {
  PreparedEvent p;
  if (event.has_received()) StripCapture(event.mutable_received()->mutable_input(), &p);
  if (event.has_routed()) StripCapture(event.mutable_routed()->mutable_output(), &p);
  chunk::AppendEvent(event, ingested_ns, &p.record);
  p.stored.event = std::move(event);
  p.stored.ingested_ns = ingested_ns;
  return p;
}

TraceStore::Staged::Staged() = default;
TraceStore::Staged::~Staged() = default;
TraceStore::Staged::Staged(Staged&&) noexcept = default;
TraceStore::Staged& TraceStore::Staged::operator=(Staged&&) noexcept = default;

absl::Status TraceStore::Commit(WriteSet* set, int shard) { return Apply(Stage(set, shard)); }

namespace {

// RocksDB counts into a thread-local perf context on every memtable and WAL step by default
// (kEnableCount): ~3 % of the collector's CPU at full ingest went to reaching that thread
// local. The writer threads turn it off for themselves.
void NoPerfCounters() { rocksdb::SetPerfLevel(rocksdb::PerfLevel::kDisable); }

}  // namespace

TraceStore::Staged TraceStore::Stage(WriteSet* set, int shard_index) {
  NoPerfCounters();
  Impl& s = *impl_;
  Impl::Shard& shard = s.shards[shard_index];
  Staged staged;
  {
    absl::MutexLock lock(&s.spare_mu);
    if (!s.spare.empty()) {
      staged.rep_ = std::move(s.spare.back());
      s.spare.pop_back();
    }
  }
  if (staged.rep_ == nullptr) staged.rep_ = std::make_unique<Staged::Rep>();
  rocksdb::WriteBatch& batch = staged.rep_->batch;
  absl::flat_hash_map<std::string_view, uint64_t> touched_sources;
  // One chunk per trace: its new events, and the captures not yet stored for it, built in
  // the shard's buffer at its final size and compressed from there.
  struct Chunk {
    std::string key;
    std::vector<const PreparedEvent*> events;
    size_t bytes = 0;  // at most, before captures already stored are left out
  };
  std::vector<Chunk> chunks;
  absl::flat_hash_map<std::string_view, size_t> chunk_of_trace;
  for (const PreparedEvent& p : set->events) {
    const v1::LifecycleEvent& e = p.stored.event;
    auto [slot, added] = chunk_of_trace.try_emplace(e.trace_id(), chunks.size());
    if (added) chunks.push_back({EventKey(e.trace_id(), e.source_id(), e.sequence()), {}, 0});
    Chunk& chunk = chunks[slot->second];
    chunk.events.push_back(&p);
    chunk.bytes += p.record.size();
    for (const auto& [hash, bytes] : p.blobs) chunk.bytes += chunk::BlobRecordSize(hash, bytes);
    if (e.has_routed() && !e.routed().envelope_id().empty()) {
      s.PutEnvelope(shard, e.routed().envelope_id(), e.trace_id(), &batch);
    }
    if (e.has_received() || e.has_rejected()) {
      s.PutEnvelope(shard, e.envelope_id(), e.trace_id(), &batch);
    }
    if (e.trace_id() == shard.checked_trace) shard.checked_ids.emplace(e.source_id(), e.sequence());
    uint64_t& hw = touched_sources[e.source_id()];
    hw = std::max(hw, e.sequence());
  }
  for (const Chunk& chunk : chunks) {
    std::string& value = shard.chunk;
    value.clear();
    value.reserve(chunk.bytes);
    for (const PreparedEvent* p : chunk.events) {
      value.append(p->record);
      const std::string& trace_id = p->stored.event.trace_id();
      for (const auto& [hash, bytes] : p->blobs) {
        if (shard.recent_blobs.Insert(hash, trace_id)) chunk::AppendBlob(hash, bytes, &value);
      }
    }
    shard.compressor.Seal(value, &shard.sealed);
    batch.Put(s.h(kEvents), chunk.key, shard.sealed);
  }
  if (shard.chunk.capacity() > (8u << 20)) {  // a rare giant trace: its buffers are not kept
    std::string().swap(shard.chunk);
    std::string().swap(shard.sealed);
  }
  for (const auto& [source, seq] : touched_sources) {
    uint64_t& hw = shard.high_water[std::string(source)];
    if (hw >= seq) continue;
    hw = seq;
    std::string v;
    PutBigEndian(seq, &v);
    batch.Put(s.h(kSources), absl::StrCat(AsAbsl(source), "\x1f", shard_index), v);
  }
  for (const SummaryWrite& summary : set->summaries) s.PutSummary(shard, summary, &batch);
  for (const std::string& id : set->opened) batch.Put(s.h(kOpen), id, "");
  for (const std::string& id : set->closed) batch.Delete(s.h(kOpen), id);
  return staged;
}

absl::Status TraceStore::Apply(Staged write) {
  NoPerfCounters();
  rocksdb::WriteOptions options;
  options.sync = true;
  absl::Status st = FromRocks(impl_->db->Write(options, &write.rep_->batch), "store write");
  if (write.rep_->batch.GetDataSize() > (32u << 20)) return st;  // a rare giant: not kept
  write.rep_->batch.Clear();                                     // keeps its buffer
  absl::MutexLock lock(&impl_->spare_mu);
  if (impl_->spare.size() < 2) impl_->spare.push_back(std::move(write.rep_));
  return st;
}

bool TraceStore::MayContain(const std::string& source_id, uint64_t sequence, int shard) const {
  const auto& high_water = impl_->shards[shard].high_water;
  auto it = high_water.find(source_id);
  return it != high_water.end() && sequence <= it->second;
}

int TraceStore::shards() const { return static_cast<int>(impl_->shards.size()); }

bool TraceStore::Contains(const std::string& trace_id, const std::string& source_id,
                          uint64_t sequence, int shard) {
  if (!MayContain(source_id, sequence, shard)) return false;
  Impl::Shard& s = impl_->shards[shard];
  if (s.checked_trace != trace_id) {
    s.checked_trace = trace_id;
    s.checked_ids.clear();
    const absl::Status status = impl_->ForEachRecord(trace_id, [&s](const chunk::Record& r) {
      if (r.kind == chunk::kEvent) s.checked_ids.emplace(std::string(r.id), r.sequence);
    });
    // Unreadable: take the event as new (a duplicate is harmless; a lost event is not).
    if (!status.ok()) s.checked_trace.clear();
  }
  return s.checked_ids.contains(std::make_pair(source_id, sequence));
}

absl::StatusOr<std::vector<StoredEvent>> TraceStore::LoadTrace(const std::string& trace_id,
                                                               bool with_captures) const {
  std::vector<StoredEvent> events;
  absl::flat_hash_map<std::string, std::string> blobs;  // content hash → capture bytes
  const absl::Status status = impl_->ForEachRecord(trace_id, [&](const chunk::Record& r) {
    if (r.kind == chunk::kBlob) {
      if (with_captures) blobs.try_emplace(std::string(r.id), r.bytes);
      return;
    }
    StoredEvent stored;
    stored.ingested_ns = r.ingested_ns;
    if (!stored.event.ParseFromArray(r.bytes.data(), static_cast<int>(r.bytes.size()))) return;
    events.push_back(std::move(stored));
  });
  if (!status.ok()) return status;
  if (events.empty()) return absl::NotFoundError("no trace " + trace_id);
  std::sort(events.begin(), events.end(), [](const StoredEvent& a, const StoredEvent& b) {
    if (a.event.time_ns() != b.event.time_ns()) return a.event.time_ns() < b.event.time_ns();
    if (a.event.source_id() != b.event.source_id())
      return a.event.source_id() < b.event.source_id();
    return a.event.sequence() < b.event.sequence();
  });
  if (with_captures) {
    for (StoredEvent& stored : events) {
      v1::LifecycleEvent& e = stored.event;
      if (e.has_received()) FillCapture(blobs, e.mutable_received()->mutable_input());
      if (e.has_routed()) FillCapture(blobs, e.mutable_routed()->mutable_output());
    }
  }
  return events;
}

std::optional<v1::TraceSummary> TraceStore::GetSummary(const std::string& trace_id) const {
  std::string value;
  if (!impl_->db->Get(rocksdb::ReadOptions(), impl_->h(kSummaries), trace_id, &value).ok()) {
    return std::nullopt;
  }
  v1::TraceSummary summary;
  if (!summary.ParseFromString(value)) return std::nullopt;
  return summary;
}

std::optional<std::string> TraceStore::TraceOfEnvelope(const std::string& envelope_id) const {
  std::string value;
  if (!impl_->db->Get(rocksdb::ReadOptions(), impl_->h(kEnvelopes), envelope_id, &value).ok()) {
    return std::nullopt;
  }
  return value;
}

namespace {

// The keys under several index heads as one walk in key order past the head ("~started id",
// newest first): the time lists of the actor sets that hold an actor. A trace is under one
// head only.
class IndexWalk {
 public:
  IndexWalk(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* index, std::vector<std::string> heads) {
    for (std::string& head : heads) {
      lists_.push_back({std::move(head), std::unique_ptr<rocksdb::Iterator>(
                                             db->NewIterator(rocksdb::ReadOptions(), index))});
    }
  }
  void Seek(std::string_view rest) {
    for (List& l : lists_) l.it->Seek(l.head + std::string(rest));
    Pick();
  }
  bool Valid() const { return current_ != nullptr; }
  // The key past its head: ~started (8 bytes) and the trace id.
  std::string_view rest() const {
    return current_->it->key().ToStringView().substr(current_->head.size());
  }
  void Next() {
    current_->it->Next();
    Pick();
  }
  rocksdb::Status status() const {
    for (const List& l : lists_) {
      if (!l.it->status().ok()) return l.it->status();
    }
    return rocksdb::Status::OK();
  }

 private:
  struct List {
    std::string head;
    std::unique_ptr<rocksdb::Iterator> it;
    bool Valid() const { return it->Valid() && it->key().starts_with(head); }
  };
  // The list at the smallest key past its head (a few lists: a scan beats a heap).
  void Pick() {
    current_ = nullptr;
    std::string_view best;
    for (List& l : lists_) {
      if (!l.Valid()) continue;
      std::string_view rest = l.it->key().ToStringView().substr(l.head.size());
      if (current_ == nullptr || rest < best) current_ = &l, best = rest;
    }
  }
  std::vector<List> lists_;
  List* current_ = nullptr;
};

// An actor in more sets than this is listed from the time index, filtered by summary.
constexpr size_t kMaxMergedSets = 64;

}  // namespace

absl::StatusOr<ListResult> TraceStore::List(const v1::ListTracesRequest& request,
                                            size_t scan_budget) const {
  // Walk the most selective index the request allows; check the other filters per summary.
  std::vector<std::string> heads;
  if (!request.reason().empty()) {
    heads.push_back(IndexHead("r", request.reason()));
  } else if (!request.actor().empty()) {
    const std::string members = IndexHead("m", request.actor());
    std::unique_ptr<rocksdb::Iterator> it(
        impl_->db->NewIterator(rocksdb::ReadOptions(), impl_->h(kIndex)));
    for (it->Seek(members); it->Valid() && it->key().starts_with(members); it->Next()) {
      heads.push_back(IndexHead("s", it->key().ToStringView().substr(members.size())));
    }
    if (!it->status().ok()) return FromRocks(it->status(), "listing traces");
    if (heads.empty()) return ListResult{};  // no trace has passed through it
    if (heads.size() > kMaxMergedSets) heads = {IndexHead("t", "")};
  } else if (request.verdict() != v1::VERDICT_UNSPECIFIED && VerdictIndexed(request.verdict())) {
    heads.push_back(IndexHead("v", VerdictName(request.verdict())));
  } else if (request.outcome() != v1::OUTCOME_UNSPECIFIED && OutcomeIndexed(request.outcome())) {
    heads.push_back(IndexHead("o", OutcomeName(request.outcome())));
  } else {
    heads.push_back(IndexHead("t", ""));
  }
  std::string start;  // where the walk starts past the heads
  if (!request.cursor().empty()) {
    if (!absl::WebSafeBase64Unescape(request.cursor(), &start) || start.size() < 8) {
      return absl::InvalidArgumentError("cursor: not a cursor from a previous page");
    }
  } else if (request.until_ns() > 0) {
    PutBigEndian(~static_cast<uint64_t>(request.until_ns()), &start);
  }
  const size_t limit = request.limit() == 0 ? 100 : std::min<uint32_t>(request.limit(), 1000);

  ListResult result;
  IndexWalk walk(impl_->db.get(), impl_->h(kIndex), std::move(heads));
  size_t scanned = 0;
  std::string last_position;
  for (walk.Seek(start); walk.Valid(); walk.Next()) {
    std::string_view rest = walk.rest();
    if (!request.cursor().empty() && rest == start) continue;  // the last row of the last page
    if (rest.size() < 8) continue;
    const int64_t started = static_cast<int64_t>(~GetBigEndian(rest));
    if (request.since_ns() > 0 && started < request.since_ns()) break;
    last_position = std::string(rest);
    if (++scanned > scan_budget) break;
    if (request.until_ns() > 0 && started > request.until_ns()) continue;
    std::optional<v1::TraceSummary> s = GetSummary(std::string(rest.substr(8)));
    if (!s) continue;
    if (request.verdict() != v1::VERDICT_UNSPECIFIED && s->verdict() != request.verdict()) continue;
    if (request.outcome() != v1::OUTCOME_UNSPECIFIED && s->outcome() != request.outcome()) continue;
    if (!request.actor().empty() &&
        std::find(s->actors().begin(), s->actors().end(), request.actor()) == s->actors().end()) {
      continue;
    }
    if (!request.reason().empty() && std::find(s->reasons().begin(), s->reasons().end(),
                                               request.reason()) == s->reasons().end()) {
      continue;
    }
    if (!request.q().empty() && !ContainsCaseInsensitive(s->error_message(), request.q()) &&
        !ContainsCaseInsensitive(s->headline(), request.q()) &&
        !ContainsCaseInsensitive(s->error_type(), request.q())) {
      continue;
    }
    result.traces.push_back(*std::move(s));
    if (result.traces.size() >= limit) break;
  }
  if (auto st = walk.status(); !st.ok()) return FromRocks(st, "listing traces");
  // More may follow when the page filled up or the budget ran out inside the range.
  if ((result.traces.size() >= limit || scanned > scan_budget) && walk.Valid()) {
    result.next_cursor = absl::WebSafeBase64Escape(last_position);
  }
  return result;
}

std::vector<std::string> TraceStore::OpenTraceIds() const {
  std::vector<std::string> ids;
  std::unique_ptr<rocksdb::Iterator> it(
      impl_->db->NewIterator(rocksdb::ReadOptions(), impl_->h(kOpen)));
  for (it->SeekToFirst(); it->Valid(); it->Next()) ids.push_back(it->key().ToString());
  return ids;
}

std::vector<std::string> TraceStore::OldestTraces(size_t max, int64_t before_ns) const {
  std::vector<std::string> ids;
  const std::string prefix = IndexHead("t", "");
  std::unique_ptr<rocksdb::Iterator> it(
      impl_->db->NewIterator(rocksdb::ReadOptions(), impl_->h(kIndex)));
  // The time index sorts newest first; the oldest are at its end.
  std::string end = prefix;
  end.append(8, '\xff');
  for (it->SeekForPrev(end); it->Valid() && it->key().starts_with(prefix) && ids.size() < max;
       it->Prev()) {
    std::string_view rest = it->key().ToStringView().substr(prefix.size());
    const int64_t started = static_cast<int64_t>(~GetBigEndian(rest));
    if (before_ns > 0 && started >= before_ns) break;
    ids.emplace_back(rest.substr(8));
  }
  return ids;
}

absl::Status TraceStore::DeleteTraces(const std::vector<std::string>& trace_ids) {
  Impl& s = *impl_;
  rocksdb::WriteBatch batch;
  for (const std::string& id : trace_ids) {
    auto events = LoadTrace(id, false);
    if (events.ok()) {
      for (const StoredEvent& e : *events) {
        if (e.event.has_routed() && !e.event.routed().envelope_id().empty()) {
          batch.Delete(s.h(kEnvelopes), e.event.routed().envelope_id());
        }
        if (!e.event.envelope_id().empty()) batch.Delete(s.h(kEnvelopes), e.event.envelope_id());
      }
    }
    const std::string begin = TracePrefix(id), end = id + '\x01';
    batch.DeleteRange(s.h(kEvents), begin, end);
    if (std::optional<v1::TraceSummary> summary = GetSummary(id)) {
      for (const std::string& key : IndexKeys(*summary)) batch.Delete(s.h(kIndex), key);
    }
    batch.Delete(s.h(kSummaries), id);
    batch.Delete(s.h(kOpen), id);
  }
  rocksdb::WriteOptions options;
  options.sync = true;
  return FromRocks(s.db->Write(options, &batch), "deleting traces");
}

uint64_t TraceStore::DiskBytes() const {
  uint64_t total = 0;
  for (auto* h : impl_->cf) {
    uint64_t v = 0;
    if (impl_->db->GetIntProperty(h, rocksdb::DB::Properties::kTotalSstFilesSize, &v)) total += v;
    if (impl_->db->GetIntProperty(h, rocksdb::DB::Properties::kTotalBlobFileSize, &v)) total += v;
    if (impl_->db->GetIntProperty(h, rocksdb::DB::Properties::kCurSizeAllMemTables, &v)) {
      total += v;
    }
  }
  return total;
}

void TraceStore::CompactAll() {
  rocksdb::CompactRangeOptions options;
  // Every blob file is rewritten without its dead chunks: deleted space comes back now.
  options.blob_garbage_collection_policy = rocksdb::BlobGarbageCollectionPolicy::kForce;
  options.blob_garbage_collection_age_cutoff = 1.0;
  for (auto* h : impl_->cf) impl_->db->CompactRange(options, h, nullptr, nullptr);
}

size_t TraceStore::trace_count_estimate() const {
  uint64_t v = 0;
  impl_->db->GetIntProperty(impl_->h(kSummaries), rocksdb::DB::Properties::kEstimateNumKeys, &v);
  return v;
}

}  // namespace meshtrace::collector
