#pragma once

#include <string>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace meshtrace {

// Where components get the time from, so tests and pacing can run on a FakeClock.
// Implementations are thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;
  // Blocks the calling thread for `d` of this clock's time.
  virtual void SleepFor(absl::Duration d) = 0;

  // The process-wide wall clock. Never null, never destroyed.
  static Clock* Real();
};

// A clock that moves only when told to. SleepFor advances the clock instead of blocking, so
// paced loops run instantly and their pacing can be asserted from Now(). Thread-safe.
class FakeClock : public Clock {
 public:
  explicit FakeClock(absl::Time start = absl::FromUnixSeconds(1'700'000'000)) : now_(start) {}

  absl::Time Now() const override;
  void SleepFor(absl::Duration d) override;
  void Advance(absl::Duration d);
  void Set(absl::Time t);

 private:
  mutable absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
};

// RFC 3339 UTC with millisecond precision, e.g. "2026-11-23T11:41:41.123Z", as Asya stamps
// status times.
std::string FormatRfc3339(absl::Time t);

}  // namespace meshtrace
