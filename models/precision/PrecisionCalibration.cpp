//===- PrecisionCalibration.cpp - one graph that quantizes any weight mix -===//

#include "models/precision/PrecisionCalibration.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "codegen/Compile.h"
#include "codegen/PrecisionSwitch.h"
#include "executor/Executor.h"
#include "executor/StatusMacros.h"
#include "models/deepseek/DeepseekModel.h"

namespace kiln::models {

namespace {

constexpr const char *kEntry = "logits";
constexpr const char *kInputIds = "input_ids";

} // namespace

absl::StatusOr<std::unique_ptr<PrecisionCalibration>>
PrecisionCalibration::create(const CalibrationSetup &setup,
                             const TokenBatch &calibration,
                             const TokenBatch &heldOut) {
  if (calibration.empty() || heldOut.empty())
    return absl::InvalidArgumentError(
        "precision calibration needs a calibration batch and a held-out "
        "batch of at least one sequence each");
  KILN_RETURN_IF_ERROR(setup.config.validate());
  std::unique_ptr<PrecisionCalibration> c(new PrecisionCalibration());
  c->batches_[0] = calibration;
  c->batches_[1] = heldOut;
  c->padId_ = setup.padId;
  c->vocab_ = setup.config.vocabSize;
  c->rows_ = std::max(calibration.size(), heldOut.size());
  for (const TokenBatch *batch : {&calibration, &heldOut})
    for (const auto &seq : *batch) {
      if (seq.empty())
        return absl::InvalidArgumentError(
            "precision calibration: a sequence has no tokens");
      for (int64_t id : seq)
        if (id < 0 || id >= c->vocab_)
          return absl::InvalidArgumentError(
              absl::StrCat("precision calibration: token id ", id,
                           " is outside the vocabulary [0, ", c->vocab_, ")"));
      c->length_ = std::max<int64_t>(c->length_, seq.size());
    }
  if (c->length_ > setup.config.maxPositionEmbeddings)
    return absl::InvalidArgumentError(
        absl::StrCat("precision calibration: a sequence of ", c->length_,
                     " tokens exceeds max_position_embeddings ",
                     setup.config.maxPositionEmbeddings));

  Graph graph("precision_calibration");
  DeepseekV3Model model(graph, setup.config, setup.dtype, setup.seed);
  Function &fn = graph.function(kEntry);
  fn.output("logits",
            model.logits(
                fn, fn.input(kInputIds, {c->rows_, c->length_}, DType::i64)));
  KILN_ASSIGN_OR_RETURN(IrModule module, graph.build());
  codegen::CompileOptions options;
  options.precision = "instrument";
  options.precisionKeep = setup.keep;
  KILN_ASSIGN_OR_RETURN(proto::Executable exe,
                        codegen::compile(module, options));
  KILN_ASSIGN_OR_RETURN(codegen::PrecisionSwitch switches,
                        codegen::precisionSwitch(module));
  c->weights_ = std::move(switches.weights);
  c->values_ = std::move(switches.values);
  c->switchInput_ = std::move(switches.input);
  for (const std::string &weight : c->weights_) {
    auto it = std::find_if(
        exe.state().begin(), exe.state().end(),
        [&](const proto::StateEntry &s) { return s.name() == weight; });
    if (it == exe.state().end())
      return absl::InternalError(
          absl::StrCat("candidate weight '", weight, "' is no state entry"));
    c->shapes_.emplace_back(it->type().shape().begin(),
                            it->type().shape().end());
  }
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<Executor> executor,
                        Executor::create(std::move(exe)));
  KILN_RETURN_IF_ERROR(executor->initializeState());
  if (setup.loadWeights)
    KILN_RETURN_IF_ERROR(setup.loadWeights(*executor));
  c->runner_ = std::move(executor);
  std::vector<float> off(c->weights_.size(), 0.0f);
  for (bool held : {false, true}) {
    KILN_ASSIGN_OR_RETURN(c->reference_[held], c->logits(off, held));
  }
  return c;
}

HostTensor PrecisionCalibration::inputIds(bool heldOut) const {
  HostTensor ids(proto::I64, {rows_, length_});
  const TokenBatch &batch = batches_[heldOut];
  for (int64_t r = 0; r < rows_; ++r)
    for (int64_t t = 0; t < length_; ++t) {
      bool real = r < static_cast<int64_t>(batch.size()) &&
                  t < static_cast<int64_t>(batch[r].size());
      ids.setInt(r * length_ + t, real ? batch[r][t] : padId_);
    }
  return ids;
}

absl::StatusOr<std::vector<double>>
PrecisionCalibration::logits(const std::vector<float> &switches, bool heldOut) {
  if (switches.size() != weights_.size())
    return absl::InvalidArgumentError(
        absl::StrCat("precision calibration: ", switches.size(),
                     " switches for ", weights_.size(), " candidates"));
  std::map<std::string, HostTensor> inputs = {{kInputIds, inputIds(heldOut)}};
  // A model with no candidate has no switch input.
  if (!weights_.empty())
    inputs[switchInput_] = HostTensor::ofFloats(switches);
  KILN_ASSIGN_OR_RETURN(auto out, runner_->runNamed(kEntry, inputs));
  auto it = out.find("logits");
  if (it == out.end())
    return absl::InternalError("the calibration graph returned no logits");
  return it->second.toDoubles();
}

absl::StatusOr<double> PrecisionCalibration::error(
    const std::map<std::string, std::string> &assignment, bool heldOut) {
  std::vector<float> switches(weights_.size(), 0.0f);
  for (const auto &[weight, precision] : assignment) {
    auto w = std::find(weights_.begin(), weights_.end(), weight);
    auto v = std::find(values_.begin(), values_.end(), precision);
    if (w == weights_.end() || v == values_.end())
      return absl::InvalidArgumentError(
          absl::StrCat("precision calibration: '", weight, "=", precision,
                       "' is no candidate weight and precision"));
    switches[w - weights_.begin()] = static_cast<float>(v - values_.begin());
  }
  KILN_ASSIGN_OR_RETURN(std::vector<double> got, logits(switches, heldOut));
  const std::vector<double> &want = reference_[heldOut];
  const TokenBatch &batch = batches_[heldOut];
  double diff = 0, norm = 0;
  for (size_t r = 0; r < batch.size(); ++r)
    for (size_t t = 0; t < batch[r].size(); ++t)
      for (int64_t k = 0; k < vocab_; ++k) {
        size_t i = (r * length_ + t) * vocab_ + k;
        diff += (got[i] - want[i]) * (got[i] - want[i]);
        norm += want[i] * want[i];
      }
  return norm > 0 ? std::sqrt(diff / norm) : std::sqrt(diff);
}

} // namespace kiln::models
