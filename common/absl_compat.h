#pragma once

#include <string_view>

#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace meshtrace {

// Debian's abseil is built with its own absl::string_view (ABSL_OPTION_USE_STD_STRING_VIEW
// is 0), which does not convert to or from std::string_view. meshtrace's interfaces use
// std::string_view; these cross over where absl string functions are called.
inline absl::string_view AsAbsl(std::string_view s) { return {s.data(), s.size()}; }
inline std::string_view AsStd(absl::string_view s) { return {s.data(), s.size()}; }

// Debian's abseil is also built without NDEBUG, so absl::Mutex runs its deadlock detector on
// every lock: a lock/unlock pair costs ~48 ns instead of ~15 ns, and each takes a process-wide
// lock, which gRPC's internal locks (absl::Mutex too) then contend on. Release builds of the
// servers switch it off at start; debug and sanitizer builds keep it.
inline void UseReleaseMutexes() {
#ifdef NDEBUG
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
#endif
}

}  // namespace meshtrace
