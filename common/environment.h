#pragma once

#include <map>
#include <string>

namespace meshtrace {

// The environment of this process as a map (configuration readers take a map so tests can
// pass their own).
std::map<std::string, std::string> ProcessEnvironment();

}  // namespace meshtrace
