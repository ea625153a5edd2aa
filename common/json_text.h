#pragma once

#include <string>
#include <string_view>

namespace meshtrace {

// Appends `s` as a JSON string literal (quotes included) to `out`. UTF-8 passes through;
// quotes, backslashes and control characters are escaped.
void AppendJsonString(std::string_view s, std::string* out);

// `s` as a JSON string literal.
std::string JsonString(std::string_view s);

}  // namespace meshtrace
