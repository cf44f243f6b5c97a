//===- JsonSchemaRegex.cpp - a JSON schema as the regex of its texts ------===//
//
// The regex is assembled as text and compiled by RegexDfa, as outlines does:
// one compiler, one set of tests for what a pattern means. Optional
// properties make the object's regex quadratic in its property count (an
// alternative per first present property, so commas never dangle); the DFA
// state limit bounds what that may cost.
//
//===----------------------------------------------------------------------===//

#include "serving/JsonSchemaRegex.h"

#include <set>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "serving/RegexDfa.h"

namespace kiln::serving {

namespace {

using ojson = nlohmann::ordered_json;

constexpr const char *kColon = ":[ ]?";
constexpr const char *kComma = ",[ ]?";
/// A JSON string's characters: anything but '"', '\' and controls, or a
/// two-character escape (\u escapes are left out: a lone surrogate would be
/// JSON that strict parsers refuse).
constexpr const char *kStringChar = R"(([^"\\\x00-\x1F]|\\["\\/bfnrt]))";
constexpr const char *kInteger = "-?(0|[1-9][0-9]{0,15})";
constexpr const char *kNumber =
    R"(-?(0|[1-9][0-9]{0,15})(\.[0-9]{1,16})?([eE][+\-]?[0-9]{1,2})?)";
constexpr int kMaxRefDepth = 8;

std::string stringRegex(int64_t min = 0, int64_t max = -1) {
  if (min == 0 && max < 0)
    return absl::StrCat("\"", kStringChar, "*\"");
  return absl::StrCat("\"", kStringChar, "{", min, ",",
                      max < 0 ? std::string() : absl::StrCat(max), "}\"");
}

std::string scalarRegex() {
  return absl::StrCat("(", stringRegex(), "|", kNumber, "|true|false|null)");
}

std::string listOf(const std::string &item) {
  return absl::StrCat("(", item, "(", kComma, item, ")*)?");
}

std::string freeValue(int depth);

std::string freeObject(int depth) {
  std::string member =
      absl::StrCat(stringRegex(), kColon, freeValue(depth - 1));
  return absl::StrCat("\\{", listOf(member), "\\}");
}

std::string freeArray(int depth) {
  return absl::StrCat("\\[", listOf(freeValue(depth - 1)), "\\]");
}

std::string freeValue(int depth) {
  if (depth <= 0)
    return scalarRegex();
  return absl::StrCat("(", scalarRegex(), "|", freeObject(depth), "|",
                      freeArray(depth), ")");
}

bool matchesType(const ojson &value, const std::string &type) {
  if (type == "string")
    return value.is_string();
  if (type == "integer")
    return value.is_number_integer() ||
           (value.is_number_float() &&
            value.get<double>() == static_cast<int64_t>(value.get<double>()));
  if (type == "number")
    return value.is_number();
  if (type == "boolean")
    return value.is_boolean();
  if (type == "null")
    return value.is_null();
  if (type == "object")
    return value.is_object();
  if (type == "array")
    return value.is_array();
  return false;
}

class Converter {
public:
  explicit Converter(const ojson &root) : root(root) {}

  absl::StatusOr<std::string> convert(const ojson &schema,
                                      const std::string &path, int refDepth) {
    if (schema.is_boolean()) {
      if (schema.get<bool>())
        return freeValue(kMaxFreeJsonDepth);
      return refuse(path, "false", "a schema of 'false' matches nothing");
    }
    if (!schema.is_object())
      return absl::InvalidArgumentError(absl::StrCat(
          "the schema at ", path, " must be an object or a boolean"));
    for (auto it = schema.begin(); it != schema.end(); ++it)
      if (!known().count(it.key()))
        return refuse(path, it.key(), "");

    if (auto ref = schema.find("$ref"); ref != schema.end()) {
      if (schema.size() != 1 + countAnnotations(schema))
        return refuse(path, "$ref", "beside other validation keywords");
      return resolve(*ref, path, refDepth);
    }
    if (auto any = schema.find("anyOf"); any != schema.end()) {
      if (!any->is_array() || any->empty())
        return absl::InvalidArgumentError(absl::StrCat(
            "'anyOf' at ", path, " must be a non-empty array of schemas"));
      if (schema.size() != 1 + countAnnotations(schema))
        return refuse(path, "anyOf", "beside other validation keywords");
      std::vector<std::string> alts;
      for (size_t i = 0; i < any->size(); ++i) {
        auto r = convert((*any)[i], absl::StrCat(path, "/anyOf/", i), refDepth);
        if (!r.ok())
          return r.status();
        alts.push_back(*r);
      }
      return absl::StrCat("(", absl::StrJoin(alts, "|"), ")");
    }

    std::vector<std::string> types;
    if (auto type = schema.find("type"); type != schema.end()) {
      if (type->is_string()) {
        types.push_back(type->get<std::string>());
      } else if (type->is_array() && !type->empty()) {
        for (const ojson &t : *type) {
          if (!t.is_string())
            return absl::InvalidArgumentError(absl::StrCat(
                "'type' at ", path, " must be a string or strings"));
          types.push_back(t.get<std::string>());
        }
      } else {
        return absl::InvalidArgumentError(
            absl::StrCat("'type' at ", path, " must be a string or strings"));
      }
      for (const std::string &t : types)
        if (!std::set<std::string>{"string", "integer", "number", "boolean",
                                   "null", "object", "array"}
                 .count(t))
          return absl::InvalidArgumentError(
              absl::StrCat("'type' at ", path, " names '", t,
                           "', which is no JSON Schema type"));
    }

    if (schema.contains("enum") || schema.contains("const")) {
      std::vector<ojson> values;
      if (auto c = schema.find("const"); c != schema.end())
        values.push_back(*c);
      if (auto e = schema.find("enum"); e != schema.end()) {
        if (!e->is_array() || e->empty())
          return absl::InvalidArgumentError(
              absl::StrCat("'enum' at ", path, " must be a non-empty array"));
        for (const ojson &v : *e)
          values.push_back(v);
      }
      std::vector<std::string> alts;
      for (const ojson &v : values) {
        bool typed = types.empty();
        for (const std::string &t : types)
          typed = typed || matchesType(v, t);
        if (typed)
          alts.push_back(escapeRegex(v.dump()));
      }
      if (alts.empty())
        return absl::InvalidArgumentError(absl::StrCat(
            "no value of 'enum'/'const' at ", path, " has the schema's type"));
      return absl::StrCat("(", absl::StrJoin(alts, "|"), ")");
    }

    if (types.empty())
      return freeValue(kMaxFreeJsonDepth);
    std::vector<std::string> alts;
    for (const std::string &t : types) {
      auto r = typed(schema, t, path, refDepth);
      if (!r.ok())
        return r.status();
      alts.push_back(*r);
    }
    return alts.size() == 1 ? alts[0]
                            : absl::StrCat("(", absl::StrJoin(alts, "|"), ")");
  }

private:
  const ojson &root;

  static const std::set<std::string> &known() {
    static const std::set<std::string> keys = {
        // Annotations, which change nothing generated.
        "title", "description", "$schema", "$id", "$comment", "default",
        "examples", "deprecated", "readOnly", "writeOnly", "$defs",
        "definitions",
        // Validation keywords of the subset.
        "type", "enum", "const", "anyOf", "$ref", "properties", "required",
        "additionalProperties", "items", "minItems", "maxItems", "minLength",
        "maxLength"};
    return keys;
  }
  static size_t countAnnotations(const ojson &schema) {
    size_t n = 0;
    for (const char *k : {"title", "description", "$schema", "$id", "$comment",
                          "default", "examples", "deprecated", "readOnly",
                          "writeOnly", "$defs", "definitions"})
      n += schema.contains(k);
    return n;
  }

  static absl::Status refuse(const std::string &path, const std::string &key,
                             const std::string &why) {
    return absl::InvalidArgumentError(
        absl::StrCat("JSON Schema keyword '", key, "' at ", path,
                     why.empty() ? "" : absl::StrCat(" (", why, ")"),
                     " is not supported by kiln-serve's constrained decoding"));
  }

  static absl::StatusOr<int64_t> count(const ojson &schema, const char *key,
                                       const std::string &path,
                                       int64_t fallback) {
    auto it = schema.find(key);
    if (it == schema.end())
      return fallback;
    if (!it->is_number_integer() || it->get<int64_t>() < 0 ||
        it->get<int64_t>() > kMaxRepeat)
      return absl::InvalidArgumentError(
          absl::StrCat("'", key, "' at ", path, " must be an integer in [0, ",
                       kMaxRepeat, "]"));
    return it->get<int64_t>();
  }

  absl::StatusOr<std::string> resolve(const ojson &ref, const std::string &path,
                                      int refDepth) {
    if (!ref.is_string())
      return absl::InvalidArgumentError(
          absl::StrCat("'$ref' at ", path, " must be a string"));
    std::string target = ref.get<std::string>();
    if (refDepth >= kMaxRefDepth)
      return refuse(path, "$ref",
                    absl::StrCat("references nested deeper than ", kMaxRefDepth,
                                 ": a recursive schema"));
    for (const char *prefix : {"#/$defs/", "#/definitions/"}) {
      std::string p = prefix;
      if (target.rfind(p, 0) != 0)
        continue;
      std::string name = target.substr(p.size());
      auto defs =
          root.is_object() ? root.find(p.substr(2, p.size() - 3)) : root.end();
      if (defs != root.end() && defs->is_object() && defs->contains(name))
        return convert((*defs)[name], target, refDepth + 1);
      return absl::InvalidArgumentError(
          absl::StrCat("'$ref' at ", path, " names '", target,
                       "', which the schema does not define"));
    }
    return refuse(path, "$ref",
                  absl::StrCat("to '", target,
                               "': only '#/$defs/NAME' and "
                               "'#/definitions/NAME' are followed"));
  }

  absl::StatusOr<std::string> typed(const ojson &schema, const std::string &t,
                                    const std::string &path, int refDepth) {
    if (t == "string") {
      auto min = count(schema, "minLength", path, 0);
      auto max = count(schema, "maxLength", path, -1);
      if (!min.ok())
        return min.status();
      if (!max.ok())
        return max.status();
      if (*max >= 0 && *min > *max)
        return absl::InvalidArgumentError(
            absl::StrCat("'minLength' exceeds 'maxLength' at ", path));
      return stringRegex(*min, *max);
    }
    if (t == "integer")
      return std::string(kInteger);
    if (t == "number")
      return std::string(kNumber);
    if (t == "boolean")
      return std::string("(true|false)");
    if (t == "null")
      return std::string("null");
    if (t == "array")
      return array(schema, path, refDepth);
    return object(schema, path, refDepth);
  }

  absl::StatusOr<std::string> array(const ojson &schema,
                                    const std::string &path, int refDepth) {
    std::string item = freeValue(kMaxFreeJsonDepth - 1);
    if (auto items = schema.find("items"); items != schema.end()) {
      auto r = convert(*items, path + "/items", refDepth);
      if (!r.ok())
        return r.status();
      item = *r;
    }
    auto min = count(schema, "minItems", path, 0);
    auto max = count(schema, "maxItems", path, -1);
    if (!min.ok())
      return min.status();
    if (!max.ok())
      return max.status();
    if (*max >= 0 && *min > *max)
      return absl::InvalidArgumentError(
          absl::StrCat("'minItems' exceeds 'maxItems' at ", path));
    if (*max == 0)
      return std::string("\\[\\]");
    std::string more = absl::StrCat(
        "(", kComma, item, ")",
        *max < 0
            ? (*min <= 1 ? std::string("*") : absl::StrCat("{", *min - 1, ",}"))
            : absl::StrCat("{", std::max<int64_t>(*min - 1, 0), ",", *max - 1,
                           "}"));
    if (*min == 0)
      return absl::StrCat("\\[(", item, more, ")?\\]");
    return absl::StrCat("\\[", item, more, "\\]");
  }

  absl::StatusOr<std::string> object(const ojson &schema,
                                     const std::string &path, int refDepth) {
    if (auto extra = schema.find("additionalProperties");
        extra != schema.end() && !extra->is_boolean())
      return refuse(path, "additionalProperties", "as a schema");
    auto props = schema.find("properties");
    if (props == schema.end())
      return freeObject(kMaxFreeJsonDepth);
    if (!props->is_object())
      return absl::InvalidArgumentError(
          absl::StrCat("'properties' at ", path, " must be an object"));
    std::set<std::string> required;
    if (auto req = schema.find("required"); req != schema.end()) {
      if (!req->is_array())
        return absl::InvalidArgumentError(
            absl::StrCat("'required' at ", path, " must be an array"));
      for (const ojson &name : *req) {
        if (!name.is_string() || !props->contains(name.get<std::string>()))
          return absl::InvalidArgumentError(
              absl::StrCat("'required' at ", path, " names ", name.dump(),
                           ", which 'properties' does not define"));
        required.insert(name.get<std::string>());
      }
    }
    // Each member as text, and whether it must appear.
    std::vector<std::pair<std::string, bool>> members;
    for (auto it = props->begin(); it != props->end(); ++it) {
      auto value =
          convert(it.value(), path + "/properties/" + it.key(), refDepth);
      if (!value.ok())
        return value.status();
      members.push_back(
          {absl::StrCat(escapeRegex(ojson(it.key()).dump()), kColon, *value),
           required.count(it.key()) > 0});
    }
    // An alternative per first present member: it has no comma before it,
    // members after it have one, and no required member precedes it.
    std::vector<std::string> alts;
    for (size_t first = 0; first < members.size(); ++first) {
      std::string alt = members[first].first;
      for (size_t j = first + 1; j < members.size(); ++j) {
        std::string m = absl::StrCat(kComma, members[j].first);
        alt += members[j].second ? m : absl::StrCat("(", m, ")?");
      }
      alts.push_back(alt);
      if (members[first].second)
        break;
    }
    bool anyRequired = !required.empty();
    if (alts.empty())
      return std::string("\\{\\}");
    return absl::StrCat("\\{(", absl::StrJoin(alts, "|"), ")",
                        anyRequired ? "" : "?", "\\}");
  }
};

} // namespace

absl::StatusOr<std::string> jsonSchemaRegex(const ojson &schema) {
  return Converter(schema).convert(schema, "#", 0);
}

std::string jsonObjectRegex() { return freeObject(kMaxFreeJsonDepth); }

} // namespace kiln::serving
