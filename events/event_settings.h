#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "events/event_emitter.h"

namespace meshtrace::events {

// How much of each envelope an event carries (MESHTRACE_CAPTURE).
enum class CaptureMode { kPayloads, kMetadata, kNone };

// Where lifecycle events go and what they carry: the MESHTRACE_* settings that the sidecar and
// the tap share, read by one parser.
struct EventSettings {
  std::string collector;  // gRPC host:port; empty = no events
  std::string token;
  std::string ca_pem;  // MESHTRACE_COLLECTOR_CA's contents: TLS to the collector
  CaptureMode capture = CaptureMode::kPayloads;
  size_t capture_max_bytes = 65536;
  std::string redact;
  std::string redact_key;
  size_t buffer_events = 65536;
  size_t buffer_bytes = 32u << 20;

  bool enabled() const { return !collector.empty(); }
  EmitterOptions emitter_options() const;
};

// The variables ApplyEventSettings reads, with their help text, for a program's settings table.
struct EventSettingHelp {
  const char* variable;
  const char* help;
};
const std::vector<EventSettingHelp>& EventSettingsHelp();

// Reads the variables of EventSettingsHelp() from `values` (variable → value, the ones given).
// A bad value is InvalidArgument naming the variable and what it accepts. Redaction fails
// closed: rules without MESHTRACE_REDACT_KEY, or with a key under 16 bytes, are refused (an
// unkeyed hash of a card number is reversed by enumerating card numbers).
absl::Status ApplyEventSettings(const std::map<std::string, std::string>& values,
                                EventSettings* settings);

}  // namespace meshtrace::events
