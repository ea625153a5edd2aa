#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"

// Returns from the current function when `expr` (an absl::Status) is not OK.
#define MESHTRACE_RETURN_IF_ERROR(expr)                    \
  do {                                                     \
    ::absl::Status meshtrace_status_ = (expr);             \
    if (!meshtrace_status_.ok()) return meshtrace_status_; \
  } while (false)

#define MESHTRACE_CONCAT_INNER_(a, b) a##b
#define MESHTRACE_CONCAT_(a, b) MESHTRACE_CONCAT_INNER_(a, b)

// `lhs = value of rexpr` (an absl::StatusOr<T>), or returns its status when it is not OK.
#define MESHTRACE_ASSIGN_OR_RETURN(lhs, rexpr) \
  MESHTRACE_ASSIGN_OR_RETURN_IMPL_(MESHTRACE_CONCAT_(meshtrace_statusor_, __LINE__), lhs, rexpr)

#define MESHTRACE_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                                     \
  if (!statusor.ok()) return statusor.status();                \
  lhs = std::move(statusor).value()
