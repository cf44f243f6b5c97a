// Early-return helpers for absl::Status / absl::StatusOr (Abseil 20220623 has none).
#ifndef KILN_EXECUTOR_STATUSMACROS_H
#define KILN_EXECUTOR_STATUSMACROS_H

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define KILN_CONCAT_INNER(a, b) a##b
#define KILN_CONCAT(a, b) KILN_CONCAT_INNER(a, b)

#define KILN_RETURN_IF_ERROR(expr)                                                     \
  do {                                                                                 \
    absl::Status kilnStatus_ = (expr);                                                 \
    if (!kilnStatus_.ok())                                                             \
      return kilnStatus_;                                                              \
  } while (false)

#define KILN_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr)                                     \
  auto tmp = (expr);                                                                   \
  if (!tmp.ok())                                                                       \
    return tmp.status();                                                               \
  lhs = std::move(*tmp)

#define KILN_ASSIGN_OR_RETURN(lhs, expr)                                               \
  KILN_ASSIGN_OR_RETURN_IMPL(KILN_CONCAT(kilnOr_, __LINE__), lhs, expr)

#endif // KILN_EXECUTOR_STATUSMACROS_H
