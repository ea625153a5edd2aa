// TraceStitcher: a tap-only fan-out child joins its parent's trace, whichever arrives first.
#include "collector/stitcher.h"

#include <gtest/gtest.h>

namespace meshtrace::collector {
namespace {

v1::LifecycleEvent TapEvent(const std::string& trace, const std::string& envelope,
                            const std::string& parent = "") {
  v1::LifecycleEvent e;
  e.set_observer(v1::OBSERVER_TAP);
  e.set_trace_id(trace);
  e.set_envelope_id(envelope);
  e.set_parent_id(parent);
  e.mutable_received();
  return e;
}

struct Released {
  std::vector<std::vector<v1::LifecycleEvent>> batches;
  TraceStitcher::Release Collect() {
    return [this](std::vector<v1::LifecycleEvent> b) { batches.push_back(std::move(b)); };
  }
};

const absl::Time kNow = absl::FromUnixSeconds(1'700'000'000);

TEST(TraceStitcherTest, AChildArrivingBeforeItsParentWaitsAndJoinsItsTrace) {
  TraceStitcher s(nullptr, absl::Seconds(2));
  Released out;
  s.Add({TapEvent("c-1", "c-1", "e-1")}, kNow, out.Collect());  // named after itself
  EXPECT_TRUE(out.batches.empty());
  EXPECT_EQ(s.held(), 1u);
  s.Add({TapEvent("T", "e-1")}, kNow + absl::Milliseconds(80), out.Collect());
  ASSERT_EQ(out.batches.size(), 2u);  // in arrival order
  EXPECT_EQ(out.batches[0][0].trace_id(), "T");
  EXPECT_EQ(out.batches[1][0].trace_id(), "T");
  // A later hop of the child that names no parent is known by its own id now.
  s.Add({TapEvent("c-1", "c-1")}, kNow + absl::Seconds(1), out.Collect());
  ASSERT_EQ(out.batches.size(), 3u);
  EXPECT_EQ(out.batches[2][0].trace_id(), "T");
}

TEST(TraceStitcherTest, AParentNeverSeenLetsTheChildGoOnAsItsOwnTraceAfterTheWait) {
  TraceStitcher s(nullptr, absl::Seconds(2));
  Released out;
  s.Add({TapEvent("c-1", "c-1", "e-9")}, kNow, out.Collect());
  s.Add({TapEvent("T2", "x-1")}, kNow, out.Collect());  // not held behind it
  ASSERT_EQ(out.batches.size(), 1u);
  EXPECT_EQ(out.batches[0][0].trace_id(), "T2");
  s.Expire(kNow + absl::Seconds(1));
  EXPECT_EQ(out.batches.size(), 1u);
  s.Expire(kNow + absl::Seconds(2));
  ASSERT_EQ(out.batches.size(), 2u);
  EXPECT_EQ(out.batches[1][0].trace_id(), "c-1");
}

TEST(TraceStitcherTest, TracedEnvelopesAndSidecarEventsPassStraightThrough) {
  TraceStitcher s(nullptr, absl::Seconds(2));
  Released out;
  v1::LifecycleEvent sidecar = TapEvent("c-1", "c-1", "e-1");
  sidecar.set_observer(v1::OBSERVER_SIDECAR);
  s.Add({TapEvent("T", "c-2", "e-1"), sidecar}, kNow, out.Collect());
  ASSERT_EQ(out.batches.size(), 1u);
  EXPECT_EQ(out.batches[0][0].trace_id(), "T");
  EXPECT_EQ(out.batches[0][1].trace_id(), "c-1");
}

TEST(TraceStitcherTest, AParentKnownOnlyToTheStoreIsLookedUp) {
  TraceStitcher s(
      [](const std::string& id) -> std::optional<std::string> {
        if (id == "e-1") return "T";
        return std::nullopt;
      },
      absl::Seconds(2));
  Released out;
  s.Add({TapEvent("c-1", "c-1", "e-1")}, kNow, out.Collect());
  ASSERT_EQ(out.batches.size(), 1u);
  EXPECT_EQ(out.batches[0][0].trace_id(), "T");
}

// Every untraced envelope's first hop names itself: it must not cost a store read.
TEST(TraceStitcherTest, TheStoreIsReadOnlyForParents) {
  std::vector<std::string> asked;
  TraceStitcher s(
      [&asked](const std::string& id) -> std::optional<std::string> {
        asked.push_back(id);
        return std::nullopt;
      },
      absl::Seconds(2));
  Released out;
  s.Add({TapEvent("e-1", "e-1"), TapEvent("e-2", "e-2")}, kNow, out.Collect());
  EXPECT_TRUE(asked.empty());
  ASSERT_EQ(out.batches.size(), 1u);
  s.Add({TapEvent("c-1", "c-1", "e-9")}, kNow, out.Collect());
  EXPECT_EQ(asked, std::vector<std::string>{"e-9"});
}

TEST(TraceStitcherTest, WhatItRemembersIsBounded) {
  TraceStitcher s(nullptr, absl::Seconds(2), /*max_known=*/2);
  Released out;
  s.Add({TapEvent("T", "e-1"), TapEvent("T", "e-2"), TapEvent("T", "e-3")}, kNow, out.Collect());
  s.Add({TapEvent("c-1", "c-1", "e-1")}, kNow, out.Collect());  // e-1 was forgotten
  EXPECT_EQ(s.held(), 1u);
  s.Add({TapEvent("c-3", "c-3", "e-3")}, kNow, out.Collect());
  EXPECT_EQ(s.held(), 1u);
  ASSERT_EQ(out.batches.size(), 2u);
  EXPECT_EQ(out.batches[1][0].trace_id(), "T");  // e-3 is still known
  s.Expire(kNow + absl::Seconds(2));
  ASSERT_EQ(out.batches.size(), 3u);
  EXPECT_EQ(out.batches[2][0].trace_id(), "c-1");
}

}  // namespace
}  // namespace meshtrace::collector
