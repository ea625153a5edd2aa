// meshtrace-example-runtime: the runtime side of the Asya protocol with built-in handlers, for
// tests, benchmarks and the demo.
#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdlib>
#include <iostream>

#include "examples/runtime/example_runtime.h"

namespace {
std::atomic<bool> g_stop{false};
void OnSignal(int) { g_stop.store(true); }
}  // namespace

int main(int argc, char** argv) {
  using meshtrace::example::RuntimeOptions;
  RuntimeOptions options;
  if (const char* dir = std::getenv("ASYA_SOCKET_DIR"); dir != nullptr && *dir) {
    options.socket_dir = dir;
  }
  if (const char* name = std::getenv("ASYA_SOCKET_NAME"); name != nullptr && *name) {
    options.socket_name = name;
  }
  std::string handler = "echo";
  CLI::App app{
      "meshtrace-example-runtime: serves POST /invoke on the Asya runtime socket with "
      "a built-in handler, like the reference Python runtime."};
  app.add_option("--socket-dir", options.socket_dir, "socket directory (env ASYA_SOCKET_DIR)");
  app.add_option("--handler", handler,
                 "echo, enrich, fail, abort, slow, fanout, reroute, garbage, close, hang");
  app.add_option("--fail-when", options.fail_when,
                 "fail only when this top-level payload field is truthy");
  app.add_option("--fail-type", options.fail_type, "exception type, e.g. ValueError");
  app.add_option("--fail-mro", options.fail_mro, "exception ancestors")->delimiter(',');
  app.add_option("--fail-message", options.fail_message, "exception message");
  app.add_option("--enrich-key", options.enrich_key, "field enrich adds (default: actor name)");
  app.add_option("--enrich-value", options.enrich_value, "JSON value enrich sets");
  app.add_option("--sleep-ms", options.sleep_ms, "slow: milliseconds per call");
  app.add_option("--fanout", options.fanout, "fanout: frames per call");
  app.add_option("--fanout-fail-after", options.fanout_fail_after,
                 "fanout: send an SSE error after this many frames");
  app.add_option("--reroute", options.reroute, "reroute: new route.next")->delimiter(',');
  CLI11_PARSE(app, argc, argv);
  if (auto status = meshtrace::example::ParseHandlerKind(handler, &options.handler); !status.ok()) {
    std::cerr << "meshtrace-example-runtime: " << status.message() << "\n";
    return 2;
  }
  std::signal(SIGTERM, OnSignal);
  std::signal(SIGINT, OnSignal);
  std::signal(SIGPIPE, SIG_IGN);
  auto status = meshtrace::example::ServeRuntime(options, g_stop);
  if (!status.ok()) {
    std::cerr << "FATAL: " << status.message() << "\n";
    return 1;
  }
  return 0;
}
