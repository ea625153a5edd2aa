// Load driver: envelopes/s through one meshtrace-sidecar process with the example runtime's
// echo handler, and the sidecar's CPU per envelope (from /proc/<pid>/stat, i.e. the kernel's
// rusage accounting), with lifecycle events + payload capture off and on in the same run.
// A first run calls the runtime directly (no Kafka, no sidecar) as the baseline of what the
// runtime itself costs.
//
//   build-release/bin/sidecar_bench [--envelopes N] [--payload-bytes B] [--only off|on|side]
//                                   [--rate R] [--repeat K] [--side-by-side S]
//                                   [--sidecar-env K=V] [--sidecar-bin PATH] [--compare-bin PATH]
//
// Each mode runs at top speed (the input is in the topic before the sidecar starts) and paced
// (fed at R envelopes/s, default 10,000, a pace both modes keep), K times (default 3), the
// modes alternating; the table shows medians, and the events overhead is taken pair by pair.
// Then K times an events-off and an events-on sidecar run side by side, at the same time, each
// fed at S envelopes/s (default 7,500; 0 skips), which takes the machine's drift out of each pair.
// With --compare-bin PATH those pairs run that build beside --sidecar-bin's, both with events on:
// two builds compared under the same drift.
#include <grpcpp/grpcpp.h>
#include <httplib.h>
#include <librdkafka/rdkafkacpp.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <deque>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "bench/machine_phase.h"
#include "common/runtime_client.h"
#include "meshtrace/v1/collector.grpc.pb.h"
#include "replayer/dev_kafka.h"
#include "tests/testing/collector_stub.h"
#include "tests/testing/kafka_helpers.h"
#include "tests/testing/ports.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"

namespace {

using namespace meshtrace;

std::map<std::string, std::string> g_sidecar_env;
std::string g_sidecar_bin = std::string(MESHTRACE_BIN_DIR) + "/meshtrace-sidecar";  // --sidecar-bin
// Partitions of each input topic. librdkafka's mock broker keeps only ~5 MB per partition (it
// drops the oldest beyond that): main raises this so that each holds at most ~3.5 MB (~6,000
// envelopes of ~590 bytes).
int g_input_partitions = 32;

struct ProcStat {
  double cpu_seconds = 0;
  double user_seconds = 0;
  long rss_kib = 0;
};

ProcStat ReadProc(pid_t pid) {
  ProcStat s;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string content((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  auto close = content.rfind(')');
  std::istringstream in(content.substr(close + 2));
  std::vector<std::string> f;
  std::string tok;
  while (in >> tok) f.push_back(tok);
  // Fields after ')' start at field 3 (state); utime is field 14, stime 15.
  double ticks = sysconf(_SC_CLK_TCK);
  s.cpu_seconds = (std::stod(f[11]) + std::stod(f[12])) / ticks;
  s.user_seconds = std::stod(f[11]) / ticks;
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) s.rss_kib = std::stol(line.substr(6));
  }
  return s;
}

std::string MakeEnvelope(int i, size_t payload_bytes, const std::string& actor = "echo") {
  std::string filler(payload_bytes > 40 ? payload_bytes - 40 : 0, 'x');
  return R"({"id":"bench-)" + std::to_string(i) + R"(","route":{"prev":[],"curr":")" + actor +
         R"(","next":[]},"headers":{"trace_id":"t-)" + std::to_string(i) + R"("},"payload":{"i":)" +
         std::to_string(i) + R"(,"data":")" + filler + "\"}}";
}

struct Result {
  double envelopes_per_second = 0;
  double cpu_us_per_envelope = 0;
  double user_us_per_envelope = 0;    // of which in user space (the rest is the kernel's)
  long rss_mib = 0;                   // the peak between 10 % and 100 % processed
  double driver_us_per_envelope = 0;  // this process: mock Kafka, feeder, stand-in collector
};

// messages_processed_total summed over statuses, read from the sidecar's /metrics.
double Processed(httplib::Client& client) {
  auto res = client.Get("/metrics");
  if (!res || res->status != 200) return -1;
  double total = 0;
  std::istringstream in(res->body);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("asya_actor_messages_processed_total{", 0) == 0) {
      total += std::stod(line.substr(line.rfind(' ') + 1));
    }
  }
  return total;
}

