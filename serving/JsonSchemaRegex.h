//===- JsonSchemaRegex.h - a JSON schema as the regex of its texts -*- C++
//-*-===//
//
// response_format's json_schema and json_object, turned into a regex
// (RegexDfa.h) whose every match is compact JSON that parses and validates.
// The language is a subset of the schema's: properties come in the schema's
// order, nothing but one optional space separates tokens, and numbers and
// nesting are bounded so that an automaton can hold them. Supported keywords
// and what is refused: docs/SERVING_CONSTRAINTS.md.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_SERVING_JSONSCHEMAREGEX_H
#define KILN_SERVING_JSONSCHEMAREGEX_H

#include <string>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace kiln::serving {

/// Nesting of arrays and objects json_object (and a schema's untyped
/// values) may produce.
inline constexpr int kMaxFreeJsonDepth = 3;

/// The regex of `schema`'s texts; InvalidArgument naming the keyword and
/// where in the schema it sits (a JSON pointer) for what is not supported.
/// An ordered_json, so properties keep the order the client wrote.
absl::StatusOr<std::string>
jsonSchemaRegex(const nlohmann::ordered_json &schema);

/// The regex of any JSON object nesting at most kMaxFreeJsonDepth levels.
std::string jsonObjectRegex();

} // namespace kiln::serving

#endif // KILN_SERVING_JSONSCHEMAREGEX_H
