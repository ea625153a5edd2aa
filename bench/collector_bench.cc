// Collector benchmarks, each beside a baseline from the same run (docs/PERFORMANCE.md):
//   ingest  a separate meshtrace-collector process fed over gRPC by this load driver, acked
//           durable; baseline: raw RocksDB synced WriteBatches of the same event bytes.
//   query   a store of >= 1M events in this process: GET of a 50-hop trace, list of 100 failed
//           traces, HTML report; baseline: the raw read of the trace's events.
//   memory  RSS of a collector process holding 100,000 open traces; baseline: its idle RSS.
//   complete  ack latency (= complete verdict stored) at a steady rate below saturation.
// Usage: collector_bench [ingest|complete|memory|query] [--events N] [--traces N] [--streams N]
//                        [--inflight BATCHES_PER_STREAM] [--rate EVENTS_PER_S]
//                        [--writer-shards N] [--collector-env K=V] [--by-trace]
//                        [--collector-bin PATH]
#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <httplib.h>
#include <netinet/in.h>
#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "bench/machine_phase.h"
#include "collector/artifact.h"
#include "collector/assembler.h"
#include "collector/ingest.h"
#include "collector/metrics.h"
#include "collector/query.h"
#include "collector/report.h"
#include "collector/trace_store.h"
#include "common/log.h"
#include "common/trace_view.h"
#include "meshtrace/v1/collector.grpc.pb.h"
#include "tests/testing/ports.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/trace_builder.h"

namespace meshtrace {
namespace {

using testing::TraceBuilder;
const std::string kBin = MESHTRACE_BIN_DIR;

// An order-like payload that makes each captured envelope about 512 bytes, varied the way
// real data is (ids, names, amounts, times) so that compression sees realistic input.
std::string Payload512(uint64_t seed = 1) {
  std::mt19937_64 rng(seed);
  static const char* const kNames[] = {"widget", "gadget",  "sprocket", "bracket", "flange",
                                       "gasket", "bearing", "valve",    "spring",  "hinge"};
  static const char* const kTiers[] = {"gold", "silver", "bronze"};
  std::string s = absl::StrCat(
      R"({"order_id":")", absl::Hex(rng(), absl::kZeroPad16), R"(","customer":{"id":)",
      rng() % 1000000, R"(,"email":"user)", rng() % 100000, R"(@example.com","tier":")",
      kTiers[rng() % 3], R"("},"created_at":"2026-11-23T)", absl::Dec(rng() % 24, absl::kZeroPad2),
      ":", absl::Dec(rng() % 60, absl::kZeroPad2), ":", absl::Dec(rng() % 60, absl::kZeroPad2),
      R"(Z","items":[)");
  while (s.size() < 330) {
    absl::StrAppend(&s, R"({"sku":"SKU-)", rng() % 100000, R"(","name":")", kNames[rng() % 10],
                    R"(","qty":)", 1 + rng() % 9, R"(,"price":)", rng() % 50000 / 100, ".",
                    absl::Dec(rng() % 100, absl::kZeroPad2), "},");
  }
  s.back() = ']';
  return s + "}";
}

