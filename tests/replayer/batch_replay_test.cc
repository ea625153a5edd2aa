// Batch replay pacing and stopping on a FakeClock, with an in-memory collector.
#include "replayer/batch_replay.h"

#include <gtest/gtest.h>

#include <atomic>
#include <sstream>

#include "common/clock.h"
#include "tests/replayer/fake_query_client.h"

namespace meshtrace::replayer {
namespace {

TEST(BatchReplayTest, PacesReplaysAtTheRequestedRate) {
  testing::FakeQueryClient collector(41);
  FakeClock clock;
  const absl::Time start = clock.Now();
  BatchReplayOptions options;
  options.rate = 20;
  options.dry_run = true;  // no runtime needed: pacing and selection only
  std::ostringstream progress;
  auto summary = RunBatchReplay(collector, nullptr, &clock, options, nullptr, progress, false);
  ASSERT_TRUE(summary.ok()) << summary.status();
  // 41 replays at 20/s: the last starts 40 / 20 = 2 s after the first.
  EXPECT_EQ(clock.Now() - start, absl::Seconds(2));
  EXPECT_NE(progress.str().find("[41/41]"), std::string::npos);
  EXPECT_EQ(summary->refused, 0);
}

TEST(BatchReplayTest, LimitAndStopEndTheRunEarly) {
  testing::FakeQueryClient collector(10);
  FakeClock clock;
  BatchReplayOptions options;
  options.rate = 1;
  options.dry_run = true;
  options.limit = 4;
  std::ostringstream progress;
  auto limited = RunBatchReplay(collector, nullptr, &clock, options, nullptr, progress, false);
  ASSERT_TRUE(limited.ok());
  EXPECT_NE(progress.str().find("[4/4]"), std::string::npos);
  EXPECT_EQ(progress.str().find("[5/"), std::string::npos);

  std::atomic<bool> stop{true};
  options.limit = 0;
  auto stopped = RunBatchReplay(collector, nullptr, &clock, options, &stop, progress, false);
  ASSERT_TRUE(stopped.ok());
  EXPECT_TRUE(stopped->interrupted);

  options.rate = 0;
  EXPECT_FALSE(RunBatchReplay(collector, nullptr, &clock, options, nullptr, progress, false).ok());
}

}  // namespace
}  // namespace meshtrace::replayer
