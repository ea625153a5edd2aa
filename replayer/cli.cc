#include "replayer/cli.h"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/html.h"
#include "common/runtime_client.h"
#include "common/signals.h"
#include "common/trace_view.h"
#include "replayer/batch_replay.h"
#include "replayer/demo.h"
#include "replayer/dev_kafka.h"
#include "replayer/kafka_publisher.h"
#include "replayer/query_client.h"
#include "replayer/replay.h"
#include "replayer/reports.h"

namespace meshtrace::replayer {
namespace {

constexpr int kExitDifference = 1;
constexpr int kExitUsage = 2;

using Json = nlohmann::json;

// ---- output helpers ----

bool UseColour() {
  static const bool on = isatty(STDOUT_FILENO) && std::getenv("NO_COLOR") == nullptr;
  return on;
}

std::string Paint(const std::string& text, const char* code) {
  return UseColour() ? absl::StrCat("\033[", code, "m", text, "\033[0m") : text;
}
std::string Red(const std::string& t) { return Paint(t, "31"); }
std::string Green(const std::string& t) { return Paint(t, "32"); }
std::string Yellow(const std::string& t) { return Paint(t, "33"); }
std::string Bold(const std::string& t) { return Paint(t, "1"); }
std::string Dim(const std::string& t) { return Paint(t, "2"); }

std::string PaintVerdict(v1::Verdict v) {
  const std::string t = VerdictName(v);
  return v == v1::VERDICT_COMPLETE ? Green(t) : v == v1::VERDICT_OPEN ? t : Yellow(t);
}
std::string PaintOutcome(v1::Outcome o) {
  const std::string t = OutcomeName(o);
  return o == v1::OUTCOME_SUCCEEDED ? Green(t)
         : o == v1::OUTCOME_FAILED  ? Red(t)
         : o == v1::OUTCOME_MIXED   ? Yellow(t)
                                    : t;
}
// Durations as people read them: 340µs, 12.5ms, 2.31s.
std::string Ms(int64_t ns) {
  if (ns < 1'000'000) return absl::StrFormat("%dµs", ns / 1000);
  if (ns < 10'000'000'000) return absl::StrFormat("%.1fms", static_cast<double>(ns) / 1e6);
  return absl::StrFormat("%.2fs", static_cast<double>(ns) / 1e9);
}

int Fail(const std::string& command, const absl::Status& s) {
  std::cerr << "meshtrace " << command << ": " << s.message() << "\n";
  return s.code() == absl::StatusCode::kFailedPrecondition ? 1 : kExitUsage;
}

// Prints rows under a header, columns padded to their widest cell (colour codes excluded).
void PrintTable(const std::vector<std::string>& header,
                const std::vector<std::vector<std::string>>& rows) {
  auto visible = [](const std::string& s) {
    size_t n = 0;
    for (size_t i = 0; i < s.size(); ++i) {
      if (s[i] == '\033') {
        while (i < s.size() && s[i] != 'm') ++i;
        continue;
      }
      if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) ++n;
    }
    return n;
  };
  std::vector<size_t> width(header.size());
  for (size_t c = 0; c < header.size(); ++c) width[c] = header[c].size();
  for (const auto& row : rows) {
    for (size_t c = 0; c < row.size() && c < width.size(); ++c) {
      width[c] = std::max(width[c], visible(row[c]));
    }
  }
  auto line = [&](const std::vector<std::string>& cells, bool dim) {
    std::string out;
    for (size_t c = 0; c < cells.size(); ++c) {
      std::string cell = cells[c];
      if (c + 1 < cells.size()) cell += std::string(width[c] - visible(cells[c]) + 2, ' ');
      out += cell;
    }
    std::cout << (dim ? Dim(out) : out) << "\n";
  };
  line(header, true);
  for (const auto& row : rows) line(row, false);
}

// since/until: RFC 3339, or a duration back from now ("1h", "30m").
absl::StatusOr<int64_t> ParseWhen(const std::string& flag, const std::string& value) {
  absl::Time t;
  std::string err;
  if (absl::ParseTime(absl::RFC3339_full, value, &t, &err)) return absl::ToUnixNanos(t);
  absl::Duration d;
  if (absl::ParseDuration(value, &d) && d > absl::ZeroDuration()) {
    return absl::ToUnixNanos(absl::Now() - d);
  }
  return absl::InvalidArgumentError(flag + " " + value +
                                    ": expected a duration back from now (1h, 30m) or an RFC "
                                    "3339 time");
}

// ---- subcommands ----

struct Global {
  std::string collector = "127.0.0.1:7700";
  std::string token;
  std::string ca_pem;  // --collector-ca's contents
  std::unique_ptr<QueryClient> client;
  QueryClient& Client() {
    if (!client) client = NewGrpcQueryClient(collector, token, ca_pem);
    return *client;
  }
};

struct ListFlags {
  std::string outcome, verdict, actor, reason, since, until, q;
  uint32_t limit = 50;

