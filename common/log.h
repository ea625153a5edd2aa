#pragma once

#include <initializer_list>
#include <string_view>
#include <utility>

namespace meshtrace {

enum class LogLevel { kDebug, kInfo, kWarn, kError };

using LogField = std::pair<std::string_view, std::string_view>;

// Sets up process-wide logging: one JSON object per line on stderr, e.g.
// {"ts":"2026-11-23T11:41:41.123456Z","level":"info","component":"sidecar",
//  "actor":"enrich","trace_id":"...","envelope_id":"...","msg":"routed 1 envelope(s)"}.
// `level` is debug, info, warn or error (anything else: info).
void InitLogging(std::string_view component, std::string_view level = "info");

// Writes one line with `msg` and `fields` (in order). Thread-safe.
void Log(LogLevel level, std::string_view msg, std::initializer_list<LogField> fields = {});

}  // namespace meshtrace
