#include "replayer/demo.h"

#include <algorithm>
#include <atomic>
#include <csignal>
#include <filesystem>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/ports.h"
#include "common/signals.h"
#include "common/subprocess.h"
#include "replayer/kafka_publisher.h"
#include "replayer/query_client.h"
#include "replayer/reports.h"

namespace meshtrace::replayer {
namespace {

constexpr char kNamespace[] = "demo";

struct ActorSpec {
  std::string name;
  std::vector<std::string> runtime_args;
  bool end_actor = false;
};

std::vector<ActorSpec> Mesh() {
  return {
      {"create-account", {"--handler", "enrich"}},
      {"issue-token", {"--handler", "enrich", "--sleep-ms", "2"}},
      {"setup-payment",
       {"--handler", "enrich", "--fail-when", "card_declined", "--fail-type",
        "payments.CardDeclinedError", "--fail-mro", "payments.PaymentError,Exception",
        "--fail-message", "card declined by issuer (code 51: insufficient funds)"}},
      {"send-welcome", {"--handler", "fanout", "--fanout", "2"}},  // an email and an SMS
      {"x-sink", {"--handler", "echo"}, true},
      {"x-sump", {"--handler", "echo"}, true},
  };
}

std::string Topic(const std::string& actor) {
  return absl::StrCat("asya-", kNamespace, "-", actor);
}

// A sign-up as the mesh's first actor receives it. Ids are random-looking but fixed by seed.
std::string SignUp(std::mt19937& rng, int n, bool declined) {
  auto hex = [&rng](int digits) {
    std::string s;
    for (int i = 0; i < digits; ++i) s += "0123456789abcdef"[rng() % 16];
    return s;
  };
  const std::string id =
      absl::StrCat(hex(8), "-", hex(4), "-4", hex(3), "-a", hex(3), "-", hex(12));
  static const char* const kPlans[] = {"free", "pro", "team"};
  nlohmann::ordered_json envelope = {
      {"id", id},
      {"route",
       {{"prev", nlohmann::json::array()},
        {"curr", "create-account"},
        {"next", {"issue-token", "setup-payment", "send-welcome"}}}},
      {"headers", nlohmann::json::object()},
      {"payload",
       {{"user_id", absl::StrFormat("u-%05d", n)},
        {"email", absl::StrFormat("user%05d@example.com", n)},
        {"plan", kPlans[rng() % 3]},
        {"card", {{"last4", declined ? "0002" : "4242"}, {"exp", "12/29"}}},
        {"card_declined", declined}}}};
  return envelope.dump();
}

absl::Status Produce(const std::string& brokers, const std::string& topic,
                     const std::vector<std::string>& values) {
  auto publisher = KafkaPublisher::Open(brokers);
  if (!publisher.ok()) return publisher.status();
  for (const std::string& v : values) {
    if (auto s = (*publisher)->Publish(topic, "", v); !s.ok()) return s;
  }
  return (*publisher)->Flush(30'000);
}

class Demo {
 public:
  explicit Demo(const DemoOptions& o) : o_(o) {}

  int Run() {
    if (o_.envelopes < 1 || o_.envelopes > 100'000) return Usage("--envelopes: 1 to 100000");
    if (o_.fail_rate < 0 || o_.fail_rate > 1) return Usage("--fail-rate: 0 to 1");
    if (!o_.lose.empty()) {
      // Not the first actor: with it down nothing is traced at all.
      std::vector<std::string> names;
      for (const ActorSpec& a : Mesh()) names.push_back(a.name);
      if (std::find(names.begin() + 1, names.end(), o_.lose) == names.end()) {
        return Usage("--lose " + o_.lose + ": one of " +
                     absl::StrJoin(names.begin() + 1, names.end(), ", "));
      }
    }
    for (auto [port, flag] :
         {std::pair{o_.grpc_port, "--grpc-port"}, std::pair{o_.http_port, "--http-port"}}) {
      if (!LoopbackPortFree(port)) {
        return Usage(absl::StrCat("port ", port,
                                  " on 127.0.0.1 is in use (a collector or another demo?); "
                                  "stop it or pass ",
                                  flag));
      }
    }
    WatchSignals();
    dir_ = std::filesystem::absolute(o_.dir).string();
    for (const char* sub : {"data", "sockets", "logs", "reports"}) {
      std::filesystem::remove_all(dir_ + "/" + sub);
      std::filesystem::create_directories(dir_ + "/" + sub);
    }
    const int code = Steps();
    Shutdown();
    return code;
  }

 private:
  int Usage(const std::string& message) {
    std::cerr << "meshtrace demo: " << message << "\n";
    return 2;
  }
  int Failed(const std::string& message) {
    std::cerr << "meshtrace demo: " << message << "\n  logs: " << dir_ << "/logs/\n";
    return 1;
  }
  void Say(const std::string& line) { std::cout << line << std::endl; }

  void WatchSignals() {
    HandleStopSignals([this](int) { interrupted_ = true; });
  }

  std::string Log(const std::string& name) const { return dir_ + "/logs/" + name + ".log"; }

  struct Child {
    std::string name;
    std::vector<std::string> argv;
    std::map<std::string, std::string> env;
    bool restartable = false;  // sidecars: restarted when they die, as Kubernetes would
    int restarts = 0;
    Subprocess process;
  };

  absl::Status Start(const std::string& name, const std::vector<std::string>& argv,
                     const std::map<std::string, std::string>& env = {}, bool restartable = false) {
    auto child = Subprocess::Start(argv, env, Log(name));
    if (!child.ok()) return child.status();
    children_.push_back(Child{name, argv, env, restartable, 0, *std::move(child)});
    return absl::OkStatus();
  }

  // Restarts sidecars that died (at most 3 times each); returns the first other child that
  // exited (or a sidecar that keeps dying), or "".
  std::string DeadChild() {
    for (Child& c : children_) {
      if (!c.process.running()) continue;
      absl::StatusOr<int> code = c.process.Wait(absl::ZeroDuration());
      if (!code.ok()) continue;
      if (!c.restartable || c.restarts >= 3) return c.name;
      auto again = Subprocess::Start(c.argv, c.env, Log(c.name));
      if (!again.ok()) return c.name;
      c.process = *std::move(again);
      ++c.restarts;
      Say(absl::StrCat("  ", c.name, " died (exit status ", *code, "); restarted it"));
    }
    return "";
  }

  // An actor's pod: its example runtime, and its sidecar (restarted when it dies); in tap mode
  // meshtrace-tap between them, on the socket the sidecar dials.
  absl::Status StartActor(const ActorSpec& a) {
    const std::string sockets = dir_ + "/sockets/" + a.name;
    const std::string runtime_dir = o_.tap ? sockets + "/runtime" : sockets;
    std::filesystem::create_directories(runtime_dir);
    std::vector<std::string> runtime = {o_.bin_dir + "/meshtrace-example-runtime", "--socket-dir",
                                        runtime_dir};
    runtime.insert(runtime.end(), a.runtime_args.begin(), a.runtime_args.end());
    if (auto s = Start(a.name + ".runtime", runtime); !s.ok()) return s;
    if (o_.tap) {
      std::map<std::string, std::string> tap_env = {
          {"MESHTRACE_COLLECTOR", grpc_},
          {"MESHTRACE_ACTOR", a.name},
          {"MESHTRACE_TAP_METRICS_ADDR", "127.0.0.1:0"},
          {"HOSTNAME", a.name + "-0"},
      };
      if (auto s = Start(a.name + ".tap",
                         {o_.bin_dir + "/meshtrace-tap", "--listen", sockets, "--upstream",
                          runtime_dir + "/asya-runtime.sock"},
                         tap_env, /*restartable=*/true);
          !s.ok()) {
        return s;
      }
    }
    std::map<std::string, std::string> env = {
        {"ASYA_ACTOR_NAME", a.name},
        {"ASYA_NAMESPACE", kNamespace},
        {"ASYA_KAFKA_BROKERS", brokers_},
        {"ASYA_KAFKA_PROPERTIES", "session.timeout.ms=6000,heartbeat.interval.ms=500"},
        {"ASYA_SOCKET_DIR", sockets},
        {"ASYA_METRICS_ADDR", "127.0.0.1:0"},
        {"ASYA_IS_END_ACTOR", a.end_actor ? "true" : "false"},
        {"ASYA_RUNTIME_READY_TIMEOUT", "30s"},
        {"MESHTRACE_COLLECTOR", o_.tap ? "" : grpc_},
        {"HOSTNAME", a.name + "-0"},  // the pod name in events and reports
    };
    return Start(a.name, {o_.bin_dir + "/meshtrace-sidecar"}, env, /*restartable=*/true);
  }

  int Steps() {
    Say(absl::StrCat("meshtrace demo: an onboarding mesh on this machine, files in ", dir_));
    // Kafka.
    std::vector<std::string> topics;
    for (const ActorSpec& a : Mesh()) topics.push_back(Topic(a.name));
    std::string topic_list;
    for (const auto& t : topics) topic_list += (topic_list.empty() ? "" : ",") + t;
    if (auto s = Start("kafka", {o_.bin_dir + "/meshtrace", "dev-kafka", "--topics", topic_list});
        !s.ok()) {
      return Failed(std::string(s.message()));
    }
    auto brokers = children_.back().process.ReadLine(absl::Seconds(20));
    if (!brokers.ok()) return Failed("the embedded Kafka did not start");
    Say("  kafka      " + *brokers + " (librdkafka's mock cluster)");
    // Collector.
    const std::string grpc = absl::StrCat("127.0.0.1:", o_.grpc_port);
    if (auto s = Start("collector", {o_.bin_dir + "/meshtrace-collector", "--data-dir",
                                     dir_ + "/data", "--grpc-listen", grpc, "--http-listen",
                                     absl::StrCat("127.0.0.1:", o_.http_port), "--stall-timeout",
                                     o_.lose.empty() ? "30s" : "5s"});
        !s.ok()) {
      return Failed(std::string(s.message()));
    }
    client_ = NewGrpcQueryClient(grpc, "");
    const absl::Time ready_by = absl::Now() + absl::Seconds(20);
    while (!client_->List(v1::ListTracesRequest()).ok()) {
      if (absl::Now() > ready_by || !DeadChild().empty())
        return Failed("the collector did not start");
      absl::SleepFor(absl::Milliseconds(100));
    }
    Say(absl::StrCat("  collector  gRPC ", grpc, ", UI http://127.0.0.1:", o_.http_port, "/"));
    // Actors.
    brokers_ = *brokers;
    grpc_ = grpc;
    std::string chain;
    for (const ActorSpec& a : Mesh()) {
      if (!a.end_actor) chain += (chain.empty() ? "" : " → ") + a.name;
      if (a.name == o_.lose) continue;
      if (auto s = StartActor(a); !s.ok()) return Failed(std::string(s.message()));
    }
    Say("  actors     " + chain + " (+ x-sink, x-sump), each " +
        (o_.tap ? "a sidecar that sends no events (standing in for Asya's) + meshtrace-tap + "
                  "example runtime: only the taps report"
                : "a meshtrace-sidecar + example runtime"));
    if (!o_.lose.empty()) {
      Say("  lost       " + o_.lose + " is down (--lose): what is sent to it waits in " +
          Topic(o_.lose) +
          "; the collector calls a trace stalled 5 s after such a send; then it comes back");
    }

    // Sign-ups.
    std::mt19937 rng(o_.seed);
    std::vector<std::string> signups;
    int declined = 0;
    for (int i = 0; i < o_.envelopes; ++i) {
      const bool fail = std::uniform_real_distribution<double>(0, 1)(rng) < o_.fail_rate;
      declined += fail;
      signups.push_back(SignUp(rng, i + 1, fail));
    }
    const absl::Time started = absl::Now();
    if (auto s = Produce(*brokers, Topic("create-account"), signups); !s.ok()) {
      return Failed(std::string(s.message()));
    }
    Say(absl::StrCat("\nproduced ", o_.envelopes, " sign-ups (", declined,
                     " with a card the issuer declines); waiting for every trace to settle..."));
    return WaitAndReport(started);
  }

  struct Tally {
    int total = 0, open = 0;
    std::map<std::string, int> verdicts, outcomes;
    std::map<std::string, int> failures;  // "actor  error" → count
    std::vector<v1::TraceSummary> failed;
    std::vector<v1::TraceSummary> stalled;
  };

  absl::StatusOr<Tally> Count() {
    Tally t;
    v1::ListTracesRequest r;
    r.set_limit(1000);
    do {
      auto page = client_->List(r);
      if (!page.ok()) return page.status();
      for (const auto& s : page->traces()) {
        ++t.total;
        const char* verdicts[] = {"unknown", "open", "complete", "stalled", "partial"};
        const char* outcomes[] = {"unknown", "succeeded", "failed", "mixed"};
        ++t.verdicts[verdicts[s.verdict()]];
        if (s.verdict() == v1::VERDICT_OPEN) ++t.open;
        if (s.verdict() != v1::VERDICT_OPEN) ++t.outcomes[outcomes[s.outcome()]];
        if (s.verdict() == v1::VERDICT_STALLED) t.stalled.push_back(s);
        if (s.outcome() == v1::OUTCOME_FAILED || s.outcome() == v1::OUTCOME_MIXED) {
          ++t.failures[absl::StrCat(s.ended_at_actor(), "\t", s.error_type())];
          t.failed.push_back(s);
        }
      }
      r.set_cursor(page->next_cursor());
    } while (!r.cursor().empty());
    return t;
  }

  // Where the stalled traces stopped, from each one's stalled anomalies: "lost between A and
  // B (sent to Q, never received)" with how many envelopes, then one trace to look at.
  void StalledTransits(const std::vector<v1::TraceSummary>& stalled) {
    std::map<std::string, int> transits;
    for (const v1::TraceSummary& s : stalled) {
      auto artifact = client_->Get(s.trace_id());
      if (!artifact.ok()) {
        ++transits[absl::StrCat("(trace not readable: ", artifact.status().message(), ")")];
        continue;
      }
      for (const v1::Anomaly& a : artifact->anomalies()) {
        if (a.kind() != v1::Anomaly::KIND_STALLED) continue;
        ++transits[a.to_actor().empty()
                       ? absl::StrCat("received at ", a.from_actor(), ", never routed onward")
                       : absl::StrCat("lost between ", a.from_actor(), " and ", a.to_actor(),
                                      " (sent to ", a.queue(), ", never received)")];
      }
    }
    Say("\nstalled envelopes by where they stopped:");
    for (const auto& [where, n] : transits) Say(absl::StrFormat("  %-72s %5d", where, n));
    Say("  one of them: meshtrace show " + stalled.front().trace_id());
  }

  // Polls the collector until `done`, saying `progress` every 3 s; fails after 120 s, on Ctrl-C
  // or when a child dies.
  absl::StatusOr<Tally> WaitUntil(const std::function<bool(const Tally&)>& done,
                                  const std::function<std::string(const Tally&)>& progress) {
    const absl::Time deadline = absl::Now() + absl::Seconds(120);
    absl::Time last_progress = absl::Now();
    while (true) {
      if (interrupted_) return absl::CancelledError("interrupted");
      if (std::string dead = DeadChild(); !dead.empty()) {
        return absl::AbortedError(dead + " exited unexpectedly (see " + Log(dead) + ")");
      }
      absl::StatusOr<Tally> tally = Count();
      if (tally.ok() && done(*tally)) return tally;
      if (absl::Now() > deadline) {
        return absl::DeadlineExceededError(
            "after 120 s: " +
            (tally.ok() ? progress(*tally) : std::string(tally.status().message())));
      }
      if (tally.ok() && absl::Now() - last_progress > absl::Seconds(3)) {
        Say("  " + progress(*tally));
        last_progress = absl::Now();
      }
      absl::SleepFor(absl::Milliseconds(200));
    }
  }

  void SayVerdicts(const Tally& tally) {
    std::string verdicts, outcomes;
    for (const auto& [v, n] : tally.verdicts) absl::StrAppend(&verdicts, "  ", v, " ", n);
    for (const auto& [o, n] : tally.outcomes) absl::StrAppend(&outcomes, "  ", o, " ", n);
    Say("verdicts:" + verdicts);
    Say("outcomes:" + outcomes);
  }

  int WaitAndReport(absl::Time started) {
    absl::StatusOr<Tally> tally =
        WaitUntil([&](const Tally& t) { return t.total >= o_.envelopes && t.open == 0; },
                  [&](const Tally& t) {
                    return absl::StrCat(t.total - t.open, " of ", o_.envelopes, " settled");
                  });
    if (!tally.ok()) return Failed(std::string(tally.status().message()));
    Say(absl::StrFormat("all %d traces settled in %.1f s\n", tally->total,
                        absl::ToDoubleSeconds(absl::Now() - started)));
    SayVerdicts(*tally);
    if (!tally->failures.empty()) {
      Say("\nfailures by actor and error:");
      for (const auto& [key, n] : tally->failures) {
        const auto tab = key.find('\t');
        Say(absl::StrFormat("  %-15s %-32s %5d", key.substr(0, tab), key.substr(tab + 1), n));
      }
    }
    if (!o_.lose.empty()) {
      // The pod comes back (also when nothing was sent to it): its sidecar takes what waited in
      // its queue, and each stalled trace is proven complete after all.
      const size_t stalled = tally->stalled.size();
      if (stalled > 0) StalledTransits(tally->stalled);
      Say(absl::StrCat("\nbringing ", o_.lose, " back, as if its pod restarted: its sidecar takes ",
                       "what waited in ", Topic(o_.lose), "..."));
      for (const ActorSpec& a : Mesh()) {
        if (a.name != o_.lose) continue;
        if (auto s = StartActor(a); !s.ok()) return Failed(std::string(s.message()));
      }
      const absl::Time back = absl::Now();
      tally = WaitUntil([](const Tally& t) { return t.open == 0 && t.stalled.empty(); },
                        [](const Tally& t) {
                          return absl::StrCat(t.stalled.size(), " still stalled, ", t.open,
                                              " in flight");
                        });
      if (!tally.ok()) return Failed(std::string(tally.status().message()));
      Say(absl::StrFormat("all %d stalled traces settled %.1f s after %s came back", stalled,
                          absl::ToDoubleSeconds(absl::Now() - back), o_.lose));
      SayVerdicts(*tally);
    }
    auto reports = WriteFailedReports(*client_, 0, dir_ + "/reports");
    if (!reports.ok()) return Failed(std::string(reports.status().message()));
    Say("\nreports:");
    if (!reports->first_report.empty()) Say("  one failed trace  " + reports->first_report);
    Say("  all failures      " + reports->index);
    Say(absl::StrCat("  web UI            http://127.0.0.1:", o_.http_port, "/"));
    if (!tally->failed.empty()) {
      const v1::TraceSummary& f = tally->failed.front();
      auto artifact = client_->Get(f.trace_id());
      if (artifact.ok()) {
        for (const v1::Hop& hop : artifact->hops()) {
          if (hop.replay_command().empty()) continue;
          Say("\nwhat happened to one of them:\n  meshtrace show " + f.trace_id() +
              "\nreplay its failed hop against the running " + hop.actor() + " runtime:");
          Say(absl::StrCat("  meshtrace replay ", f.trace_id(), " --envelope ", hop.envelope_id(),
                           " --actor ", hop.actor(), " --socket ", dir_, "/sockets/", hop.actor(),
                           "/asya-runtime.sock"));
          break;
        }
      }
    }
    if (o_.keep_running) {
      Say("\nthe mesh keeps running; Ctrl-C stops it");
      while (!interrupted_) {
        if (std::string dead = DeadChild(); !dead.empty()) {
          return Failed(dead + " exited unexpectedly (see " + Log(dead) + ")");
        }
        absl::SleepFor(absl::Milliseconds(200));
      }
      Say("stopping");
    } else {
      Say("\n(the mesh stops now; run `meshtrace demo --keep-running` to explore it and replay)");
    }
    return 0;
  }

  void Shutdown() {
    // Sidecars first (they drain), then the rest; nothing outlives the demo.
    for (Child& c : children_) {
      if (c.process.running()) c.process.Signal(SIGTERM);
    }
    const absl::Time deadline = absl::Now() + absl::Seconds(5);
    for (Child& c : children_) {
      if (!c.process.running()) continue;
      absl::Duration left = std::max(absl::ZeroDuration(), deadline - absl::Now());
      if (!c.process.Wait(left).ok()) c.process.Signal(SIGKILL);
    }
    children_.clear();
    std::filesystem::remove_all(dir_ + "/sockets");
  }

  DemoOptions o_;
  std::string dir_;
  std::string brokers_, grpc_;  // the embedded Kafka's and the collector's addresses
  std::vector<Child> children_;
  std::unique_ptr<QueryClient> client_;
  std::atomic<bool> interrupted_{false};
};

}  // namespace

int RunDemo(const DemoOptions& options) { return Demo(options).Run(); }

}  // namespace meshtrace::replayer
