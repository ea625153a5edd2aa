#include "common/settings.h"

#include <CLI/CLI.hpp>
#include <sstream>

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

}  // namespace meshtrace
