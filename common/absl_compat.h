#pragma once

#include <string_view>

#include "absl/strings/string_view.h"

namespace meshtrace {

// Debian's abseil is built with its own absl::string_view (ABSL_OPTION_USE_STD_STRING_VIEW
// is 0), which does not convert to or from std::string_view. meshtrace's interfaces use
// std::string_view; these cross over where absl string functions are called.
inline absl::string_view AsAbsl(std::string_view s) { return {s.data(), s.size()}; }
inline std::string_view AsStd(absl::string_view s) { return {s.data(), s.size()}; }

}  // namespace meshtrace
