#pragma once

#include <cstdint>
#include <string>

namespace meshtrace::replayer {

struct DemoOptions {
  std::string dir = "meshtrace-demo";  // data, sockets, logs and reports go here
  int envelopes = 300;
  uint32_t seed = 42;
  double fail_rate = 0.1;  // share of sign-ups whose card is declined at setup-payment
  int grpc_port = 7700;
  int http_port = 7701;
  bool keep_running = false;
  // An actor whose pod is down: its sidecar and runtime start only once every trace has
  // settled, so what is sent to it waits in its queue, the collector (stall timeout 5 s) names
  // where each trace stopped, and then proves the stalled traces complete after all.
  std::string lose;
  // Tap mode: every runtime behind meshtrace-tap, which alone reports to the collector; the
  // sidecars stand in for Asya's and send no events of their own.
  bool tap = false;
  std::string bin_dir;  // where meshtrace-collector, -sidecar and -example-runtime are
};

// The embedded default (DESIGN.md §9): starts, as child processes on loopback, a Kafka
// (`meshtrace dev-kafka`), a collector, and an onboarding mesh (create-account → issue-token
// → setup-payment → send-welcome, plus x-sink and x-sump), each actor a sidecar and an example
// runtime; produces `envelopes` sign-ups, waits until every trace has settled, and prints a
// summary (with `lose`: the stalled transits by where they stopped, then the same traces once
// the actor is back), report paths, the UI address and a replay command. With `keep_running`
// it then waits for Ctrl-C. A sidecar that dies is restarted (up to 3 times, as Kubernetes
// would); children never outlive it. Returns the exit code: 0, 1 when the mesh did not settle
// or a child died, 2 for a port in use or a bad option.
int RunDemo(const DemoOptions& options);

}  // namespace meshtrace::replayer
