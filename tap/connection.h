#pragma once

#include <cstddef>
#include <string>

#include "common/clock.h"
#include "tap/reporter.h"
#include "tap/tap_metrics.h"

namespace meshtrace::tap {

// What every client connection shares.
struct ConnectionContext {
  std::string upstream_path;  // the runtime's socket
  Reporter* reporter = nullptr;
  TapMetrics* metrics = nullptr;
  Clock* clock = Clock::Real();
  // Bodies larger than this are forwarded whole but not read for events (a request is then
  // not reported; a reply's outcome is unknown).
  size_t max_observed_body = 16u << 20;
  // How long a client whose runtime is unreachable may take to finish sending its request
  // (so it can be reported) before the tap closes the connection.
  absl::Duration unreachable_grace = absl::Seconds(2);
};

// Serves one accepted client connection until either side ends it (the caller closes
// `client_fd`). Bytes pass
// through as they arrive, in both directions, unchanged; the runtime's socket is dialled on the
// client's first byte (the stock sidecar's start-up probe carries none), one upstream
// connection per client connection, so keep-alive, HTTP/1.0 closes and streaming behave as
// they would without the tap. A runtime that cannot be reached, or that closes early, shows
// as a closed connection: the tap never writes a reply of its own.
void ServeConnection(int client_fd, const ConnectionContext& context);

}  // namespace meshtrace::tap
