#include "collector/report.h"

#include <algorithm>
#include <functional>
#include <nlohmann/json.hpp>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "collector/artifact.h"
#include "collector/trace_state.h"
#include "common/html.h"
#include "common/json_diff.h"

namespace meshtrace::collector {
namespace {

constexpr char kStyle[] = R"css(
:root{--ok:#1a7f37;--bad:#cf222e;--warn:#9a6700;--muted:#57606a;--line:#d0d7de;--bg:#f6f8fa}
*{box-sizing:border-box}body{font:14px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;margin:0;color:#1f2328}
header{padding:16px 24px;border-bottom:1px solid var(--line);background:var(--bg)}
main{padding:8px 24px 40px}h1{font-size:20px;margin:4px 0}h2{font-size:16px;margin:24px 0 8px}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;color:#fff;font-size:12px;font-weight:600;margin-right:6px}
.complete{background:var(--ok)}.stalled,.partial{background:var(--warn)}.open{background:var(--muted)}
.succeeded{background:var(--ok)}.failed{background:var(--bad)}.mixed{background:var(--warn)}.unknown{background:var(--muted)}
.meta{color:var(--muted)}code,pre{font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,monospace}
pre{background:var(--bg);border:1px solid var(--line);padding:8px;overflow:auto;max-height:360px;white-space:pre-wrap;word-break:break-all}
table{border-collapse:collapse}td,th{padding:2px 10px 2px 0;text-align:left;vertical-align:top}
.anomaly{border-left:4px solid var(--warn);padding:4px 10px;margin:4px 0;background:#fff8c5}
.hop{border:1px solid var(--line);border-radius:6px;margin:8px 0;padding:6px 12px}
.hop.bad{border-color:var(--bad)}summary{cursor:pointer;font-weight:600}
.err{color:var(--bad)}.add{color:var(--ok)}.del{color:var(--bad)}
.route span{display:inline-block;padding:1px 8px;margin:2px;border:1px solid var(--line);border-radius:4px}
.route .miss{border-color:var(--bad);color:var(--bad);text-decoration:line-through}
.tree ul{list-style:none;padding-left:18px;border-left:1px dashed var(--line);margin:0}
.replay{display:flex;gap:8px;align-items:center}.replay code{background:var(--bg);padding:4px 6px;border:1px solid var(--line)}
button{font-size:12px;cursor:pointer}svg text{font:11px system-ui,sans-serif}
)css";

constexpr char kScript[] = R"js(
document.querySelectorAll('button.copy').forEach(function(b){b.addEventListener('click',function(){
var t=b.getAttribute('data-text');if(navigator.clipboard){navigator.clipboard.writeText(t);}
b.textContent='copied';setTimeout(function(){b.textContent='copy';},1500);});});
)js";

std::string Pretty(const v1::Capture& c) {
  if (c.envelope_json().empty())
    return c.payload_omitted() ? "(payload not captured)" : "(no capture)";
  if (!c.truncated()) {
    nlohmann::json j = nlohmann::json::parse(c.envelope_json(), nullptr, false);
    if (!j.is_discarded()) return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  return c.envelope_json();
}

std::string CaptureNotes(const v1::Capture& c) {
  std::string notes;
  if (c.truncated()) absl::StrAppend(&notes, " truncated (", c.original_size(), " bytes)");
  if (c.payload_omitted()) absl::StrAppend(&notes, " payload omitted");
  if (c.redacted_fields_size() > 0) {
    absl::StrAppend(&notes, " redacted:");
    for (const auto& f : c.redacted_fields()) absl::StrAppend(&notes, " ", f);
  }
  return notes.empty() ? "" : "<span class=meta>(" + HtmlEscape(notes.substr(1)) + ")</span>";
}

// Durations as people read them: 340 µs, 12.5 ms, 2.31 s.
std::string Ms(int64_t ns) {
  if (ns < 1'000'000) return absl::StrFormat("%d µs", ns / 1000);
  if (ns < 10'000'000'000) return absl::StrFormat("%.1f ms", static_cast<double>(ns) / 1e6);
  return absl::StrFormat("%.2f s", static_cast<double>(ns) / 1e9);
}

std::string CopyBox(const std::string& text) {
  return absl::StrCat("<div class=replay><code>", HtmlEscape(text),
                      "</code><button class=copy data-text=\"", HtmlEscape(text),
                      "\">copy</button></div>");
}

void Waterfall(const v1::TraceArtifact& a, std::string* out) {
  std::vector<const v1::Hop*> hops;
  for (const v1::Hop& h : a.hops()) hops.push_back(&h);
  std::stable_sort(hops.begin(), hops.end(), [](const v1::Hop* x, const v1::Hop* y) {
    return x->received_at_ns() - x->queue_wait_ns() < y->received_at_ns() - y->queue_wait_ns();
  });
  int64_t start = INT64_MAX, end = 0;
  for (const v1::Hop* h : hops) {
    start = std::min(start, h->received_at_ns() - h->queue_wait_ns());
    end = std::max(end, h->received_at_ns() + h->runtime_ns());
  }
  const double span = std::max<double>(1.0, static_cast<double>(end - start));
  const int label = 220, width = 640, row = 22;
  const int height = row * static_cast<int>(hops.size()) + 24;
  absl::StrAppend(out, "<svg role=img aria-label=\"timeline\" width=\"", label + width + 90,
                  "\" height=\"", height, "\">");
  auto x = [&](int64_t t) { return label + static_cast<double>(t - start) / span * width; };
  for (size_t i = 0; i < hops.size(); ++i) {
    const v1::Hop& h = *hops[i];
    const int y = static_cast<int>(i) * row + 4;
    const bool bad = !h.replay_command().empty() || h.rejected();
    absl::StrAppend(out, "<text x=\"0\" y=\"", y + 14, "\">", HtmlEscape(h.actor()),
                    h.attempt() > 1 ? absl::StrCat(" #", h.attempt()) : "", "</text>");
    const double q0 = x(h.received_at_ns() - h.queue_wait_ns()), q1 = x(h.received_at_ns());
    const double r1 = std::max(q1 + 2, x(h.received_at_ns() + h.runtime_ns()));
    absl::StrAppend(
        out,
        absl::StrFormat("<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"14\" fill=\"#d0d7de\">"
                        "<title>queue wait %s</title></rect>",
                        q0, y + 3, std::max(0.0, q1 - q0), Ms(h.queue_wait_ns())));
    absl::StrAppend(
        out, absl::StrFormat("<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"14\" fill=\"%s\">"
                             "<title>runtime %s</title></rect>",
                             q1, y + 3, r1 - q1, bad ? "#cf222e" : "#0969da", Ms(h.runtime_ns())));
    absl::StrAppend(out, absl::StrFormat("<text x=\"%.1f\" y=\"%d\">%s</text>", r1 + 4, y + 14,
                                         Ms(h.queue_wait_ns() + h.runtime_ns())));
  }
  absl::StrAppend(out, "<text x=\"", label, "\" y=\"", height - 4,
                  "\" fill=\"#57606a\">grey: queue wait, blue: runtime, red: failed; total ",
                  Ms(end - start), "</text></svg>");
}

void Tree(const v1::TraceArtifact& a, std::string* out) {
  // Children of a hop: the hops that received one of its outputs.
  absl::flat_hash_map<std::string, std::vector<const v1::Hop*>> at;  // envelope\0actor → hops
  for (const v1::Hop& h : a.hops()) at[h.envelope_id() + '\0' + h.actor()].push_back(&h);
  // A tap reports a fan-out child's send without its id: the child is known by its parent.
  absl::flat_hash_map<std::string, std::vector<const v1::Hop*>> by_parent;  // parent\0actor
  for (const v1::Hop& h : a.hops()) {
    if (!h.parent_id().empty()) by_parent[h.parent_id() + '\0' + h.actor()].push_back(&h);
  }
  // The hops that received output `i` of hop `h`.
  auto receivers = [&](const v1::Hop& h, int i) -> std::vector<const v1::Hop*> {
    const v1::HopOutput& o = h.outputs(i);
    if (!o.envelope_id().empty()) {
      auto it = at.find(o.envelope_id() + '\0' + o.to_actor());
      return it == at.end() ? std::vector<const v1::Hop*>() : it->second;
    }
    int nth = 0;  // the how-many-th id-less output to this actor
    for (int j = 0; j < i; ++j) {
      nth += h.outputs(j).envelope_id().empty() && h.outputs(j).to_actor() == o.to_actor();
    }
    auto it = by_parent.find(h.envelope_id() + '\0' + o.to_actor());
    if (it == by_parent.end() || nth >= static_cast<int>(it->second.size())) return {};
    return {it->second[nth]};
  };
  absl::flat_hash_map<const v1::Hop*, bool> has_parent;
  for (const v1::Hop& h : a.hops()) {
    for (int i = 0; i < h.outputs_size(); ++i) {
      for (const v1::Hop* c : receivers(h, i)) {
        if (c != &h) has_parent[c] = true;
      }
    }
  }
  std::function<void(const v1::Hop&, int)> node = [&](const v1::Hop& h, int depth) {
    const bool bad = !h.replay_command().empty() || h.rejected();
    absl::StrAppend(out, "<li><span class=\"", bad ? "err" : "", "\">", HtmlEscape(h.actor()),
                    "</span> <code>", HtmlEscape(h.envelope_id().substr(0, 12)), "</code>",
                    h.attempt() > 1 ? absl::StrCat(" attempt ", h.attempt()) : "");
    if (!h.terminal_phase().empty())
      absl::StrAppend(out, " <i>", HtmlEscape(h.terminal_phase()), "</i>");
    if (h.has_error())
      absl::StrAppend(out, " <span class=err>", HtmlEscape(h.error().type()), "</span>");
    absl::StrAppend(out, "<ul>");
    if (depth < 64) {
      for (int i = 0; i < h.outputs_size(); ++i) {
        const v1::HopOutput& o = h.outputs(i);
        const std::vector<const v1::Hop*> got = receivers(h, i);
        if (got.empty()) {
          absl::StrAppend(
              out, "<li class=err>", HtmlEscape(o.to_actor()), " <code>",
              HtmlEscape(o.envelope_id().substr(0, 12)), "</code> (",
              o.inferred() ? "sent per the reply, not observed there" : "sent, never received",
              ")</li>");
          continue;
        }
        for (const v1::Hop* c : got) {
          if (c != &h) node(*c, depth + 1);
        }
      }
    }
    absl::StrAppend(out, "</ul></li>");
  };
  absl::StrAppend(out, "<div class=tree><ul>");
  for (const v1::Hop& h : a.hops()) {
    if (!has_parent[&h]) node(h, 0);
  }
  absl::StrAppend(out, "</ul></div>");
}

std::string PayloadOf(const v1::Capture& c) {
  if (c.envelope_json().empty() || c.truncated()) return "";
  nlohmann::json j = nlohmann::json::parse(c.envelope_json(), nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("payload")) return "";
  return j["payload"].dump();
}

void HopDetail(const v1::TraceArtifact& a, const v1::Hop& h, std::string* out) {
  const bool bad = !h.replay_command().empty() || h.rejected();
  absl::StrAppend(out, "<details class=\"hop", bad ? " bad" : "", "\"", bad ? " open" : "",
                  " id=\"hop-", HtmlEscape(h.envelope_id()), "-", HtmlEscape(h.actor()), "\">",
                  "<summary>", HtmlEscape(h.actor()),
                  h.attempt() > 1 ? absl::StrCat(" (attempt ", h.attempt(), ")") : "", " — ",
                  Ms(h.runtime_ns()), bad ? " — <span class=err>failed</span>" : "",
                  "</summary><table>");
  auto row = [&](const std::string& k, const std::string& v) {
    absl::StrAppend(out, "<tr><th>", k, "</th><td>", v, "</td></tr>");
  };
  row("envelope",
      "<code>" + HtmlEscape(h.envelope_id()) + "</code>" +
          (h.parent_id().empty() ? "" : " parent <code>" + HtmlEscape(h.parent_id()) + "</code>"));
  row("pod / topic", HtmlEscape(h.pod() + " / " + h.topic()));
  if (h.observed_by_tap()) {
    row("seen by",
        "meshtrace-tap on the runtime's socket: the /invoke exchange only; the queue "
        "receipt, the publishes (inferred below from the reply) and the ack are not "
        "visible to a tap");
  }
  if (!h.replay_id().empty())
    row("replay", "x-meshtrace-replay <code>" + HtmlEscape(h.replay_id()) + "</code>");
  row("received", HtmlEscape(TimeText(h.received_at_ns())));
  row("queue wait / runtime", Ms(h.queue_wait_ns()) + " / " + Ms(h.runtime_ns()));
  row("HTTP status / frames",
      absl::StrCat(h.http_status(), " / ", h.frame_count(), h.timed_out() ? " (timed out)" : ""));
  if (!h.terminal_phase().empty()) {
    row("final status", HtmlEscape(h.terminal_phase() + " " + h.terminal_reason()));
  }
  for (const v1::HopOutput& o : h.outputs()) {
    const std::string id = o.envelope_id().empty()
                               ? "a fan-out child (its id is the sidecar's)"
                               : "<code>" + HtmlEscape(o.envelope_id()) + "</code>";
    row(o.inferred() ? "sent (inferred)" : "sent",
        absl::StrCat(id, " → ", HtmlEscape(o.to_actor()), " (", HtmlEscape(o.message_type()),
                     o.phase().empty() ? "" : ", " + HtmlEscape(o.phase() + " " + o.reason()),
                     ")"));
  }
  absl::StrAppend(out, "</table>");
  if (h.has_error()) {
    const v1::ErrorInfo& e = h.error();
    absl::StrAppend(out, "<p class=err><b>", HtmlEscape(e.type().empty() ? e.code() : e.type()),
                    "</b>: ", HtmlEscape(e.message()), "</p>");
    if (!e.traceback().empty())
      absl::StrAppend(out, "<pre class=traceback>", HtmlEscape(e.traceback()), "</pre>");
  }
  if (!h.replay_command().empty())
    absl::StrAppend(out, "<p>Replay:</p>", CopyBox(h.replay_command()));
  absl::StrAppend(out, "<p>Input ", CaptureNotes(h.input()), "</p><pre>",
                  HtmlEscape(Pretty(h.input())), "</pre>");
  for (int i = 0; i < h.outputs_size(); ++i) {
    const v1::HopOutput& o = h.outputs(i);
    absl::StrAppend(out, "<p>Output ", i + 1, " → ", HtmlEscape(o.to_actor()), " ",
                    CaptureNotes(o.envelope()), "</p>");
    const std::string in = PayloadOf(h.input()), outp = PayloadOf(o.envelope());
    if (!in.empty() && !outp.empty()) {
      auto changes = DiffJson(in, outp);
      if (changes.ok()) {
        absl::StrAppend(out, "<div class=diff><b>payload diff (input → output)</b>",
                        changes->empty() ? " <span class=meta>unchanged</span>" : "", "<ul>");
        for (const JsonChange& c : *changes) {
          absl::StrAppend(out, "<li><code>", HtmlEscape(c.path), "</code> ");
          if (!c.before.empty())
            absl::StrAppend(out, "<span class=del>", HtmlEscape(c.before), "</span> ");
          if (!c.after.empty())
            absl::StrAppend(out, "→ <span class=add>", HtmlEscape(c.after), "</span>");
          absl::StrAppend(out, "</li>");
        }
        absl::StrAppend(out, "</ul></div>");
      }
    }
    absl::StrAppend(out, "<pre>", HtmlEscape(Pretty(o.envelope())), "</pre>");
  }
  absl::StrAppend(out, "</details>");
}

}  // namespace

std::string RenderReport(const v1::TraceArtifact& a) {
  std::string out;
  out.reserve(16384 + static_cast<size_t>(a.hops_size()) * 4096);
  const std::string verdict = VerdictName(a.verdict()), outcome = OutcomeName(a.outcome());
  absl::StrAppend(
      &out, "<!doctype html><html lang=en><head><meta charset=utf-8>",
      "<meta name=viewport content=\"width=device-width,initial-scale=1\">", "<title>meshtrace ",
      HtmlEscape(a.trace_id()), " — ", HtmlEscape(a.headline()), "</title><style>", kStyle,
      "</style></head><body><header>", "<div><span class=\"badge ", verdict, "\" id=verdict>",
      verdict, "</span><span class=\"badge ", outcome, "\" id=outcome>", outcome, "</span></div>",
      "<h1 id=headline>", HtmlEscape(a.headline()), "</h1><div class=meta>trace <code id=trace-id>",
      HtmlEscape(a.trace_id()), "</code> · started ", HtmlEscape(TimeText(a.started_at_ns())),
      " · ", Ms(a.ended_at_ns() - a.started_at_ns()), " · ", a.hops_size(), " hops · ",
      a.event_count(), " events</div></header><main>");
  if (a.anomalies_size() > 0) {
    absl::StrAppend(&out, "<h2>Anomalies</h2><div id=anomalies>");
    for (const v1::Anomaly& x : a.anomalies()) {
      absl::StrAppend(&out, "<div class=anomaly>", HtmlEscape(x.message()), "</div>");
    }
    absl::StrAppend(&out, "</div>");
  }
  // Planned route (the first envelope's) against the actors that actually ran.
  const v1::Route& plan = a.planned_route();
  std::vector<std::string> planned(plan.prev().begin(), plan.prev().end());
  if (!plan.curr().empty()) planned.push_back(plan.curr());
  planned.insert(planned.end(), plan.next().begin(), plan.next().end());
  absl::StrAppend(&out, "<h2>Route</h2><div class=route id=route><div>planned: ");
  for (const std::string& actor : planned) {
    const bool ran =
        std::find(a.taken_route().begin(), a.taken_route().end(), actor) != a.taken_route().end();
    absl::StrAppend(&out, "<span class=\"", ran ? "" : "miss", "\">", HtmlEscape(actor), "</span>");
  }
  absl::StrAppend(&out, "</div><div>taken: ");
  for (const std::string& actor : a.taken_route())
    absl::StrAppend(&out, "<span>", HtmlEscape(actor), "</span>");
  absl::StrAppend(&out, "</div></div><h2>Timeline</h2>");
  Waterfall(a, &out);
  absl::StrAppend(&out, "<h2>Fan-out tree</h2>");
  Tree(a, &out);
  absl::StrAppend(&out, "<h2>Hops</h2><div id=hops>");
  for (const v1::Hop& h : a.hops()) HopDetail(a, h, &out);
  absl::StrAppend(&out, "</div></main><script>", kScript, "</script></body></html>\n");
  return out;
}

}  // namespace meshtrace::collector
