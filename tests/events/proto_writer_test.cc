// ProtoWriter's bytes against protobuf's own serialiser for the same messages.
#include "events/proto_writer.h"

#include <gtest/gtest.h>

#include "meshtrace/v1/events.pb.h"

namespace meshtrace::events {
namespace {

using Event = v1::LifecycleEvent;

// Writes what `want` holds, field by field, the way the sidecar writes its events, to a
// ProtoWriter or a ProtoSizer.
template <typename W>
void Fields(W& w, const std::string& capture, int32_t partition, bool with_route) {
  w.String(Event::kSourceIdFieldNumber, "pod-1/42");
  w.Varint(Event::kSequenceFieldNumber, 300);
  w.String(Event::kTraceIdFieldNumber, "");  // empty: the default, not written
  w.String(Event::kActorFieldNumber, "score");
  w.Int(Event::kTimeNsFieldNumber, -5);  // negative int64: ten bytes
  if (with_route) {
    const size_t route = w.Begin(Event::kRouteFieldNumber);
    w.Strings(v1::Route::kPrevFieldNumber, std::vector<std::string>{"a", "", "b"});
    w.String(v1::Route::kCurrFieldNumber, "score");
    w.End(route);
  }
  const size_t body = w.Begin(Event::kReceivedFieldNumber);
  w.String(v1::Received::kTopicFieldNumber, "asya-score");
  w.Int(v1::Received::kPartitionFieldNumber, partition);
  w.Int(v1::Received::kOffsetFieldNumber, 0);
  const size_t input = w.Begin(v1::Received::kInputFieldNumber);
  w.String(v1::Capture::kEnvelopeJsonFieldNumber, capture);
  w.Varint(v1::Capture::kOriginalSizeFieldNumber, capture.size());
  w.Bool(v1::Capture::kTruncatedFieldNumber, true);
  w.Bool(v1::Capture::kPayloadOmittedFieldNumber, false);
  w.End(input);
  w.End(body);
}

// A sizing pass first, then each length written in front of its body.
std::string Write(const std::string& capture, int32_t partition, bool with_route) {
  ProtoSizer sizer;
  Fields(sizer, capture, partition, with_route);
  std::string out = "prefix";  // the sidecar writes into a batch
  out.resize(6 + sizer.size());
  ProtoWriter w(out.data() + 6, out.data() + out.size(), &sizer.lengths());
  Fields(w, capture, partition, with_route);
  EXPECT_FALSE(w.overflowed());
  EXPECT_EQ(w.position(), out.data() + out.size());
  return out.substr(6);
}

Event Want(const std::string& capture, int32_t partition, bool with_route) {
  Event e;
  e.set_source_id("pod-1/42");
  e.set_sequence(300);
  e.set_actor("score");
  e.set_time_ns(-5);
  if (with_route) {
    e.mutable_route()->add_prev("a");
    e.mutable_route()->add_prev("");
    e.mutable_route()->add_prev("b");
    e.mutable_route()->set_curr("score");
  }
  v1::Received* r = e.mutable_received();
  r->set_topic("asya-score");
  r->set_partition(partition);
  r->mutable_input()->set_envelope_json(capture);
  r->mutable_input()->set_original_size(capture.size());
  r->mutable_input()->set_truncated(true);
  return e;
}

TEST(ProtoWriterTest, BytesEqualProtobufsOwnForEveryLengthPrefixSize) {
  // Nested lengths of one, two, three and four varint bytes.
  for (size_t size : {0, 1, 100, 127, 128, 5000, 16383, 16384, 300000, 2100000}) {
    for (int32_t partition : {0, 7, -1}) {
      for (bool with_route : {false, true}) {
        const std::string capture(size, 'x');
        const std::string got = Write(capture, partition, with_route);
        EXPECT_EQ(got, Want(capture, partition, with_route).SerializeAsString())
            << size << " " << partition << " " << with_route;
        Event parsed;
        ASSERT_TRUE(parsed.ParseFromString(got));
        EXPECT_EQ(parsed.received().input().envelope_json().size(), size);
        EXPECT_EQ(parsed.received().partition(), partition);
      }
    }
  }
}

// Given less room than the calls need (a sizing bug), the writer stops at the end of it.
TEST(ProtoWriterTest, TooLittleRoomIsReportedAndNothingIsWrittenPastIt) {
  ProtoSizer sizer;
  Fields(sizer, std::string(300, 'c'), 7, true);
  for (size_t room : {size_t{0}, size_t{1}, size_t{9}, sizer.size() / 2, sizer.size() - 1}) {
    std::string out(room, '\0');
    out.append(16, '#');  // what lies beyond the room
    ProtoWriter w(out.data(), out.data() + room, &sizer.lengths());
    Fields(w, std::string(300, 'c'), 7, true);
    EXPECT_TRUE(w.overflowed()) << room;
    EXPECT_LE(w.position(), out.data() + room) << room;
    EXPECT_EQ(out.substr(room), std::string(16, '#')) << room;
  }
}

TEST(ProtoWriterTest, AnEmptyNestedMessageIsStillPresent) {
  ProtoSizer sizer;
  sizer.End(sizer.Begin(Event::kTerminatedFieldNumber));
  std::string out(sizer.size(), '\0');
  ProtoWriter w(out.data(), out.data() + out.size(), &sizer.lengths());
  w.End(w.Begin(Event::kTerminatedFieldNumber));
  EXPECT_EQ(w.position(), out.data() + out.size());
  Event parsed;
  ASSERT_TRUE(parsed.ParseFromString(out));
  EXPECT_TRUE(parsed.has_terminated());  // a oneof body with every field at its default
  Event want;
  want.mutable_terminated();
  EXPECT_EQ(out, want.SerializeAsString());
  EXPECT_EQ(sizer.size(), out.size());
}

// Fields encoded once and copied into events as bytes (the sidecar does this with each
// event's process and envelope fields): sized and written like any other, they parse into the
// same message whatever their place among the other fields.
TEST(ProtoWriterTest, EncodedFieldsAreCopiedAsTheyAreAndParseInAnyOrder) {
  auto route_fields = [](auto& w) {
    w.String(Event::kTraceIdFieldNumber, "t-1");
    const size_t route = w.Begin(Event::kRouteFieldNumber);
    w.Strings(v1::Route::kPrevFieldNumber, std::vector<std::string>{"a"});
    w.String(v1::Route::kCurrFieldNumber, "score");
    w.End(route);
  };
  ProtoSizer prefix_sizer;
  route_fields(prefix_sizer);
  std::string prefix(prefix_sizer.size(), '\0');
  ProtoWriter prefix_writer(prefix.data(), prefix.data() + prefix.size(), &prefix_sizer.lengths());
  route_fields(prefix_writer);

  auto event = [&](auto& w) {
    w.Varint(Event::kSequenceFieldNumber, 9);  // field 2 before the encoded fields 3 and 9
    w.Encoded(prefix);
    const size_t body = w.Begin(Event::kReceivedFieldNumber);
    w.String(v1::Received::kTopicFieldNumber, "asya-score");
    w.End(body);
  };
  ProtoSizer sizer;
  event(sizer);
  Event body_only;
  body_only.mutable_received()->set_topic("asya-score");
  EXPECT_EQ(sizer.size(), 2 + prefix.size() + body_only.ByteSizeLong());
  std::string out(sizer.size(), '\0');
  ProtoWriter w(out.data(), out.data() + out.size(), &sizer.lengths());
  event(w);
  ASSERT_FALSE(w.overflowed());
  EXPECT_EQ(w.position(), out.data() + out.size());

  Event want;
  want.set_sequence(9);
  want.set_trace_id("t-1");
  want.mutable_route()->add_prev("a");
  want.mutable_route()->set_curr("score");
  want.mutable_received()->set_topic("asya-score");
  Event parsed;
  ASSERT_TRUE(parsed.ParseFromString(out));
  EXPECT_EQ(parsed.SerializeAsString(), want.SerializeAsString());

  // Too little room for them: nothing is copied past the end.
  std::string small(prefix.size() - 1, '\0');
  small.append(4, '#');
  ProtoWriter cut(small.data(), small.data() + prefix.size() - 1, nullptr);
  cut.Encoded(prefix);
  EXPECT_TRUE(cut.overflowed());
  EXPECT_EQ(small.substr(prefix.size() - 1), "####");
}

}  // namespace
}  // namespace meshtrace::events
