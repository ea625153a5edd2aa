#include "tests/testing/collector_process.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/testing/ports.h"

namespace meshtrace::testing {
namespace {

bool Accepts(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  close(fd);
  return ok;
}

}  // namespace

absl::StatusOr<CollectorProcess> CollectorProcess::Start(const std::string& bin_dir,
                                                         const std::vector<std::string>& args) {
  for (int attempt = 0; attempt < 5; ++attempt) {
    CollectorProcess c;
    c.grpc_port = FreePort();
    c.http_port = FreePort();
    std::vector<std::string> argv = {bin_dir + "/meshtrace-collector",
                                     absl::StrCat("--grpc-listen=127.0.0.1:", c.grpc_port),
                                     absl::StrCat("--http-listen=127.0.0.1:", c.http_port)};
    argv.insert(argv.end(), args.begin(), args.end());
    auto p = Subprocess::Start(argv);
    if (!p.ok()) return p.status();
    c.process.emplace(*std::move(p));
    const absl::Time deadline = absl::Now() + absl::Seconds(20);
    bool up = false;
    while (absl::Now() < deadline) {
      if (c.process->Wait(absl::ZeroDuration()).ok()) break;  // exited: a port was taken
      if (Accepts(c.grpc_port) && Accepts(c.http_port)) {
        // Someone listens; make sure it is ours (a loser exits right after failing to bind).
        absl::SleepFor(absl::Milliseconds(300));
        up = !c.process->Wait(absl::ZeroDuration()).ok();
        break;
      }
      absl::SleepFor(absl::Milliseconds(20));
    }
    if (up) return c;
  }
  return absl::UnavailableError("meshtrace-collector did not start on free ports");
}

}  // namespace meshtrace::testing
