#pragma once

#include <string>

#include "meshtrace/v1/artifact.pb.h"

namespace meshtrace::collector {

// The trace as one self-contained HTML file (inline CSS, SVG and a little JS; no network):
// the verdict headline, anomalies, the planned against the taken route, a waterfall of hops
// (queue wait vs runtime), the fan-out tree, and per hop its input and outputs with a JSON
// diff between them, the error with its traceback and the replay command to copy.
std::string RenderReport(const v1::TraceArtifact& artifact);

}  // namespace meshtrace::collector
