//===- DeepseekConfig.cpp - parsing and checking a DeepSeek-V3 config
//------===//

#include "models/deepseek/DeepseekConfig.h"

#include <cmath>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>

#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "executor/HostTensor.h"
#include "executor/StatusMacros.h"
#include "executor/UntrustedJson.h"
#include "nlohmann/json.hpp"

namespace kiln::models {

using json = nlohmann::json;

namespace {

/// Reads one config.json field, with errors that name the file and the field.
class FieldReader {
public:
  FieldReader(std::string source) : source(std::move(source)) {}

  absl::Status error(const std::string &field, const std::string &what) const {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": field '", field, "' ", what));
  }
  absl::Status unsupported(const std::string &field, const json &value,
                           const std::string &why) const {
    return error(field, absl::StrCat("has value ", jsonSnippet(value),
                                     ", which Kiln does not support: ", why));
  }

  absl::StatusOr<int64_t> integer(const std::string &field,
                                  const json &v) const {
    // An unsigned value past INT64_MAX would wrap negative in get<int64_t>.
    if (v.is_number_unsigned() && v.get<uint64_t>() > uint64_t{INT64_MAX})
      return error(field, absl::StrCat("is ", jsonSnippet(v),
                                       ", beyond a 64-bit integer"));
    if (v.is_number_integer())
      return v.get<int64_t>();
    if (v.is_number_float()) {
      double d = v.get<double>();
      if (std::floor(d) == d && std::abs(d) < 9e15)
        return static_cast<int64_t>(d);
    }
    return error(field,
                 absl::StrCat("must be an integer, got ", jsonSnippet(v)));
  }
  absl::StatusOr<double> number(const std::string &field, const json &v) const {
    // JSON has no NaN, but 1e999 reads as infinity.
    if (v.is_number() && std::isfinite(v.get<double>()))
      return v.get<double>();
    return error(field,
                 absl::StrCat("must be a finite number, got ", jsonSnippet(v)));
  }
  absl::StatusOr<bool> boolean(const std::string &field, const json &v) const {
    if (v.is_boolean())
      return v.get<bool>();
    return error(field,
                 absl::StrCat("must be true or false, got ", jsonSnippet(v)));
  }
  absl::StatusOr<std::string> string(const std::string &field,
                                     const json &v) const {
    if (v.is_string())
      return v.get<std::string>();
    return error(field, absl::StrCat("must be a string, got ", jsonSnippet(v)));
  }

  std::string source;
};

