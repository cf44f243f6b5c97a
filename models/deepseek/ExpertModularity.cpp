//===- ExpertModularity.cpp - working with single experts of a model ------===//

#include "models/deepseek/ExpertModularity.h"

#include <algorithm>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "executor/DType.h"
#include "executor/Safetensors.h"
#include "executor/StatusMacros.h"

namespace kiln::models {

namespace {

namespace fs = std::filesystem;

const char *const kProjs[] = {"gate_proj", "up_proj", "down_proj"};

std::string shapeString(const std::vector<int64_t> &shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

absl::StatusOr<SafetensorsFile> readCheckpoint(const std::string &path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    fs::path index = fs::path(path) / "model.safetensors.index.json";
    if (fs::exists(index, ec))
      return readSafetensorsIndex(index.string());
    fs::path single = fs::path(path) / "model.safetensors";
    if (fs::exists(single, ec))
      return readSafetensors(single.string());
    return absl::NotFoundError(absl::StrCat(
        "checkpoint folder '", path,
        "' holds neither model.safetensors.index.json nor model.safetensors"));
  }
  if (!fs::exists(path, ec))
    return absl::NotFoundError(absl::StrCat("no checkpoint at '", path, "'"));
  if (fs::path(path).extension() == ".json")
    return readSafetensorsIndex(path);
  return readSafetensors(path);
}

/// Rows [begin, end) of dimension 1 of expert `expert` of a [E, R, C] tensor.
HostTensor expertRows(const HostTensor &stacked, int64_t expert, int64_t begin,
                      int64_t end) {
  int64_t rows = stacked.dim(1), cols = stacked.dim(2);
  return stacked.elements((expert * rows + begin) * cols, {end - begin, cols});
}

/// Expert `expert`'s weight for `proj` from the other checkpoint, per-expert
/// or fused layout, as [R, C].
absl::StatusOr<HostTensor> sourceWeight(const SafetensorsFile &file,
                                        const DeepseekV3Config &c,
                                        int64_t layer, int64_t expert,
                                        const std::string &proj,
                                        const std::string &where) {
  std::string base = absl::StrCat("model.layers.", layer, ".mlp.experts.");
  std::vector<int64_t> want = {c.moeIntermediateSize, c.hiddenSize};
  if (std::string(proj) == "down_proj")
    want = {c.hiddenSize, c.moeIntermediateSize};
  auto checked = [&](const std::string &name,
                     HostTensor t) -> absl::StatusOr<HostTensor> {
    if (t.shape() != want)
      return absl::InvalidArgumentError(
          absl::StrCat("checkpoint tensor '", name, "' in '", where,
                       "' has shape ", shapeString(t.shape()), " but expert ",
                       proj, " needs ", shapeString(want)));
    if (!isFloat(t.dtype()))
      return absl::InvalidArgumentError(
          absl::StrCat("checkpoint tensor '", name, "' in '", where, "' is ",
                       t.typeString(), "; expected floating point"));
    return t;
  };

  std::string perExpert = absl::StrCat(base, expert, ".", proj, ".weight");
  if (auto it = file.tensors.find(perExpert); it != file.tensors.end())
    return checked(perExpert, it->second);

  // transformers' fused layout: gate_up_proj [E, 2I, H], down_proj [E, H, I].
  std::string fused =
      base + (proj == "down_proj" ? "down_proj" : "gate_up_proj");
  auto it = file.tensors.find(fused);
  if (it == file.tensors.end())
    return absl::NotFoundError(absl::StrCat("checkpoint '", where,
                                            "' has neither '", perExpert,
                                            "' nor '", fused, "'"));
  const HostTensor &t = it->second;
  int64_t inter = c.moeIntermediateSize;
  int64_t rows = proj == "down_proj" ? c.hiddenSize : 2 * inter;
  int64_t cols = proj == "down_proj" ? inter : c.hiddenSize;
  if (t.rank() != 3 || t.dim(1) != rows || t.dim(2) != cols)
    return absl::InvalidArgumentError(
        absl::StrCat("checkpoint tensor '", fused, "' in '", where,
                     "' has shape ", shapeString(t.shape()),
                     "; expected [experts, ", rows, ", ", cols, "]"));
  if (expert >= t.dim(0))
    return absl::InvalidArgumentError(
        absl::StrCat("checkpoint tensor '", fused, "' in '", where, "' has ",
                     t.dim(0), " experts; expert ", expert, " asked for"));
  if (proj == "down_proj")
    return checked(fused, expertRows(t, expert, 0, rows));
  int64_t begin = proj == "gate_proj" ? 0 : inter;
  return checked(fused, expertRows(t, expert, begin, begin + inter));
}

/// `stacked` with row `row` replaced by `value` (converted to its dtype).
HostTensor withRow(const HostTensor &stacked, int64_t row,
                   const HostTensor &value) {
  HostTensor out = stacked.clone();
  HostTensor converted =
      value.dtype() == stacked.dtype()
          ? value
          : HostTensor::fromDoubles(stacked.dtype(), value.shape(),
                                    value.toDoubles());
  std::memcpy(static_cast<uint8_t *>(out.data()) + row * converted.byteSize(),
              converted.data(), converted.byteSize());
  return out;
}

std::optional<proto::TensorType> stateType(const Executor &executor,
                                           const std::string &name) {
  for (const auto &s : executor.executable().state())
    if (s.name() == name)
      return s.type();
  return std::nullopt;
}

} // namespace

std::string expertLoadName(int64_t layer) {
  return absl::StrCat("expert_load.", layer);
}

absl::Status replaceExpert(Executor &executor, const DeepseekV3Config &c,
                           int64_t layer, int64_t expert,
                           const std::string &other,
                           std::optional<int64_t> sourceExpert) {
  if (layer < 0 || layer >= c.numHiddenLayers || !c.isMoeLayer(layer))
    return absl::InvalidArgumentError(
        absl::StrCat("layer ", layer, " is not a MoE layer (MoE layers are ",
                     c.firstKDenseReplace, "..", c.numHiddenLayers - 1, ")"));
  if (expert < 0 || expert >= c.nRoutedExperts)
    return absl::InvalidArgumentError(absl::StrCat(
        "expert ", expert, " is out of range [0, ", c.nRoutedExperts, ")"));
  int64_t source = sourceExpert.value_or(expert);
  if (source < 0)
    return absl::InvalidArgumentError(
        absl::StrCat("source expert ", source, " is negative"));
  KILN_ASSIGN_OR_RETURN(SafetensorsFile file, readCheckpoint(other));

  // Build every new tensor first; set them only when all are ready.
  std::vector<std::pair<std::string, HostTensor>> updates;
  for (const char *proj : kProjs) {
    KILN_ASSIGN_OR_RETURN(HostTensor weight,
                          sourceWeight(file, c, layer, source, proj, other));
    std::string name =
        absl::StrCat("model.layers.", layer, ".mlp.experts.", proj);
    KILN_ASSIGN_OR_RETURN(HostTensor current, executor.getState(name));
    std::vector<int64_t> rowShape(current.shape().begin() + 1,
                                  current.shape().end());
    if (current.rank() < 1 || current.dim(0) != c.nRoutedExperts ||
        rowShape != weight.shape())
      return absl::InvalidArgumentError(
          absl::StrCat("model state '", name, "' is ", current.typeString(),
                       ", which does not hold ", c.nRoutedExperts,
                       " experts of shape ", shapeString(weight.shape())));
    updates.emplace_back(name, withRow(current, expert, weight));
    // Full-size optimizer state follows the weight; compact state (frozen
    // experts) has other row numbers and is left alone.
    auto fullSize = [&](const std::string &s) {
      auto type = stateType(executor, s);
      return type && type->shape_size() == current.rank() &&
             type->shape(0) == c.nRoutedExperts;
    };
    if (fullSize(name + ".master")) {
      KILN_ASSIGN_OR_RETURN(HostTensor master,
                            executor.getState(name + ".master"));
      updates.emplace_back(name + ".master", withRow(master, expert, weight));
    }
    for (const char *moment : {".exp_avg", ".exp_avg_sq"}) {
      if (!fullSize(name + moment))
        continue;
      KILN_ASSIGN_OR_RETURN(HostTensor m, executor.getState(name + moment));
      updates.emplace_back(name + moment,
                           withRow(m, expert, HostTensor(m.dtype(), rowShape)));
    }
  }
  for (auto &[name, t] : updates)
    KILN_RETURN_IF_ERROR(executor.setState(name, std::move(t)));
  return absl::OkStatus();
}

ExpertUtilisation::ExpertUtilisation(const DeepseekV3Config &c)
    : experts(c.nRoutedExperts) {
  for (int64_t l = 0; l < c.numHiddenLayers; ++l)
    if (c.isMoeLayer(l))
      loads[l].assign(experts, 0.0);
}

absl::Status ExpertUtilisation::add(int64_t layer, const HostTensor &load) {
  auto it = loads.find(layer);
  if (it == loads.end())
    return absl::InvalidArgumentError(
        absl::StrCat("layer ", layer, " is not a MoE layer"));
  if (load.rank() != 1 || load.dim(0) != experts)
    return absl::InvalidArgumentError(
        absl::StrCat("load of layer ", layer, " is ", load.typeString(),
                     "; expected [", experts, "]"));
  std::vector<double> values = load.toDoubles();
  for (int64_t e = 0; e < experts; ++e)
    it->second[e] += values[e];
  return absl::OkStatus();
}

absl::Status
ExpertUtilisation::add(const std::map<std::string, HostTensor> &outputs) {
  // Check all before adding any, so a bad output adds nothing.
  for (const auto &[layer, counts] : loads) {
    auto it = outputs.find(expertLoadName(layer));
    if (it != outputs.end() &&
        (it->second.rank() != 1 || it->second.dim(0) != experts))
      return absl::InvalidArgumentError(
          absl::StrCat("output '", it->first, "' is ", it->second.typeString(),
                       "; expected [", experts, "]"));
  }
  for (const auto &[layer, counts] : loads) {
    auto it = outputs.find(expertLoadName(layer));
    if (it != outputs.end())
      KILN_RETURN_IF_ERROR(add(layer, it->second));
  }
  return absl::OkStatus();
}

std::vector<int64_t> ExpertUtilisation::layers() const {
  std::vector<int64_t> out;
  for (const auto &entry : loads)
    out.push_back(entry.first);
  return out;
}

const std::vector<double> &ExpertUtilisation::counts(int64_t layer) const {
  static const std::vector<double> empty;
  auto it = loads.find(layer);
  return it == loads.end() ? empty : it->second;
}

std::vector<double> ExpertUtilisation::fractions(int64_t layer) const {
  std::vector<double> out = counts(layer);
  double total = 0;
  for (double v : out)
    total += v;
  for (double &v : out)
    v = total > 0 ? v / total : 0.0;
  return out;
}

std::string ExpertUtilisation::table() const {
  std::string out = absl::StrFormat("%-6s", "layer");
  for (int64_t e = 0; e < experts; ++e)
    absl::StrAppend(&out, absl::StrFormat(" %6s", absl::StrCat("e", e)));
  absl::StrAppend(&out, absl::StrFormat(" %8s\n", "max/mean"));
  for (const auto &[layer, counts] : loads) {
    std::vector<double> f = fractions(layer);
    absl::StrAppend(&out, absl::StrFormat("%-6d", layer));
    for (double v : f)
      absl::StrAppend(&out, absl::StrFormat(" %5.1f%%", 100.0 * v));
    double peak = f.empty() ? 0 : *std::max_element(f.begin(), f.end());
    absl::StrAppend(
        &out, absl::StrFormat(" %8.2f\n", peak * static_cast<double>(experts)));
  }
  return out;
}

} // namespace kiln::models
