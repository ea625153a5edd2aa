// Replay costs, beside a baseline from the same run (docs/PERFORMANCE.md):
//   overhead  per-replay time of ReplayHop (capture checks, envelope rewrite with the replay
//             header, the call, the frame-by-frame comparison) against a raw POST /invoke loop
//             of the same envelope on the same runtime (the example runtime, echo handler);
//   pacing    `replay --sump --rate R` over many failed hops: achieved rate against R.
// Usage: replay_bench [--calls N] [--rate R] [--hops N]
#include <filesystem>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "common/clock.h"
#include "common/runtime_client.h"
#include "replayer/batch_replay.h"
#include "replayer/replay.h"
#include "tests/replayer/fake_query_client.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"

namespace meshtrace {
namespace {

const std::string kBin = MESHTRACE_BIN_DIR;

std::string Envelope(const std::string& id) { return testing::FakeQueryClient::Envelope(id); }
v1::Hop FailedHop(const std::string& id) { return testing::FakeQueryClient::FailedHop(id); }

}  // namespace
}  // namespace meshtrace

int main(int argc, char** argv) {
  using namespace meshtrace;
  int calls = 5000, hops = 300;
  double rate = 100;
  for (int i = 1; i + 1 < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--calls") calls = std::stoi(argv[i + 1]);
    if (flag == "--rate") rate = std::stod(argv[i + 1]);
    if (flag == "--hops") hops = std::stoi(argv[i + 1]);
  }
  testing::TempDir dir;
  auto runtime = testing::Subprocess::Start(
      {kBin + "/meshtrace-example-runtime", "--socket-dir", dir.path(), "--handler", "echo"});
  for (int i = 0; i < 200 && !std::filesystem::exists(dir.File("runtime-ready")); ++i) {
    absl::SleepFor(absl::Milliseconds(25));
  }
  const std::string socket = dir.File("asya-runtime.sock");
  const std::string body = Envelope("e1");
  const v1::Hop hop = FailedHop("e1");

  // Interleaved rounds, so that drift on this noisy machine hits both alike.
  absl::Duration raw_total, replay_total;
  const int rounds = 5;
  for (int round = 0; round < rounds; ++round) {
    auto client = NewUdsRuntimeClient(socket);
    absl::Time t0 = absl::Now();
    for (int i = 0; i < calls / rounds; ++i) {
      RuntimeReply r = client->Invoke(body, absl::Seconds(5));
      if (r.kind != RuntimeReply::Kind::kFrames) std::cerr << "raw call failed\n";
    }
    raw_total += absl::Now() - t0;
    t0 = absl::Now();
    for (int i = 0; i < calls / rounds; ++i) {
      auto rt = NewUdsRuntimeClient(socket);
      replayer::ReplayResult r =
          replayer::ReplayHop("t", hop, rt.get(), absl::Seconds(5), false, false);
      if (!r.now_succeeds) std::cerr << "replay failed\n";
    }
    replay_total += absl::Now() - t0;
  }
  const double raw_us = absl::ToDoubleMicroseconds(raw_total) / calls;
  const double replay_us = absl::ToDoubleMicroseconds(replay_total) / calls;
  std::printf("== replay overhead: %d calls of a %zu-byte envelope to the example runtime (echo)\n",
              calls, body.size());
  std::printf("baseline raw POST /invoke loop:  %8.1f us per call\n", raw_us);
  std::printf("meshtrace ReplayHop:             %8.1f us per replay  (overhead %.1f us, %.2fx)\n",
              replay_us, replay_us - raw_us, replay_us / raw_us);

  testing::FakeQueryClient fake(hops);
  replayer::BatchReplayOptions options;
  options.rate = rate;
  std::ostringstream progress;
  const absl::Time t0 = absl::Now();
  auto summary = replayer::RunBatchReplay(
      fake, [&socket] { return NewUdsRuntimeClient(socket); }, Clock::Real(), options, nullptr,
      progress, false);
  const double seconds = absl::ToDoubleSeconds(absl::Now() - t0);
  // N replays paced at R take (N - 1) / R seconds from the first to the last start.
  const double achieved = (hops - 1) / seconds;
  std::printf("== batch pacing: %d failed hops at --rate %.0f/s\n", hops, rate);
  std::printf("achieved %.2f replays/s (%+.2f%% of the requested rate); %d replayed\n", achieved,
              (achieved / rate - 1) * 100, summary.ok() ? summary->replayed : -1);
  return 0;
}
