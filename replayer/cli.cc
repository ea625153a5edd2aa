#include "replayer/cli.h"

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <string>

#include "replayer/dev_kafka.h"

namespace meshtrace::replayer {
namespace {

constexpr int kExitUsage = 2;

// Blocks SIGINT/SIGTERM in this thread (and the threads it starts later) so that the
// subcommand can wait for them with sigwait().
sigset_t BlockStopSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

int RunDevKafka(int brokers, const std::string& topics_spec) {
  auto topics = ParseTopicSpecs(topics_spec);
  if (!topics.ok()) {
    std::cerr << "meshtrace dev-kafka: " << topics.status().message() << "\n";
    return kExitUsage;
  }
  sigset_t stop = BlockStopSignals();
  auto kafka = DevKafka::Start(brokers, *topics);
  if (!kafka.ok()) {
    std::cerr << "meshtrace dev-kafka: " << kafka.status().message() << "\n";
    return 1;
  }
  std::cout << (*kafka)->bootstraps() << std::endl;
  std::cerr << "meshtrace dev-kafka: mock Kafka cluster with " << brokers << " broker(s) on "
            << (*kafka)->bootstraps() << "; Ctrl-C stops it\n";
  int signal = 0;
  sigwait(&stop, &signal);
  std::cerr << "meshtrace dev-kafka: stopping (" << strsignal(signal) << ")\n";
  return 0;
}

}  // namespace

int RunCli(int argc, char** argv) {
  CLI::App app{
      "meshtrace: find, show, diff and replay envelope traces of an Asya actor mesh.\n"
      "Talks to meshtrace-collector; see docs/ for the whole picture."};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("meshtrace ") + MESHTRACE_VERSION);

  int brokers = 1;
  std::string topics;
  CLI::App* dev_kafka = app.add_subcommand(
      "dev-kafka", "Run a local Kafka (librdkafka's mock cluster) for development and tests");
  dev_kafka->footer(
      "Prints the bootstrap address list as the first line of stdout, then runs until\n"
      "SIGINT/SIGTERM. The mock broker keeps about 5 MB per partition.\n\n"
      "Examples:\n"
      "  meshtrace dev-kafka\n"
      "  meshtrace dev-kafka --brokers 3 --topics asya-orders,asya-x-sink:4");
  dev_kafka->add_option("--brokers", brokers, "number of brokers")
      ->default_val(1)
      ->check(CLI::Range(1, 16));
  dev_kafka->add_option("--topics", topics,
                        "topics to create first: NAME or NAME:PARTITIONS, comma-separated");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : kExitUsage;
  }
  if (dev_kafka->parsed()) return RunDevKafka(brokers, topics);
  return kExitUsage;
}

}  // namespace meshtrace::replayer
