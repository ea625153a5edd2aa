// meshtrace-tap's cost: /invoke calls through the tap against the same runtime called
// directly, in alternating rounds of the same run (this VM's speed swings between phases).
//   tap_bench [--calls N] [--rounds N] [--payload-bytes N]
// Prints per mode the latency p50/p99 and calls/s, then what the tap adds, its CPU per call
// (with events and payload captures on, to a collector stub) and its peak RSS.
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "bench/machine_phase.h"
#include "common/runtime_client.h"
#include "common/unix_socket.h"
#include "tests/testing/collector_stub.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"

namespace meshtrace::bench {
namespace {

const std::string kBin = MESHTRACE_BIN_DIR;

struct Round {
  std::vector<double> us;  // per-call latency
  double seconds = 0;
};

Round Run(const std::string& socket, const std::string& envelope, int calls) {
  auto client = NewUdsRuntimeClient(socket);
  Round r;
  r.us.reserve(calls);
  const absl::Time start = absl::Now();
  for (int i = 0; i < calls; ++i) {
    const absl::Time t0 = absl::Now();
    RuntimeReply reply = client->Invoke(envelope, absl::Seconds(10));
    r.us.push_back(absl::ToDoubleMicroseconds(absl::Now() - t0));
    if (reply.kind != RuntimeReply::Kind::kFrames) {
      std::fprintf(stderr, "tap_bench: call %d failed\n", i);
      std::exit(1);
    }
  }
  r.seconds = absl::ToDoubleSeconds(absl::Now() - start);
  return r;
}

// Microseconds from sending an /invoke to reading its first SSE `downstream` event, per call.
std::vector<double> FirstFrames(const std::string& socket, const std::string& envelope, int calls) {
  const std::string request = absl::StrCat(
      "POST /invoke HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json"
      "\r\nContent-Length: ",
      envelope.size(), "\r\n\r\n", envelope);
  std::vector<double> us;
  char buf[65536];
  for (int i = 0; i < calls; ++i) {
    const int fd = DialUnixSocket(socket);
    if (fd < 0) std::exit(1);
    const absl::Time t0 = absl::Now();
    if (send(fd, request.data(), request.size(), MSG_NOSIGNAL) < 0) std::exit(1);
    std::string got;
    while (got.find("event: downstream") == std::string::npos) {
      const ssize_t n = read(fd, buf, sizeof(buf));
      if (n <= 0) std::exit(1);
      got.append(buf, static_cast<size_t>(n));
    }
    us.push_back(absl::ToDoubleMicroseconds(absl::Now() - t0));
    while (read(fd, buf, sizeof(buf)) > 0) {
    }
    close(fd);
  }
  return us;
}

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))];
}

// utime + stime of a process, in seconds.
double CpuSeconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(in, line);
  std::istringstream fields(line.substr(line.rfind(')') + 2));
  std::string f;
  double utime = 0, stime = 0;
  for (int i = 3; i <= 15 && fields >> f; ++i) {
    if (i == 14) utime = std::stod(f);
    if (i == 15) stime = std::stod(f);
  }
  return (utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

std::string PeakRss(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("VmHWM:", 0) == 0) return line.substr(6);
  }
  return "?";
}

// The example runtime with `handler` in dir/rt, and meshtrace-tap in front of it in dir/pub,
// sending events to `collector` (empty: none). Returns once the tap is ready.
struct Tapped {
  testing::TempDir dir;
  std::optional<testing::Subprocess> runtime;
  std::optional<testing::Subprocess> tap;
  std::string direct() const { return dir.path() + "/rt/asya-runtime.sock"; }
  std::string tapped() const { return dir.path() + "/pub/asya-runtime.sock"; }
};

std::unique_ptr<Tapped> StartTapped(const std::vector<std::string>& handler,
                                    const std::string& collector) {
  auto t = std::make_unique<Tapped>();
  std::filesystem::create_directories(t->dir.path() + "/rt");
  std::filesystem::create_directories(t->dir.path() + "/pub");
  std::vector<std::string> argv = {kBin + "/meshtrace-example-runtime", "--socket-dir",
                                   t->dir.path() + "/rt"};
  argv.insert(argv.end(), handler.begin(), handler.end());
  auto runtime = testing::Subprocess::Start(argv);
  auto tap = testing::Subprocess::Start(
      {kBin + "/meshtrace-tap", "--listen", t->dir.path() + "/pub", "--upstream", t->direct()},
      {{"MESHTRACE_COLLECTOR", collector},
       {"MESHTRACE_TAP_METRICS_ADDR", ""},
       {"MESHTRACE_LOG_LEVEL", "error"}});
  if (!runtime.ok() || !tap.ok()) return nullptr;
  t->runtime.emplace(*std::move(runtime));
  t->tap.emplace(*std::move(tap));
  for (int i = 0; i < 200 && !std::filesystem::exists(t->dir.path() + "/pub/runtime-ready"); ++i) {
    absl::SleepFor(absl::Milliseconds(50));
  }
  return t;
}

