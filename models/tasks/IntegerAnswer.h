//===- IntegerAnswer.h - the one spelling of an integer ---------*- C++ -*-===//
//
// The arithmetic reward compares integers exactly, so the parser accepts only
// the canonical decimal form around optional whitespace: a reward that read
// "+12", "012" or "1,2" would let a policy drift to spellings nobody asked for.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_MODELS_TASKS_INTEGERANSWER_H
#define KILN_MODELS_TASKS_INTEGERANSWER_H

#include <cstdint>
#include <string_view>

#include "absl/status/statusor.h"

namespace kiln::models::tasks {

/// Accepts whitespace* ('-'? ('0' | [1-9][0-9]*)) whitespace*, except "-0",
/// within int64. Anything else is an error naming the text.
absl::StatusOr<int64_t> parseIntegerAnswer(std::string_view text);

} // namespace kiln::models::tasks

#endif // KILN_MODELS_TASKS_INTEGERANSWER_H
