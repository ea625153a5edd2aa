#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "replayer/query_client.h"

namespace meshtrace::replayer {

struct FailedReports {
  int written = 0;
  std::string index;         // DIR/index.html
  std::string first_report;  // the newest failed trace's report ("" when none)
};

// Writes the HTML report of every failed trace started after `since_ns` (0 = any) into `dir`
// (created if missing), one file per trace named after its id, plus an index.html linking
// them with their headlines.
absl::StatusOr<FailedReports> WriteFailedReports(QueryClient& client, int64_t since_ns,
                                                 const std::string& dir);

bool WriteFile(const std::string& path, const std::string& body);

}  // namespace meshtrace::replayer
