//===- HfCheckpoint.cpp - DeepSeek-V3 weights <-> Hugging Face files
//-------===//

#include "models/deepseek/HfCheckpoint.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

#include <sys/stat.h>
#include <unistd.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "executor/DType.h"
#include "executor/Safetensors.h"
#include "executor/StatusMacros.h"
#include "nlohmann/json.hpp"

namespace kiln::models {

namespace {

std::string layerPrefix(int64_t i) {
  return absl::StrCat("model.layers.", i, ".");
}

std::string shapeString(const std::vector<int64_t> &shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

/// At most a screenful of names: a checkpoint of another model can miss
/// thousands.
std::string listNames(const std::vector<std::string> &names) {
  constexpr size_t kShown = 12;
  std::vector<std::string> shown;
  for (size_t i = 0; i < names.size() && i < kShown; ++i)
    shown.push_back(absl::StrCat("'", names[i], "'"));
  std::string text = absl::StrJoin(shown, ", ");
  if (names.size() > kShown)
    absl::StrAppend(&text, " and ", names.size() - kShown, " more");
  return text;
}

const char *const kExpertProjs[] = {"gate_proj", "up_proj", "down_proj"};

/// [I, H] for gate/up, [H, I] for down: one expert's Linear weight.
std::vector<int64_t> expertShape(const DeepseekV3Config &c,
                                 const std::string &proj) {
  if (proj == "down_proj")
    return {c.hiddenSize, c.moeIntermediateSize};
  return {c.moeIntermediateSize, c.hiddenSize};
}

absl::StatusOr<HostTensor> convertTo(const HostTensor &t, proto::DType dtype,
                                     const std::string &name) {
  if (t.dtype() == dtype)
    return t;
  if (!isFloat(t.dtype()) || !isFloat(dtype))
    return absl::InvalidArgumentError(
        absl::StrCat("checkpoint tensor '", name, "' is ", t.typeString(),
                     "; expected floating-point ", dtypeName(dtype)));
  return HostTensor::fromDoubles(dtype, t.shape(), t.toDoubles());
}

/// A view of row `row` of a stacked [E, ...] tensor, copied out.
HostTensor rowOf(const HostTensor &stacked, int64_t row) {
  std::vector<int64_t> shape(stacked.shape().begin() + 1,
                             stacked.shape().end());
  return stacked.elements(row * numElements(shape), shape);
}

/// Rows [begin, end) of dimension 1 of a [E, R, C] tensor for one expert.
HostTensor rowsOfExpert(const HostTensor &fused, int64_t expert, int64_t begin,
                        int64_t end) {
  int64_t rows = fused.dim(1), cols = fused.dim(2);
  return fused.elements((expert * rows + begin) * cols, {end - begin, cols});
}

/// Parses "model.layers.{i}.{rest}"; false for other names.
bool splitLayer(const std::string &name, int64_t &layer, std::string &rest) {
  static const std::string prefix = "model.layers.";
  if (name.compare(0, prefix.size(), prefix) != 0)
    return false;
  size_t dot = name.find('.', prefix.size());
  if (dot == std::string::npos)
    return false;
  if (!absl::SimpleAtoi(name.substr(prefix.size(), dot - prefix.size()),
                        &layer))
    return false;
  rest = name.substr(dot + 1);
  return true;
}

bool exists(const std::string &path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

std::string joinPath(const std::string &dir, const std::string &file) {
  if (dir.empty() || dir.back() == '/')
    return dir + file;
  return dir + "/" + file;
}

/// The first field on which two configs disagree, or "" when they agree.
std::string firstDifference(const DeepseekV3Config &a,
                            const DeepseekV3Config &b) {
  nlohmann::json ja = nlohmann::json::parse(a.toJson());
  nlohmann::json jb = nlohmann::json::parse(b.toJson());
  for (auto it = ja.begin(); it != ja.end(); ++it)
    if (!jb.contains(it.key()) || jb[it.key()] != it.value())
      return absl::StrCat(
          "'", it.key(), "' is ",
          jb.contains(it.key()) ? jb[it.key()].dump() : "absent",
          " in the checkpoint but ", it.value().dump(), " in the model");
  return "";
}

} // namespace

std::vector<DeepseekStateEntry>
deepseekStateEntries(const DeepseekV3Config &c) {
  std::vector<DeepseekStateEntry> e;
  auto add = [&](std::string name, std::vector<int64_t> shape,
                 bool alwaysF32 = false, bool buffer = false) {
    e.push_back({std::move(name), std::move(shape), alwaysF32, buffer});
  };
  int64_t h = c.hiddenSize, heads = c.numAttentionHeads;
  add("model.embed_tokens.weight", {c.vocabSize, h});
  for (int64_t i = 0; i < c.numHiddenLayers; ++i) {
    std::string p = layerPrefix(i);
    add(p + "input_layernorm.weight", {h});
    std::string a = p + "self_attn.";
    if (c.qLoraRank) {
      add(a + "q_a_proj.weight", {*c.qLoraRank, h});
      add(a + "q_a_layernorm.weight", {*c.qLoraRank});
      add(a + "q_b_proj.weight", {heads * c.qkHeadDim(), *c.qLoraRank});
    } else {
      add(a + "q_proj.weight", {heads * c.qkHeadDim(), h});
    }
    add(a + "kv_a_proj_with_mqa.weight", {c.kvLoraRank + c.qkRopeHeadDim, h});
    add(a + "kv_a_layernorm.weight", {c.kvLoraRank});
    add(a + "kv_b_proj.weight",
        {heads * (c.qkNopeHeadDim + c.vHeadDim), c.kvLoraRank});
    add(a + "o_proj.weight", {h, heads * c.vHeadDim});
    add(p + "post_attention_layernorm.weight", {h});
    std::string m = p + "mlp.";
    if (!c.isMoeLayer(i)) {
      add(m + "gate_proj.weight", {c.intermediateSize, h});
      add(m + "up_proj.weight", {c.intermediateSize, h});
      add(m + "down_proj.weight", {h, c.intermediateSize});
      continue;
    }
    add(m + "gate.weight", {c.nRoutedExperts, h});
    add(m + "gate.e_score_correction_bias", {c.nRoutedExperts},
        /*alwaysF32=*/true, /*buffer=*/true);
    for (const char *proj : kExpertProjs) {
      std::vector<int64_t> shape = expertShape(c, proj);
      shape.insert(shape.begin(), c.nRoutedExperts);
      add(m + "experts." + proj, shape);
    }
    if (c.nSharedExperts > 0) {
      int64_t shared = c.moeIntermediateSize * c.nSharedExperts;
      add(m + "shared_experts.gate_proj.weight", {shared, h});
      add(m + "shared_experts.up_proj.weight", {shared, h});
      add(m + "shared_experts.down_proj.weight", {h, shared});
    }
  }
  add("model.norm.weight", {h});
  if (!c.tieWordEmbeddings)
    add("lm_head.weight", {c.vocabSize, h});
  return e;
}

absl::StatusOr<std::map<std::string, HostTensor>>
hfToKilnState(const DeepseekV3Config &c,
              const std::map<std::string, HostTensor> &hf, proto::DType dtype) {
  std::vector<DeepseekStateEntry> entries = deepseekStateEntries(c);
  std::map<std::string, const DeepseekStateEntry *> byName;
  for (const auto &entry : entries)
    byName[entry.name] = &entry;

  std::map<std::string, HostTensor> out;
  // Stacked expert state under construction, and which experts were filled.
  std::map<std::string, std::vector<bool>> filled;
  std::vector<std::string> unexpected, missing;

  auto entryDType = [&](const DeepseekStateEntry &entry) {
    return entry.alwaysF32 ? proto::F32 : dtype;
  };
  auto checkShape = [](const std::string &name, const HostTensor &t,
                       const std::vector<int64_t> &want) -> absl::Status {
    if (t.shape() != want)
      return absl::InvalidArgumentError(absl::StrCat(
          "checkpoint tensor '", name, "' has shape ", shapeString(t.shape()),
          " but the config needs ", shapeString(want)));
    return absl::OkStatus();
  };
  // Copies expert `expert`'s [R, C] weight into the stacked state `stacked`.
  auto putExpert = [&](const std::string &stacked, int64_t expert,
                       const HostTensor &weight,
                       const std::string &source) -> absl::Status {
    const DeepseekStateEntry &entry = *byName.at(stacked);
    auto [slot, fresh] = out.try_emplace(stacked);
    if (fresh) {
      slot->second = HostTensor(entryDType(entry), entry.shape);
      filled[stacked].assign(c.nRoutedExperts, false);
    }
    if (filled[stacked][expert])
      return absl::InvalidArgumentError(
          absl::StrCat("checkpoint holds expert ", expert, " of '", stacked,
                       "' twice (last from '", source, "')"));
    KILN_ASSIGN_OR_RETURN(HostTensor converted,
                          convertTo(weight, entryDType(entry), source));
    std::memcpy(static_cast<uint8_t *>(slot->second.data()) +
                    expert * converted.byteSize(),
                converted.data(), converted.byteSize());
    filled[stacked][expert] = true;
    return absl::OkStatus();
  };

  for (const auto &[name, tensor] : hf) {
    int64_t layer = -1;
    std::string rest;
    bool inLayer = splitLayer(name, layer, rest);
    if (inLayer && layer >= c.numHiddenLayers) {
      // Multi-token-prediction modules follow the decoder layers; the causal
      // LM forward never reads them (transformers drops them on load too).
      if (layer < c.numHiddenLayers + c.numNextnPredictLayers)
        continue;
      unexpected.push_back(name);
      continue;
    }
    if (name.size() >= 19 &&
        name.compare(name.size() - 19, 19, "rotary_emb.inv_freq") == 0)
      continue; // derived from the config, saved only by old transformers
    if (c.tieWordEmbeddings && name == "lm_head.weight")
      continue; // tied: the embedding table is the head

    std::vector<std::string> parts;
    if (inLayer)
      parts = absl::StrSplit(rest, '.');
    // mlp.experts.{e}.{proj}.weight
    if (inLayer && parts.size() == 5 && parts[0] == "mlp" &&
        parts[1] == "experts" && parts[4] == "weight") {
      int64_t expert = -1;
      bool known = absl::SimpleAtoi(parts[2], &expert) && expert >= 0 &&
                   expert < c.nRoutedExperts && c.isMoeLayer(layer) &&
                   (parts[3] == "gate_proj" || parts[3] == "up_proj" ||
                    parts[3] == "down_proj");
      if (!known) {
        unexpected.push_back(name);
        continue;
      }
      KILN_RETURN_IF_ERROR(checkShape(name, tensor, expertShape(c, parts[3])));
      KILN_RETURN_IF_ERROR(
          putExpert(layerPrefix(layer) + "mlp.experts." + parts[3], expert,
                    tensor, name));
      continue;
    }
    // transformers' fused layout: mlp.experts.gate_up_proj [E, 2I, H].
    if (inLayer && rest == "mlp.experts.gate_up_proj" && c.isMoeLayer(layer)) {
      int64_t inter = c.moeIntermediateSize;
      KILN_RETURN_IF_ERROR(checkShape(
          name, tensor, {c.nRoutedExperts, 2 * inter, c.hiddenSize}));
      for (int64_t e = 0; e < c.nRoutedExperts; ++e) {
        std::string base = layerPrefix(layer) + "mlp.experts.";
        KILN_RETURN_IF_ERROR(putExpert(
            base + "gate_proj", e, rowsOfExpert(tensor, e, 0, inter), name));
        KILN_RETURN_IF_ERROR(
            putExpert(base + "up_proj", e,
                      rowsOfExpert(tensor, e, inter, 2 * inter), name));
      }
      continue;
    }
    auto it = byName.find(name);
    if (it == byName.end()) {
      unexpected.push_back(name);
      continue;
    }
    const DeepseekStateEntry &entry = *it->second;
    KILN_RETURN_IF_ERROR(checkShape(name, tensor, entry.shape));
    if (rest == "mlp.experts.down_proj") {
      // The fused layout's down_proj is already Kiln's stacked [E, H, I].
      for (int64_t e = 0; e < c.nRoutedExperts; ++e)
        KILN_RETURN_IF_ERROR(putExpert(name, e, rowOf(tensor, e), name));
      continue;
    }
    KILN_ASSIGN_OR_RETURN(HostTensor converted,
                          convertTo(tensor, entryDType(entry), name));
    out[name] = converted;
  }

  for (const auto &entry : entries) {
    auto f = filled.find(entry.name);
    if (f != filled.end()) {
      int64_t layer = -1;
      std::string rest;
      splitLayer(entry.name, layer, rest);
      std::string proj = rest.substr(std::string("mlp.experts.").size());
      for (int64_t e = 0; e < c.nRoutedExperts; ++e)
        if (!f->second[e])
          missing.push_back(absl::StrCat(layerPrefix(layer), "mlp.experts.", e,
                                         ".", proj, ".weight"));
    } else if (!out.count(entry.name)) {
      if (entry.name.find(".mlp.experts.") != std::string::npos) {
        int64_t layer = -1;
        std::string rest;
        splitLayer(entry.name, layer, rest);
        std::string proj = rest.substr(std::string("mlp.experts.").size());
        for (int64_t e = 0; e < c.nRoutedExperts; ++e)
          missing.push_back(absl::StrCat(layerPrefix(layer), "mlp.experts.", e,
                                         ".", proj, ".weight"));
      } else {
        missing.push_back(entry.name);
      }
    }
  }
  if (!missing.empty())
    return absl::InvalidArgumentError(
        absl::StrCat("checkpoint lacks tensor", missing.size() > 1 ? "s " : " ",
                     listNames(missing), " that the config needs"));
  if (!unexpected.empty())
    return absl::InvalidArgumentError(absl::StrCat(
        "checkpoint holds tensor", unexpected.size() > 1 ? "s " : " ",
        listNames(unexpected), " that the config does not describe"));
  return out;
}

absl::StatusOr<std::vector<std::pair<std::string, HostTensor>>>
kilnToHfState(const DeepseekV3Config &c,
              const std::map<std::string, HostTensor> &state) {
  std::vector<std::pair<std::string, HostTensor>> out;
  for (const auto &entry : deepseekStateEntries(c)) {
    auto it = state.find(entry.name);
    if (it == state.end())
      return absl::InvalidArgumentError(
          absl::StrCat("model state lacks '", entry.name, "'"));
    const HostTensor &t = it->second;
    if (t.shape() != entry.shape)
      return absl::InvalidArgumentError(absl::StrCat(
          "model state '", entry.name, "' has shape ", shapeString(t.shape()),
          " but the config needs ", shapeString(entry.shape)));
    size_t experts = entry.name.rfind(".mlp.experts.");
    if (experts == std::string::npos) {
      out.emplace_back(entry.name, t);
      continue;
    }
    std::string base = entry.name.substr(0, experts + 13);
    std::string proj = entry.name.substr(experts + 13);
    for (int64_t e = 0; e < c.nRoutedExperts; ++e)
      out.emplace_back(absl::StrCat(base, e, ".", proj, ".weight"),
                       rowOf(t, e));
  }
  return out;
}

absl::Status writeFileAtomically(const std::string &path,
                                 const std::string &bytes) {
  std::string tmp = absl::StrCat(path, ".tmp.", ::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << bytes;
    out.flush();
    if (!out) {
      std::remove(tmp.c_str());
      return absl::InternalError(absl::StrCat("cannot write '", tmp, "'"));
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return absl::InternalError(
        absl::StrCat("cannot rename '", tmp, "' to '", path, "'"));
  }
  return absl::OkStatus();
}

absl::Status loadHfCheckpoint(EntryRunner &executor, const DeepseekV3Config &c,
                              const std::string &dir,
                              std::map<std::string, proto::DType> *fileDTypes) {
  std::string configPath = joinPath(dir, "config.json");
  if (exists(configPath)) {
    KILN_ASSIGN_OR_RETURN(DeepseekV3Config fileConfig,
                          readDeepseekV3Config(configPath));
    std::string diff = firstDifference(c, fileConfig);
    if (!diff.empty())
      return absl::InvalidArgumentError(
          absl::StrCat(configPath, " describes another model: field ", diff));
  }
  SafetensorsFile file;
  std::string index = joinPath(dir, "model.safetensors.index.json");
  if (exists(index)) {
    KILN_ASSIGN_OR_RETURN(file, readSafetensorsIndex(index));
  } else {
    std::string single = joinPath(dir, "model.safetensors");
    if (!exists(single))
      return absl::NotFoundError(
          absl::StrCat("checkpoint folder '", dir,
                       "' holds neither model.safetensors.index.json nor "
                       "model.safetensors"));
    KILN_ASSIGN_OR_RETURN(file, readSafetensors(single));
  }
  if (fileDTypes)
    for (const auto &[name, t] : file.tensors)
      (*fileDTypes)[name] = t.dtype();

  // The model dtype is whatever the executor's weights are (the embedding
  // table is never f32-forced).
  proto::DType dtype = proto::F32;
  for (const auto &s : executor.executable().state())
    if (s.name() == "model.embed_tokens.weight")
      dtype = s.type().dtype();
  KILN_ASSIGN_OR_RETURN(auto state, hfToKilnState(c, file.tensors, dtype));

  // Check everything against the executor before setting anything. State the
  // checkpoint does not describe (optimizer moments, caches) is left alone.
  std::map<std::string, proto::TensorType> held;
  for (const auto &s : executor.executable().state())
    held[s.name()] = s.type();
  for (const auto &[name, t] : state) {
    auto it = held.find(name);
    if (it == held.end())
      return absl::InvalidArgumentError(absl::StrCat(
          "the executor has no state '", name,
          "' that the checkpoint fills (built from another config?)"));
    if (!t.hasType(it->second))
      return absl::InvalidArgumentError(absl::StrCat(
          "checkpoint tensor '", name, "' maps to ", t.typeString(),
          " but the executor holds ", typeString(it->second)));
  }
  for (auto &[name, t] : state)
    KILN_RETURN_IF_ERROR(executor.setState(name, std::move(t)));
  return absl::OkStatus();
}

absl::Status saveHfCheckpoint(const EntryRunner &executor,
                              const DeepseekV3Config &c, const std::string &dir,
                              const HfSaveOptions &options) {
  std::map<std::string, HostTensor> state;
  for (const auto &entry : deepseekStateEntries(c)) {
    KILN_ASSIGN_OR_RETURN(HostTensor t, executor.getState(entry.name));
    state[entry.name] = t;
  }
  KILN_ASSIGN_OR_RETURN(auto tensors, kilnToHfState(c, state));
  for (auto &[name, t] : tensors) {
    auto it = options.dtypes.find(name);
    proto::DType dtype =
        it != options.dtypes.end() ? it->second : options.otherDType;
    if (dtype != proto::DTYPE_INVALID) {
      KILN_ASSIGN_OR_RETURN(t, convertTo(t, dtype, name));
    }
  }
  if (!exists(dir) && ::mkdir(dir.c_str(), 0755) != 0)
    return absl::PermissionDeniedError(absl::StrCat(
        "cannot create folder '", dir, "': ", std::strerror(errno)));
  // transformers refuses safetensors files whose format is not a framework.
  std::map<std::string, std::string> metadata = {{"format", "pt"}};
  int64_t total = 0;
  for (const auto &t : tensors)
    total += t.second.byteSize();
  KILN_RETURN_IF_ERROR(writeSafetensorsSharded(
      dir, "model", tensors, options.maxShardBytes, metadata));
  // A stale index from an earlier sharded save would shadow the single file.
  std::string index = joinPath(dir, "model.safetensors.index.json");
  if (total <= options.maxShardBytes && exists(index))
    std::remove(index.c_str());
  return writeFileAtomically(joinPath(dir, "config.json"),
                             options.configJson.empty() ? c.toJson()
                                                        : options.configJson);
}

absl::Status saveHfCheckpoint(const EntryRunner &executor,
                              const DeepseekV3Config &c, const std::string &dir,
                              int64_t maxShardBytes) {
  HfSaveOptions options;
  options.maxShardBytes = maxShardBytes;
  return saveHfCheckpoint(executor, c, dir, options);
}

} // namespace kiln::models
