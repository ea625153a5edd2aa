#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace meshtrace::testing {

// Produces each value to `topic` and waits until all are acknowledged.
absl::Status ProduceAll(const std::string& brokers, const std::string& topic,
                        const std::vector<std::string>& values);

// Reads `topic` (every partition, from the beginning) until `want` messages or `timeout`.
std::vector<std::string> ConsumeAll(const std::string& brokers, const std::string& topic,
                                    size_t want, absl::Duration timeout);

}  // namespace meshtrace::testing
