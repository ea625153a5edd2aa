#include "tests/testing/trace_builder.h"

namespace meshtrace::testing {

TraceBuilder::TraceBuilder(std::string trace_id, int64_t start_ns)
    : trace_id_(std::move(trace_id)), now_(start_ns) {}

v1::LifecycleEvent& TraceBuilder::Next(const std::string& envelope_id, const std::string& actor) {
  v1::LifecycleEvent& e = events_.emplace_back();
  const std::string pod = actor + "-pod";
  e.set_source_id(pod + "/" + trace_id_);
  e.set_sequence(++sequences_[e.source_id()]);
  e.set_trace_id(trace_id_);
  e.set_envelope_id(envelope_id);
  e.set_actor(actor);
  e.set_pod(pod);
  now_ += 1'000'000;
  e.set_time_ns(now_);
  e.mutable_route()->set_curr(actor);
  return e;
}

std::string TraceBuilder::CaptureJson(const std::string& id, const std::vector<std::string>& prev,
                                      const std::string& curr) const {
  std::string list;
  for (const auto& p : prev) list += (list.empty() ? "\"" : ",\"") + p + "\"";
  return R"({"id":")" + id + R"(","route":{"prev":[)" + list + R"(],"curr":")" + curr +
         R"(","next":[]},"headers":{"trace_id":")" + trace_id_ + R"("},"payload":)" + payload_ +
         "}";
}

TraceBuilder& TraceBuilder::Receive(const std::string& envelope_id, const std::string& actor,
                                    const std::vector<std::string>& prev, const std::string& parent,
                                    int64_t offset) {
  v1::LifecycleEvent& e = Next(envelope_id, actor);
  for (const auto& p : prev) e.mutable_route()->add_prev(p);
  e.set_parent_id(parent);
  v1::Received* r = e.mutable_received();
  r->set_topic("asya-t-" + actor);
  r->set_offset(offset >= 0 ? offset : offsets_[actor]++);
  r->set_attempt(1);
  prev_[envelope_id + '\0' + actor] = prev;
  r->mutable_input()->set_envelope_json(CaptureJson(envelope_id, prev, actor));
  r->mutable_input()->set_original_size(r->input().envelope_json().size());
  return *this;
}

TraceBuilder& TraceBuilder::Result(const std::string& envelope_id, const std::string& actor,
                                   int http_status, const std::string& error_type,
                                   const std::string& message, int64_t duration_ns) {
  v1::LifecycleEvent& e = Next(envelope_id, actor);
  v1::RuntimeResult* r = e.mutable_runtime_result();
  r->set_http_status(http_status);
  r->set_duration_ns(duration_ns);
  r->set_frame_count(error_type.empty() ? 1 : 0);
  if (!error_type.empty()) {
    r->mutable_error()->set_code("processing_error");
    r->mutable_error()->set_type(error_type);
    r->mutable_error()->set_message(message);
    r->mutable_error()->set_traceback(
        "Traceback (most recent call last):\n  File \"handler.py\", "
        "line 7, in handle\n" +
        error_type + ": " + message);
  }
  return *this;
}

TraceBuilder& TraceBuilder::Route(const std::string& envelope_id, const std::string& actor,
                                  const std::string& new_id, const std::string& to_actor,
                                  const std::string& message_type, const std::string& phase,
                                  const std::string& reason, const std::string& parent) {
  v1::LifecycleEvent& e = Next(envelope_id, actor);
  v1::Routed* r = e.mutable_routed();
  r->set_envelope_id(new_id);
  r->set_parent_id(parent);
  r->set_destination("asya-t-" + to_actor);
  r->set_message_type(message_type);
  r->set_to_actor(to_actor);
  r->set_phase(phase);
  r->set_reason(reason);
  std::vector<std::string> prev = prev_[envelope_id + '\0' + actor];
  if (message_type != "sump") prev.push_back(actor);
  r->mutable_output()->set_envelope_json(CaptureJson(new_id, prev,
                                                     message_type == "routing" ? to_actor
                                                     : message_type == "sink"  ? ""
                                                                               : actor));
  r->mutable_output()->set_original_size(r->output().envelope_json().size());
  return *this;
}

TraceBuilder& TraceBuilder::Terminate(const std::string& envelope_id, const std::string& actor,
                                      const std::string& phase, const std::string& reason) {
  v1::LifecycleEvent& e = Next(envelope_id, actor);
  e.mutable_terminated()->set_phase(phase);
  e.mutable_terminated()->set_reason(reason);
  return *this;
}

TraceBuilder& TraceBuilder::Reject(const std::string& envelope_id, const std::string& actor,
                                   const std::string& reason, const std::string& message) {
  v1::LifecycleEvent& e = Next(envelope_id, actor);
  v1::Rejected* r = e.mutable_rejected();
  r->set_reason(reason);
  r->set_message(message);
  r->set_raw("{not json");
  r->set_topic("asya-t-" + actor);
  r->set_offset(offsets_[actor]++);
  return *this;
}

TraceBuilder& TraceBuilder::Chain(const std::string& id, const std::vector<std::string>& actors) {
  std::vector<std::string> prev;
  for (size_t i = 0; i < actors.size(); ++i) {
    Receive(id, actors[i], prev);
    Result(id, actors[i]);
    const bool last = i + 1 == actors.size();
    Route(id, actors[i], id, last ? "x-sink" : actors[i + 1], last ? "sink" : "routing",
          last ? "succeeded" : "pending", last ? "Completed" : "");
    prev.push_back(actors[i]);
  }
  Receive(id, "x-sink", prev);
  Result(id, "x-sink", 204);
  Terminate(id, "x-sink", "succeeded", "Completed");
  return *this;
}

TraceBuilder& TraceBuilder::Replay(const std::string& replay_id) {
  for (auto it = events_.rbegin(); it != events_.rend(); ++it) {
    if (it->has_received()) {
      it->mutable_received()->set_replay_id(replay_id);
      break;
    }
  }
  return *this;
}

TraceBuilder& TraceBuilder::SetTime(int64_t ns) {
  now_ = ns;
  return *this;
}

TraceBuilder& TraceBuilder::SetPayload(std::string payload_json) {
  payload_ = std::move(payload_json);
  return *this;
}

}  // namespace meshtrace::testing
