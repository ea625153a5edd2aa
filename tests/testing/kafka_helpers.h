#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace meshtrace::testing {

// Produces each value to `topic` and waits until all are acknowledged. With `partitions` > 0
// message i goes to partition i % partitions (librdkafka's mock keeps only ~5 MB per
// partition, so large backlogs must be spread); otherwise the partitioner decides.
absl::Status ProduceAll(const std::string& brokers, const std::string& topic,
                        const std::vector<std::string>& values, int partitions = 0);

// Reads `topic` (every partition, from the beginning) until `want` messages or `timeout`.
std::vector<std::string> ConsumeAll(const std::string& brokers, const std::string& topic,
                                    size_t want, absl::Duration timeout);

}  // namespace meshtrace::testing
