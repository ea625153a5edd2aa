#include "common/settings.h"

#include <CLI/CLI.hpp>
#include <cctype>
#include <cstring>
#include <sstream>

#include "absl/strings/numbers.h"

namespace meshtrace {

ParsedSettings ParseSettings(CLI::App& app, const std::vector<SettingSource>& settings, int argc,
                             const char* const* argv,
                             const std::map<std::string, std::string>& env) {
  ParsedSettings result;
  std::map<std::string, std::string> flags;
  for (const SettingSource& s : settings) {
    app.add_option(s.flag, flags[s.key], s.help + " [" + s.variable + "]");
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    std::ostringstream out, err;
    result.done = true;
    result.exit_code = app.exit(e, out, err) == 0 ? 0 : 2;
    result.message = out.str() + err.str();
    return result;
  }
  for (const SettingSource& s : settings) {
    if (auto it = env.find(s.variable); it != env.end()) result.values[s.key] = it->second;
    if (app.count(s.flag) > 0) result.values[s.key] = flags[s.key];
  }
  return result;
}

std::string FlagForVariable(std::string variable) {
  for (const char* prefix : {"ASYA_", "MESHTRACE_"}) {
    if (variable.rfind(prefix, 0) == 0) variable = variable.substr(std::strlen(prefix));
  }
  for (char& c : variable) {
    c = c == '_' ? '-' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return "--" + variable;
}

absl::Status CheckListenAddress(const std::string& variable, const std::string& value) {
  const size_t colon = value.rfind(':');
  int port = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(value.substr(colon + 1), &port) || port < 0 ||
      port > 65535) {
    return BadSetting(variable, value, "expected [host]:port, e.g. :8080 or 127.0.0.1:9100");
  }
  return absl::OkStatus();
}

absl::Status BadSetting(const std::string& variable, const std::string& value,
                        const std::string& accepts) {
  return absl::InvalidArgumentError(variable + "='" + value + "' is not valid: " + accepts);
}

absl::StatusOr<bool> ParseBoolSetting(const std::string& variable, const std::string& value) {
  std::string v = value;
  for (char& c : v) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (v == "true" || v == "1" || v == "yes") return true;
  if (v == "false" || v == "0" || v == "no" || v.empty()) return false;
  return BadSetting(variable, value, "expected true or false");
}

absl::StatusOr<size_t> ParseCountSetting(const std::string& variable, const std::string& value,
                                         size_t min, size_t max) {
  uint64_t n = 0;
  if (!absl::SimpleAtoi(value, &n) || n < min || n > max) {
    return BadSetting(
        variable, value,
        "expected a whole number from " + std::to_string(min) + " to " + std::to_string(max));
  }
  return static_cast<size_t>(n);
}

}  // namespace meshtrace
