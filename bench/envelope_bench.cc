// Envelope parse + validate + re-serialise, against nlohmann-json parse + dump of the same
// bytes as the baseline (the alternative the foundation issue asked to measure); and the
// status block's RFC 3339 timestamps against gmtime_r + snprintf.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>
#include <string>

#include "absl/time/clock.h"
#include "common/clock.h"
#include "common/envelope.h"

namespace {

// A realistic envelope of about `target` bytes: route, headers, status and a payload of
// order-like records.
std::string MakeEnvelope(size_t target) {
  std::string payload =
      R"({"customer":{"id":"c-829381","email":"a.b@example.com","tier":"gold"},"items":[)";
  for (int i = 0; payload.size() + 420 < target; ++i) {
    if (i > 0) payload += ',';
    payload += R"({"sku":"SKU-)" + std::to_string(100000 + i) + R"(","qty":)" +
               std::to_string(i % 7 + 1) + R"(,"price":19.90,"tags":["a","b"]})";
  }
  payload += R"(],"total":1234.50})";
  return R"({"id":"5f0c7e3a-2b7d-4a8e-9c1e-3f2a1b0c9d8e","route":{"prev":["create-account","issue-token"],"curr":"setup-payment","next":["send-welcome"]},)"
         R"("headers":{"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","x-asya-first-attempt":"2026-11-23T11:00:00Z"},)"
         R"("status":{"phase":"pending","actor":"setup-payment","attempt":1,"max_attempts":1,"created_at":"2026-11-23T11:00:00.000Z","updated_at":"2026-11-23T11:00:00.010Z"},)"
         R"("payload":)" +
         payload + "}";
}

void BM_MeshtraceParseValidateSerialize(benchmark::State& state) {
  const std::string json = MakeEnvelope(static_cast<size_t>(state.range(0)));
  for (auto _ : state) {
    auto envelope = meshtrace::ParseEnvelope(json);
    if (!envelope.ok()) state.SkipWithError("parse failed");
    std::string out = meshtrace::SerializeEnvelope(*envelope);
    benchmark::DoNotOptimize(out);
  }
  state.SetBytesProcessed(state.iterations() * json.size());
  state.counters["bytes"] = static_cast<double>(json.size());
}

void BM_BaselineNlohmannParseDump(benchmark::State& state) {
  const std::string json = MakeEnvelope(static_cast<size_t>(state.range(0)));
  for (auto _ : state) {
    auto doc = nlohmann::ordered_json::parse(json);
    std::string out = doc.dump();
    benchmark::DoNotOptimize(out);
  }
  state.SetBytesProcessed(state.iterations() * json.size());
  state.counters["bytes"] = static_cast<double>(json.size());
}

// A timestamp for each millisecond after now, as the sidecar stamps status blocks.
void BM_MeshtraceFormatRfc3339(benchmark::State& state) {
  const absl::Time start = absl::Now();
  int64_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(meshtrace::FormatRfc3339(start + absl::Milliseconds(++i)));
  }
}

// The way FormatRfc3339 used to do it.
void BM_BaselineGmtimeSnprintf(benchmark::State& state) {
  const absl::Time start = absl::Now();
  int64_t i = 0;
  for (auto _ : state) {
    const int64_t ms = absl::ToUnixMillis(start + absl::Milliseconds(++i));
    const time_t seconds = static_cast<time_t>(ms / 1000);
    struct tm tm;
    gmtime_r(&seconds, &tm);
    char buf[40];
    const int n = std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                                tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                                tm.tm_sec, static_cast<int>(ms % 1000));
    benchmark::DoNotOptimize(std::string(buf, n));
  }
}

BENCHMARK(BM_MeshtraceParseValidateSerialize)->Arg(1024)->Arg(64 * 1024);
BENCHMARK(BM_BaselineNlohmannParseDump)->Arg(1024)->Arg(64 * 1024);
BENCHMARK(BM_MeshtraceFormatRfc3339);
BENCHMARK(BM_BaselineGmtimeSnprintf);

}  // namespace

BENCHMARK_MAIN();
