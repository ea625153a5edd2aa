#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace CLI {
class App;
}

namespace meshtrace {

// A setting that comes from a flag or an environment variable; the flag wins.
struct SettingSource {
  std::string key;       // what ParseSettings' values are keyed by
  std::string flag;      // e.g. "--data-dir"
  std::string variable;  // e.g. "MESHTRACE_DATA_DIR"
  std::string help;      // shown with the variable's name after it
};

struct ParsedSettings {
  std::map<std::string, std::string> values;  // key → the value given, for the settings given
  bool done = false;    // the command line ended the run: --help, --version or a usage error
  int exit_code = 0;    // when done: 0 for --help and --version, 2 for a usage error
  std::string message;  // when done: what to print
};

// Adds an option per setting to `app` (which holds the program's description, footer and
// version flag), parses `argv` and then reads the settings given by flag or in `env`.
ParsedSettings ParseSettings(CLI::App& app, const std::vector<SettingSource>& settings, int argc,
                             const char* const* argv,
                             const std::map<std::string, std::string>& env);

// The flag named after a variable: ASYA_ACTOR_NAME -> --actor-name,
// MESHTRACE_CAPTURE_MAX_BYTES -> --capture-max-bytes.
std::string FlagForVariable(std::string variable);

// A listen address "[host]:port" (port 0 to 65535; an empty host is every interface).
absl::Status CheckListenAddress(const std::string& variable, const std::string& value);

// The one wording of a bad setting: "VAR='value' is not valid: <what it accepts>".
absl::Status BadSetting(const std::string& variable, const std::string& value,
                        const std::string& accepts);
// true/1/yes or false/0/no/empty (any case).
absl::StatusOr<bool> ParseBoolSetting(const std::string& variable, const std::string& value);
// A whole number in [min, max].
absl::StatusOr<size_t> ParseCountSetting(const std::string& variable, const std::string& value,
                                         size_t min, size_t max);

}  // namespace meshtrace
