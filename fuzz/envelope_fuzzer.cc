// Fuzzes the envelope parser: any input either fails with InvalidArgument and a fault, or
// parses into an envelope that serialises and parses back to the same envelope.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "common/envelope.h"
#include "common/redaction.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace meshtrace;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  EnvelopeFault fault = EnvelopeFault::kNone;
  auto envelope = ParseEnvelope(input, ParseOptions{}, &fault);
  if (!envelope.ok()) {
    if (fault == EnvelopeFault::kNone || envelope.status().message().empty()) abort();
    return 0;
  }
  std::string json = SerializeEnvelope(*envelope);
  auto again = ParseEnvelope(json);
  if (!again.ok() || !(*again == *envelope)) abort();

  static const Redactor redactor =
      *Redactor::Create("authorization,$.payload.a[*].b,$.headers.h.x", "fuzz-key");
  std::vector<std::string> fields;
  Envelope redacted = redactor.Apply(*envelope, &fields);
  if (!ParseEnvelope(SerializeEnvelope(redacted)).ok()) abort();
  return 0;
}
