#pragma once

#include <string>
#include <string_view>

namespace meshtrace {

// Escapes text for HTML element content and attribute values.
std::string HtmlEscape(std::string_view text);

}  // namespace meshtrace
