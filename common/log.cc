#include "common/log.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <string>

#include "absl/time/clock.h"
#include "common/json_text.h"

namespace meshtrace {
namespace {

std::string g_component = "meshtrace";

spdlog::level::level_enum ToSpd(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return spdlog::level::debug;
    case LogLevel::kInfo:
      return spdlog::level::info;
    case LogLevel::kWarn:
      return spdlog::level::warn;
    case LogLevel::kError:
      return spdlog::level::err;
  }
  return spdlog::level::info;
}

const char* Name(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarn:
      return "warn";
    case LogLevel::kError:
      return "error";
  }
  return "info";
}

}  // namespace

void InitLogging(std::string_view component, std::string_view level) {
  g_component = std::string(component);
  auto logger = spdlog::get("meshtrace-json");
  if (logger == nullptr) logger = spdlog::stderr_logger_mt("meshtrace-json");
  logger->set_pattern("%v");
  spdlog::set_default_logger(logger);
  spdlog::level::level_enum spd = spdlog::level::info;
  if (level == "debug" || level == "DEBUG") spd = spdlog::level::debug;
  if (level == "warn" || level == "WARN") spd = spdlog::level::warn;
  if (level == "error" || level == "ERROR") spd = spdlog::level::err;
  spdlog::set_level(spd);
  spdlog::flush_on(spdlog::level::info);
}

void Log(LogLevel level, std::string_view msg, std::initializer_list<LogField> fields) {
  if (!spdlog::should_log(ToSpd(level))) return;
  std::string line = "{\"ts\":\"";
  line += absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", absl::Now(), absl::UTCTimeZone());
  line += "\",\"level\":\"";
  line += Name(level);
  line += "\",\"component\":";
  AppendJsonString(g_component, &line);
  for (const auto& [key, value] : fields) {
    line.push_back(',');
    AppendJsonString(key, &line);
    line.push_back(':');
    AppendJsonString(value, &line);
  }
  line += ",\"msg\":";
  AppendJsonString(msg, &line);
  line.push_back('}');
  spdlog::log(ToSpd(level), "{}", line);
}

}  // namespace meshtrace
