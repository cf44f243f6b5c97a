//===- PreTokenizer.cpp - Hugging Face pre-tokenizers, a subset -----------===//

#include "models/tokenizer/PreTokenizer.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "executor/UntrustedJson.h"
#include "models/tokenizer/ByteLevel.h"
#include "nlohmann/json.hpp"

namespace kiln::tokenizer {

using json = nlohmann::json;

namespace {

/// GPT-2's word pattern, which ByteLevel(use_regex=true) splits with.
constexpr std::string_view kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

absl::Status unsupported(const std::string &where, const std::string &what) {
  return absl::UnimplementedError(
      absl::StrCat(where, ": ", what, " is not supported by Kiln's tokenizer"));
}

bool boolField(const json &spec, const char *name, bool fallback) {
  auto it = spec.find(name);
  return it != spec.end() && it->is_boolean() ? it->get<bool>() : fallback;
}

struct Segment {
  size_t begin, end;
  bool flag; // a match before the behaviour is applied; "drop" after it
};

} // namespace

absl::Status PreTokenizer::addSteps(const json &spec, const std::string &where,
                                    std::vector<Step> &steps) {
  if (!spec.is_object() || !spec.contains("type") || !spec["type"].is_string())
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": expected an object with a string \"type\""));
  std::string type = spec["type"].get<std::string>();

  if (type == "Sequence") {
    auto it = spec.find("pretokenizers");
    if (it == spec.end() || !it->is_array())
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": Sequence without a \"pretokenizers\" array"));
    for (size_t i = 0; i < it->size(); ++i) {
      absl::Status s = addSteps(
          (*it)[i], absl::StrCat(where, ".pretokenizers[", i, "]"), steps);
      if (!s.ok())
        return s;
    }
    return absl::OkStatus();
  }

  if (type == "ByteLevel") {
    Step step{Step::Kind::byteLevel};
    step.addPrefixSpace = boolField(spec, "add_prefix_space", true);
    step.useRegex = boolField(spec, "use_regex", true);
    if (step.useRegex) {
      auto regex = Regex::compile(kGpt2Pattern);
      if (!regex.ok())
        return regex.status();
      step.regex = *std::move(regex);
    }
    steps.push_back(std::move(step));
    return absl::OkStatus();
  }

  if (type == "Split") {
    Step step{Step::Kind::split};
    auto pattern = spec.find("pattern");
    if (pattern == spec.end() || !pattern->is_object())
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": Split without a \"pattern\" object"));
    bool literal;
    std::string text;
    if (pattern->contains("Regex") && (*pattern)["Regex"].is_string()) {
      literal = false;
      text = (*pattern)["Regex"].get<std::string>();
    } else if (pattern->contains("String") &&
               (*pattern)["String"].is_string()) {
      literal = true;
      text = (*pattern)["String"].get<std::string>();
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          where,
          ": Split pattern must be {\"Regex\": ...} or {\"String\": ...}, "
          "got ",
          jsonSnippet(*pattern)));
    }
    auto regex = Regex::compile(text, literal);
    if (!regex.ok())
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": ", regex.status().message()));
    step.regex = *std::move(regex);
    std::string behavior = spec.value("behavior", std::string("Isolated"));
    if (behavior == "Removed")
      step.behavior = SplitBehavior::removed;
    else if (behavior == "Isolated")
      step.behavior = SplitBehavior::isolated;
    else if (behavior == "MergedWithPrevious")
      step.behavior = SplitBehavior::mergedWithPrevious;
    else if (behavior == "MergedWithNext")
      step.behavior = SplitBehavior::mergedWithNext;
    else if (behavior == "Contiguous")
      step.behavior = SplitBehavior::contiguous;
    else
      return unsupported(where, absl::StrCat("Split behavior '",
                                             quoteBounded(behavior, 60), "'"));
    step.invert = boolField(spec, "invert", false);
    steps.push_back(std::move(step));
    return absl::OkStatus();
  }

  if (type == "Digits") {
    // Hugging Face tests char::is_numeric, i.e. \p{N}, one character at a time:
    // each digit is its own match, and Contiguous glues runs back together.
    Step step{Step::Kind::split};
    auto regex = Regex::compile(R"(\p{N})");
    if (!regex.ok())
      return regex.status();
    step.regex = *std::move(regex);
    step.behavior = boolField(spec, "individual_digits", false)
                        ? SplitBehavior::isolated
                        : SplitBehavior::contiguous;
    steps.push_back(std::move(step));
    return absl::OkStatus();
  }

  return unsupported(
      where, absl::StrCat("pre-tokenizer type '", quoteBounded(type, 60), "'"));
}

