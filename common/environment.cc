#include "common/environment.h"

#include <unistd.h>

#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "common/absl_compat.h"

namespace meshtrace {

std::map<std::string, std::string> ProcessEnvironment() {
  std::map<std::string, std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string entry = *e;
    auto eq = entry.find('=');
    if (eq != std::string::npos) env[entry.substr(0, eq)] = entry.substr(eq + 1);
  }
  return env;
}

absl::StatusOr<uint64_t> ParseByteSize(const std::string& text) {
  std::string s = absl::AsciiStrToLower(AsAbsl(text));
  size_t digits = 0;
  while (digits < s.size() && absl::ascii_isdigit(s[digits])) ++digits;
  uint64_t n = 0;
  if (digits == 0 || !absl::SimpleAtoi(AsAbsl(std::string_view(s).substr(0, digits)), &n)) {
    return absl::InvalidArgumentError("not a size: " + text);
  }
  const std::string unit = s.substr(digits);
  static const std::vector<std::pair<std::string, uint64_t>> kUnits = {{"", 1},
                                                                       {"b", 1},
                                                                       {"k", 1000},
                                                                       {"kb", 1000},
                                                                       {"kib", 1 << 10},
                                                                       {"m", 1000000},
                                                                       {"mb", 1000000},
                                                                       {"mib", 1 << 20},
                                                                       {"g", 1000000000},
                                                                       {"gb", 1000000000},
                                                                       {"gib", 1ull << 30},
                                                                       {"t", 1000000000000},
                                                                       {"tb", 1000000000000},
                                                                       {"tib", 1ull << 40}};
  for (const auto& [name, factor] : kUnits) {
    if (unit == name) {
      if (n > UINT64_MAX / factor) return absl::InvalidArgumentError("size too large: " + text);
      return n * factor;
    }
  }
  return absl::InvalidArgumentError("unknown size unit in " + text);
}

}  // namespace meshtrace