  absl::StatusOr<v1::ListTracesRequest> Request() const {
    v1::ListTracesRequest r;
    if (!outcome.empty()) {
      v1::Outcome o;
      if (!ParseOutcome(outcome, &o)) {
        return absl::InvalidArgumentError("--outcome " + outcome +
                                          ": expected succeeded, failed or mixed");
      }
      r.set_outcome(o);
    }
    if (!verdict.empty()) {
      v1::Verdict v;
      if (!ParseVerdict(verdict, &v)) {
        return absl::InvalidArgumentError("--verdict " + verdict +
                                          ": expected open, complete, stalled or partial");
      }
      r.set_verdict(v);
    }
    r.set_actor(actor);
    r.set_reason(reason);
    r.set_q(q);
    r.set_limit(limit);
    if (!since.empty()) {
      auto t = ParseWhen("--since", since);
      if (!t.ok()) return t.status();
      r.set_since_ns(*t);
    }
    if (!until.empty()) {
      auto t = ParseWhen("--until", until);
      if (!t.ok()) return t.status();
      r.set_until_ns(*t);
    }
    return r;
  }

  void Add(CLI::App* cmd) {
    cmd->add_option("--outcome", outcome, "succeeded, failed or mixed");
    cmd->add_option("--verdict", verdict, "open, complete, stalled or partial");
    cmd->add_option("--actor", actor, "traces that passed through this actor");
    cmd->add_option("--reason", reason,
                    "status reason or rejection label (RuntimeError, parse_error, ...)");
    cmd->add_option("--since", since,
                    "started at most this long ago (1h) or after an RFC 3339 time");
    cmd->add_option("--until", until, "started before this (duration back from now or RFC 3339)");
    cmd->add_option("-q,--query", q, "text in the error message or headline");
    cmd->add_option("--limit", limit, "at most this many traces")->check(CLI::Range(1, 1000));
  }
};

int RunTraces(Global& g, const ListFlags& flags, const std::string& format) {
  auto request = flags.Request();
  if (!request.ok()) return Fail("traces", request.status());
  auto list = g.Client().List(*request);
  if (!list.ok()) return Fail("traces", list.status());
  if (format == "json") {
    Json traces = Json::array();
    for (const auto& s : list->traces()) traces.push_back(SummaryJson(s));
    std::cout << Json{{"traces", traces}, {"next_cursor", list->next_cursor()}}.dump(2) << "\n";
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& s : list->traces()) {
    std::string error = s.error_type();
    if (!s.error_message().empty()) error += ": " + s.error_message().substr(0, 60);
    if (!error.empty()) {
      error = Red(error);
    } else if (s.verdict() == v1::VERDICT_STALLED || s.verdict() == v1::VERDICT_PARTIAL) {
      error = Yellow(s.headline());  // where it stopped: "stalled: envelope … lost between …"
    }
    rows.push_back({TimeText(s.started_at_ns()), s.trace_id(), PaintVerdict(s.verdict()),
                    PaintOutcome(s.outcome()), s.ended_at_actor(), error, std::to_string(s.hops()),
                    absl::StrCat(s.duration_ms(), "ms")});
  }
  if (rows.empty()) {
    std::cerr << "no traces match\n";
    return 0;
  }
  PrintTable({"STARTED", "TRACE", "VERDICT", "OUTCOME", "ENDED AT", "ERROR", "HOPS", "DURATION"},
             rows);
  return 0;
}

void PrintTree(const v1::TraceArtifact& a) {
  std::map<std::string, std::vector<const v1::Hop*>> at;  // envelope \0 actor → hops
  for (const v1::Hop& h : a.hops()) at[h.envelope_id() + '\0' + h.actor()].push_back(&h);
  std::map<const v1::Hop*, bool> has_parent;
  for (const v1::Hop& h : a.hops()) {
    for (const auto& o : h.outputs()) {
      auto it = at.find(o.envelope_id() + '\0' + o.to_actor());
      if (it == at.end()) continue;
      for (const v1::Hop* c : it->second) {
        if (c != &h) has_parent[c] = true;
      }
    }
  }
  std::function<void(const v1::Hop&, const std::string&, bool, bool, int)> node =
      [&](const v1::Hop& h, const std::string& indent, bool last, bool root, int depth) {
        std::string line = root ? "" : indent + (last ? "└─ " : "├─ ");
        line += absl::StrCat(h.actor(), "  ", Dim(h.envelope_id()),
                             h.attempt() > 1 ? absl::StrCat(" attempt ", h.attempt()) : "",
                             "  wait ", Ms(h.queue_wait_ns()), "  run ", Ms(h.runtime_ns()));
        if (h.rejected()) {
          line += "  " + Red("rejected (" + h.reject_reason() + "): " + h.error().message());
        } else if (!h.terminal_phase().empty()) {
          line += "  " +
                  (h.terminal_phase() == "failed" ? Red(h.terminal_phase())
                                                  : Green(h.terminal_phase())) +
                  " " + h.terminal_reason();
        } else if (h.has_error()) {
          std::string message = h.error().message();
          message = message.substr(0, message.find('\n'));
          line +=
              "  " + Red("✗ " + (h.error().type().empty() ? h.error().code() : h.error().type()) +
                         ": " + message);
        } else {
          line += "  " + Green("ok");
        }
        std::cout << line << "\n";
        const std::string child_indent = root ? "" : indent + (last ? "   " : "│  ");
        std::vector<const v1::Hop*> children;
        std::vector<std::string> lost;
        for (const auto& o : h.outputs()) {
          auto it = at.find(o.envelope_id() + '\0' + o.to_actor());
          if (it == at.end()) {
            lost.push_back(o.to_actor() + "  " + o.envelope_id());
            continue;
          }
          for (const v1::Hop* c : it->second) {
            if (c != &h && std::find(children.begin(), children.end(), c) == children.end()) {
              children.push_back(c);
            }
          }
        }
        if (depth > 64) return;
        for (size_t i = 0; i < children.size(); ++i) {
          node(*children[i], child_indent, i + 1 == children.size() && lost.empty(), false,
               depth + 1);
        }
        for (size_t i = 0; i < lost.size(); ++i) {
          std::cout << child_indent << (i + 1 == lost.size() ? "└─ " : "├─ ")
                    << Yellow(lost[i] + "  (sent, not received)") << "\n";
        }
      };
  for (const v1::Hop& h : a.hops()) {
    if (!has_parent[&h]) node(h, "", true, true, 0);
  }
}

int RunShow(Global& g, const std::string& id, const std::string& format) {
  auto artifact = g.Client().Get(id);
  if (!artifact.ok()) return Fail("show", artifact.status());
  if (format == "json") {
    auto rendered = g.Client().Render(artifact->trace_id(), "json");
    if (!rendered.ok()) return Fail("show", rendered.status());
    std::cout << rendered->body() << "\n";
    return 0;
  }
  const v1::TraceArtifact& a = *artifact;
  std::cout << "trace " << a.trace_id() << "  " << PaintVerdict(a.verdict()) << "  "
            << PaintOutcome(a.outcome()) << "  "
            << Dim(absl::StrCat(a.hops_size(), " hops, ", a.event_count(), " events, ",
                                Ms(a.ended_at_ns() - a.started_at_ns()), ", started ",
                                TimeText(a.started_at_ns())))
            << "\n";
  std::cout << (a.outcome() == v1::OUTCOME_FAILED ? Red(a.headline()) : a.headline()) << "\n\n";
  PrintTree(a);
  if (a.anomalies_size() > 0) {
    std::cout << "\nanomalies:\n";
    for (const auto& x : a.anomalies()) std::cout << "  " << Yellow("! " + x.message()) << "\n";
  }
  bool header = false;
  for (const auto& h : a.hops()) {
    if (h.replay_command().empty()) continue;
    if (!header) std::cout << "\nreplay a failed hop:\n";
    header = true;
    std::cout << "  " << h.replay_command() << "\n";
  }
  return 0;
}

int RunReport(Global& g, const std::string& id, const std::string& html_path,
              const std::string& json_path, bool failed, const std::string& since,
              const std::string& dir) {
  if (failed) {
    if (dir.empty()) return Fail("report", absl::InvalidArgumentError("--failed needs --dir DIR"));
    int64_t since_ns = 0;
    if (!since.empty()) {
      auto t = ParseWhen("--since", since);
      if (!t.ok()) return Fail("report", t.status());
      since_ns = *t;
    }
    auto written = WriteFailedReports(g.Client(), since_ns, dir);
    if (!written.ok()) return Fail("report", written.status());
    std::cout << "wrote " << written->written << " report" << (written->written == 1 ? "" : "s")
              << " and " << written->index << "\n";
    return 0;
  }
  if (id.empty())
    return Fail("report", absl::InvalidArgumentError("give a TRACE_ID (or --failed --dir DIR)"));
  if (html_path.empty() && json_path.empty()) {
    return Fail("report", absl::InvalidArgumentError("give -o FILE.html and/or --json FILE"));
  }
  for (const auto& [path, format] : {std::pair{html_path, "html"}, std::pair{json_path, "json"}}) {
    if (path.empty()) continue;
    auto rendered = g.Client().Render(id, format);
    if (!rendered.ok()) return Fail("report", rendered.status());
    if (!WriteFile(path, rendered->body())) {
      return Fail("report", absl::FailedPreconditionError("cannot write " + path));
    }
    std::cout << "wrote " << path << " (" << rendered->body().size() << " bytes, trace "
              << rendered->trace_id() << ")\n";
  }
  return 0;
}

// The two traces side by side (their hops in order, failed ones in red) above the list of
// differences, as one self-contained HTML file.
std::string DiffHtml(const v1::TraceArtifact& a, const v1::TraceArtifact& b,
                     const v1::DiffResponse& diff) {
  auto column = [](const v1::TraceArtifact& t) {
    std::string out = "<td><h2><code>" + HtmlEscape(t.trace_id()) + "</code></h2><p>" +
                      HtmlEscape(t.headline()) + "</p><ol>";
    for (const v1::Hop& h : t.hops()) {
      const bool bad = h.has_error() || h.rejected();
      out += std::string("<li") + (bad ? " class=bad" : "") + ">" + HtmlEscape(h.actor()) +
             " <code>" + HtmlEscape(h.envelope_id().substr(0, 12)) + "</code> " +
             HtmlEscape(Ms(h.runtime_ns())) +
             (bad ? " " + HtmlEscape(h.error().type() + ": " + h.error().message()) : "") + "</li>";
    }
    return out + "</ol></td>";
  };
  std::string rows;
  for (const auto& d : diff.differences()) {
    rows += "<tr><td>" + HtmlEscape(d.kind()) + "</td><td>" + HtmlEscape(d.lineage()) +
            "</td><td><code>" + HtmlEscape(d.path()) + "</code></td><td class=a>" +
            HtmlEscape(d.a()) + "</td><td class=b>" + HtmlEscape(d.b()) + "</td></tr>";
  }
  return "<!doctype html><html lang=en><head><meta charset=utf-8><title>meshtrace diff " +
         HtmlEscape(a.trace_id()) + " vs " + HtmlEscape(b.trace_id()) +
         "</title><style>body{font:14px "
         "system-ui,sans-serif;margin:24px}table{border-collapse:collapse;"
         "width:100%}td,th{vertical-align:top;text-align:left;padding:4px 10px;border-bottom:1px "
         "solid #eaeef2}"
         ".bad{color:#cf222e}.a{color:#cf222e}.b{color:#1a7f37}code{font:12px "
         "ui-monospace,monospace}"
         "</style></head><body><h1>" +
         (diff.same() ? std::string("same")
                      : absl::StrCat(diff.differences_size(), " differences")) +
         "</h1><table><tr>" + column(a) + column(b) +
         "</tr></table><h2>Differences</h2><table><tr><th>kind</th><th>lineage</th><th>path</"
         "th><th>a</th>"
         "<th>b</th></tr>" +
         rows + "</table></body></html>\n";
}

// "1 hop_missing, 3 hop_added, 29 payload_changed": what differs at a glance, the path
// (hops, statuses, errors) before the data, whatever the order of the lines below.
std::string DiffTally(const v1::DiffResponse& diff) {
  static constexpr std::string_view kOrder[] = {"hop_missing",    "hop_added",     "reordered",
                                                "status_changed", "error_changed", "timing_changed",
                                                "payload_changed"};
  std::map<std::string, int> count;
  for (const auto& d : diff.differences()) ++count[d.kind()];
  std::vector<std::string> parts;
  for (std::string_view kind : kOrder) {
    auto it = count.find(std::string(kind));
    if (it == count.end()) continue;
    parts.push_back(absl::StrCat(it->second, " ", it->first));
    count.erase(it);
  }
  for (const auto& [kind, n] : count) parts.push_back(absl::StrCat(n, " ", kind));  // newer kinds
  return absl::StrJoin(parts, ", ");
}

int RunDiff(Global& g, const std::string& a, const std::string& b,
            const std::vector<std::string>& ignore, const std::string& format,
            const std::string& html_path) {
  // The collector resolves envelope ids and names an unknown side itself.
  v1::DiffRequest r;
  r.set_a(a);
  r.set_b(b);
  for (const auto& p : ignore) r.add_ignore_paths(p);
  auto diff = g.Client().Diff(r);
  if (!diff.ok()) return Fail("diff", diff.status());
  if (!html_path.empty()) {
    auto ta = g.Client().Get(a);
    if (!ta.ok()) return Fail("diff", ta.status());
    auto tb = g.Client().Get(b);
    if (!tb.ok()) return Fail("diff", tb.status());
    if (!WriteFile(html_path, DiffHtml(*ta, *tb, *diff))) {
      return Fail("diff", absl::FailedPreconditionError("cannot write " + html_path));
    }
  }
  if (format == "json") {
    std::cout << DiffJson(r.a(), r.b(), *diff).dump(2) << "\n";
  } else if (diff->same()) {
    std::cout << Green("same") << ": " << r.a() << " and " << r.b()
              << " took the same path with the same results\n";
  } else {
    std::cout << r.a() << " vs " << r.b() << ": " << diff->differences_size() << " difference"
              << (diff->differences_size() == 1 ? "" : "s") << " (" << DiffTally(*diff) << ")\n";
    auto print = [](const v1::Difference& d) {
      if (!d.a().empty()) std::cout << "      a: " << Red(d.a()) << "\n";
      if (!d.b().empty()) std::cout << "      b: " << Green(d.b()) << "\n";
    };
    // The first hop (in lineage order, ancestors first) whose presence, status or error
    // differs: where two runs went different ways, ahead of the data that differs before it.
    for (const auto& d : diff->differences()) {
      if (d.kind() == "payload_changed" || d.kind() == "timing_changed" || d.lineage().empty()) {
        continue;
      }
      std::cout << "  the paths part at " << Bold(d.lineage()) << " (" << d.kind() << ")\n";
      print(d);
      std::cout << "\n";
      break;
    }
    for (const auto& d : diff->differences()) {
      std::cout << "  " << Yellow(d.kind()) << "  " << d.lineage()
                << (d.path().empty() ? "" : "  " + d.path()) << "\n";
      print(d);
    }
  }
  return diff->same() ? 0 : kExitDifference;
}

struct ReplayFlags {
  std::string trace, socket = "/var/run/asya/asya-runtime.sock", actor, envelope, out;
  std::string timeout = "5m";
  bool dry_run = false, allow_redacted = false, expect_same = false;
  // Batch mode.
  bool sump = false;
  std::string reason, since, rate = "20/s", resume;
  int limit = 0;
};

// --rate ("20/s" or "20") and --since of the batch commands.
absl::Status ParsePacing(const std::string& rate_flag, const std::string& since,
                         BatchReplayOptions* o) {
  std::string rate = rate_flag;
  if (absl::EndsWith(rate, "/s")) rate.resize(rate.size() - 2);
  if (!absl::SimpleAtod(rate, &o->rate) || o->rate <= 0) {
    return absl::InvalidArgumentError("--rate " + rate_flag +
                                      ": expected a rate per second, e.g. 20/s");
  }
  if (!since.empty()) {
    auto t = ParseWhen("--since", since);
    if (!t.ok()) return t.status();
    o->since_ns = *t;
  }
  return absl::OkStatus();
}

int RunBatch(Global& g, const ReplayFlags& f, absl::Duration timeout) {
  BatchReplayOptions o;
  o.actor = f.actor;
  o.reason = f.reason;
  o.limit = f.limit;
  o.resume = f.resume;
  o.dry_run = f.dry_run;
  o.allow_redacted = f.allow_redacted;
  o.timeout = timeout;
  if (auto s = ParsePacing(f.rate, f.since, &o); !s.ok()) return Fail("replay", s);
  if (!f.dry_run) {
    if (auto s = NewUdsRuntimeClient(f.socket)->Health(absl::Seconds(5)); !s.ok()) {
      return Fail("replay", absl::UnavailableError("no runtime answers on " + f.socket + ": " +
                                                   std::string(s.message()) +
                                                   " (start it, or pass --socket PATH)"));
    }
  }
  std::atomic<bool> stop{false};
  HandleStopSignals([&stop](int) { stop = true; });  // Ctrl-C: finish the current replay, then stop
  const std::string socket = f.socket;
  auto summary = RunBatchReplay(
      g.Client(), [socket] { return NewUdsRuntimeClient(socket); }, Clock::Real(), o, &stop,
      std::cerr, isatty(STDERR_FILENO));
  if (!summary.ok()) return Fail("replay", summary.status());
  const BatchReplaySummary& b = *summary;
  std::vector<std::vector<std::string>> rows = {
      {"fixed (fails no more)", Green(std::to_string(b.fixed))},
      {"still failing", b.still_failing > 0 ? Red(std::to_string(b.still_failing)) : "0"}};
  for (const auto& [type, n] : b.failing_by_error) rows.push_back({"  " + type, std::to_string(n)});
  rows.push_back({"not replayable (capture)", std::to_string(b.refused)});
  rows.push_back({"done in an earlier run", std::to_string(b.skipped)});
  PrintTable({"RESULT", "HOPS"}, rows);
  if (b.interrupted) {
    std::cout << "interrupted"
              << (f.resume.empty() ? "" : "; run again with the same --resume to continue") << "\n";
  }
  if (f.dry_run) return 0;
  return b.interrupted || b.still_failing > 0 || b.refused > 0 ? kExitDifference : 0;
}

int RunReplay(Global& g, const ReplayFlags& f, const std::string& format) {
  absl::Duration timeout;
  if (!absl::ParseDuration(f.timeout, &timeout) || timeout <= absl::ZeroDuration()) {
    return Fail("replay", absl::InvalidArgumentError("--timeout " + f.timeout +
                                                     ": expected a duration such as 30s"));
  }
  if (f.sump) {
    if (!f.trace.empty() || !f.envelope.empty()) {
      return Fail("replay", absl::InvalidArgumentError(
                                "--sump replays many traces: drop TRACE_ID/--envelope"));
    }
    return RunBatch(g, f, timeout);
  }
  if (f.trace.empty()) {
    return Fail("replay",
                absl::InvalidArgumentError("give a TRACE_ID, or --sump for every failed trace"));
  }
  auto artifact = g.Client().Get(f.trace);
  if (!artifact.ok()) return Fail("replay", artifact.status());
  std::vector<const v1::Hop*> hops = SelectHops(*artifact, f.envelope, f.actor);
  if (hops.empty()) {
    return Fail("replay", absl::InvalidArgumentError(
                              f.envelope.empty() && f.actor.empty()
                                  ? "trace " + artifact->trace_id() +
                                        " has no failed hop (choose one with --actor or --envelope)"
                                  : "no hop in trace " + artifact->trace_id() +
                                        " matches --actor/--envelope"));
  }
  std::unique_ptr<RuntimeClient> runtime;
  if (!f.dry_run) {
    runtime = NewUdsRuntimeClient(f.socket);
    if (auto s = runtime->Health(absl::Seconds(5)); !s.ok()) {
      return Fail("replay", absl::UnavailableError("no runtime answers on " + f.socket + ": " +
                                                   std::string(s.message()) +
                                                   " (start it, or pass --socket PATH)"));
    }
  }
  std::vector<ReplayResult> results;
  Json all = Json::array();
  int failing = 0, refused = 0, differing = 0;
  for (const v1::Hop* hop : hops) {
    if (runtime) runtime = NewUdsRuntimeClient(f.socket);  // a fresh replay header per hop
    ReplayResult r =
        ReplayHop(artifact->trace_id(), *hop, runtime.get(), timeout, f.dry_run, f.allow_redacted);
    all.push_back(ReplayResultJson(r));
    if (!r.refused.empty()) ++refused;
    if (!r.dry_run && r.refused.empty() && !r.now_succeeds) ++failing;
    if (!r.dry_run && r.refused.empty() && !r.same) ++differing;
    if (format == "json") continue;
    std::cout << Paint(absl::StrCat(r.actor, "  ", r.envelope_id,
                                    r.attempt > 1 ? absl::StrCat(" attempt ", r.attempt) : ""),
                       "1")
              << "\n";
    std::cout << "  was: " << (r.original_failed ? Red("failed") : Green("ok"))
              << absl::StrCat("  http ", r.original_http, "  ", r.original_outputs, " output(s)")
              << (r.original_error.empty() ? "" : "  " + Red(r.original_error)) << "\n";
    if (!r.refused.empty()) {
      std::cout << "  " << Yellow("not replayed: " + r.refused) << "\n";
      continue;
    }
    if (r.dry_run) {
      std::cout << "  would send (x-meshtrace-replay " << r.replay_id << "):\n    " << r.sent
                << "\n";
      continue;
    }
    std::string now = r.now_succeeds ? Green("ok") : Red("fails");
    std::string error =
        r.reply.error ? (r.reply.error->type.empty() ? r.reply.error->code : r.reply.error->type) +
                            ": " + r.reply.error->message
                      : "";
    std::cout << "  now: " << now
              << absl::StrCat(
                     "  http ", r.reply.http_status, "  ", r.reply.frames.size(), " frame(s)  ",
                     absl::StrFormat("%.1fms", absl::ToDoubleMilliseconds(r.reply.duration)))
              << (error.empty() ? "" : "  " + Red(error)) << "\n";
    for (const auto& c : r.changes) std::cout << "    " << Yellow(c) << "\n";
    if (r.changes.empty() && r.now_succeeds)
      std::cout << "    " << Dim("frames match the original") << "\n";
  }
  if (!f.out.empty() && !WriteFile(f.out, all.dump(2) + "\n")) {
    return Fail("replay", absl::FailedPreconditionError("cannot write " + f.out));
  }
  if (format == "json")
    std::cout << all.dump(2) << "\n";
  else {
    std::cout << "\n"
              << hops.size() << " hop(s): " << (hops.size() - failing - refused) << " ok, "
              << failing << " failing, " << refused << " not replayed"
              << (f.expect_same ? absl::StrCat(", ", differing, " differ") : "") << "\n";
  }
  if (f.dry_run) return 0;
  if (failing > 0 || refused > 0 || (f.expect_same && differing > 0)) return kExitDifference;
  return 0;
}

struct RedriveFlags {
  std::string brokers, properties, ns, actor, reason, since, rate = "10/s", resume;
  int limit = 0;
  bool dry_run = false, yes = false, allow_redacted = false;
};

int RunRedriveCommand(Global& g, const RedriveFlags& f) {
  if (!f.dry_run && !f.yes) {
    return Fail("redrive",
                absl::InvalidArgumentError(
                    "redrive publishes captured envelopes to live topics, where the mesh "
                    "processes them for real: look first with --dry-run, then add --yes"));
  }
  BatchReplayOptions o;
  o.actor = f.actor;
  o.reason = f.reason;
  o.limit = f.limit;
  o.resume = f.resume;
  o.dry_run = f.dry_run;
  o.allow_redacted = f.allow_redacted;
  if (auto s = ParsePacing(f.rate, f.since, &o); !s.ok()) return Fail("redrive", s);
  std::unique_ptr<KafkaPublisher> publisher;
  if (!f.dry_run) {
    auto opened = KafkaPublisher::Open(f.brokers, f.properties);
    if (!opened.ok()) return Fail("redrive", opened.status());
    publisher = *std::move(opened);
  }
  std::atomic<bool> stop{false};
  HandleStopSignals([&stop](int) { stop = true; });
  auto summary = RunRedrive(g.Client(), publisher.get(), f.ns, Clock::Real(), o, &stop,
                            f.dry_run ? std::cout : std::cerr, isatty(STDERR_FILENO));
  if (!summary.ok()) return Fail("redrive", summary.status());
  std::cout << (f.dry_run ? "dry run: nothing published"
                          : absl::StrCat("published ", summary->published))
            << "; not sendable (capture) " << summary->refused << "; done in an earlier run "
            << summary->skipped << (summary->interrupted ? "; interrupted" : "") << "\n";
  return summary->refused > 0 || summary->interrupted ? kExitDifference : 0;
}

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
      "Talks to meshtrace-collector's Query service; see docs/ for the whole picture."};
  app.require_subcommand(1);
  app.fallthrough();  // global options also after the subcommand
  app.set_version_flag("--version", std::string("meshtrace ") + MESHTRACE_VERSION);
  Global g;
  app.add_option("--collector", g.collector, "collector gRPC address host:port")
      ->envname("MESHTRACE_COLLECTOR")
      ->default_str("127.0.0.1:7700");
  app.add_option("--token", g.token, "collector API token")->envname("MESHTRACE_API_TOKEN");
  std::string collector_ca;
  app.add_option("--collector-ca", collector_ca,
                 "PEM file of the CA of the collector's TLS certificate (TLS on)")
      ->envname("MESHTRACE_COLLECTOR_CA")
      ->check(CLI::ExistingFile);
  app.footer(
      "Exit codes: 0 success, 1 a difference or a failing replay, 2 usage, connection or lookup "
      "errors.");

