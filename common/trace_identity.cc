#include "common/trace_identity.h"

#include <algorithm>

namespace meshtrace {
namespace {

bool IsLowerHex(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

bool AllZero(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c == '0'; });
}

}  // namespace

std::optional<std::string> TraceIdFromTraceparent(std::string_view tp) {
  // version "-" trace-id "-" parent-id "-" flags; later versions may append "-..." fields.
  if (tp.size() < 55 || tp[2] != '-' || tp[35] != '-' || tp[52] != '-') return std::nullopt;
  if (tp.size() > 55 && tp[55] != '-') return std::nullopt;
  std::string_view version = tp.substr(0, 2), trace = tp.substr(3, 32), parent = tp.substr(36, 16),
                   flags = tp.substr(53, 2);
  if (!IsLowerHex(version) || version == "ff") return std::nullopt;
  if (version == "00" && tp.size() != 55) return std::nullopt;
  if (!IsLowerHex(trace) || !IsLowerHex(parent) || !IsLowerHex(flags)) return std::nullopt;
  if (AllZero(trace) || AllZero(parent)) return std::nullopt;
  return std::string(trace);
}

std::string TraceIdOf(const Envelope& envelope) {
  if (auto id = envelope.headers.GetString(kTraceIdHeader); id.has_value() && !id->empty()) {
    return *id;
  }
  if (auto tp = envelope.headers.GetString(kTraceparentHeader); tp.has_value()) {
    if (auto id = TraceIdFromTraceparent(*tp); id.has_value()) return *id;
  }
  return envelope.id;
}

std::string EnsureTraceId(Envelope* envelope) {
  std::string id = TraceIdOf(*envelope);
  auto current = envelope->headers.GetString(kTraceIdHeader);
  if (!current.has_value() || *current != id) envelope->headers.SetString(kTraceIdHeader, id);
  return id;
}

}  // namespace meshtrace
