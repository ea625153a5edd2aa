#include "collector/query.h"

#include <algorithm>
#include <functional>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "common/json_diff.h"

namespace meshtrace::collector {
namespace {

const std::vector<std::string> kIgnoredByDefault = {
    "$.id",
    "$.parent_id",
    "$.status.created_at",
    "$.status.updated_at",
    "$.status.deadline_at",
    "$.headers.trace_id",
    "$.headers.traceparent",
    "$.headers.tracestate",
    "$.headers.x-meshtrace-replay",
    "$.headers.x-asya-first-attempt",
};

std::string NodeKey(const std::string& envelope_id, const std::string& actor) {
  std::string key = envelope_id;
  key.push_back('\0');
  return key + actor;
}

// Lineage of each hop (its last attempt): the chain of actors from the trace's root, with the
// position among same-destination siblings for fan-out ("a > b > c#2").
absl::flat_hash_map<std::string, const v1::Hop*> ByLineage(const v1::TraceArtifact& t) {
  absl::flat_hash_map<std::string, const v1::Hop*> last;  // node → last attempt
  for (const v1::Hop& hop : t.hops()) last[NodeKey(hop.envelope_id(), hop.actor())] = &hop;
  struct Producer {
    const v1::Hop* hop;
    int index;
  };
  absl::flat_hash_map<std::string, Producer> producer;  // node → hop that sent it there
  for (const auto& [key, hop] : last) {
    absl::flat_hash_map<std::string, int> per_destination;
    for (const v1::HopOutput& out : hop->outputs()) {
      const std::string target = NodeKey(out.envelope_id(), out.to_actor());
      const int index = per_destination[out.to_actor()]++;
      if (target == key) continue;  // a retry to its own queue
      producer.try_emplace(target, Producer{hop, index});
    }
  }
  absl::flat_hash_map<std::string, std::string> lineage;
  std::function<std::string(const v1::Hop*, int)> of = [&](const v1::Hop* hop, int depth) {
    const std::string key = NodeKey(hop->envelope_id(), hop->actor());
    if (auto it = lineage.find(key); it != lineage.end()) return it->second;
    std::string value = hop->actor();
    auto p = producer.find(key);
    if (p != producer.end() && depth < 256) {
      value = absl::StrCat(of(p->second.hop, depth + 1), " > ", hop->actor(),
                           p->second.index > 0 ? absl::StrCat("#", p->second.index + 1) : "");
    }
    lineage[key] = value;
    return value;
  };
  absl::flat_hash_map<std::string, const v1::Hop*> out;
  for (const auto& [key, hop] : last) {
    std::string name = of(hop, 0);
    // Two unrelated roots at the same actor: keep both apart.
    while (out.contains(name)) name += "'";
    out[name] = hop;
  }
  return out;
}

std::string StatusText(const v1::Hop& h) {
  std::string s = h.rejected()    ? "rejected " + h.reject_reason()
                  : h.has_error() ? "error " + h.error().type()
                                  : "ok";
  if (h.http_status() != 0) absl::StrAppend(&s, " http ", h.http_status());
  if (!h.terminal_phase().empty()) absl::StrAppend(&s, " ", h.terminal_phase());
  for (const v1::HopOutput& o : h.outputs()) {
    absl::StrAppend(&s, " -> ", o.to_actor(), "(", o.message_type(),
                    o.phase().empty() ? "" : "/" + o.phase(), ")");
  }
  return s;
}

void Add(v1::DiffResponse* r, std::string kind, const std::string& actor,
         const std::string& lineage, std::string path, std::string a, std::string b) {
  v1::Difference* d = r->add_differences();
  d->set_kind(std::move(kind));
  d->set_actor(actor);
  d->set_lineage(lineage);
  d->set_path(std::move(path));
  d->set_a(std::move(a));
  d->set_b(std::move(b));
}

void DiffCaptures(v1::DiffResponse* r, const std::string& actor, const std::string& lineage,
                  const std::string& where, const v1::Capture& a, const v1::Capture& b,
                  const std::vector<std::string>& ignore) {
  if (a.envelope_json().empty() || b.envelope_json().empty()) return;
  if (a.truncated() || b.truncated()) {
    if (a.envelope_json() != b.envelope_json()) {
      Add(r, "payload_changed", actor, lineage, where, "(truncated capture)",
          "(truncated capture)");
    }
    return;
  }
  auto changes = DiffJson(a.envelope_json(), b.envelope_json(), ignore);
  if (!changes.ok()) {
    if (a.envelope_json() != b.envelope_json()) {
      Add(r, "payload_changed", actor, lineage, where, a.envelope_json().substr(0, 240),
          b.envelope_json().substr(0, 240));
    }
    return;
  }
  for (const JsonChange& c : *changes) {
    Add(r, "payload_changed", actor, lineage, where + c.path.substr(1), c.before, c.after);
  }
}

}  // namespace

v1::DiffResponse DiffArtifacts(const v1::TraceArtifact& a, const v1::TraceArtifact& b,
                               const std::vector<std::string>& ignore_paths) {
  std::vector<std::string> ignore = kIgnoredByDefault;
  ignore.insert(ignore.end(), ignore_paths.begin(), ignore_paths.end());
  v1::DiffResponse r;
  auto la = ByLineage(a), lb = ByLineage(b);
  std::vector<std::string> keys;
  for (const auto& [k, h] : la) keys.push_back(k);
  for (const auto& [k, h] : lb) {
    if (!la.contains(k)) keys.push_back(k);
  }
  std::sort(keys.begin(), keys.end());
  for (const std::string& key : keys) {
    auto ia = la.find(key);
    auto ib = lb.find(key);
    if (ib == lb.end()) {
      Add(&r, "hop_missing", ia->second->actor(), key, "", StatusText(*ia->second), "");
      continue;
    }
    if (ia == la.end()) {
      Add(&r, "hop_added", ib->second->actor(), key, "", "", StatusText(*ib->second));
      continue;
    }
    const v1::Hop& ha = *ia->second;
    const v1::Hop& hb = *ib->second;
    if (StatusText(ha) != StatusText(hb)) {
      Add(&r, "status_changed", ha.actor(), key, "", StatusText(ha), StatusText(hb));
    } else if (ha.has_error() && hb.has_error() && ha.error().message() != hb.error().message()) {
      Add(&r, "error_changed", ha.actor(), key, "error.message", ha.error().message(),
          hb.error().message());
    }
    if (key.find(" > ") == std::string::npos) {
      DiffCaptures(&r, ha.actor(), key, "input", ha.input(), hb.input(), ignore);
    }
    const int n = std::min(ha.outputs_size(), hb.outputs_size());
    for (int i = 0; i < n; ++i) {
      DiffCaptures(&r, ha.actor(), key, absl::StrCat("outputs[", i, "]"), ha.outputs(i).envelope(),
                   hb.outputs(i).envelope(), ignore);
    }
    const int64_t ra = ha.runtime_ns(), rb = hb.runtime_ns();
    const int64_t lo = std::min(ra, rb), hi = std::max(ra, rb);
    if (hi - lo > 100'000'000 && hi > 2 * lo) {
      Add(&r, "timing_changed", ha.actor(), key, "runtime_ms", absl::StrCat(ra / 1'000'000),
          absl::StrCat(rb / 1'000'000));
    }
  }
  // Same actors in a different order.
  std::vector<std::string> ta(a.taken_route().begin(), a.taken_route().end());
  std::vector<std::string> tb(b.taken_route().begin(), b.taken_route().end());
  if (ta != tb) {
    std::vector<std::string> sa = ta, sb = tb;
    std::sort(sa.begin(), sa.end());
    std::sort(sb.begin(), sb.end());
    if (sa == sb) {
      auto join = [](const std::vector<std::string>& v) {
        std::string s;
        for (const auto& x : v) s += (s.empty() ? "" : " > ") + x;
        return s;
      };
      Add(&r, "reordered", "", "", "taken_route", join(ta), join(tb));
    }
  }
  r.set_same(r.differences_size() == 0);
  return r;
}

QueryEngine::QueryEngine(const TraceStore* store, ArtifactOptions options, Clock* clock)
    : store_(store), options_(std::move(options)), clock_(clock) {}

absl::StatusOr<v1::ListTracesResponse> QueryEngine::List(
    const v1::ListTracesRequest& request) const {
  if (request.limit() > 1000) return absl::InvalidArgumentError("limit: at most 1000");
  if (request.since_ns() > 0 && request.until_ns() > 0 && request.since_ns() > request.until_ns()) {
    return absl::InvalidArgumentError("since: later than until");
  }
  auto result = store_->List(request);
  if (!result.ok()) return result.status();
  v1::ListTracesResponse response;
  for (v1::TraceSummary& s : result->traces) *response.add_traces() = std::move(s);
  response.set_next_cursor(result->next_cursor);
  return response;
}

absl::StatusOr<std::string> QueryEngine::ResolveTraceId(const std::string& id) const {
  if (id.empty()) return absl::InvalidArgumentError("trace_id: empty");
  if (store_->GetSummary(id).has_value()) return id;
  if (std::optional<std::string> trace = store_->TraceOfEnvelope(id)) return *trace;
  return absl::NotFoundError("no trace or envelope with id " + id);
}

absl::StatusOr<v1::TraceArtifact> QueryEngine::Get(const v1::GetTraceRequest& request) const {
  std::string trace_id = request.trace_id();
  if (trace_id.empty()) {
    if (request.envelope_id().empty()) {
      return absl::InvalidArgumentError("trace_id: give a trace_id or an envelope_id");
    }
    std::optional<std::string> found = store_->TraceOfEnvelope(request.envelope_id());
    if (!found) return absl::NotFoundError("no envelope " + request.envelope_id());
    trace_id = *found;
  }
  auto events = store_->LoadTrace(trace_id, true);
  if (!events.ok()) return events.status();
  return BuildArtifact(trace_id, *events, store_->GetSummary(trace_id),
                       absl::ToUnixNanos(clock_->Now()), options_);
}

absl::StatusOr<v1::HopCapture> QueryEngine::HopCapture(
    const v1::GetHopCaptureRequest& request) const {
  if (request.envelope_id().empty()) return absl::InvalidArgumentError("envelope_id: empty");
  v1::GetTraceRequest get;
  get.set_trace_id(request.trace_id());
  get.set_envelope_id(request.envelope_id());
  auto artifact = Get(get);
  if (!artifact.ok()) return artifact.status();
  const v1::Hop* chosen = nullptr;
  for (const v1::Hop& hop : artifact->hops()) {
    if (hop.envelope_id() != request.envelope_id()) continue;
    if (!request.actor().empty() && hop.actor() != request.actor()) continue;
    if (request.attempt() > 0 && hop.attempt() != request.attempt()) continue;
    // Without an actor, prefer the hop that did the work over the end actor's.
    if (chosen != nullptr && request.actor().empty() &&
        hop.terminal_phase().empty() != chosen->terminal_phase().empty()) {
      if (!hop.terminal_phase().empty()) continue;
    }
    chosen = &hop;
  }
  if (chosen == nullptr) {
    return absl::NotFoundError(absl::StrCat("no hop of envelope ", request.envelope_id(),
                                            request.actor().empty() ? "" : " at " + request.actor(),
                                            " in trace ", artifact->trace_id()));
  }
  v1::HopCapture capture;
  *capture.mutable_hop() = *chosen;
  *capture.mutable_input() = chosen->input();
  for (const v1::HopOutput& out : chosen->outputs()) *capture.add_outputs() = out.envelope();
  return capture;
}

absl::StatusOr<v1::DiffResponse> QueryEngine::Diff(const v1::DiffRequest& request) const {
  if (request.a().empty()) return absl::InvalidArgumentError("a: empty");
  if (request.b().empty()) return absl::InvalidArgumentError("b: empty");
  std::vector<v1::TraceArtifact> sides;
  for (const std::string* id : {&request.a(), &request.b()}) {
    auto trace_id = ResolveTraceId(*id);
    if (!trace_id.ok()) return trace_id.status();
    v1::GetTraceRequest get;
    get.set_trace_id(*trace_id);
    auto artifact = Get(get);
    if (!artifact.ok()) return artifact.status();
    sides.push_back(*std::move(artifact));
  }
  return DiffArtifacts(sides[0], sides[1],
                       {request.ignore_paths().begin(), request.ignore_paths().end()});
}

}  // namespace meshtrace::collector