  std::string format = "table";
  auto add_format = [&format](CLI::App* cmd) {
    cmd->add_option("-o,--output", format, "table or json")
        ->check(CLI::IsMember({"table", "json"}));
  };

  ListFlags list_flags;
  CLI::App* traces = app.add_subcommand("traces", "List traces, newest first, with filters");
  list_flags.Add(traces);
  add_format(traces);
  traces->footer(
      "Examples:\n"
      "  meshtrace traces --outcome failed --since 1h\n"
      "  meshtrace traces --verdict stalled --actor payments -o json");

  std::string show_id;
  CLI::App* show =
      app.add_subcommand("show", "Show one trace as a tree: hops, timings, errors, anomalies");
  show->add_option("TRACE_ID", show_id, "a trace id or an envelope id")->required();
  add_format(show);
  show->footer("Examples:\n  meshtrace show 7f3c9a2e-...\n  meshtrace show ENVELOPE_ID -o json");

  std::string report_id, report_html, report_json, report_since, report_dir;
  bool report_failed = false;
  CLI::App* report =
      app.add_subcommand("report", "Write the self-contained HTML report of a trace");
  report->add_option("TRACE_ID", report_id, "a trace id or an envelope id");
  report->add_option("-o,--output", report_html, "the HTML file to write");
  report->add_option("--json", report_json, "also write the trace artifact as JSON");
  report->add_flag("--failed", report_failed, "one report per failed trace, plus index.html");
  report->add_option("--since", report_since, "with --failed: traces started this long ago (1h)");
  report->add_option("--dir", report_dir, "with --failed: the directory to write to");
  report->footer(
      "Examples:\n"
      "  meshtrace report TRACE_ID -o trace.html\n"
      "  meshtrace report --failed --since 1h --dir reports/");

