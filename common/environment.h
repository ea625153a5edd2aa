#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "absl/status/statusor.h"

namespace meshtrace {

// The environment of this process as a map (configuration readers take a map so tests can
// pass their own).
std::map<std::string, std::string> ProcessEnvironment();

// A size in configuration: "512MiB", "10GB", "1048576" (bytes; k/m/g/t are powers of 1000,
// KiB/MiB/GiB/TiB of 1024; case-insensitive) -> bytes.
absl::StatusOr<uint64_t> ParseByteSize(const std::string& text);

}  // namespace meshtrace
