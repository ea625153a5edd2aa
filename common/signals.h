#pragma once

#include <functional>

namespace meshtrace {

// Blocks SIGINT and SIGTERM in the calling thread and every thread it starts afterwards (call
// it first thing in main), ignores SIGPIPE, and runs `on_stop(signal)` on a detached thread
// of its own when a stop signal arrives.
void HandleStopSignals(std::function<void(int)> on_stop);

}  // namespace meshtrace
