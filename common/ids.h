#pragma once

#include <string>

namespace meshtrace {

// A random (version 4) UUID in canonical lower-case form, e.g.
// "5f0c7e3a-2b7d-4a8e-9c1e-3f2a1b0c9d8e". Thread-safe.
std::string NewUuid4();

}  // namespace meshtrace