// Produces `inputs` to `topic` at `rate` envelopes/s (spread over g_input_partitions) until all
// are sent or `stop`. The pace starts once the sidecar on `metrics_port` processed the first
// envelope (it has joined its consumer group), so no backlog builds up before it.
void Feed(const std::string& brokers, const std::string& topic,
          const std::vector<std::string>& inputs, double rate, int metrics_port,
          const std::atomic<bool>& stop) {
  std::string err;
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  conf->set("bootstrap.servers", brokers, err);
  conf->set("linger.ms", "20", err);
  conf->set("log_level", "3", err);
  std::unique_ptr<RdKafka::Producer> producer(RdKafka::Producer::create(conf.get(), err));
  if (!producer) {
    std::fprintf(stderr, "feeder: %s\n", err.c_str());
    std::exit(1);
  }
  auto produce = [&](size_t i) {
    const std::string& value = inputs[i];
    while (producer->produce(topic, static_cast<int32_t>(i % g_input_partitions),
                             RdKafka::Producer::RK_MSG_COPY, const_cast<char*>(value.data()),
                             value.size(), nullptr, 0, 0, nullptr) == RdKafka::ERR__QUEUE_FULL) {
      producer->poll(10);
    }
  };
  produce(0);
  producer->flush(10000);
  httplib::Client client("127.0.0.1", metrics_port);
  while (!stop && Processed(client) < 1) absl::SleepFor(absl::Milliseconds(10));
  const absl::Time start = absl::Now();
  size_t sent = 1;  // input 0 went before the pace started
  while (sent < inputs.size() && !stop) {
    // Due by now: input 0, then one at the start and one per 1/rate seconds after it.
    const double elapsed = absl::ToDoubleSeconds(absl::Now() - start);
    const size_t due = std::min(inputs.size(), 2 + static_cast<size_t>(elapsed * rate));
    for (; sent < due; ++sent) produce(sent);
    producer->poll(0);
    absl::SleepFor(absl::Milliseconds(2));
  }
  producer->flush(10000);
}

// The stand-in collector's load without a sidecar sending it. In the events-off runs this
// process sends the collector what a sidecar with capture on would send for the envelopes
// processed so far (three events each, with the envelope as the input and output captures), so
// that both runs of a pair carry the same collector work on the shared cores and their
// difference is the sidecar's own capture and emission.
class BackgroundEvents {
 public:
  BackgroundEvents(const std::string& collector, size_t payload_bytes,
                   const std::atomic<double>& processed)
      : processed_(processed),
        batches_(EncodeBatches(payload_bytes)),
        thread_([this, collector] { Run(collector, batches_); }) {}
  ~BackgroundEvents() {
    stop_ = true;
    thread_.join();
  }

 private:
  // 16 batches of 512 events, encoded before the clock starts and sent over and over (the
  // repeats cost the stand-in what new events do: it decodes their identities and looks them up).
  static std::vector<std::string> EncodeBatches(size_t payload_bytes) {
    static std::atomic<int> instances{0};
    const std::string source = "background-" + std::to_string(++instances);
    std::vector<std::string> batches;
    uint64_t sequence = 0;
    for (int b = 1; b <= 16; ++b) {
      v1::EventBatch batch;
      batch.set_batch_id(b);
      for (int i = 0; i < 512; ++i) {
        const uint64_t seq = ++sequence;
        const int envelope = static_cast<int>(seq / 3);
        v1::LifecycleEvent* e = batch.add_events();
        e->set_source_id(source);
        e->set_sequence(seq);
        e->set_trace_id("t-" + std::to_string(envelope));
        e->set_envelope_id("bench-" + std::to_string(envelope));
        e->set_actor("echo");
        e->set_time_ns(absl::ToUnixNanos(absl::Now()));
        e->mutable_route()->set_curr("echo");
        if (seq % 3 == 0) {
          e->mutable_received()->set_topic("asya-echo");
          e->mutable_received()->set_offset(envelope);
          e->mutable_received()->mutable_input()->set_envelope_json(
              MakeEnvelope(envelope, payload_bytes));
        } else if (seq % 3 == 1) {
          e->mutable_runtime_result()->set_http_status(200);
          e->mutable_runtime_result()->set_frame_count(1);
        } else {
          e->mutable_routed()->set_envelope_id("bench-" + std::to_string(envelope));
          e->mutable_routed()->set_destination("asya-x-sink");
          e->mutable_routed()->mutable_output()->set_envelope_json(
              MakeEnvelope(envelope, payload_bytes));
        }
      }
      batches.push_back(batch.SerializeAsString());
    }
    return batches;
  }

