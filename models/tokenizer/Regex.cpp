//===- Regex.cpp - PCRE2 patterns for pre-tokenizer splits ----------------===//

#define PCRE2_CODE_UNIT_WIDTH 8
#include "models/tokenizer/Regex.h"

#include <pcre2.h>

#include "absl/strings/str_cat.h"
#include "executor/UntrustedJson.h"
#include "models/tokenizer/Utf8.h"

namespace kiln::tokenizer {

namespace {

std::string pcre2Message(int code) {
  PCRE2_UCHAR buffer[256];
  int n = pcre2_get_error_message(code, buffer, sizeof(buffer));
  if (n < 0)
    return absl::StrCat("PCRE2 error ", code);
  return std::string(reinterpret_cast<const char *>(buffer), n);
}

struct MatchDataDeleter {
  void operator()(pcre2_match_data *data) const { pcre2_match_data_free(data); }
};

/// One match from `offset`; returns the PCRE2 result code. Falls back to the
/// interpreter when the JIT's small default stack overflows (a long run of
/// whitespace against a lookahead can do that) instead of failing the encode.
int matchOnce(const pcre2_code *code, std::string_view text, size_t offset,
              uint32_t options, pcre2_match_data *data) {
  // The caller validated the text once; PCRE2 would otherwise rescan all of
  // it on every call, making a findAll quadratic.
  options |= PCRE2_NO_UTF_CHECK;
  int rc = pcre2_match(code, reinterpret_cast<PCRE2_SPTR>(text.data()),
                       text.size(), offset, options, data, nullptr);
  if (rc == PCRE2_ERROR_JIT_STACKLIMIT)
    rc =
        pcre2_match(code, reinterpret_cast<PCRE2_SPTR>(text.data()),
                    text.size(), offset, options | PCRE2_NO_JIT, data, nullptr);
  return rc;
}

} // namespace

absl::StatusOr<Regex> Regex::compile(std::string_view pattern, bool literal) {
  // UCP only changes what classes mean, and PCRE2 refuses it with LITERAL.
  uint32_t options = PCRE2_UTF | (literal ? PCRE2_LITERAL : PCRE2_UCP);
  int errorCode = 0;
  PCRE2_SIZE errorOffset = 0;
  pcre2_code *raw =
      pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()),
                    pattern.size(), options, &errorCode, &errorOffset, nullptr);
  if (!raw)
    return absl::InvalidArgumentError(absl::StrCat(
        "regex '", quoteBounded(pattern, 200), "' does not compile at offset ",
        errorOffset, ": ", pcre2Message(errorCode)));
  // JIT is an optimisation only: a PCRE2 built without it still matches.
  (void)pcre2_jit_compile(raw, PCRE2_JIT_COMPLETE);
  Regex regex;
  regex.code = std::shared_ptr<pcre2_real_code_8>(raw, pcre2_code_free);
  regex.source = std::string(pattern);
  return regex;
}

absl::Status
Regex::findAll(std::string_view text,
               std::vector<std::pair<size_t, size_t>> &matches) const {
  std::unique_ptr<pcre2_match_data, MatchDataDeleter> data(
      pcre2_match_data_create_from_pattern(code.get(), nullptr));
  size_t offset = 0;
  while (offset <= text.size()) {
    int rc = matchOnce(code.get(), text, offset, 0, data.get());
    if (rc == PCRE2_ERROR_NOMATCH)
      break;
    if (rc < 0)
      return absl::InternalError(absl::StrCat("regex '",
                                              quoteBounded(source, 200),
                                              "' failed: ", pcre2Message(rc)));
    PCRE2_SIZE *ovector = pcre2_get_ovector_pointer(data.get());
    size_t begin = ovector[0], end = ovector[1];
    matches.emplace_back(begin, end);
    if (end > begin) {
      offset = end;
    } else {
      if (end >= text.size())
        break;
      offset = end + utf8SequenceLength(static_cast<unsigned char>(text[end]));
    }
  }
  return absl::OkStatus();
}

bool Regex::matchesPrefix(std::string_view text) const {
  std::unique_ptr<pcre2_match_data, MatchDataDeleter> data(
      pcre2_match_data_create_from_pattern(code.get(), nullptr));
  return matchOnce(code.get(), text, 0, PCRE2_ANCHORED, data.get()) >= 0;
}

} // namespace kiln::tokenizer
