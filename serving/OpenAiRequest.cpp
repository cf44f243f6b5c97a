//===- OpenAiRequest.cpp - validated /v1/completions and /v1/chat requests ===//
//
// Checks follow OpenAI's API reference: numeric ranges (temperature [0, 2],
// top_p (0, 1], n >= 1), types, and unrecognised arguments as errors. Fields
// OpenAI has and Kiln does not implement are accepted at their neutral value
// and refused, naming the field, otherwise: a silently ignored penalty or
// schema would answer a different question than the client asked.
//
//===----------------------------------------------------------------------===//

#include "serving/OpenAiRequest.h"

#include <cmath>
#include <limits>
#include <set>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "serving/JsonSchemaRegex.h"

namespace kiln::serving {

namespace {

using json = nlohmann::json;

/// nlohmann parses recursively: a body of 100,000 '[' would overflow the
/// stack, so the nesting is measured (outside strings) first.
bool tooDeep(const std::string &body) {
  int depth = 0;
  bool inString = false, escaped = false;
  for (char c : body) {
    if (inString) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        inString = false;
      continue;
    }
    if (c == '"')
      inString = true;
    else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth)
        return true;
    } else if (c == ']' || c == '}')
      --depth;
  }
  return false;
}

struct Reader {
  const json &body;
  std::optional<ApiError> error;

  bool failed() const { return error.has_value(); }
  void fail(const std::string &param, const std::string &message,
            const std::string &code = "") {
    if (!error)
      error = badRequest(message, param, code);
  }
  /// The field when present and not null.
  const json *field(const char *name) {
    auto it = body.find(name);
    if (it == body.end() || it->is_null())
      return nullptr;
    return &*it;
  }
  std::optional<int64_t> integer(const char *name, int64_t lo, int64_t hi) {
    const json *v = field(name);
    if (!v)
      return std::nullopt;
    int64_t value = 0;
    if (v->is_number_integer() && !v->is_number_unsigned()) {
      value = v->get<int64_t>();
    } else if (v->is_number_unsigned()) {
      uint64_t u = v->get<uint64_t>();
      if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        fail(name, absl::StrCat("'", name, "' is out of range"));
        return std::nullopt;
      }
      value = static_cast<int64_t>(u);
    } else if (v->is_number_float()) {
      double d = v->get<double>();
      if (!std::isfinite(d) || d != std::floor(d) || std::fabs(d) > 9e18) {
        fail(name, absl::StrCat("'", name, "' must be an integer"));
        return std::nullopt;
      }
      value = static_cast<int64_t>(d);
    } else {
      fail(name, absl::StrCat("'", name, "' must be an integer, got ",
                              v->type_name()));
      return std::nullopt;
    }
    if (value < lo || value > hi) {
      fail(name, absl::StrCat("'", name, "' must be between ", lo, " and ", hi,
                              ", got ", value));
      return std::nullopt;
    }
    return value;
  }
  std::optional<double> number(const char *name, double lo, double hi,
                               bool openLow = false) {
    const json *v = field(name);
    if (!v)
      return std::nullopt;
    if (!v->is_number()) {
      fail(name,
           absl::StrCat("'", name, "' must be a number, got ", v->type_name()));
      return std::nullopt;
    }
    double d = v->get<double>();
    if (!std::isfinite(d) || d > hi || d < lo || (openLow && d <= lo)) {
      fail(name, absl::StrCat("'", name, "' must be in ", openLow ? "(" : "[",
                              lo, ", ", hi, "], got ", v->dump()));
      return std::nullopt;
    }
    return d;
  }
  std::optional<bool> boolean(const char *name) {
    const json *v = field(name);
    if (!v)
      return std::nullopt;
    if (!v->is_boolean()) {
      fail(name, absl::StrCat("'", name, "' must be a boolean, got ",
                              v->type_name()));
      return std::nullopt;
    }
    return v->get<bool>();
  }
  void unsupported(const char *name, const std::string &why) {
    fail(name,
         absl::StrCat("'", name, "' ", why, why.empty() ? "" : " ",
                      "is not supported by kiln-serve"),
         "unsupported_parameter");
  }
};

