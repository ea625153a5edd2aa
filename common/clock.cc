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
  // std::chrono's calendar and digits written in place: this runs a few times per envelope,
  // and gmtime_r (which takes glibc's time zone lock even for UTC) + snprintf were ~1.5 % of
  // the sidecar's CPU. Years outside 0000-9999 take the snprintf path.
  using namespace std::chrono;
  const sys_time<milliseconds> ms{milliseconds{absl::ToUnixMillis(t)}};
  const sys_days day = floor<days>(ms);
  const year_month_day date{day};
  const int year = static_cast<int>(date.year());
  const hh_mm_ss<milliseconds> time{ms - day};
  if (year < 0 || year > 9999) {
    char buf[48];
    const int n = std::snprintf(
        buf, sizeof(buf), "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ", year,
        static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()),
        static_cast<int>(time.hours().count()), static_cast<int>(time.minutes().count()),
        static_cast<int>(time.seconds().count()), static_cast<int>(time.subseconds().count()));
    return std::string(buf, n);
  }
  char buf[] = "0000-00-00T00:00:00.000Z";
  auto put = [&buf](int at, int64_t value, int digits) {
    for (int i = at + digits - 1; i >= at; --i, value /= 10)
      buf[i] = static_cast<char>('0' + value % 10);
  };
  put(0, year, 4);
  put(5, static_cast<unsigned>(date.month()), 2);
  put(8, static_cast<unsigned>(date.day()), 2);
  put(11, time.hours().count(), 2);
  put(14, time.minutes().count(), 2);
  put(17, time.seconds().count(), 2);
  put(20, time.subseconds().count(), 3);
  return std::string(buf, sizeof(buf) - 1);
}

}  // namespace meshtrace
