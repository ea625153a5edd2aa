#include "common/clock.h"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <string>

#include "absl/time/clock.h"

namespace meshtrace {
namespace {

class RealClock : public Clock {
 public:
  absl::Time Now() const override { return absl::Now(); }
  void SleepFor(absl::Duration d) override { absl::SleepFor(d); }
};

}  // namespace

Clock* Clock::Real() {
  static RealClock* clock = new RealClock();
  return clock;
}

absl::Time FakeClock::Now() const {
  absl::MutexLock lock(&mu_);
  return now_;
}

void FakeClock::SleepFor(absl::Duration d) { Advance(d); }

void FakeClock::Advance(absl::Duration d) {
  absl::MutexLock lock(&mu_);
  if (d > absl::ZeroDuration()) now_ += d;
}

void FakeClock::Set(absl::Time t) {
  absl::MutexLock lock(&mu_);
  now_ = t;
}

std::string FormatRfc3339(absl::Time t) {
  // Calendar arithmetic and digits written in place: this runs a few times per envelope, and
  // gmtime_r (which takes glibc's time zone lock even for UTC) + snprintf were ~1.5 % of the
  // sidecar's CPU. Years outside 0000-9999 take the slow path.
  const int64_t ms = absl::ToUnixMillis(t);
  constexpr int64_t kMsPerDay = 86'400'000;
  const int64_t days = ms >= 0 ? ms / kMsPerDay : -((-ms + kMsPerDay - 1) / kMsPerDay);
  int64_t rest = ms - days * kMsPerDay;  // 0 .. kMsPerDay - 1
  const std::chrono::year_month_day date{std::chrono::sys_days{std::chrono::days{days}}};
  const int year = static_cast<int>(date.year());
  if (year < 0 || year > 9999) {
    time_t seconds = static_cast<time_t>(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    struct tm tm;
    gmtime_r(&seconds, &tm);
    char buf[48];
    const int n = std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                                tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                                tm.tm_sec, static_cast<int>(ms - seconds * 1000));
    return std::string(buf, n);
  }
  const int hour = static_cast<int>(rest / 3'600'000);
  rest %= 3'600'000;
  const int minute = static_cast<int>(rest / 60'000);
  rest %= 60'000;
  const int second = static_cast<int>(rest / 1000);
  const int millis = static_cast<int>(rest % 1000);
  char buf[] = "0000-00-00T00:00:00.000Z";
  auto put = [&buf](int at, int value, int digits) {
    for (int i = at + digits - 1; i >= at; --i, value /= 10)
      buf[i] = static_cast<char>('0' + value % 10);
  };
  put(0, year, 4);
  put(5, static_cast<int>(static_cast<unsigned>(date.month())), 2);
  put(8, static_cast<int>(static_cast<unsigned>(date.day())), 2);
  put(11, hour, 2);
  put(14, minute, 2);
  put(17, second, 2);
  put(20, millis, 3);
  return std::string(buf, sizeof(buf) - 1);
}

}  // namespace meshtrace