const std::set<std::string> &chatFields() {
  static const std::set<std::string> fields = {"model",
                                               "messages",
                                               "return_token_ids",
                                               "ignore_eos",
                                               "kiln_regex",
                                               "max_tokens",
                                               "max_completion_tokens",
                                               "temperature",
                                               "top_p",
                                               "top_k",
                                               "seed",
                                               "stop",
                                               "n",
                                               "stream",
                                               "stream_options",
                                               "logprobs",
                                               "top_logprobs",
                                               "frequency_penalty",
                                               "presence_penalty",
                                               "logit_bias",
                                               "user",
                                               "response_format",
                                               "tools",
                                               "tool_choice",
                                               "parallel_tool_calls",
                                               "functions",
                                               "function_call",
                                               "metadata",
                                               "store",
                                               "service_tier",
                                               "reasoning_effort",
                                               "modalities",
                                               "prediction",
                                               "audio",
                                               "web_search_options"};
  return fields;
}

const std::set<std::string> &completionFields() {
  static const std::set<std::string> fields = {"model",
                                               "prompt",
                                               "return_token_ids",
                                               "ignore_eos",
                                               "kiln_regex",
                                               "max_tokens",
                                               "temperature",
                                               "top_p",
                                               "top_k",
                                               "seed",
                                               "stop",
                                               "n",
                                               "stream",
                                               "stream_options",
                                               "logprobs",
                                               "echo",
                                               "suffix",
                                               "best_of",
                                               "frequency_penalty",
                                               "presence_penalty",
                                               "logit_bias",
                                               "user",
                                               "response_format"};
  return fields;
}

std::optional<std::string> messageText(const json &content, Reader &r,
                                       const std::string &param) {
  if (content.is_null())
    return std::string();
  if (content.is_string())
    return content.get<std::string>();
  if (!content.is_array()) {
    r.fail(param,
           absl::StrCat("'", param, "' must be a string or an array of parts"));
    return std::nullopt;
  }
  std::string text;
  for (size_t i = 0; i < content.size(); ++i) {
    const json &part = content[i];
    std::string p = absl::StrCat(param, "[", i, "]");
    if (!part.is_object() || !part.contains("type") ||
        !part["type"].is_string()) {
      r.fail(p, absl::StrCat("'", p, "' must be an object with a 'type'"));
      return std::nullopt;
    }
    if (part["type"] != "text") {
      r.fail(p,
             absl::StrCat("'", p, "' has type ", part["type"].dump(),
                          "; kiln-serve's models read text parts only"),
             "unsupported_parameter");
      return std::nullopt;
    }
    if (!part.contains("text") || !part["text"].is_string()) {
      r.fail(p, absl::StrCat("'", p, ".text' must be a string"));
      return std::nullopt;
    }
    text += part["text"].get<std::string>();
  }
  return text;
}

void readMessages(Reader &r, CompletionRequest &req) {
  const json *messages = r.field("messages");
  if (!messages) {
    r.fail("messages", "'messages' is required");
    return;
  }
  if (!messages->is_array() || messages->empty()) {
    r.fail("messages", "'messages' must be a non-empty array");
    return;
  }
  for (size_t i = 0; i < messages->size(); ++i) {
    const json &m = (*messages)[i];
    std::string param = absl::StrCat("messages[", i, "]");
    if (!m.is_object()) {
      r.fail(param, absl::StrCat("'", param, "' must be an object"));
      return;
    }
    if (!m.contains("role") || !m["role"].is_string()) {
      r.fail(param + ".role",
             absl::StrCat("'", param, ".role' must be a string"));
      return;
    }
    std::string role = m["role"].get<std::string>();
    if (role != "system" && role != "developer" && role != "user" &&
        role != "assistant") {
      r.fail(param + ".role",
             absl::StrCat("'", param, ".role' is '", role,
                          "'; kiln-serve takes system, developer, user and "
                          "assistant messages"));
      return;
    }
    if (!m.contains("content") ||
        (m["content"].is_null() && role != "assistant")) {
      r.fail(param + ".content",
             absl::StrCat("'", param, ".content' is required"));
      return;
    }
    auto text = messageText(m["content"], r, param + ".content");
    if (!text)
      return;
    req.messages.push_back({role, *text});
  }
}