// Traces of a `hops`-actor chain; every `fail_every`-th fails at its last actor (x-sump).
std::vector<v1::LifecycleEvent> MakeTrace(const std::string& id, int hops, bool fail,
                                          int64_t start_ns, const std::string& payload) {
  TraceBuilder b(id, start_ns);
  b.SetPayload(payload);
  std::vector<std::string> prev;
  const std::string e = id + "-e";
  for (int i = 0; i < hops; ++i) {
    const std::string actor = absl::StrCat("actor-", i);
    b.Receive(e, actor, prev);
    const bool last = i + 1 == hops;
    if (last && fail) {
      b.Result(e, actor, 500, "ValueError", "bad value");
      b.Route(e, actor, e, "x-sump", "sump", "failed", "RuntimeError");
    } else {
      b.Result(e, actor);
      b.Route(e, actor, e, last ? "x-sink" : absl::StrCat("actor-", i + 1),
              last ? "sink" : "routing", last ? "succeeded" : "pending", last ? "Completed" : "");
    }
    prev.push_back(actor);
  }
  const std::string end = fail ? "x-sump" : "x-sink";
  b.Receive(e, end, prev)
      .Terminate(e, end, fail ? "failed" : "succeeded", fail ? "RuntimeError" : "Completed");
  return b.Take();
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

// user+system CPU seconds and RSS (MiB) of a process.
double CpuSeconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string s((std::istreambuf_iterator<char>(in)), {});
  const size_t close = s.rfind(')');
  std::istringstream rest(s.substr(close + 2));
  std::string field;
  double utime = 0, stime = 0;
  for (int i = 3; rest >> field; ++i) {
    if (i == 14) utime = std::stod(field);
    if (i == 15) {
      stime = std::stod(field);
      break;
    }
  }
  return (utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double RssMiB(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  }
  return 0;
}

int g_writer_shards = 1;
bool g_ingest_by_trace = false;                      // --by-trace: ingest batches hold whole traces
std::map<std::string, std::string> g_collector_env;  // --collector-env K=V (e.g. LD_PRELOAD)
std::string g_collector_bin;  // --collector-bin PATH: another build, to compare in alternation

struct CollectorProcess {
  testing::TempDir dir;
  int grpc_port = testing::FreePort(), http_port = testing::FreePort();
  std::optional<testing::Subprocess> process;

  bool Start() {
    process.emplace(*testing::Subprocess::Start(
        {g_collector_bin.empty() ? kBin + "/meshtrace-collector" : g_collector_bin,
         "--data-dir=" + dir.path() + "/data", absl::StrCat("--grpc-listen=127.0.0.1:", grpc_port),
         absl::StrCat("--http-listen=127.0.0.1:", http_port), "--log-level=warn",
         absl::StrCat("--writer-shards=", g_writer_shards)},
        g_collector_env));
    httplib::Client client("127.0.0.1", http_port);
    for (int i = 0; i < 200; ++i) {
      if (auto r = client.Get("/readyz"); r && r->status == 200) return true;
      absl::SleepFor(absl::Milliseconds(50));
    }
    return false;
  }
  double Metric(const std::string& series) {
    httplib::Client client("127.0.0.1", http_port);
    auto r = client.Get("/metrics");
    if (!r) return -1;
    const size_t pos = r->body.find("\n" + series + " ");
    return pos == std::string::npos ? -1 : std::stod(r->body.substr(pos + series.size() + 2));
  }
  // Traces settled complete (succeeded or failed).
  double SettledComplete() {
    return Metric(
               R"(meshtrace_collector_traces_settled_total{outcome="succeeded",verdict="complete"})") +
           Metric(
               R"(meshtrace_collector_traces_settled_total{outcome="failed",verdict="complete"})");
  }
};

// Sends `batches` over `streams` gRPC streams with up to `inflight` unacked batches each.
// Returns ack latencies (ms) and the wall time.
struct DriveResult {
  double seconds = 0;
  std::vector<double> ack_ms;
  uint64_t accepted = 0;
  // Each ack: seconds since the start, events it accepted (to take a rate past the warm-up).
  std::vector<std::pair<double, uint64_t>> acks;
};

// Events/s from the ack that took the accepted total past `skip` of it to the last ack: the
// rate once the collector is warm (its heap, memtables and caches grown to their steady size;
// every page is a fresh fault on this VM until then).
double SteadyRate(std::vector<std::pair<double, uint64_t>> acks, uint64_t accepted, double skip) {
  std::sort(acks.begin(), acks.end());
  uint64_t done = 0;
  for (size_t i = 0; i + 1 < acks.size(); ++i) {
    done += acks[i].second;
    if (static_cast<double>(done) < skip * static_cast<double>(accepted)) continue;
    const double seconds = acks.back().first - acks[i].first;
    return seconds > 0 ? static_cast<double>(accepted - done) / seconds : 0;
  }
  return 0;
}

// A batch serialised before the clock starts: the driver stands in for sidecars on other
// machines, so its own encoding work is kept off the shared cores.
struct WireBatch {
  grpc::ByteBuffer bytes;
  uint64_t id = 0;
};

struct WireBatches {
  std::vector<WireBatch> batches;
  double events_per_batch = 0;
};
WireBatches Encode(const std::vector<v1::EventBatch>& messages) {
  WireBatches wire;
  for (const v1::EventBatch& m : messages) {
    grpc::Slice slice(m.SerializeAsString());
    wire.batches.push_back({grpc::ByteBuffer(&slice, 1), m.batch_id()});
  }
  if (!messages.empty()) wire.events_per_batch = messages[0].events_size();
  return wire;
}

// `rate` > 0 paces the sends to that many events per second overall.
DriveResult Drive(const std::string& address, const WireBatches& wire, int streams, int inflight,
                  double rate = 0) {
  const std::vector<WireBatch>& batches = wire.batches;
  const double events_per_batch = wire.events_per_batch;
  auto channel = grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
  const grpc::internal::RpcMethod ingest("/meshtrace.v1.Collector/Ingest",
                                         grpc::internal::RpcMethod::BIDI_STREAMING);
  DriveResult result;
  absl::Mutex mu;
  std::atomic<size_t> next{0};
  const absl::Time start = absl::Now();
  std::vector<std::thread> threads;
  for (int s = 0; s < streams; ++s) {
    threads.emplace_back([&] {
      grpc::ClientContext context;
      // The call the generated stub makes (its internal factory), writing pre-encoded requests.
      std::unique_ptr<grpc::ClientReaderWriter<grpc::ByteBuffer, v1::Ack>> stream(
          grpc::internal::ClientReaderWriterFactory<grpc::ByteBuffer, v1::Ack>::Create(
              channel.get(), ingest, &context));
      absl::Mutex window_mu;
      int in_flight = 0;
      std::map<uint64_t, absl::Time> sent;
      std::vector<double> latencies;
      std::vector<std::pair<double, uint64_t>> acks;
      uint64_t accepted = 0;
      std::thread reader([&] {
        v1::Ack ack;
        while (stream->Read(&ack)) {
          absl::MutexLock lock(&window_mu);
          const absl::Time now = absl::Now();
          latencies.push_back(absl::ToDoubleMilliseconds(now - sent[ack.batch_id()]));
          acks.emplace_back(absl::ToDoubleSeconds(now - start), ack.accepted());
          sent.erase(ack.batch_id());
          accepted += ack.accepted();
          --in_flight;
        }
      });
      for (size_t i = next++; i < batches.size(); i = next++) {
        if (rate > 0) {
          const absl::Time due =
              start + absl::Seconds(static_cast<double>(i) * events_per_batch / rate);
          if (due > absl::Now()) absl::SleepFor(due - absl::Now());
        }
        {
          absl::MutexLock lock(&window_mu);
          auto room = [&]() { return in_flight < inflight; };
          window_mu.Await(absl::Condition(&room));
          ++in_flight;
          sent[batches[i].id] = absl::Now();
        }
        stream->Write(batches[i].bytes);
      }
      {
        absl::MutexLock lock(&window_mu);
        auto drained = [&]() { return in_flight == 0; };
        window_mu.Await(absl::Condition(&drained));
      }
      stream->WritesDone();
      reader.join();
      grpc::Status status = stream->Finish();
      if (!status.ok()) std::printf("   stream ended: %s\n", status.error_message().c_str());
      absl::MutexLock lock(&mu);
      result.ack_ms.insert(result.ack_ms.end(), latencies.begin(), latencies.end());
      result.accepted += accepted;
      result.acks.insert(result.acks.end(), acks.begin(), acks.end());
    });
  }
  for (auto& t : threads) t.join();
  result.seconds = absl::ToDoubleSeconds(absl::Now() - start);
  return result;
}

// Batches of `per_batch` events. `by_source`: as sidecars send them, each batch from one
// sidecar (5 actors + the end actor, 4 replicas each, every sidecar numbering its own events),
// so a trace's events arrive spread over the batches of the sidecars it passed; otherwise
// whole traces one after another (for completion timing: a trace's last event closes it).
std::vector<v1::EventBatch> MakeBatches(size_t events, size_t per_batch, int hops,
                                        bool by_source = false) {
  constexpr size_t kReplicas = 4;
  std::vector<std::string> payloads;
  for (uint64_t i = 0; i < 256; ++i) payloads.push_back(Payload512(i));
  std::vector<v1::EventBatch> batches;
  struct Source {
    v1::EventBatch batch;
    uint64_t sequence = 0;
  };
  std::map<std::string, Source> sources;
  v1::EventBatch batch;
  uint64_t id = 0;
  auto add = [&](v1::EventBatch& to, v1::LifecycleEvent e) {
    *to.add_events() = std::move(e);
    if (static_cast<size_t>(to.events_size()) == per_batch) {
      to.set_batch_id(++id);
      batches.push_back(std::move(to));
      to = v1::EventBatch();
    }
  };
  const int64_t now = absl::ToUnixNanos(absl::Now());
  for (size_t t = 0, n = 0; n < events; ++t) {
    for (auto& e : MakeTrace(absl::StrCat("trace-", t), hops, t % 10 == 0, now + t * 1000,
                             payloads[t % payloads.size()])) {
      ++n;
      if (!by_source) {
        add(batch, std::move(e));
        continue;
      }
      Source& source = sources[absl::StrCat(e.pod(), "-", t % kReplicas)];
      e.set_source_id(absl::StrCat(e.pod(), "-", t % kReplicas));
      e.set_sequence(++source.sequence);
      add(source.batch, std::move(e));
    }
  }
  for (auto& [name, source] : sources) {
    if (source.batch.events_size() > 0) batches.push_back(std::move(source.batch));
  }
  if (batch.events_size() > 0) batches.push_back(std::move(batch));
  for (size_t i = 0; i < batches.size(); ++i) {
    if (batches[i].batch_id() == 0) batches[i].set_batch_id(++id);
  }
  return batches;
}

// Raw RocksDB: the same event bytes in synced WriteBatches of the same size.
// Events/s over the whole run, and past the first `skip` of the events (as SteadyRate).
struct RawRate {
  double whole = 0;
  double steady = 0;
};
RawRate RawRocksEventsPerSecond(const std::vector<v1::EventBatch>& batches, double skip) {
  testing::TempDir dir;
  rocksdb::Options options;
  options.create_if_missing = true;
  options.IncreaseParallelism(2);
  rocksdb::DB* raw = nullptr;
  if (!rocksdb::DB::Open(options, dir.path() + "/raw", &raw).ok()) return {};
  std::unique_ptr<rocksdb::DB> db(raw);
  rocksdb::WriteOptions sync;
  sync.sync = true;
  size_t events = 0, warm_events = 0;
  const size_t warm_batches = static_cast<size_t>(skip * static_cast<double>(batches.size()));
  const absl::Time start = absl::Now();
  absl::Time warm = start;
  for (size_t i = 0; i < batches.size(); ++i) {
    const v1::EventBatch& batch = batches[i];
    rocksdb::WriteBatch wb;
    for (const auto& e : batch.events()) {
      wb.Put(absl::StrCat(e.trace_id(), "/", e.source_id(), "/", e.sequence()),
             e.SerializeAsString());
      ++events;
    }
    db->Write(sync, &wb);
    if (i + 1 == warm_batches) {
      warm_events = events;
      warm = absl::Now();
    }
  }
  const absl::Time end = absl::Now();
  RawRate rate;
  rate.whole = static_cast<double>(events) / absl::ToDoubleSeconds(end - start);
  if (end > warm) {
    rate.steady = static_cast<double>(events - warm_events) / absl::ToDoubleSeconds(end - warm);
  }
  return rate;
}

void Ingest(size_t events, int streams, int inflight) {
  std::printf(
      "== ingest: %zu events (5-hop traces, ~512-byte captures, 10%% failing; %s), %d streams "
      "with %d unacked batches each\n",
      events, g_ingest_by_trace ? "whole traces one after another" : "batches from 24 sidecars",
      streams, inflight);
  std::vector<v1::EventBatch> batches =
      MakeBatches(events, 1000, 5, /*by_source=*/!g_ingest_by_trace);
  size_t bytes = 0;
  for (const auto& b : batches) bytes += b.ByteSizeLong();
  std::printf("   %zu batches of 1000 events, %.0f bytes/event on the wire\n", batches.size(),
              static_cast<double>(bytes) / static_cast<double>(events));

  // The first 20 % of the events warm the process up; the steady rates leave them out.
  constexpr double kWarmUp = 0.2;
  const RawRate raw = RawRocksEventsPerSecond(batches, kWarmUp);
  std::printf(
      "baseline raw RocksDB synced WriteBatch (same bytes):  %9.0f events/s  (steady %.0f)\n",
      raw.whole, raw.steady);

  CollectorProcess collector;
  if (!collector.Start()) {
    std::printf("collector did not start\n");
    return;
  }
  const WireBatches wire = Encode(batches);
  const pid_t pid = collector.process->pid();
  const double cpu0 = CpuSeconds(pid), driver0 = CpuSeconds(getpid());
  DriveResult r = Drive(absl::StrCat("127.0.0.1:", collector.grpc_port), wire, streams, inflight);
  const double cpu = CpuSeconds(pid) - cpu0, driver = CpuSeconds(getpid()) - driver0;
  const double rate = static_cast<double>(r.accepted) / r.seconds;
  const double steady = SteadyRate(r.acks, r.accepted, kWarmUp);
  std::printf(
      "meshtrace-collector, acked durable:                    %9.0f events/s  (%.2fx the "
      "raw baseline)\n",
      rate, rate / raw.whole);
  std::printf(
      "   steady (past the first %.0f %% of the events):        %9.0f events/s  (%.2fx the "
      "raw baseline's steady %.0f)\n",
      kWarmUp * 100, steady, steady / raw.steady, raw.steady);
  std::printf("   accepted %llu of %zu; collector CPU %.2f s = %.1f us/event; RSS %.0f MiB\n",
              static_cast<unsigned long long>(r.accepted), events, cpu,
              cpu * 1e6 / static_cast<double>(r.accepted), RssMiB(pid));
  std::printf("   load driver (this process) CPU %.2f s = %.1f us/event\n", driver,
              driver * 1e6 / static_cast<double>(r.accepted));
  std::printf(
      "   ack latency (the closing event's trace is complete in that same write): p50 "
      "%.1f ms, p99 %.1f ms\n",
      Percentile(r.ack_ms, 0.5), Percentile(r.ack_ms, 0.99));
  std::printf("   traces settled: %.0f, open: %.0f\n", collector.SettledComplete(),
              collector.Metric("meshtrace_collector_traces_open"));
  uint64_t disk = 0;
  for (const auto& f : std::filesystem::recursive_directory_iterator(collector.dir.path())) {
    if (f.is_regular_file()) disk += f.file_size();
  }
  std::printf("   data dir after the run: %.0f MiB (%.0f bytes per event, WAL included)\n",
              static_cast<double>(disk) / (1 << 20),
              static_cast<double>(disk) / static_cast<double>(r.accepted));
  const double writes = collector.Metric("meshtrace_collector_store_write_seconds_count");
  std::printf("   store writes: %.0f (%.0f events each, %.2f ms each on average)\n", writes,
              static_cast<double>(r.accepted) / writes,
              collector.Metric("meshtrace_collector_store_write_seconds_sum") * 1e3 / writes);
}

// Completion latency at a steady rate below saturation: every batch closes traces, and a
// trace is marked complete in the same durable write as its closing event, so the ack is the
// moment the verdict is stored.
void Complete(double rate) {
  const size_t events = static_cast<size_t>(rate * 10);  // 10 s
  std::printf(
      "== completion: %.0f events/s for 10 s in batches of 100 (a sidecar flushes every "
      "20 ms)\n",
      rate);
  std::vector<v1::EventBatch> batches = MakeBatches(events, 100, 5);
  CollectorProcess collector;
  if (!collector.Start()) return;
  DriveResult r =
      Drive(absl::StrCat("127.0.0.1:", collector.grpc_port), Encode(batches), 2, 64, rate);
  std::printf(
      "ack (= complete verdict stored) latency: p50 %.1f ms, p99 %.1f ms, max %.1f ms; "
      "achieved %.0f events/s\n",
      Percentile(r.ack_ms, 0.5), Percentile(r.ack_ms, 0.99), Percentile(r.ack_ms, 1.0),
      static_cast<double>(r.accepted) / r.seconds);
  std::printf("   traces settled complete: %.0f, open: %.0f\n", collector.SettledComplete(),
              collector.Metric("meshtrace_collector_traces_open"));
}

void Memory(size_t traces) {
  std::printf("== memory: %zu open traces (each sent to its second actor, never received)\n",
              traces);
  const std::string payload = Payload512();
  std::vector<v1::EventBatch> batches;
  v1::EventBatch batch;
  const int64_t now = absl::ToUnixNanos(absl::Now());
  for (size_t t = 0; t < traces; ++t) {
    TraceBuilder b(absl::StrCat("open-", t), now + static_cast<int64_t>(t) * 1000);
    b.SetPayload(payload);
    const std::string e = absl::StrCat("open-", t, "-e");
    b.Receive(e, "actor-0").Result(e, "actor-0").Route(e, "actor-0", e, "actor-1");
    for (auto& ev : b.Take()) *batch.add_events() = std::move(ev);
    if (batch.events_size() >= 999) {
      batch.set_batch_id(batches.size() + 1);
      batches.push_back(std::move(batch));
      batch = v1::EventBatch();
    }
  }
  if (batch.events_size() > 0) {
    batch.set_batch_id(batches.size() + 1);
    batches.push_back(std::move(batch));
  }
  CollectorProcess collector;
  if (!collector.Start()) return;
  const pid_t pid = collector.process->pid();
  const double idle = RssMiB(pid);
  Drive(absl::StrCat("127.0.0.1:", collector.grpc_port), Encode(batches), 2, 8);
  absl::SleepFor(absl::Seconds(1));
  const double rss = RssMiB(pid);
  std::printf("baseline idle collector RSS:                 %6.0f MiB\n", idle);
  std::printf(
      "collector RSS with %.0f open traces:     %6.0f MiB  (+%.0f MiB, %.2f KiB per trace)\n",
      collector.Metric("meshtrace_collector_traces_open"), rss, rss - idle,
      (rss - idle) * 1024 / static_cast<double>(traces));
}

void Query(size_t events) {
  std::printf("== query: store of %zu events (50-hop traces, ~512-byte captures, 10%% failing)\n",
              events);
  testing::TempDir dir;
  auto store = collector::TraceStore::Open(dir.path() + "/data");
  if (!store.ok()) return;
  collector::CollectorMetrics metrics;
  collector::Assembler assembler(store->get(), {}, &metrics);
  collector::IngestPipeline pipeline(store->get(), &assembler, &metrics, Clock::Real(), {});
  const std::string payload = Payload512();
  const int64_t now = absl::ToUnixNanos(absl::Now());
  size_t stored = 0, traces = 0;
  std::vector<v1::LifecycleEvent> pending;
  absl::Mutex mu;
  size_t outstanding = 0;
  const absl::Time fill_start = absl::Now();
  auto flush = [&] {
    {
      absl::MutexLock lock(&mu);
      auto room = [&]() { return outstanding < 4; };
      mu.Await(absl::Condition(&room));
      ++outstanding;
    }
    pipeline.Submit(std::move(pending), [&](const collector::BatchResult&) {
      absl::MutexLock lock(&mu);
      --outstanding;
    });
    pending.clear();
  };
  while (stored < events) {
    auto trace = MakeTrace(absl::StrCat("q-", traces), 50, traces % 10 == 0,
                           now + static_cast<int64_t>(traces) * 1'000'000, payload);
    ++traces;
    stored += trace.size();
    for (auto& e : trace) pending.push_back(std::move(e));
    if (pending.size() >= 5000) flush();
  }
  if (!pending.empty()) flush();
  {
    absl::MutexLock lock(&mu);
    auto done = [&]() { return outstanding == 0; };
    mu.Await(absl::Condition(&done));
  }
  std::printf("   filled %zu events in %zu traces in %.1f s (in-process pipeline)\n", stored,
              traces, absl::ToDoubleSeconds(absl::Now() - fill_start));

  collector::QueryEngine engine(store->get(), {}, Clock::Real());
  std::mt19937 rng(3);
  std::vector<double> raw_ms, get_ms, report_ms, list_ms, actor_ms;
  for (int i = 0; i < 1000; ++i) {
    const std::string id = absl::StrCat("q-", rng() % traces);
    absl::Time t0 = absl::Now();
    auto raw = (*store)->LoadTrace(id, true);
    raw_ms.push_back(absl::ToDoubleMilliseconds(absl::Now() - t0));
    t0 = absl::Now();
    v1::GetTraceRequest get;
    get.set_trace_id(id);
    auto artifact = engine.Get(get);
    const std::string json = collector::ArtifactJson(*artifact).dump();
    get_ms.push_back(absl::ToDoubleMilliseconds(absl::Now() - t0));
    t0 = absl::Now();
    const std::string html = collector::RenderReport(*artifact);
    report_ms.push_back(absl::ToDoubleMilliseconds(absl::Now() - t0));
    if (i == 0) {
      std::printf("   one trace: %d hops, %zu events, JSON %zu bytes, report %zu bytes\n",
                  artifact->hops_size(), raw->size(), json.size(), html.size());
    }
  }
  // A page of 100 rows as the API answers it; by outcome, and by an actor (whose traces are
  // under two actor sets, the succeeded and the failed ones: their lists are merged).
  auto page = [&](const v1::ListTracesRequest& list, std::vector<double>* ms, const char* what) {
    const absl::Time t0 = absl::Now();
    auto r = engine.List(list);
    nlohmann::json rows = nlohmann::json::array();
    for (const auto& s : r->traces()) rows.push_back(SummaryJson(s));
    const std::string body = rows.dump();
    ms->push_back(absl::ToDoubleMilliseconds(absl::Now() - t0));
    if (ms->size() == 1) std::printf("   list: %d %s per page\n", r->traces_size(), what);
  };
  for (int i = 0; i < 300; ++i) {
    v1::ListTracesRequest list;
    list.set_outcome(v1::OUTCOME_FAILED);
    list.set_limit(100);
    page(list, &list_ms, "failed traces");
    v1::ListTracesRequest by_actor;
    by_actor.set_actor("actor-25");
    by_actor.set_limit(100);
    page(by_actor, &actor_ms, "traces through actor-25");
  }
  std::printf("baseline raw read of a trace's events + captures: p50 %6.2f ms  p99 %6.2f ms\n",
              Percentile(raw_ms, .5), Percentile(raw_ms, .99));
  std::printf(
      "GET trace (artifact + JSON):                      p50 %6.2f ms  p99 %6.2f ms  "
      "(%.1fx the raw read at p99)\n",
      Percentile(get_ms, .5), Percentile(get_ms, .99),
      Percentile(get_ms, .99) / Percentile(raw_ms, .99));
  std::printf("HTML report render (50 hops):                     p50 %6.2f ms  p99 %6.2f ms\n",
              Percentile(report_ms, .5), Percentile(report_ms, .99));
  std::printf("list 100 failed traces (+ JSON):                  p50 %6.2f ms  p99 %6.2f ms\n",
              Percentile(list_ms, .5), Percentile(list_ms, .99));
  std::printf("list 100 traces through an actor (+ JSON):        p50 %6.2f ms  p99 %6.2f ms\n",
              Percentile(actor_ms, .5), Percentile(actor_ms, .99));
}

}  // namespace
}  // namespace meshtrace