absl::StatusOr<PreTokenizer> PreTokenizer::fromJson(const json &spec,
                                                    const std::string &where) {
  PreTokenizer result;
  if (spec.is_null())
    return result;
  absl::Status s = addSteps(spec, where, result.steps);
  if (!s.ok())
    return s;
  return result;
}

bool PreTokenizer::hasByteLevel() const {
  for (const Step &step : steps)
    if (step.kind == Step::Kind::byteLevel)
      return true;
  return false;
}

absl::Status PreTokenizer::splitPiece(const Regex &regex,
                                      SplitBehavior behavior, bool invert,
                                      std::string_view piece,
                                      std::vector<std::string> &out) {
  if (piece.empty())
    return absl::OkStatus();
  std::vector<std::pair<size_t, size_t>> matches;
  absl::Status s = regex.findAll(piece, matches);
  if (!s.ok())
    return s;

  // The matches and the gaps between them cover the piece, as Hugging Face's
  // Pattern::find_matches lays them out.
  std::vector<Segment> segments;
  size_t prev = 0;
  for (auto [begin, end] : matches) {
    if (prev != begin)
      segments.push_back({prev, begin, false});
    segments.push_back({begin, end, true});
    prev = end;
  }
  if (prev != piece.size())
    segments.push_back({prev, piece.size(), false});
  if (invert)
    for (Segment &seg : segments)
      seg.flag = !seg.flag;

  std::vector<Segment> result;
  switch (behavior) {
  case SplitBehavior::removed:
    result = segments;
    break;
  case SplitBehavior::isolated:
    for (Segment seg : segments)
      result.push_back({seg.begin, seg.end, false});
    break;
  case SplitBehavior::contiguous: {
    bool previousMatch = false;
    for (const Segment &seg : segments) {
      if (seg.flag == previousMatch && !result.empty())
        result.back().end = seg.end;
      else
        result.push_back({seg.begin, seg.end, false});
      previousMatch = seg.flag;
    }
    break;
  }
  case SplitBehavior::mergedWithPrevious: {
    bool previousMatch = false;
    for (const Segment &seg : segments) {
      if (seg.flag && !previousMatch && !result.empty())
        result.back().end = seg.end;
      else
        result.push_back({seg.begin, seg.end, false});
      previousMatch = seg.flag;
    }
    break;
  }
  case SplitBehavior::mergedWithNext: {
    bool previousMatch = false;
    for (auto it = segments.rbegin(); it != segments.rend(); ++it) {
      if (it->flag && !previousMatch && !result.empty())
        result.back().begin = it->begin;
      else
        result.push_back({it->begin, it->end, false});
      previousMatch = it->flag;
    }
    std::reverse(result.begin(), result.end());
    break;
  }
  }
  for (const Segment &seg : result)
    if (!seg.flag && seg.end > seg.begin)
      out.emplace_back(piece.substr(seg.begin, seg.end - seg.begin));
  return absl::OkStatus();
}

absl::Status PreTokenizer::split(std::string_view text,
                                 std::vector<std::string> &words) const {
  std::vector<std::string> pieces{std::string(text)};
  std::vector<std::string> next;
  for (const Step &step : steps) {
    next.clear();
    for (const std::string &piece : pieces) {
      if (step.kind == Step::Kind::split) {
        absl::Status s =
            splitPiece(step.regex, step.behavior, step.invert, piece, next);
        if (!s.ok())
          return s;
        continue;
      }
      // ByteLevel: Hugging Face adds the prefix space to every piece that
      // earlier steps (and added tokens) cut, not only to the text's start.
      if (piece.empty())
        continue;
      std::string spaced;
      std::string_view source = piece;
      if (step.addPrefixSpace && piece.front() != ' ') {
        spaced = absl::StrCat(" ", piece);
        source = spaced;
      }
      std::vector<std::string> parts;
      if (step.useRegex) {
        absl::Status s = splitPiece(step.regex, SplitBehavior::isolated,
                                    /*invert=*/false, source, parts);
        if (!s.ok())
          return s;
      } else {
        parts.emplace_back(source);
      }
      for (const std::string &part : parts) {
        std::string mapped;
        appendByteLevel(mapped, part);
        next.push_back(std::move(mapped));
      }
    }
    pieces.swap(next);
  }
  for (std::string &piece : pieces)
    if (!piece.empty())
      words.push_back(std::move(piece));
  return absl::OkStatus();
}

} // namespace kiln::tokenizer