/// Token ids of `list`, or nullopt after failing with `param` named.
std::optional<std::vector<int64_t>> tokenIds(Reader &r, const json &list,
                                             const std::string &param) {
  std::vector<int64_t> out;
  for (const json &v : list) {
    if (!v.is_number_integer() ||
        (v.is_number_unsigned() &&
         v.get<uint64_t>() >
             static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) ||
        v.get<int64_t>() < 0) {
      r.fail(param, absl::StrCat("'", param,
                                 "' token ids must be non-negative integers"));
      return std::nullopt;
    }
    out.push_back(v.get<int64_t>());
  }
  return out;
}

/// OpenAI's four prompt forms: a string, an array of strings, an array of
/// token ids, an array of token-id arrays. The arrays batch prompts.
void readPrompt(Reader &r, CompletionRequest &req) {
  const json *prompt = r.field("prompt");
  if (!prompt) {
    r.fail("prompt", "'prompt' is required");
    return;
  }
  const char *shape = "'prompt' must be a string, an array of strings, an "
                      "array of token ids or an array of token-id arrays";
  if (prompt->is_string()) {
    req.prompts.push_back({prompt->get<std::string>(), std::nullopt});
    return;
  }
  if (!prompt->is_array() || prompt->empty()) {
    r.fail("prompt", shape);
    return;
  }
  if ((*prompt)[0].is_number()) {
    if (auto ids = tokenIds(r, *prompt, "prompt"))
      req.prompts.push_back({"", std::move(ids)});
    return;
  }
  if (static_cast<int64_t>(prompt->size()) > kMaxPrompts) {
    r.fail("prompt", absl::StrCat("'prompt' batches ", prompt->size(),
                                  " prompts; kiln-serve takes at most ",
                                  kMaxPrompts, " per request"));
    return;
  }
  bool strings = (*prompt)[0].is_string();
  for (size_t i = 0; i < prompt->size(); ++i) {
    const json &item = (*prompt)[i];
    std::string param = absl::StrCat("prompt[", i, "]");
    if (strings && item.is_string()) {
      req.prompts.push_back({item.get<std::string>(), std::nullopt});
    } else if (!strings && item.is_array()) {
      auto ids = tokenIds(r, item, param);
      if (!ids)
        return;
      req.prompts.push_back({"", std::move(ids)});
    } else {
      r.fail(param,
             absl::StrCat(shape, "; '", param, "' is ", item.type_name()));
      return;
    }
  }
}

void readStop(Reader &r, CompletionRequest &req) {
  const json *stop = r.field("stop");
  if (!stop)
    return;
  if (stop->is_string()) {
    req.stop.push_back(stop->get<std::string>());
    return;
  }
  if (!stop->is_array() || stop->size() > kMaxStops) {
    r.fail("stop", absl::StrCat("'stop' must be a string or an array of at "
                                "most ",
                                kMaxStops, " strings"));
    return;
  }
  for (const json &s : *stop) {
    if (!s.is_string()) {
      r.fail("stop", "'stop' must hold strings only");
      return;
    }
    req.stop.push_back(s.get<std::string>());
  }
}