/// The rope fields, whichever object (rope_parameters or rope_scaling) holds
/// them.
absl::Status parseRope(const FieldReader &r, const std::string &objectName,
                       const json &rope, DeepseekV3Config &c,
                       std::optional<double> &innerTheta) {
  if (!rope.is_object())
    return r.error(objectName, absl::StrCat("must be an object or null, got ",
                                            jsonSnippet(rope)));
  std::string type = "default";
  for (const char *key : {"rope_type", "type"}) {
    if (rope.contains(key)) {
      KILN_ASSIGN_OR_RETURN(std::string t,
                            r.string(objectName + "." + key, rope[key]));
      if (rope.contains("rope_type") && rope.contains("type") &&
          rope["rope_type"] != rope["type"])
        return r.error(objectName, "gives different 'rope_type' and 'type'");
      type = t;
    }
  }
  if (type != "default" && type != "yarn")
    return r.unsupported(objectName + ".rope_type", json(type),
                         "only \"default\" and \"yarn\" rotary embeddings are "
                         "implemented");
  YarnScaling y;
  bool sawFactor = false, sawOriginal = false;
  for (auto it = rope.begin(); it != rope.end(); ++it) {
    const std::string &key = it.key();
    const json &v = it.value();
    std::string field = objectName + "." + key;
    if (key == "rope_type" || key == "type")
      continue;
    if (key == "rope_theta") {
      KILN_ASSIGN_OR_RETURN(double theta, r.number(field, v));
      innerTheta = theta;
      continue;
    }
    if (key == "partial_rotary_factor") {
      KILN_ASSIGN_OR_RETURN(double p, r.number(field, v));
      if (p != 1.0)
        return r.unsupported(field, v,
                             "DeepSeek-V3 rotates the whole rope head dim");
      continue;
    }
    static const std::set<std::string> yarnKeys = {
        "factor",           "original_max_position_embeddings",
        "beta_fast",        "beta_slow",
        "mscale",           "mscale_all_dim",
        "attention_factor", "truncate"};
    if (!yarnKeys.count(key))
      return r.error(field, "is not a rope field Kiln knows");
    if (type == "default")
      return r.unsupported(field, v,
                           "it only applies to the \"yarn\" rope type");
    if (v.is_null())
      continue; // transformers treats null as absent for every yarn field
    if (key == "factor") {
      KILN_ASSIGN_OR_RETURN(y.factor, r.number(field, v));
      // Only an absent factor is derived; a given one must be usable.
      if (y.factor <= 0)
        return r.error(field, absl::StrCat("must be positive, got ", y.factor));
      sawFactor = true;
    } else if (key == "original_max_position_embeddings") {
      KILN_ASSIGN_OR_RETURN(y.originalMaxPositionEmbeddings,
                            r.integer(field, v));
      sawOriginal = true;
    } else if (key == "beta_fast") {
      KILN_ASSIGN_OR_RETURN(y.betaFast, r.number(field, v));
    } else if (key == "beta_slow") {
      KILN_ASSIGN_OR_RETURN(y.betaSlow, r.number(field, v));
    } else if (key == "mscale") {
      KILN_ASSIGN_OR_RETURN(y.mscale, r.number(field, v));
    } else if (key == "mscale_all_dim") {
      KILN_ASSIGN_OR_RETURN(y.mscaleAllDim, r.number(field, v));
    } else if (key == "attention_factor") {
      KILN_ASSIGN_OR_RETURN(double f, r.number(field, v));
      y.attentionFactor = f;
    } else if (key == "truncate") {
      KILN_ASSIGN_OR_RETURN(y.truncate, r.boolean(field, v));
    }
  }
  if (type == "yarn") {
    if (!sawOriginal)
      return r.error(objectName + ".original_max_position_embeddings",
                     "is required by the \"yarn\" rope type");
    // transformers: beta_* of 0 fall back to the paper's 32 / 1.
    if (y.betaFast == 0)
      y.betaFast = 32;
    if (y.betaSlow == 0)
      y.betaSlow = 1;
    if (!sawFactor)
      y.factor = -1; // resolved from max_position_embeddings after the parse
    c.yarn = y;
  } else {
    c.yarn.reset();
  }
  return absl::OkStatus();
}

} // namespace

const std::vector<std::string> &ignoredDeepseekV3ConfigFields() {
  // Bookkeeping, tokenizer ids, initialisation and training-only knobs: none
  // changes the forward pass that Kiln computes.
  static const std::vector<std::string> fields = {"architectures",
                                                  "transformers_version",
                                                  "torch_dtype",
                                                  "dtype",
                                                  "bos_token_id",
                                                  "eos_token_id",
                                                  "pad_token_id",
                                                  "use_cache",
                                                  "initializer_range",
                                                  "pretraining_tp",
                                                  "auto_map",
                                                  "aux_loss_alpha",
                                                  "seq_aux",
                                                  "ep_size",
                                                  "_name_or_path",
                                                  "output_hidden_states",
                                                  "output_attentions",
                                                  "return_dict",
                                                  "id2label",
                                                  "label2id",
                                                  "chunk_size_feed_forward",
                                                  "is_encoder_decoder",
                                                  "problem_type",
                                                  "tokenizer_class"};
  return fields;
}

