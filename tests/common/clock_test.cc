#include "common/clock.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <ctime>

namespace meshtrace {
namespace {

TEST(ClockTest, FakeClockMovesOnlyWhenTold) {
  FakeClock clock(absl::FromUnixSeconds(100));
  EXPECT_EQ(clock.Now(), absl::FromUnixSeconds(100));
  clock.SleepFor(absl::Milliseconds(250));
  EXPECT_EQ(clock.Now(), absl::FromUnixMillis(100250));
  clock.Advance(absl::Seconds(-5));  // time never runs backwards by Advance
  EXPECT_EQ(clock.Now(), absl::FromUnixMillis(100250));
  clock.Set(absl::FromUnixSeconds(7));
  EXPECT_EQ(clock.Now(), absl::FromUnixSeconds(7));
}

TEST(ClockTest, RealClockIsNow) {
  absl::Duration skew = Clock::Real()->Now() - absl::Now();
  EXPECT_LT(absl::AbsDuration(skew), absl::Seconds(1));
}

TEST(ClockTest, FormatsRfc3339WithMilliseconds) {
  EXPECT_EQ(FormatRfc3339(absl::FromUnixMillis(1'700'000'000'123)), "2023-11-14T22:13:20.123Z");
  EXPECT_EQ(FormatRfc3339(absl::FromUnixMillis(-1)), "1969-12-31T23:59:59.999Z");
  EXPECT_EQ(FormatRfc3339(absl::FromUnixMicros(1'700'000'000'123'999)), "2023-11-14T22:13:20.123Z");
  EXPECT_EQ(FormatRfc3339(absl::UnixEpoch()), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatRfc3339(absl::FromUnixMillis(-86'400'000)), "1969-12-31T00:00:00.000Z");
  EXPECT_EQ(FormatRfc3339(absl::FromUnixMillis(951'782'400'000)), "2000-02-29T00:00:00.000Z");
  EXPECT_EQ(FormatRfc3339(absl::FromUnixMillis(253'402'300'799'999)), "9999-12-31T23:59:59.999Z");
  EXPECT_EQ(FormatRfc3339(absl::FromUnixMillis(253'402'300'800'000)), "10000-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatRfc3339(absl::FromUnixMillis(-62'167'219'200'001)), "-001-12-31T23:59:59.999Z");
}

// Every hour of four years, leap day included, against gmtime_r.
TEST(ClockTest, Rfc3339MatchesGmtime) {
  for (int64_t s = 1'577'836'800; s < 1'704'067'200; s += 3'599) {
    const time_t t = static_cast<time_t>(s);
    struct tm tm;
    gmtime_r(&t, &tm);
    char want[80];  // room for any int fields, as -Wformat-truncation counts
    std::snprintf(want, sizeof(want), "%04d-%02d-%02dT%02d:%02d:%02d.042Z", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    ASSERT_EQ(FormatRfc3339(absl::FromUnixMillis(s * 1000 + 42)), want) << s;
  }
}

}  // namespace
}  // namespace meshtrace