/// response_format (both endpoints: completions take it as vLLM's do) and
/// the kiln_regex extension.
void readConstraint(Reader &r, const std::string &body,
                    CompletionRequest &req) {
  using Constraint = CompletionRequest::Constraint;
  if (const json *format = r.field("response_format")) {
    if (!format->is_object() || !format->contains("type") ||
        !(*format)["type"].is_string()) {
      r.fail("response_format",
             "'response_format' must be an object with a 'type'");
      return;
    }
    std::string type = (*format)["type"].get<std::string>();
    for (auto it = format->begin(); it != format->end(); ++it)
      if (it.key() != "type" &&
          !(it.key() == "json_schema" && type == "json_schema")) {
        r.fail("response_format." + it.key(),
               absl::StrCat("Unrecognized response_format field '", it.key(),
                            "' for type '", type, "'"));
        return;
      }
    if (type == "json_object") {
      req.constraint = Constraint::json;
      req.constraintRegex = jsonObjectRegex();
    } else if (type == "json_schema") {
      const char *param = "response_format.json_schema";
      auto spec = format->find("json_schema");
      if (spec == format->end() || !spec->is_object()) {
        r.fail(param, "'response_format.json_schema' must be an object");
        return;
      }
      for (auto it = spec->begin(); it != spec->end(); ++it) {
        const std::string &k = it.key();
        bool ok = (k == "name" || k == "description") ? it->is_string()
                  : k == "strict" ? it->is_boolean() || it->is_null()
                  : k == "schema" ? it->is_object() || it->is_boolean()
                                  : false;
        if (!ok) {
          r.fail(
              absl::StrCat(param, ".", k),
              k == "name" || k == "description" || k == "strict" ||
                      k == "schema"
                  ? absl::StrCat("'", param, ".", k, "' has the wrong type")
                  : absl::StrCat("Unrecognized json_schema field '", k, "'"));
          return;
        }
      }
      if (!spec->contains("schema")) {
        r.fail(absl::StrCat(param, ".schema"),
               "'response_format.json_schema.schema' is required");
        return;
      }
      // Parsed again, keeping the order the client wrote the properties in:
      // the output follows it.
      nlohmann::ordered_json ordered = nlohmann::ordered_json::parse(
          body, nullptr, /*allow_exceptions=*/false);
      absl::StatusOr<std::string> regex =
          jsonSchemaRegex(ordered["response_format"]["json_schema"]["schema"]);
      if (!regex.ok()) {
        r.fail(absl::StrCat(param, ".schema"),
               std::string(regex.status().message()), "invalid_json_schema");
        return;
      }
      req.constraint = Constraint::json;
      req.constraintRegex = *std::move(regex);
    } else if (type != "text") {
      r.fail("response_format.type",
             absl::StrCat("'response_format.type' is '", type,
                          "'; kiln-serve takes 'text', 'json_object' and "
                          "'json_schema'"));
      return;
    }
    req.constraintParam = "response_format";
  }
  if (const json *regex = r.field("kiln_regex")) {
    if (!regex->is_string())
      r.fail("kiln_regex", "'kiln_regex' must be a string");
    else if (req.constraint != Constraint::none)
      r.fail("kiln_regex", "'kiln_regex' and a JSON 'response_format' "
                           "cannot be combined");
    else {
      req.constraint = Constraint::regex;
      req.constraintRegex = regex->get<std::string>();
      req.constraintParam = "kiln_regex";
    }
  }
}

} // namespace

std::string ApiError::body() const {
  json error = {{"message", message},
                {"type", type},
                {"param", param.empty() ? json(nullptr) : json(param)},
                {"code", code.empty() ? json(nullptr) : json(code)}};
  return json{{"error", error}}.dump(-1, ' ', false,
                                     json::error_handler_t::replace);
}

