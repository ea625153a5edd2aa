#pragma once

// Tests use the project's Subprocess (common/subprocess.h) under their own namespace.
#include "common/subprocess.h"

namespace meshtrace::testing {
using meshtrace::Run;
using meshtrace::RunResult;
using meshtrace::Subprocess;
}  // namespace meshtrace::testing