int main(int argc, char** argv) {
  meshtrace::InitLogging("collector-bench", "warn");
  std::string mode = "all";
  size_t events = 0, traces = 100'000;
  int streams = 2;
  // Unacked batches per stream in `ingest`. The driver stands in for 24 sidecars, each of which
  // keeps up to 64 batches unacked: 16 per stream is 32 in flight, ~1.3 per sidecar. With 8
  // (0.7 per sidecar, each waiting for its ack before sending more) the collector sat partly
  // idle between writes, and the run measured the driver's window rather than the collector.
  int inflight = 16;
  double rate = 50'000;
  std::vector<std::string> collector_env;
  CLI::App app{
      "collector_bench: the collector's ingest, completion, memory and queries "
      "(docs/PERFORMANCE.md)"};
  app.add_option("mode", mode, "what to run")
      ->check(CLI::IsMember({"all", "ingest", "complete", "memory", "query"}));
  app.add_option("--events", events, "events to ingest, or in the query store");
  app.add_option("--traces", traces, "open traces for memory")->check(CLI::PositiveNumber);
  app.add_option("--streams", streams, "gRPC streams of ingest")->check(CLI::PositiveNumber);
  app.add_option("--inflight", inflight, "unacked batches per stream")->check(CLI::PositiveNumber);
  app.add_option("--rate", rate, "events/s of complete")->check(CLI::PositiveNumber);
  app.add_option("--writer-shards", meshtrace::g_writer_shards, "the collector's writer shards")
      ->check(CLI::PositiveNumber);
  app.add_flag("--by-trace", meshtrace::g_ingest_by_trace, "ingest whole traces one by one");
  app.add_option("--collector-bin", meshtrace::g_collector_bin, "the collector build to run");
  app.add_option("--collector-env", collector_env,
                 "K=V for the collector's environment (repeatable)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;  // a usage error exits 2, as the project's binaries do
  }
  for (const std::string& kv : collector_env) {
    meshtrace::g_collector_env[kv.substr(0, kv.find('='))] = kv.substr(kv.find('=') + 1);
  }
  meshtrace::bench::PrintMachinePhase("at the start");
  if (mode == "ingest" || mode == "all")
    meshtrace::Ingest(events ? events : 2'000'000, streams, inflight);
  if (mode == "complete" || mode == "all") meshtrace::Complete(rate);
  if (mode == "memory" || mode == "all") meshtrace::Memory(traces);
  if (mode == "query" || mode == "all") meshtrace::Query(events ? events : 1'000'000);
  meshtrace::bench::PrintMachinePhase("at the end");
  return 0;
}
