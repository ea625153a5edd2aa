#include "events/event_settings.h"

#include <fstream>
#include <sstream>

#include "common/environment.h"
#include "common/redaction.h"
#include "common/settings.h"

namespace meshtrace::events {
namespace {

constexpr size_t kMinRedactKeyBytes = 16;

// "host:port" (a gRPC target may have a scheme in front: dns:///host:port).
bool IsHostPort(const std::string& target) {
  const size_t colon = target.rfind(':');
  if (colon == std::string::npos || colon == 0 || target.size() - colon - 1 > 5) return false;
  if (target.find_first_of(" \t\r\n") != std::string::npos) return false;
  return target.find_first_not_of("0123456789", colon + 1) == std::string::npos &&
         colon + 1 < target.size();
}

const std::string* Get(const std::map<std::string, std::string>& values, const char* variable) {
  auto it = values.find(variable);
  return it == values.end() ? nullptr : &it->second;
}

absl::Status ApplyCollector(const std::map<std::string, std::string>& values, EventSettings* s) {
  if (auto* v = Get(values, "MESHTRACE_COLLECTOR")) s->collector = *v;
  if (auto* v = Get(values, "MESHTRACE_API_TOKEN")) s->token = *v;
  if (auto* v = Get(values, "MESHTRACE_COLLECTOR_CA"); v != nullptr && !v->empty()) {
    std::ifstream in(*v);
    std::stringstream pem;
    pem << in.rdbuf();
    if (!in || pem.str().find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
      return BadSetting("MESHTRACE_COLLECTOR_CA", *v,
                        "expected a readable PEM file of CA certificates");
    }
    s->ca_pem = pem.str();
  }
  if (!s->collector.empty() && !IsHostPort(s->collector)) {
    return BadSetting("MESHTRACE_COLLECTOR", s->collector,
                      "expected host:port of the collector's gRPC listener, e.g. "
                      "meshtrace-collector:4317");
  }
  return absl::OkStatus();
}

absl::Status ApplyCapture(const std::map<std::string, std::string>& values, EventSettings* s) {
  if (auto* v = Get(values, "MESHTRACE_CAPTURE"); v != nullptr && !v->empty()) {
    if (*v == "payloads") {
      s->capture = CaptureMode::kPayloads;
    } else if (*v == "metadata") {
      s->capture = CaptureMode::kMetadata;
    } else if (*v == "none") {
      s->capture = CaptureMode::kNone;
    } else {
      return BadSetting("MESHTRACE_CAPTURE", *v, "expected payloads, metadata or none");
    }
  }
  if (auto* v = Get(values, "MESHTRACE_CAPTURE_MAX_BYTES"); v != nullptr && !v->empty()) {
    auto n = ParseCountSetting("MESHTRACE_CAPTURE_MAX_BYTES", *v, 256, 16u << 20);
    if (!n.ok()) return n.status();
    s->capture_max_bytes = *n;
  }
  return absl::OkStatus();
}

absl::Status ApplyRedaction(const std::map<std::string, std::string>& values, EventSettings* s) {
  if (auto* v = Get(values, "MESHTRACE_REDACT")) {
    auto r = Redactor::Create(*v, "");
    if (!r.ok()) return BadSetting("MESHTRACE_REDACT", *v, std::string(r.status().message()));
    s->redact = *v;
  }
  if (auto* v = Get(values, "MESHTRACE_REDACT_KEY")) s->redact_key = *v;
  if (s->redact.empty()) return absl::OkStatus();
  if (s->redact_key.empty()) {
    return absl::InvalidArgumentError(
        "MESHTRACE_REDACT is set but MESHTRACE_REDACT_KEY is not: an unkeyed hash of a small "
        "value (a card number, a phone number) can be reversed by enumeration; set a secret "
        "key of at least 16 bytes");
  }
  if (s->redact_key.size() < kMinRedactKeyBytes) {
    return absl::InvalidArgumentError("MESHTRACE_REDACT_KEY is " +
                                      std::to_string(s->redact_key.size()) +
                                      " bytes long: it must be at least 16 bytes");
  }
  return absl::OkStatus();
}

absl::Status ApplyBuffer(const std::map<std::string, std::string>& values, EventSettings* s) {
  if (auto* v = Get(values, "MESHTRACE_EVENT_BUFFER"); v != nullptr && !v->empty()) {
    auto n = ParseCountSetting("MESHTRACE_EVENT_BUFFER", *v, 1, 100'000'000);
    if (!n.ok()) return n.status();
    s->buffer_events = *n;
  }
  if (auto* v = Get(values, "MESHTRACE_EVENT_BUFFER_BYTES"); v != nullptr && !v->empty()) {
    auto n = ParseByteSize(*v);
    if (!n.ok() || *n < (1u << 20) || *n > (uint64_t{1} << 40)) {
      return BadSetting("MESHTRACE_EVENT_BUFFER_BYTES", *v,
                        "expected a size from 1MiB to 1TiB, such as 33554432, 64MiB or 1GiB");
    }
    s->buffer_bytes = static_cast<size_t>(*n);
  }
  // An event carries at most one capture: a buffer smaller than two would drop every event
  // with a capture near the cap.
  if (s->buffer_bytes < 2 * s->capture_max_bytes) {
    return absl::InvalidArgumentError("MESHTRACE_EVENT_BUFFER_BYTES (" +
                                      std::to_string(s->buffer_bytes) +
                                      ") must be at least twice MESHTRACE_CAPTURE_MAX_BYTES (" +
                                      std::to_string(s->capture_max_bytes) + ")");
  }
  return absl::OkStatus();
}

}  // namespace

EmitterOptions EventSettings::emitter_options() const {
  EmitterOptions options;
  options.collector = collector;
  options.token = token;
  options.tls_ca_pem = ca_pem;
  options.buffer_events = buffer_events;
  options.buffer_bytes = buffer_bytes;
  return options;
}

const std::vector<EventSettingHelp>& EventSettingsHelp() {
  static const std::vector<EventSettingHelp> kHelp = {
      {"MESHTRACE_COLLECTOR", "collector gRPC host:port; empty = no lifecycle events"},
      {"MESHTRACE_API_TOKEN", "bearer token for the collector"},
      {"MESHTRACE_COLLECTOR_CA", "PEM file of the CA that signed the collector's TLS certificate"},
      {"MESHTRACE_CAPTURE", "payloads (default), metadata or none"},
      {"MESHTRACE_CAPTURE_MAX_BYTES", "cap on each captured envelope (default 65536)"},
      {"MESHTRACE_REDACT", "header names and $.paths to hash; 'allow:' prefix = allow-list"},
      {"MESHTRACE_REDACT_KEY", "secret key of the redaction hash (16 bytes at least)"},
      {"MESHTRACE_EVENT_BUFFER", "lifecycle events buffered at most (default 65536)"},
      {"MESHTRACE_EVENT_BUFFER_BYTES",
       "bytes of lifecycle events buffered at most, e.g. 64MiB (default 32MiB, at least 1MiB)"},
  };
  return kHelp;
}

absl::Status ApplyEventSettings(const std::map<std::string, std::string>& values,
                                EventSettings* settings) {
  for (auto apply : {ApplyCollector, ApplyCapture, ApplyRedaction, ApplyBuffer}) {
    if (absl::Status s = apply(values, settings); !s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace meshtrace::events
