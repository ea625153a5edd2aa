#pragma once

#include "tap/tap_config.h"

namespace meshtrace::tap {

// Runs the tap as configured, on the calling thread, until the runtime exits (launcher: its
// exit status is returned) or a stop signal arrives (proxy: 0). 1 when the tap cannot serve
// (its socket cannot be bound, the metrics port is taken), 2 when its redaction rules cannot
// be applied.
int RunTap(const TapConfig& config);

// main(): configuration from the environment (and flags in proxy mode), then RunTap.
int TapMain(int argc, char** argv);

}  // namespace meshtrace::tap