absl::StatusOr<DeepseekV3Config>
parseDeepseekV3Config(const std::string &jsonText, const std::string &source) {
  FieldReader r(source);
  KILN_ASSIGN_OR_RETURN(json root, parseUntrustedJson<json>(jsonText, source));
  if (!root.is_object())
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": the top level must be a JSON object"));

  DeepseekV3Config c;
  using Handler =
      std::function<absl::Status(const std::string &, const json &)>;
  auto intField = [&](int64_t &dst) -> Handler {
    return [&r, &dst](const std::string &k, const json &v) -> absl::Status {
      KILN_ASSIGN_OR_RETURN(dst, r.integer(k, v));
      return absl::OkStatus();
    };
  };
  auto numberField = [&](double &dst) -> Handler {
    return [&r, &dst](const std::string &k, const json &v) -> absl::Status {
      KILN_ASSIGN_OR_RETURN(dst, r.number(k, v));
      return absl::OkStatus();
    };
  };
  auto boolField = [&](bool &dst) -> Handler {
    return [&r, &dst](const std::string &k, const json &v) -> absl::Status {
      KILN_ASSIGN_OR_RETURN(dst, r.boolean(k, v));
      return absl::OkStatus();
    };
  };
  auto onlyString = [&](const std::string &want, const std::string &why) {
    return
        [&r, want, why](const std::string &k, const json &v) -> absl::Status {
          KILN_ASSIGN_OR_RETURN(std::string s, r.string(k, v));
          if (s != want)
            return r.unsupported(k, v, why);
          return absl::OkStatus();
        };
  };

  std::optional<int64_t> kvHeads, headDim, qkHeadDim;
  std::optional<double> topTheta, innerTheta;
  const json *ropeParameters = nullptr, *ropeScaling = nullptr;

  std::map<std::string, Handler> handlers = {
      {"vocab_size", intField(c.vocabSize)},
      {"hidden_size", intField(c.hiddenSize)},
      {"intermediate_size", intField(c.intermediateSize)},
      {"moe_intermediate_size", intField(c.moeIntermediateSize)},
      {"num_hidden_layers", intField(c.numHiddenLayers)},
      {"first_k_dense_replace", intField(c.firstKDenseReplace)},
      {"num_attention_heads", intField(c.numAttentionHeads)},
      {"kv_lora_rank", intField(c.kvLoraRank)},
      {"qk_nope_head_dim", intField(c.qkNopeHeadDim)},
      {"qk_rope_head_dim", intField(c.qkRopeHeadDim)},
      {"v_head_dim", intField(c.vHeadDim)},
      {"rms_norm_eps", numberField(c.rmsNormEps)},
      {"n_routed_experts", intField(c.nRoutedExperts)},
      {"num_experts_per_tok", intField(c.numExpertsPerTok)},
      {"n_shared_experts", intField(c.nSharedExperts)},
      {"n_group", intField(c.nGroup)},
      {"topk_group", intField(c.topkGroup)},
      {"norm_topk_prob", boolField(c.normTopkProb)},
      {"routed_scaling_factor", numberField(c.routedScalingFactor)},
      {"tie_word_embeddings", boolField(c.tieWordEmbeddings)},
      {"max_position_embeddings", intField(c.maxPositionEmbeddings)},
      {"rope_interleave", boolField(c.ropeInterleave)},
      {"num_nextn_predict_layers", intField(c.numNextnPredictLayers)},
      {"num_mtp_layers", intField(c.numNextnPredictLayers)},
      {"q_lora_rank",
       [&](const std::string &k, const json &v) -> absl::Status {
         if (v.is_null()) {
           c.qLoraRank.reset();
           return absl::OkStatus();
         }
         KILN_ASSIGN_OR_RETURN(int64_t rank, r.integer(k, v));
         c.qLoraRank = rank;
         return absl::OkStatus();
       }},
      {"num_key_value_heads",
       [&](const std::string &k, const json &v) -> absl::Status {
         if (v.is_null())
           return absl::OkStatus(); // transformers: defaults to the heads
         KILN_ASSIGN_OR_RETURN(int64_t n, r.integer(k, v));
         kvHeads = n;
         return absl::OkStatus();
       }},
      {"head_dim",
       [&](const std::string &k, const json &v) -> absl::Status {
         KILN_ASSIGN_OR_RETURN(int64_t n, r.integer(k, v));
         headDim = n;
         return absl::OkStatus();
       }},
      {"qk_head_dim",
       [&](const std::string &k, const json &v) -> absl::Status {
         KILN_ASSIGN_OR_RETURN(int64_t n, r.integer(k, v));
         qkHeadDim = n;
         return absl::OkStatus();
       }},
      {"rope_theta",
       [&](const std::string &k, const json &v) -> absl::Status {
         KILN_ASSIGN_OR_RETURN(double t, r.number(k, v));
         topTheta = t;
         return absl::OkStatus();
       }},
      {"rope_parameters",
       [&](const std::string &, const json &v) -> absl::Status {
         ropeParameters = v.is_null() ? nullptr : &v;
         return absl::OkStatus();
       }},
      {"rope_scaling",
       [&](const std::string &, const json &v) -> absl::Status {
         ropeScaling = v.is_null() ? nullptr : &v;
         return absl::OkStatus();
       }},
      {"model_type",
       onlyString("deepseek_v3", "this is the DeepSeek-V3 loader")},
      {"hidden_act", onlyString("silu", "DeepSeek-V3's MLPs are SiLU-gated")},
      {"scoring_func",
       onlyString("sigmoid", "the router scores experts with a sigmoid")},
      {"topk_method",
       onlyString("noaux_tc", "the router is the bias-corrected group-limited "
                              "top-k of transformers (noaux_tc)")},
      {"attention_bias",
       [&](const std::string &k, const json &v) -> absl::Status {
         KILN_ASSIGN_OR_RETURN(bool b, r.boolean(k, v));
         if (b)
           return r.unsupported(k, v, "the projections carry no bias");
         return absl::OkStatus();
       }},
      {"attention_dropout",
       [&](const std::string &k, const json &v) -> absl::Status {
         KILN_ASSIGN_OR_RETURN(double p, r.number(k, v));
         if (p != 0.0)
           return r.unsupported(k, v, "Kiln applies no attention dropout");
         return absl::OkStatus();
       }},
      {"moe_layer_freq",
       [&](const std::string &k, const json &v) -> absl::Status {
         KILN_ASSIGN_OR_RETURN(int64_t f, r.integer(k, v));
         if (f != 1)
           return r.unsupported(k, v,
                                "every layer from first_k_dense_replace on is "
                                "an MoE layer");
         return absl::OkStatus();
       }},
      {"quantization_config",
       [&](const std::string &k, const json &v) -> absl::Status {
         if (v.is_null())
           return absl::OkStatus();
         return r.unsupported(k, v,
                              "quantized checkpoints (block-scaled fp8 with "
                              "weight_scale_inv tensors) must be dequantized "
                              "first");
       }},
  };

  const auto &ignored = ignoredDeepseekV3ConfigFields();
  std::set<std::string> ignoredSet(ignored.begin(), ignored.end());
  std::vector<std::string> unknown;
  for (auto it = root.begin(); it != root.end(); ++it) {
    auto h = handlers.find(it.key());
    if (h != handlers.end()) {
      KILN_RETURN_IF_ERROR(h->second(it.key(), it.value()));
    } else if (!ignoredSet.count(it.key())) {
      unknown.push_back(absl::StrCat("'", quoteBounded(it.key(), 60), "'"));
    }
  }
  if (!unknown.empty())
    return absl::InvalidArgumentError(absl::StrCat(
        source, ": unknown field", unknown.size() > 1 ? "s " : " ",
        quoteBounded(absl::StrJoin(unknown, ", "), 400),
        " (neither read by Kiln nor known to be irrelevant to the forward)"));

  if (ropeParameters && ropeScaling)
    return r.error("rope_scaling",
                   "is given together with rope_parameters; a config spells "
                   "its rope one way");
  if (ropeParameters) {
    KILN_RETURN_IF_ERROR(
        parseRope(r, "rope_parameters", *ropeParameters, c, innerTheta));
  } else if (ropeScaling) {
    KILN_RETURN_IF_ERROR(
        parseRope(r, "rope_scaling", *ropeScaling, c, innerTheta));
  } else {
    c.yarn.reset();
  }
  if (innerTheta && topTheta && *innerTheta != *topTheta)
    return r.error("rope_theta",
                   absl::StrCat("is ", *topTheta, " but the rope object says ",
                                *innerTheta));
  if (innerTheta)
    c.ropeTheta = *innerTheta;
  else if (topTheta)
    c.ropeTheta = *topTheta;
  if (c.yarn && c.yarn->factor < 0) // transformers derives a missing factor
    c.yarn->factor = double(c.maxPositionEmbeddings) /
                     double(c.yarn->originalMaxPositionEmbeddings);

  c.numKeyValueHeads = kvHeads.value_or(c.numAttentionHeads);
  if (c.numKeyValueHeads != c.numAttentionHeads)
    return r.unsupported("num_key_value_heads", json(c.numKeyValueHeads),
                         absl::StrCat("multi-head latent attention expands "
                                      "keys and values per head, so it must "
                                      "equal num_attention_heads (",
                                      c.numAttentionHeads, ")"));
  if (headDim && *headDim != c.qkRopeHeadDim)
    return r.unsupported(
        "head_dim", json(*headDim),
        absl::StrCat("it must equal qk_rope_head_dim (", c.qkRopeHeadDim, ")"));
  if (qkHeadDim && *qkHeadDim != c.qkHeadDim())
    return r.unsupported("qk_head_dim", json(*qkHeadDim),
                         absl::StrCat("it must equal qk_nope_head_dim + "
                                      "qk_rope_head_dim (",
                                      c.qkHeadDim(), ")"));
  absl::Status valid = c.validate();
  if (!valid.ok())
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": ", valid.message()));
  return c;
}

