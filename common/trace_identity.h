#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/envelope.h"

namespace meshtrace {

inline constexpr std::string_view kTraceIdHeader = "trace_id";
inline constexpr std::string_view kTraceparentHeader = "traceparent";
// Set on every replayed or redriven envelope (a fresh id per replay).
inline constexpr std::string_view kReplayHeader = "x-meshtrace-replay";

// The 32-hex trace-id of a valid W3C `traceparent` value
// ("00-<32 hex trace-id>-<16 hex parent-id>-<2 hex flags>"), or nullopt when the value is not
// a valid traceparent (wrong shape, upper-case hex, all-zero ids, version ff).
std::optional<std::string> TraceIdFromTraceparent(std::string_view traceparent);

// The trace an envelope belongs to (DESIGN.md §4): `headers.trace_id` when a non-empty
// string; else the trace-id part of a valid `traceparent`; else the envelope's own id (the
// envelope is at its first hop).
std::string TraceIdOf(const Envelope& envelope);

// As TraceIdOf, and sets `headers.trace_id` when the envelope has no usable one, so later
// hops and fan-out children inherit the same trace.
std::string EnsureTraceId(Envelope* envelope);

}  // namespace meshtrace
