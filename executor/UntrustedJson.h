// JSON from files Kiln did not write (safetensors headers, config.json,
// tokenizer.json, bundle manifests): parsed with bounded nesting and no
// repeated keys, and quoted into messages in bounded length. Header-only, so
// readers that do not link the executor (the tokenizer) can use it.
#ifndef KILN_EXECUTOR_UNTRUSTEDJSON_H
#define KILN_EXECUTOR_UNTRUSTEDJSON_H

#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

namespace kiln {

/// Deeper than any real file (Hugging Face configs and tokenizers nest fewer
/// than 10 levels), shallow enough that recursive walks over the tree, dump()
/// included, stay far from the stack limit.
constexpr int kMaxJsonDepth = 64;
/// How much of an untrusted value a message quotes.
constexpr size_t kMaxQuotedChars = 120;

/// `text` cut to `maxChars` bytes, with how much was cut: untrusted text in a
/// message never grows it beyond a line.
inline std::string quoteBounded(std::string_view text,
                                size_t maxChars = kMaxQuotedChars) {
  if (text.size() <= maxChars)
    return std::string(text);
  return absl::StrCat(std::string(text.substr(0, maxChars)), "... (",
                      text.size() - maxChars, " more bytes)");
}

/// A parsed value as JSON text for a message, in bounded length.
template <typename JsonT>
std::string jsonSnippet(const JsonT &value, size_t maxChars = kMaxQuotedChars) {
  // Large containers are described, not printed: their dump could be as big
  // as the file.
  if ((value.is_array() || value.is_object()) && value.size() > 16)
    return absl::StrCat("a JSON ", value.type_name(), " of ", value.size(),
                        value.is_array() ? " elements" : " keys");
  return quoteBounded(
      value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
      maxChars);
}

/// Parses `text` (named `source` in messages) as JSON, refusing nesting deeper
/// than `maxDepth` and an object that repeats a key (whose meaning differs
/// between readers: the last wins in one, the first in another). Errors carry
/// `code` and say where.
template <typename JsonT = nlohmann::json>
absl::StatusOr<JsonT>
parseUntrustedJson(std::string_view text, const std::string &source,
                   absl::StatusCode code = absl::StatusCode::kInvalidArgument,
                   int maxDepth = kMaxJsonDepth) {
  using Event = typename JsonT::parse_event_t;
  std::optional<std::string> problem;
  // Per open container: its keys seen so far (objects) and the key being
  // read, for "where" in messages.
  struct Open {
    bool object;
    std::set<std::string> keys;
    std::string current;
  };
  std::vector<Open> open;
  auto where = [&] {
    std::string out;
    for (const Open &o : open)
      absl::StrAppend(&out, "/", o.object ? quoteBounded(o.current, 40) : "[]");
    return out.empty() ? std::string("/") : out;
  };
  auto callback = [&](int depth, Event event, JsonT &parsed) -> bool {
    if (problem)
      return false;
    switch (event) {
    case Event::object_start:
    case Event::array_start:
      if (depth >= maxDepth) {
        problem = absl::StrCat("nesting deeper than ", maxDepth, " levels (at ",
                               where(), ")");
        return false;
      }
      open.push_back({event == Event::object_start, {}, {}});
      return true;
    case Event::object_end:
    case Event::array_end:
      if (!open.empty())
        open.pop_back();
      return true;
    case Event::key: {
      std::string key = parsed.template get<std::string>();
      if (!open.empty() && !open.back().keys.insert(key).second) {
        problem = absl::StrCat("key \"", quoteBounded(key, 60),
                               "\" appears twice in the object at ", where());
        return false;
      }
      if (!open.empty())
        open.back().current = std::move(key);
      return true;
    }
    default:
      return true;
    }
  };
  JsonT root;
  try {
    root = JsonT::parse(text.begin(), text.end(), callback,
                        /*allow_exceptions=*/true);
  } catch (const nlohmann::json::exception &e) {
    if (!problem)
      return absl::Status(code, absl::StrCat(source, ": not valid JSON: ",
                                             quoteBounded(e.what(), 200)));
  }
  if (problem)
    return absl::Status(code, absl::StrCat(source, ": ", *problem));
  if (root.is_discarded())
    return absl::Status(code, absl::StrCat(source, ": not valid JSON"));
  return root;
}

} // namespace kiln

#endif // KILN_EXECUTOR_UNTRUSTEDJSON_H