/// 2^31: far beyond any real model's sizes, small enough that the product
/// of two fits int64 (larger products are bounded by parameterCount()).
constexpr int64_t kMaxDimension = int64_t{1} << 31;

absl::Status DeepseekV3Config::validate() const {
  auto bad = [](const std::string &field, const std::string &what) {
    return absl::InvalidArgumentError(
        absl::StrCat("field '", field, "' ", what));
  };
  struct Positive {
    const char *name;
    int64_t value;
  };
  for (const Positive &p : {Positive{"vocab_size", vocabSize},
                            {"hidden_size", hiddenSize},
                            {"intermediate_size", intermediateSize},
                            {"moe_intermediate_size", moeIntermediateSize},
                            {"num_hidden_layers", numHiddenLayers},
                            {"num_attention_heads", numAttentionHeads},
                            {"kv_lora_rank", kvLoraRank},
                            {"qk_nope_head_dim", qkNopeHeadDim},
                            {"qk_rope_head_dim", qkRopeHeadDim},
                            {"v_head_dim", vHeadDim},
                            {"n_routed_experts", nRoutedExperts},
                            {"num_experts_per_tok", numExpertsPerTok},
                            {"n_group", nGroup},
                            {"topk_group", topkGroup},
                            {"max_position_embeddings", maxPositionEmbeddings}})
    if (p.value <= 0)
      return bad(p.name, absl::StrCat("must be positive, got ", p.value));
    // Sums and products of two sizes must not wrap int64.
    else if (p.value > kMaxDimension)
      return bad(p.name, absl::StrCat("is ", p.value, ", beyond the ",
                                      kMaxDimension, " Kiln supports"));
  if ((qLoraRank && *qLoraRank > kMaxDimension) ||
      nSharedExperts > kMaxDimension || firstKDenseReplace > kMaxDimension ||
      numNextnPredictLayers > kMaxDimension)
    return bad("q_lora_rank, n_shared_experts, first_k_dense_replace and "
               "num_nextn_predict_layers",
               absl::StrCat("must be at most ", kMaxDimension));
  if (!(parameterCount() < 4.6e18))
    return bad("hidden_size",
               absl::StrCat("and the other sizes give ", parameterCount(),
                            " parameters, more than 64-bit sizes address"));
  if (qLoraRank && *qLoraRank <= 0)
    return bad("q_lora_rank",
               absl::StrCat("must be positive or null, got ", *qLoraRank));
  if (nSharedExperts < 0)
    return bad("n_shared_experts",
               absl::StrCat("must not be negative, got ", nSharedExperts));
  if (numNextnPredictLayers < 0)
    return bad(
        "num_nextn_predict_layers",
        absl::StrCat("must not be negative, got ", numNextnPredictLayers));
  if (firstKDenseReplace < 0)
    return bad("first_k_dense_replace",
               absl::StrCat("must not be negative, got ", firstKDenseReplace));
  if (qkRopeHeadDim % 2 != 0)
    return bad(
        "qk_rope_head_dim",
        absl::StrCat("must be even (rotary pairs), got ", qkRopeHeadDim));
  if (numKeyValueHeads != numAttentionHeads)
    return bad("num_key_value_heads",
               absl::StrCat("must equal num_attention_heads for MLA, got ",
                            numKeyValueHeads));
  if (nRoutedExperts % nGroup != 0)
    return bad("n_group",
               absl::StrCat("(", nGroup, ") must divide n_routed_experts (",
                            nRoutedExperts, ")"));
  if (nRoutedExperts / nGroup < 2)
    return bad("n_group",
               absl::StrCat("(", nGroup,
                            ") leaves fewer than 2 experts per group; a "
                            "group's score is the sum of its top 2"));
  if (topkGroup > nGroup)
    return bad("topk_group", absl::StrCat("(", topkGroup, ") exceeds n_group (",
                                          nGroup, ")"));
  if (numExpertsPerTok > topkGroup * (nRoutedExperts / nGroup))
    return bad("num_experts_per_tok",
               absl::StrCat("(", numExpertsPerTok,
                            ") exceeds the experts of the kept groups (",
                            topkGroup * (nRoutedExperts / nGroup), ")"));
  // NaN passes every comparison but !(x > 0); infinities are never a size.
  for (auto [name, value] :
       {std::pair<const char *, double>{"rms_norm_eps", rmsNormEps},
        {"rope_theta", ropeTheta},
        {"routed_scaling_factor", routedScalingFactor}})
    if (!std::isfinite(value))
      return bad(name, absl::StrCat("must be finite, got ", value));
  if (yarn)
    for (auto [name, value] :
         {std::pair<const char *, double>{"factor", yarn->factor},
          {"beta_fast", yarn->betaFast},
          {"beta_slow", yarn->betaSlow},
          {"mscale", yarn->mscale},
          {"mscale_all_dim", yarn->mscaleAllDim},
          {"attention_factor", yarn->attentionFactor.value_or(1.0)}})
      if (!std::isfinite(value))
        return bad(name, absl::StrCat("(yarn) must be finite, got ", value));
  if (!(rmsNormEps > 0))
    return bad("rms_norm_eps",
               absl::StrCat("must be positive, got ", rmsNormEps));
  if (ropeTheta <= 1)
    return bad("rope_theta",
               absl::StrCat("must be greater than 1, got ", ropeTheta));
  if (yarn) {
    if (yarn->factor <= 0)
      return bad("factor",
                 absl::StrCat("(yarn) must be positive, got ", yarn->factor));
    if (yarn->originalMaxPositionEmbeddings <= 0)
      return bad("original_max_position_embeddings",
                 absl::StrCat("(yarn) must be positive, got ",
                              yarn->originalMaxPositionEmbeddings));
  }
  return absl::OkStatus();
}

