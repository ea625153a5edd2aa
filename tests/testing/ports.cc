#include "tests/testing/ports.h"

#include <fstream>
#include <mutex>
#include <random>
#include <set>
#include <stdexcept>

#include "common/ports.h"

namespace meshtrace::testing {
namespace {

// The lowest port the kernel hands out for outgoing connections and bind(0). A range that
// reaches down to 20000 (not Linux's default) is taken as the default's 32768: ports from
// 20000 up may then be ephemeral, as bind(0)'s always are.
int EphemeralLow() {
  std::ifstream in("/proc/sys/net/ipv4/ip_local_port_range");
  int low = 32768;
  if (!(in >> low) || low <= 20000) low = 32768;
  return low;
}

}  // namespace

// Chosen below the ephemeral range: a port from bind(0) is from that range, and any outgoing
// connection made before the child listens (a Kafka or gRPC client of this or another
// process) may take it in between. No port is handed out twice by one process.
int FreePort() {
  static std::mutex mu;
  static std::set<int> given;
  static std::mt19937 random{std::random_device{}()};
  static const int high = EphemeralLow() - 1;
  std::lock_guard lock(mu);
  std::uniform_int_distribution<int> pick(20000, high);
  for (int tries = 0; tries < 1000; ++tries) {
    const int port = pick(random);
    if (given.count(port) == 0 && LoopbackPortFree(port)) {
      given.insert(port);
      return port;
    }
  }
  throw std::runtime_error("no free TCP port on 127.0.0.1 below the ephemeral range");
}

}  // namespace meshtrace::testing