std::variant<CompletionRequest, ApiError>
parseCompletionRequest(const std::string &body, bool chat) {
  if (tooDeep(body))
    return badRequest(
        absl::StrCat("the body nests deeper than ", kMaxJsonDepth, " levels"));
  json parsed = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded())
    return badRequest("the body is not valid JSON (or not UTF-8)", "",
                      "invalid_json");
  if (!parsed.is_object())
    return badRequest("the body must be a JSON object");
  const std::set<std::string> &known = chat ? chatFields() : completionFields();
  for (auto it = parsed.begin(); it != parsed.end(); ++it)
    if (!known.count(it.key()))
      return badRequest(
          absl::StrCat("Unrecognized request argument supplied: ", it.key()),
          it.key(), "unknown_parameter");

  Reader r{parsed, std::nullopt};
  CompletionRequest req;
  req.chat = chat;
  if (const json *model = r.field("model"); !model || !model->is_string())
    r.fail("model", "'model' is required and must be a string");
  else
    req.model = model->get<std::string>();
  if (chat)
    readMessages(r, req);
  else
    readPrompt(r, req);

  constexpr int64_t kMaxInt = std::numeric_limits<int64_t>::max();
  std::optional<int64_t> maxTokens = r.integer("max_tokens", 1, kMaxInt);
  if (chat)
    if (auto m = r.integer("max_completion_tokens", 1, kMaxInt))
      maxTokens = m;
  req.maxTokens = maxTokens;
  if (auto t = r.number("temperature", 0, 2))
    req.temperature = static_cast<float>(*t);
  if (auto p = r.number("top_p", 0, 1, /*openLow=*/true))
    req.topP = static_cast<float>(*p);
  if (auto k = r.integer("top_k", -1, kMaxInt))
    req.topK = *k < 0 ? 0 : *k;
  req.seed = r.integer("seed", std::numeric_limits<int64_t>::min(), kMaxInt);
  readStop(r, req);
  if (auto n = r.integer("n", 1, kMaxChoices))
    req.n = *n;
  req.stream = r.boolean("stream").value_or(false);
  req.returnTokenIds = r.boolean("return_token_ids").value_or(false);
  req.ignoreEos = r.boolean("ignore_eos").value_or(false);
  if (!chat && static_cast<int64_t>(req.prompts.size()) * req.n > kMaxSequences)
    r.fail("n",
           absl::StrCat(req.prompts.size(), " prompts with n = ", req.n,
                        " ask for more than ", kMaxSequences, " sequences"));
  if (const json *options = r.field("stream_options")) {
    if (!req.stream)
      r.fail("stream_options",
             "'stream_options' is only allowed when 'stream' is true");
    else if (!options->is_object())
      r.fail("stream_options", "'stream_options' must be an object");
    else
      for (auto it = options->begin(); it != options->end(); ++it) {
        if (it.key() != "include_usage" && it.key() != "continuous_usage_stats")
          r.fail("stream_options." + it.key(),
                 "Unrecognized stream option: " + it.key());
        else if (it.key() == "include_usage") {
          if (!it->is_boolean())
            r.fail("stream_options.include_usage",
                   "'stream_options.include_usage' must be a boolean");
          else
            req.includeUsage = it->get<bool>();
        }
      }
  }
  if (chat) {
    req.logprobs = r.boolean("logprobs").value_or(false);
    if (auto k = r.integer("top_logprobs", 0, kMaxTopLogprobs)) {
      if (!req.logprobs)
        r.fail("top_logprobs", "'top_logprobs' needs 'logprobs' set to true");
      req.topLogprobs = *k;
    }
  } else {
    if (auto k = r.integer("logprobs", 0, 5)) {
      req.logprobs = true;
      req.topLogprobs = *k;
    }
    if (r.boolean("echo").value_or(false))
      r.unsupported("echo", "set to true");
    if (const json *suffix = r.field("suffix");
        suffix && !(suffix->is_string() && suffix->get<std::string>().empty()))
      r.unsupported("suffix", "(insertion)");
    if (auto bestOf = r.integer("best_of", 1, kMaxChoices);
        bestOf && *bestOf != req.n)
      r.unsupported("best_of", "other than n");
  }
  for (const char *penalty : {"frequency_penalty", "presence_penalty"})
    if (auto p = r.number(penalty, -2, 2); p && *p != 0)
      r.unsupported(penalty, "other than 0");
  if (const json *bias = r.field("logit_bias");
      bias && !(bias->is_object() && bias->empty()))
    r.unsupported("logit_bias", "with entries");
  if (const json *user = r.field("user"); user && !user->is_string())
    r.fail("user", "'user' must be a string");
  readConstraint(r, body, req);
  if (chat) {
    for (const char *name : {"tools", "functions"})
      if (const json *v = r.field(name); v && !(v->is_array() && v->empty()))
        r.unsupported(name, "(tool calling)");
    for (const char *name : {"prediction", "audio", "web_search_options"})
      if (r.field(name))
        r.unsupported(name, "");
  }
  if (r.failed())
    return *r.error;
  return req;
}

} // namespace kiln::serving