int Main(int argc, char** argv) {
  CLI::App app{"tap_bench: /invoke through meshtrace-tap against the same runtime directly"};
  int calls = 5000, rounds = 4;
  size_t payload_bytes = 1024;
  bool events = true;
  app.add_option("--calls", calls, "calls per round and mode")->check(CLI::Range(100, 1000000));
  app.add_option("--rounds", rounds, "alternating rounds")->check(CLI::Range(1, 100));
  app.add_option("--payload-bytes", payload_bytes, "payload size")->check(CLI::Range(1, 1 << 20));
  app.add_option("--events", events, "the tap sends events (with payload captures)");
  CLI11_PARSE(app, argc, argv);
  PrintMachinePhase("before");

  testing::CollectorStub collector(0, /*keep_events=*/false);
  const std::string events_to = events ? collector.address() : "";
  std::unique_ptr<Tapped> echo = StartTapped({"--handler", "echo"}, events_to);
  if (echo == nullptr) return 1;
  const std::string direct = echo->direct(), tapped = echo->tapped();
  const pid_t tap_pid = echo->tap->pid();
  const std::string envelope =
      absl::StrCat(R"({"id":"bench-1","route":{"prev":[],"curr":"a","next":["b"]},)",
                   R"("headers":{"trace_id":"bench-1"},"payload":{"blob":")",
                   std::string(payload_bytes, 'x'), R"("}})");
  Run(direct, envelope, 200);  // warm both paths
  Run(tapped, envelope, 200);

  Round all_direct, all_tapped;
  double tap_cpu = 0;
  for (int r = 0; r < rounds; ++r) {
    Round d = Run(direct, envelope, calls);
    const double cpu0 = CpuSeconds(tap_pid);
    Round t = Run(tapped, envelope, calls);
    tap_cpu += CpuSeconds(tap_pid) - cpu0;
    for (auto [from, to] : {std::pair{&d, &all_direct}, std::pair{&t, &all_tapped}}) {
      to->us.insert(to->us.end(), from->us.begin(), from->us.end());
      to->seconds += from->seconds;
    }
  }
  const double n = static_cast<double>(all_direct.us.size());
  const double d50 = Percentile(all_direct.us, 0.5), d99 = Percentile(all_direct.us, 0.99);
  const double t50 = Percentile(all_tapped.us, 0.5), t99 = Percentile(all_tapped.us, 0.99);
  std::printf("%-8s %10s %10s %12s\n", "mode", "p50 us", "p99 us", "calls/s");
  std::printf("%-8s %10.1f %10.1f %12.0f\n", "direct", d50, d99, n / all_direct.seconds);
  std::printf("%-8s %10.1f %10.1f %12.0f\n", "tap", t50, t99, n / all_tapped.seconds);
  std::printf("added by the tap: p50 %.1f us, p99 %.1f us; throughput %.1f %% of direct\n",
              t50 - d50, t99 - d99, 100.0 * all_direct.seconds / all_tapped.seconds);
  std::printf("tap CPU per call (events %s): %.1f us; peak RSS%s\n",
              events ? "and payload captures on" : "off", tap_cpu * 1e6 / n,
              PeakRss(tap_pid).c_str());
  if (events) {
    const size_t expected = 3 * (static_cast<size_t>(n) + 200);  // + the tapped warm-up calls
    collector.WaitForEvents(expected, absl::Seconds(5));
    std::printf("events received by the collector stub: %zu of %zu (3 per call)\n",
                collector.count(), expected);
  }

  // Time to the first SSE frame, a generator handler fanning out three frames.
  std::unique_ptr<Tapped> sse = StartTapped({"--handler", "fanout", "--fanout", "3"}, events_to);
  if (sse == nullptr) return 1;
  const std::string sse_direct = sse->direct(), sse_tapped = sse->tapped();
  std::vector<double> first_direct, first_tapped;
  for (int r = 0; r < rounds; ++r) {
    for (auto [socket, into] :
         {std::pair{&sse_direct, &first_direct}, std::pair{&sse_tapped, &first_tapped}}) {
      std::vector<double> us = FirstFrames(*socket, envelope, std::max(100, calls / 5));
      into->insert(into->end(), us.begin(), us.end());
    }
  }
  std::printf(
      "first SSE frame: direct p50 %.1f / p99 %.1f us, tap p50 %.1f / p99 %.1f us; "
      "added p99 %.1f us\n",
      Percentile(first_direct, 0.5), Percentile(first_direct, 0.99), Percentile(first_tapped, 0.5),
      Percentile(first_tapped, 0.99),
      Percentile(first_tapped, 0.99) - Percentile(first_direct, 0.99));
  PrintMachinePhase("after");
  return 0;
}

}  // namespace
}  // namespace meshtrace::bench

int main(int argc, char** argv) { return meshtrace::bench::Main(argc, argv); }