  std::string diff_a, diff_b, diff_html;
  std::vector<std::string> diff_ignore;
  CLI::App* diff = app.add_subcommand(
      "diff", "Compare two traces by actor and envelope lineage; exit 1 when they differ");
  diff->add_option("A", diff_a, "trace or envelope id")->required();
  diff->add_option("B", diff_b, "trace or envelope id")->required();
  diff->add_option("--ignore", diff_ignore, "JSON paths to ignore, e.g. $.payload.created_at");
  diff->add_option("--html", diff_html, "also write a side-by-side HTML report to this file");
  add_format(diff);
  diff->footer(
      "Ids, timestamps and trace headers are ignored by default.\n\n"
      "Examples:\n"
      "  meshtrace diff GOLDEN_TRACE NEW_TRACE\n"
      "  meshtrace diff A B --ignore '$.payload.generated_at' -o json");

  ReplayFlags replay_flags;
  CLI::App* replay = app.add_subcommand(
      "replay", "Re-invoke a runtime with a captured input and compare with what happened");
  replay->add_option("TRACE_ID", replay_flags.trace, "a trace id or an envelope id");
  replay->add_option("--socket", replay_flags.socket, "the runtime's Unix socket")
      ->default_str("/var/run/asya/asya-runtime.sock");
  replay->add_option("--actor", replay_flags.actor, "replay the hops at this actor");
  replay->add_option("--envelope", replay_flags.envelope, "replay this envelope's hop");
  replay->add_flag("--dry-run", replay_flags.dry_run, "print what would be sent");
  replay->add_option("--out", replay_flags.out, "write the results as JSON to this file");
  replay->add_flag("--allow-redacted", replay_flags.allow_redacted,
                   "replay captures with redacted fields");
  replay->add_flag("--expect-same", replay_flags.expect_same,
                   "exit 1 when the frames differ from the original outputs");
  replay->add_option("--timeout", replay_flags.timeout, "per call")->default_str("5m");
  replay->add_flag("--sump", replay_flags.sump,
                   "batch: every failed hop of every failed trace (what went to x-sump)");
  replay->add_option("--reason", replay_flags.reason, "batch: only traces with this reason");
  replay->add_option("--since", replay_flags.since,
                     "batch: only traces started this long ago (1h)");
  replay->add_option("--rate", replay_flags.rate, "batch: replays per second at most")
      ->default_str("20/s");
  replay->add_option("--limit", replay_flags.limit, "batch: at most this many replays");
  replay->add_option("--resume", replay_flags.resume,
                     "batch: file of finished replays, skipped when run again (Ctrl-C safe)");
  add_format(replay);
  replay->footer(
      "Without --actor/--envelope every failed hop is replayed. Each call carries the header\n"
      "x-meshtrace-replay (a fresh id), in HTTP and in the envelope's headers.\n"
      "Exit 0 when every replayed hop now succeeds, 1 when one fails again or was not replayed.\n\n"
      "Examples:\n"
      "  meshtrace replay TRACE_ID --socket /var/run/asya/asya-runtime.sock\n"
      "  meshtrace replay TRACE_ID --envelope ENVELOPE_ID --actor price --dry-run\n"
      "  meshtrace replay --sump --actor price --since 1h --rate 10/s --resume done.tsv --socket "
      "S");