  void Run(const std::string& collector, const std::vector<std::string>& batches) {
    auto channel = grpc::CreateChannel(collector, grpc::InsecureChannelCredentials());
    grpc::ClientContext context;
    static const grpc::internal::RpcMethod kIngest("/meshtrace.v1.Collector/Ingest",
                                                   grpc::internal::RpcMethod::BIDI_STREAMING);
    std::unique_ptr<grpc::ClientReaderWriter<grpc::ByteBuffer, grpc::ByteBuffer>> stream(
        grpc::internal::ClientReaderWriterFactory<grpc::ByteBuffer, grpc::ByteBuffer>::Create(
            channel.get(), kIngest, &context));
    std::thread acks([&] {
      grpc::ByteBuffer ack;
      while (stream->Read(&ack)) {
      }
    });
    size_t sent = 0;  // events
    while (!stop_) {
      while (!stop_ && static_cast<double>(sent + 512) <= 3 * processed_.load()) {
        const std::string& bytes = batches[(sent / 512) % batches.size()];
        grpc::Slice slice(bytes.data(), bytes.size(), grpc::Slice::STATIC_SLICE);
        grpc::ByteBuffer buffer(&slice, 1);
        if (!stream->Write(buffer)) stop_ = true;
        sent += 512;
      }
      absl::SleepFor(absl::Milliseconds(5));
    }
    stream->WritesDone();
    context.TryCancel();
    acks.join();
    (void)stream->Finish();
  }