double DeepseekV3Config::parameterCount() const {
  double h = hiddenSize, heads = numAttentionHeads;
  double attention =
      (qLoraRank ? double(*qLoraRank) * (h + 1 + heads * qkHeadDim())
                 : heads * qkHeadDim() * h) +
      double(kvLoraRank + qkRopeHeadDim) * h + kvLoraRank +
      heads * double(qkNopeHeadDim + vHeadDim) * kvLoraRank +
      h * heads * vHeadDim + 2 * h;
  double dense = 3 * h * double(intermediateSize);
  double moe = double(nRoutedExperts) * (h + 1) +
               double(nRoutedExperts + nSharedExperts) * 3 * h *
                   double(moeIntermediateSize);
  double denseLayers = std::min<double>(firstKDenseReplace, numHiddenLayers);
  double layers = double(numHiddenLayers) * attention + denseLayers * dense +
                  (double(numHiddenLayers) - denseLayers) * moe;
  double embeddings = double(vocabSize) * h * (tieWordEmbeddings ? 1 : 2);
  return layers + embeddings + h;
}

absl::Status
DeepseekV3Config::checkFitsInMemory(double bytesPerParameter, double extraBytes,
                                    const std::string &what) const {
  double params = parameterCount();
  double need = params * bytesPerParameter + extraBytes;
  long pages = ::sysconf(_SC_PHYS_PAGES), pageSize = ::sysconf(_SC_PAGE_SIZE);
  double have =
      pages > 0 && pageSize > 0 ? double(pages) * double(pageSize) : 0.0;
  // Sizes past 2^62 elements cannot be addressed at all, whatever the machine.
  if (!(params < 4.6e18) || (have > 0 && need > have))
    return absl::ResourceExhaustedError(absl::StrFormat(
        "%s needs %s (%.3g parameters at %.0f bytes each%s) but this machine "
        "has %s of memory: make the model smaller",
        what, formatBytes(need), params, bytesPerParameter,
        extraBytes > 0
            ? absl::StrCat(" plus ", formatBytes(extraBytes), " of activations")
            : std::string(),
        formatBytes(have)));
  return absl::OkStatus();
}