  RedriveFlags redrive_flags;
  CLI::App* redrive = app.add_subcommand(
      "redrive", "Re-publish the captured inputs of failed hops to their actors' Kafka topics");
  redrive->add_option("--brokers", redrive_flags.brokers, "Kafka bootstrap list")
      ->envname("ASYA_KAFKA_BROKERS")
      ->required();
  redrive
      ->add_option("--kafka-properties", redrive_flags.properties,
                   "extra librdkafka settings key=value,... (TLS, SASL)")
      ->envname("ASYA_KAFKA_PROPERTIES");
  redrive->add_option("--namespace", redrive_flags.ns, "topics are asya-{namespace}-{actor}")
      ->envname("ASYA_NAMESPACE");
  redrive->add_option("--actor", redrive_flags.actor, "only failed hops at this actor");
  redrive->add_option("--reason", redrive_flags.reason, "only traces with this reason");
  redrive->add_option("--since", redrive_flags.since, "only traces started this long ago (1h)");
  redrive->add_option("--rate", redrive_flags.rate, "messages per second at most")
      ->default_str("10/s");
  redrive->add_option("--limit", redrive_flags.limit, "at most this many messages");
  redrive->add_option("--resume", redrive_flags.resume,
                      "file of published ones, skipped when run again");
  redrive->add_flag("--dry-run", redrive_flags.dry_run, "print what would be published");
  redrive->add_flag("--yes", redrive_flags.yes, "really publish");
  redrive->add_flag("--allow-redacted", redrive_flags.allow_redacted,
                    "send captures with redacted fields");
  redrive->footer(
      "Each message is the hop's captured input as it was received, keyed by trace id, with\n"
      "headers.x-meshtrace-replay set to a fresh id, so the mesh (once fixed) processes it again\n"
      "and the collector can tell it from production traffic. Truncated or payload-less\n"
      "captures are never sent; redacted ones only with --allow-redacted.\n\n"
      "Examples:\n"
      "  meshtrace redrive --brokers kafka:9092 --namespace prod --actor setup-payment --since 1h "
      "--dry-run\n"
      "  meshtrace redrive --brokers kafka:9092 --namespace prod --actor setup-payment --since 1h "
      "--yes");