  const std::atomic<double>& processed_;
  const std::vector<std::string> batches_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// Runs one sidecar over `n` envelopes and measures the steady state between 10% and 100%
// processed, from the sidecar's own counters and /proc. With `rate` 0 the whole input is in
// the topic before the sidecar starts (its top speed); otherwise it is fed at `rate`/s while
// the sidecar runs (the CPU it takes at the same pace, events on or off).
Result RunSidecar(const std::string& brokers, int n, size_t payload_bytes,
                  const std::string& collector, const std::string& background_collector,
                  const std::string& group_suffix, double rate,
                  const std::string& sidecar_bin = g_sidecar_bin) {
  Result result;
  std::vector<std::string> inputs;
  inputs.reserve(n);
  for (int i = 0; i < n; ++i)
    inputs.push_back(MakeEnvelope(i, payload_bytes, "echo-" + group_suffix));
  const std::string topic = "asya-echo-" + group_suffix;
  // Unpaced, the whole input is in the topic before the sidecar starts, so nothing else runs
  // while it is measured. librdkafka's mock broker keeps only ~5 MB per partition: the input is
  // spread over g_input_partitions.
  if (absl::Status st = rate > 0 ? absl::OkStatus()
                                 : testing::ProduceAll(brokers, topic, inputs, g_input_partitions);
      !st.ok()) {
    std::fprintf(stderr, "filling the input topic failed: %s\n", st.ToString().c_str());
    std::exit(1);
  }
  testing::TempDir dir;
  const std::string bin = MESHTRACE_BIN_DIR;
  auto runtime = testing::Subprocess::Start(
      {bin + "/meshtrace-example-runtime", "--socket-dir", dir.path(), "--handler", "echo"});
  const int port = testing::FreePort();
  std::map<std::string, std::string> env = {
      {"ASYA_ACTOR_NAME", "echo-" + group_suffix},
      {"ASYA_KAFKA_BROKERS", brokers},
      {"ASYA_SOCKET_DIR", dir.path()},
      {"ASYA_METRICS_ADDR", "127.0.0.1:" + std::to_string(port)},
      {"ASYA_LOG_LEVEL", "warn"},
      {"MESHTRACE_COLLECTOR", collector}};
  env.insert(g_sidecar_env.begin(), g_sidecar_env.end());
  auto sidecar = testing::Subprocess::Start({sidecar_bin}, env);
  httplib::Client client("127.0.0.1", port);
  std::atomic<bool> stop_feeding{false};
  std::thread feeder;
  if (rate > 0) {
    feeder = std::thread([&] { Feed(brokers, topic, inputs, rate, port, stop_feeding); });
  }
  std::atomic<double> processed{0};
  std::optional<BackgroundEvents> background;
  if (!background_collector.empty())
    background.emplace(background_collector, payload_bytes, processed);
  // Waits until `count` envelopes are processed; exits when progress stops for 30 s. Samples
  // the sidecar's RSS as it goes: at top speed it peaks mid-run, with librdkafka's prefetch
  // queue full, and is back down once the input is drained.
  long peak_rss_kib = 0;
  auto wait_for = [&](double count) {
    double seen = 0, last = -1;
    absl::Time progressed = absl::Now();
    // Scrapes cost the sidecar CPU too: poll gently.
    while ((seen = Processed(client)) < count) {
      processed = seen;
      peak_rss_kib = std::max(peak_rss_kib, ReadProc(sidecar->pid()).rss_kib);
      if (seen != last) last = seen, progressed = absl::Now();
      if (absl::Now() - progressed > absl::Seconds(30)) {
        std::fprintf(stderr, "the sidecar stopped at %.0f of %.0f envelopes\n", seen, count);
        std::exit(1);
      }
      absl::SleepFor(absl::Milliseconds(50));
    }
    return seen;
  };
  double c0 = wait_for(n / 10.0);
  peak_rss_kib = 0;
  ProcStat start = ReadProc(sidecar->pid());
  ProcStat driver_start = ReadProc(getpid());
  absl::Time t0 = absl::Now();
  double c1 = wait_for(n);
  absl::Time t1 = absl::Now();
  ProcStat end = ReadProc(sidecar->pid());
  ProcStat driver_end = ReadProc(getpid());
  stop_feeding = true;
  if (feeder.joinable()) feeder.join();
  background.reset();
  result.envelopes_per_second = (c1 - c0) / absl::ToDoubleSeconds(t1 - t0);
  result.cpu_us_per_envelope = (end.cpu_seconds - start.cpu_seconds) * 1e6 / (c1 - c0);
  result.user_us_per_envelope = (end.user_seconds - start.user_seconds) * 1e6 / (c1 - c0);
  result.rss_mib = std::max(peak_rss_kib, end.rss_kib) / 1024;
  result.driver_us_per_envelope =
      (driver_end.cpu_seconds - driver_start.cpu_seconds) * 1e6 / (c1 - c0);
  sidecar->Signal(SIGTERM);
  (void)sidecar->Wait(absl::Seconds(30));
  runtime->Signal(SIGTERM);
  (void)runtime->Wait();
  return result;
}

// The runtime alone: /invoke calls in a loop from one client, no Kafka and no sidecar, kept
// in flight as the sidecar keeps them by default (6; a burst of 3 whenever 3 are done).
double RuntimeOnly(int n, size_t payload_bytes) {
  testing::TempDir dir;
  const std::string bin = MESHTRACE_BIN_DIR;
  auto runtime = testing::Subprocess::Start(
      {bin + "/meshtrace-example-runtime", "--socket-dir", dir.path(), "--handler", "echo"});
  struct stat st;
  while (stat(dir.File("runtime-ready").c_str(), &st) != 0) absl::SleepFor(absl::Milliseconds(5));
  auto client = NewUdsRuntimeClient(dir.File("asya-runtime.sock"));
  std::string body = MakeEnvelope(0, payload_bytes);
  constexpr size_t kPipeline = 6;
  std::deque<std::unique_ptr<RuntimeCall>> in_flight;
  int started = 0;
  absl::Time t0 = absl::Now();
  while (started < n || !in_flight.empty()) {
    if (in_flight.size() <= kPipeline / 2) {
      while (in_flight.size() < kPipeline && started < n) {
        in_flight.push_back(client->Start(body));
        ++started;
      }
    }
    client->Complete(*in_flight.front(), absl::Seconds(5));
    in_flight.pop_front();
  }
  double rate = n / absl::ToDoubleSeconds(absl::Now() - t0);
  runtime->Signal(SIGTERM);
  (void)runtime->Wait();
  return rate;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty()      ? 0
         : v.size() % 2 ? v[v.size() / 2]
                        : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

// One line of the table: the median of the repeats, and their range.
void PrintRow(const std::string& name, const std::vector<Result>& runs) {
  if (runs.empty()) return;
  std::vector<double> rate, cpu, user, rss, driver;
  for (const Result& r : runs) {
    driver.push_back(r.driver_us_per_envelope);
    rate.push_back(r.envelopes_per_second);
    cpu.push_back(r.cpu_us_per_envelope);
    user.push_back(r.user_us_per_envelope);
    rss.push_back(static_cast<double>(r.rss_mib));
  }
  std::printf("%-48s %12.0f %11.1f %11.1f %8.0f %9.1f-%-5.1f %10.1f\n", name.c_str(), Median(rate),
              Median(cpu), Median(user), Median(rss), *std::min_element(cpu.begin(), cpu.end()),
              *std::max_element(cpu.begin(), cpu.end()), Median(driver));
}

// CPU per envelope with events on against off, run by run (each pair ran back to back).
std::string Overheads(const std::vector<Result>& off, const std::vector<Result>& on) {
  std::vector<double> ratios;
  std::string each;
  for (size_t i = 0; i < std::min(off.size(), on.size()); ++i) {
    ratios.push_back((on[i].cpu_us_per_envelope / off[i].cpu_us_per_envelope - 1) * 100);
    each += (each.empty() ? "" : ", ") + absl::StrFormat("%+.1f%%", ratios.back());
  }
  return absl::StrFormat("median %+.1f%% (runs: %s)", Median(ratios), each);
}

}  // namespace

int main(int argc, char** argv) {
  int n = 100000;
  size_t payload_bytes = 512;
  double paced_rate = 10000;  // below what either mode reaches; 0 skips the paced runs
  int repeat = 3;
  // Each of two sidecars at once, events off and on (0 skips): see "side by side" below.
  double side_rate = 7500;
  // "off" or "on": run just that sidecar (for profiling); "side": only the side-by-side pairs.
  std::string only;
  // Another build: each side-by-side pair then runs it beside --sidecar-bin's, both with events
  // on, so that two builds are compared under the same drift.
  std::string compare_bin;
  std::vector<std::string> sidecar_env;
  CLI::App app{
      "sidecar_bench: one sidecar's throughput and CPU per envelope, events off and on "
      "(docs/PERFORMANCE.md)"};
  app.add_option("--envelopes", n, "envelopes per run")->check(CLI::PositiveNumber);
  app.add_option("--payload-bytes", payload_bytes, "payload size of each envelope");
  app.add_option("--repeat", repeat, "runs of each mode")->check(CLI::PositiveNumber);
  app.add_option("--rate", paced_rate, "pace of the paced runs, envelopes/s (0 skips them)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--side-by-side", side_rate, "pace of each side-by-side sidecar (0 skips them)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--only", only, "run only this mode")->check(CLI::IsMember({"off", "on", "side"}));
  app.add_option("--sidecar-bin", g_sidecar_bin, "the sidecar build to measure");
  app.add_option("--compare-bin", compare_bin, "another build, run beside --sidecar-bin's");
  app.add_option("--sidecar-env", sidecar_env, "K=V for the sidecars' environment (repeatable)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;  // a usage error exits 2, as the project's binaries do
  }
  for (const std::string& kv : sidecar_env) {
    g_sidecar_env[kv.substr(0, kv.find('='))] = kv.substr(kv.find('=') + 1);
  }
  const size_t envelope_bytes = MakeEnvelope(n, payload_bytes).size();
  g_input_partitions = std::max<int>(32, n * envelope_bytes / 3'500'000 + 1);
  // x-sink exists before the sidecars start, as in a deployed mesh: created on the first send,
  // it would hold back the first second of sends (and their memory) while the broker creates it.
  std::vector<meshtrace::replayer::TopicSpec> topics = {{"asya-x-sink", 4}};
  for (int r = 1; r <= repeat; ++r) {
    for (const char* mode : {"off", "on", "paced-off", "paced-on", "side-off", "side-on"}) {
      topics.push_back(
          {"asya-echo-" + std::string(mode) + "-" + std::to_string(r), g_input_partitions});
    }
  }
  auto kafka = meshtrace::replayer::DevKafka::Start(1, topics);
  if (!kafka.ok()) return 1;
  const std::string brokers = (*kafka)->bootstraps();
  std::cout << "sidecar_bench: " << n << " envelopes of ~" << MakeEnvelope(0, payload_bytes).size()
            << " bytes, echo handler, one sidecar process, mock Kafka cluster; " << repeat
            << " runs of each mode, alternating\n";
  meshtrace::bench::PrintMachinePhase("at the start");

  double runtime_rate = RuntimeOnly(20000, payload_bytes);

  // The stand-in collector reads batch ids and event identities only and acknowledges every
  // batch: it keeps no copies and decodes no captures, to take as little as it can of the two
  // cores the measured sidecar runs on.
  meshtrace::testing::CollectorStub collector(0, /*keep_events=*/false);
  std::vector<Result> off, on, paced_off, paced_on;
  auto run = [&](bool events, const std::string& topic, double rate) {
    return RunSidecar(brokers, n, payload_bytes, events ? collector.address() : "",
                      events ? "" : collector.address(), topic, rate);
  };
  // Modes alternate, so that the machine's drift (±20 % over minutes) falls on both alike.
  for (int r = 1; r <= repeat; ++r) {
    const std::string k = "-" + std::to_string(r);
    if (only == "side") break;
    if (only != "on") off.push_back(run(false, "off" + k, 0));
    if (only != "off") on.push_back(run(true, "on" + k, 0));
    if (paced_rate > 0 && only != "on")
      paced_off.push_back(run(false, "paced-off" + k, paced_rate));
    if (paced_rate > 0 && only != "off") paced_on.push_back(run(true, "paced-on" + k, paced_rate));
  }
  // Side by side: an events-off and an events-on sidecar run at the same time, each fed at
  // `side_rate`, so that the machine's drift falls on both within each pair (in the pairs
  // above it still moves between two runs). Both share the stand-in collector's load, so the
  // events-off one needs no background events.
  // With --compare-bin the first of each pair is that build, with events on too.
  std::vector<Result> side_off, side_on;
  for (int r = 1; r <= repeat && side_rate > 0 && (only.empty() || only == "side"); ++r) {
    const std::string k = "-" + std::to_string(r);
    Result a;
    std::thread off_thread([&] {
      a = compare_bin.empty()
              ? RunSidecar(brokers, n, payload_bytes, "", "", "side-off" + k, side_rate)
              : RunSidecar(brokers, n, payload_bytes, collector.address(), "", "side-off" + k,
                           side_rate, compare_bin);
    });
    side_on.push_back(run(true, "side-on" + k, side_rate));
    off_thread.join();
    side_off.push_back(a);
  }

  std::printf("\nmedians of %d runs\n%-48s %12s %11s %11s %8s %15s %10s\n", repeat, "run",
              "envelopes/s", "CPU us/env", "of it user", "RSS peak", "CPU range", "driver us");
  std::printf("%-48s %12.0f %11s %11s %8s\n", "baseline: runtime /invoke alone, pipelined",
              runtime_rate, "-", "-", "-");
  const std::string paced = " at " + std::to_string(static_cast<int>(paced_rate)) + "/s";
  PrintRow("top speed, events off", off);
  PrintRow("top speed, events + payload capture on", on);
  PrintRow("paced" + paced + ", events off", paced_off);
  PrintRow("paced" + paced + ", events + payload capture on", paced_on);
  const std::string side = " at " + std::to_string(static_cast<int>(side_rate)) + "/s each";
  PrintRow("side by side" + side + (compare_bin.empty() ? ", events off" : ", --compare-bin"),
           side_off);
  PrintRow("side by side" + side + ", events + capture on", side_on);
  if (!off.empty() && !on.empty()) {
    std::printf("\ncapture+events CPU overhead at top speed: %s\n", Overheads(off, on).c_str());
  }
  if (!paced_off.empty() && !paced_on.empty()) {
    std::printf("capture+events CPU overhead paced: %s\n", Overheads(paced_off, paced_on).c_str());
  }
  if (!side_off.empty() && !side_on.empty()) {
    std::printf("%s side by side: %s\n",
                compare_bin.empty() ? "capture+events CPU overhead"
                                    : "--sidecar-bin's CPU against --compare-bin's",
                Overheads(side_off, side_on).c_str());
  }
  std::printf("events at the stand-in collector (sidecars' and background): %zu\n",
              collector.count());
  meshtrace::bench::PrintMachinePhase("at the end");
  return 0;
}