std::string DeepseekV3Config::toJson() const {
  json j;
  j["architectures"] = {"DeepseekV3ForCausalLM"};
  j["model_type"] = "deepseek_v3";
  j["vocab_size"] = vocabSize;
  j["hidden_size"] = hiddenSize;
  j["intermediate_size"] = intermediateSize;
  j["moe_intermediate_size"] = moeIntermediateSize;
  j["num_hidden_layers"] = numHiddenLayers;
  j["first_k_dense_replace"] = firstKDenseReplace;
  j["num_attention_heads"] = numAttentionHeads;
  j["num_key_value_heads"] = numKeyValueHeads;
  j["q_lora_rank"] = qLoraRank ? json(*qLoraRank) : json(nullptr);
  j["kv_lora_rank"] = kvLoraRank;
  j["qk_nope_head_dim"] = qkNopeHeadDim;
  j["qk_rope_head_dim"] = qkRopeHeadDim;
  j["v_head_dim"] = vHeadDim;
  j["head_dim"] = qkRopeHeadDim;
  j["qk_head_dim"] = qkHeadDim();
  json rope;
  rope["rope_theta"] = ropeTheta;
  if (yarn) {
    rope["rope_type"] = "yarn";
    rope["factor"] = yarn->factor;
    rope["original_max_position_embeddings"] =
        yarn->originalMaxPositionEmbeddings;
    rope["beta_fast"] = yarn->betaFast;
    rope["beta_slow"] = yarn->betaSlow;
    if (yarn->mscale != 0)
      rope["mscale"] = yarn->mscale;
    if (yarn->mscaleAllDim != 0)
      rope["mscale_all_dim"] = yarn->mscaleAllDim;
    if (yarn->attentionFactor)
      rope["attention_factor"] = *yarn->attentionFactor;
    if (!yarn->truncate)
      rope["truncate"] = false;
  } else {
    rope["rope_type"] = "default";
  }
  j["rope_parameters"] = rope;
  j["rope_interleave"] = ropeInterleave;
  j["rms_norm_eps"] = rmsNormEps;
  j["n_routed_experts"] = nRoutedExperts;
  j["num_experts_per_tok"] = numExpertsPerTok;
  j["n_shared_experts"] = nSharedExperts;
  j["n_group"] = nGroup;
  j["topk_group"] = topkGroup;
  j["norm_topk_prob"] = normTopkProb;
  j["routed_scaling_factor"] = routedScalingFactor;
  j["tie_word_embeddings"] = tieWordEmbeddings;
  j["max_position_embeddings"] = maxPositionEmbeddings;
  j["num_nextn_predict_layers"] = numNextnPredictLayers;
  j["attention_bias"] = false;
  j["attention_dropout"] = 0.0;
  j["hidden_act"] = "silu";
  return j.dump(2) + "\n";
}

absl::StatusOr<DeepseekV3Config> readDeepseekV3Config(const std::string &path) {
  std::ifstream in(path);
  if (!in)
    return absl::NotFoundError(absl::StrCat("cannot open config '", path, "'"));
  std::stringstream text;
  text << in.rdbuf();
  return parseDeepseekV3Config(text.str(), path);
}

} // namespace kiln::models