  DemoOptions demo_options;
  CLI::App* demo = app.add_subcommand(
      "demo", "Run a whole traced mesh on this machine and show what meshtrace finds");
  demo->add_option("--envelopes", demo_options.envelopes, "sign-ups to produce")->default_val(300);
  demo->add_option("--seed", demo_options.seed, "seed of the generated sign-ups")->default_val(42);
  demo->add_option("--fail-rate", demo_options.fail_rate, "share of declined cards")
      ->default_val(0.1);
  demo->add_option("--dir", demo_options.dir, "where data, sockets, logs and reports go")
      ->default_val("meshtrace-demo");
  demo->add_option("--grpc-port", demo_options.grpc_port, "collector gRPC port")->default_val(7700);
  demo->add_option("--http-port", demo_options.http_port, "collector UI/API port")
      ->default_val(7701);
  demo->add_flag("--keep-running", demo_options.keep_running,
                 "leave the mesh up for exploring until Ctrl-C");
  demo->add_flag("--tap", demo_options.tap,
                 "tap mode: each runtime behind meshtrace-tap, which alone reports; the sidecars "
                 "stand in for Asya's and send no events");
  demo->add_option("--lose", demo_options.lose,
                   "an actor whose pod is down until every trace has settled: see where "
                   "meshtrace says the envelopes sent to it were lost, then the traces complete");
  demo->footer(
      "Starts, as child processes on loopback: a Kafka (librdkafka's mock cluster), a collector,\n"
      "and an onboarding mesh create-account → issue-token → setup-payment → send-welcome (which\n"
      "fans out) plus x-sink and x-sump, each a meshtrace-sidecar beside an example runtime.\n"
      "setup-payment fails for declined cards. Prints a summary, report paths, the UI address and\n"
      "a replay command. Nothing is left running afterwards, even on Ctrl-C.\n\n"
      "Examples:\n"
      "  meshtrace demo\n"
      "  meshtrace demo --keep-running --envelopes 1000\n"
      "  meshtrace demo --lose send-welcome\n"
      "  meshtrace demo --tap");

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
  if (!collector_ca.empty()) {
    std::ifstream in(collector_ca);
    std::stringstream pem;
    pem << in.rdbuf();
    g.ca_pem = pem.str();
    if (g.ca_pem.find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
      std::cerr << "meshtrace: --collector-ca " << collector_ca << ": not a PEM certificate file\n";
      return kExitUsage;
    }
  }
  if (traces->parsed()) return RunTraces(g, list_flags, format);
  if (show->parsed()) return RunShow(g, show_id, format);
  if (report->parsed()) {
    return RunReport(g, report_id, report_html, report_json, report_failed, report_since,
                     report_dir);
  }
  if (diff->parsed()) return RunDiff(g, diff_a, diff_b, diff_ignore, format, diff_html);
  if (replay->parsed()) return RunReplay(g, replay_flags, format);
  if (redrive->parsed()) return RunRedriveCommand(g, redrive_flags);
  if (dev_kafka->parsed()) return RunDevKafka(brokers, topics);
  if (demo->parsed()) {
    std::error_code ec;
    demo_options.bin_dir =
        std::filesystem::read_symlink("/proc/self/exe", ec).parent_path().string();
    return RunDemo(demo_options);
  }
  return kExitUsage;
}

}  // namespace meshtrace::replayer
