//===- GrpoLoss.cpp - the GRPO clipped objective as graph code ------------===//

#include "models/grpo/GrpoLoss.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "frontend/Graph.h"
#include "frontend/Ops.h"
#include "frontend/optim/ParamGroup.h"

namespace kiln::models {

const char *lossTypeName(LossType type) {
  switch (type) {
  case LossType::grpo:
    return "grpo";
  case LossType::bnpo:
    return "bnpo";
  case LossType::drGrpo:
    return "dr_grpo";
  case LossType::dapo:
    return "dapo";
  }
  return "?";
}

absl::StatusOr<LossType> parseLossType(std::string_view name) {
  for (LossType type :
       {LossType::grpo, LossType::bnpo, LossType::drGrpo, LossType::dapo})
    if (name == lossTypeName(type))
      return type;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown GRPO loss_type '", std::string(name),
                   "' (expected grpo, bnpo, dr_grpo or dapo)"));
}

const char *importanceSamplingLevelName(ImportanceSamplingLevel level) {
  switch (level) {
  case ImportanceSamplingLevel::token:
    return "token";
  case ImportanceSamplingLevel::sequence:
    return "sequence";
  }
  return "?";
}

absl::StatusOr<ImportanceSamplingLevel>
parseImportanceSamplingLevel(std::string_view name) {
  for (ImportanceSamplingLevel level :
       {ImportanceSamplingLevel::token, ImportanceSamplingLevel::sequence})
    if (name == importanceSamplingLevelName(level))
      return level;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown importance_sampling_level '", std::string(name),
                   "' (expected token or sequence)"));
}

std::vector<std::pair<std::string, Tensor>> GrpoLossOutputs::named() const {
  std::vector<std::pair<std::string, Tensor>> result;
  auto add = [&](const char *name, const Tensor &t) {
    if (t.valid())
      result.emplace_back(name, t);
  };
  add("loss", loss);
  add("kl", meanKl);
  add("clip_ratio/low_mean", lowClipFraction);
  add("clip_ratio/high_mean", highClipFraction);
  add("clip_ratio/region_mean", clipFraction);
  add("ratio_mean", meanRatio);
  add("entropy", entropy);
  return result;
}

namespace {

std::string shapeString(const Shape &shape) {
  return "[" + absl::StrJoin(shape, ", ") + "]";
}

/// The first problem with the inputs, or empty.
std::string checkInputs(const GrpoLossInputs &in, const GrpoLossOptions &opt,
                        Function *f) {
  struct Named {
    const char *name;
    const Tensor *tensor;
  };
  std::vector<Named> given = {{"logp", &in.logp},
                              {"oldLogp", &in.oldLogp},
                              {"advantages", &in.advantages},
                              {"mask", &in.mask}};
  if (in.refLogp)
    given.push_back({"refLogp", &*in.refLogp});
  if (in.totalTokens)
    given.push_back({"totalTokens", &*in.totalTokens});
  if (in.logits)
    given.push_back({"logits", &*in.logits});
  if (in.rowValid)
    given.push_back({"rowValid", &*in.rowValid});
  for (const Named &n : given) {
    if (!n.tensor->valid())
      return absl::StrCat(n.name, " is an invalid tensor");
    if (n.tensor->function() != f)
      return absl::StrCat(n.name, " lives in another function than logp");
    if (!isFloat(n.tensor->dtype()))
      return absl::StrCat(n.name, " must be float, not ",
                          dtypeName(n.tensor->dtype()));
  }

  Shape bt = in.logp.shape();
  if (bt.size() != 2)
    return "logp must be [B, T], got " + shapeString(bt);
  for (const Named &n : given) {
    std::string_view name = n.name;
    Shape want;
    if (name == "oldLogp" || name == "mask" || name == "refLogp")
      want = bt;
    else if (name == "advantages" || name == "rowValid")
      want = {bt[0]};
    else if (name == "totalTokens")
      want = {};
    else if (name == "logits") {
      Shape s = n.tensor->shape();
      if (s.size() != 3 || s[0] != bt[0] || s[1] != bt[1])
        return absl::StrCat("logits must be [B, T, V] = [", bt[0], ", ", bt[1],
                            ", V], got ", shapeString(s));
      continue;
    } else
      continue;
    if (n.tensor->shape() != want)
      return absl::StrCat(n.name, " must be ", shapeString(want), ", got ",
                          shapeString(n.tensor->shape()));
  }

  if (!(opt.epsLow >= 0) || !(opt.epsHigh >= 0))
    return absl::StrCat("epsLow and epsHigh must be >= 0, got ", opt.epsLow,
                        " and ", opt.epsHigh);
  if (!(opt.beta >= 0))
    return absl::StrCat("beta must be >= 0, got ", opt.beta);
  if (opt.beta != 0 && !in.refLogp)
    return absl::StrCat("beta = ", opt.beta, " needs refLogp");
  if (opt.beta == 0 && in.refLogp)
    return "refLogp given with beta = 0 (it would cost a reference pass and "
           "change nothing)";
  if (opt.lossType == LossType::dapo && !in.totalTokens)
    return "loss_type dapo needs totalTokens (the global batch's token count)";
  if (opt.lossType != LossType::dapo && in.totalTokens)
    return absl::StrCat("totalTokens is for loss_type dapo, not ",
                        lossTypeName(opt.lossType));
  if (!std::isfinite(opt.entropyCoeff))
    return absl::StrCat("entropyCoeff must be finite, got ", opt.entropyCoeff);
  if (opt.entropyCoeff != 0 && !in.logits)
    return absl::StrCat("entropyCoeff = ", opt.entropyCoeff,
                        " needs logits (the entropy it weighs)");
  if (opt.maxCompletionLength < 0)
    return absl::StrCat("maxCompletionLength must be >= 0, got ",
                        opt.maxCompletionLength);
  return "";
}

} // namespace

GrpoLossOutputs grpoLoss(const GrpoLossInputs &in, const GrpoLossOptions &opt,
                         SourceLoc loc) {
  GrpoLossOutputs out;
  // Without a valid logp there is no function to record an error in; an
  // invalid logp comes from a failed op whose error is already recorded.
  Function *fp = in.logp.function();
  if (fp == nullptr)
    return out;
  Function &f = *fp;
  if (std::string problem = checkInputs(in, opt, fp); !problem.empty()) {
    optim::detail::fail(f, "grpoLoss: " + problem, loc);
    return out;
  }

  const DType dt = in.logp.dtype() == DType::f64 ? DType::f64 : DType::f32;
  auto work = [&](const Tensor &t) {
    return t.dtype() == dt ? t : cast(t, dt, loc);
  };
  const int64_t b = in.logp.dim(0), t = in.logp.dim(1);
  Tensor mask = work(in.mask);
  Tensor keep = notEqual(mask, 0.0, loc);
  Tensor zero = scalar(f, 0.0, dt, loc);
  // Masked positions may hold -inf or garbage: replacing them before exp keeps
  // both the forward values and the backward products (0 * inf) finite.
  auto clean = [&](const Tensor &x) {
    return select(keep, work(x), zero, loc);
  };
  Tensor logp = clean(in.logp);
  Tensor oldLogp = clean(in.oldLogp);
  Tensor adv =
      broadcastTo(reshape(work(in.advantages), {b, 1}, loc), {b, t}, loc);

  Tensor tokens = maximum(sum(mask, {0, 1}, false, loc), 1.0, loc);
  auto maskedMean = [&](const Tensor &x) {
    return sum(mul(x, mask, loc), {0, 1}, false, loc) / tokens;
  };

  const double lo = 1.0 - opt.epsLow, hi = 1.0 + opt.epsHigh;
  Tensor logRatio = sub(logp, oldLogp, loc);
  if (opt.importanceSamplingLevel == ImportanceSamplingLevel::sequence) {
    // GSPO: the length-normalised sequence likelihood ratio, one per row.
    Tensor rowTokens = maximum(sum(mask, {1}, false, loc), 1.0, loc);
    Tensor rowMean =
        div(sum(mul(logRatio, mask, loc), {1}, false, loc), rowTokens, loc);
    logRatio = broadcastTo(reshape(rowMean, {b, 1}, loc), {b, t}, loc);
  }
  Tensor ratio = exp(logRatio, loc);
  Tensor clipped = minimum(maximum(ratio, lo, loc), hi, loc);
  Tensor perToken =
      neg(minimum(mul(ratio, adv, loc), mul(clipped, adv, loc), loc), loc);
  if (opt.beta != 0) {
    Tensor d = sub(clean(*in.refLogp), logp, loc);
    Tensor kl;
    switch (opt.klEstimator) {
    case KlEstimator::k1:
      kl = neg(d, loc);
      break;
    case KlEstimator::k2:
      kl = mul(d, d, loc) * 0.5;
      break;
    case KlEstimator::k3:
      kl = sub(exp(d, loc), d, loc) - 1.0;
      break;
    }
    perToken = add(perToken, kl * opt.beta, loc);
    out.meanKl = maskedMean(kl);
  }

  Tensor entropy;
  if (in.logits) {
    Tensor logProbs = logSoftmax(work(*in.logits), -1, loc);
    Tensor probs = exp(logProbs, loc);
    // p * log p is 0 where p is 0 (a -inf logit), not NaN; log p is replaced
    // before the product so the backward pass multiplies no -inf either.
    Tensor safeLogProbs =
        select(greater(probs, zero, loc), logProbs, zero, loc);
    entropy = select(
        keep, neg(sum(mul(probs, safeLogProbs, loc), {2}, false, loc), loc),
        zero, loc);
    out.entropy = maskedMean(entropy);
    if (opt.entropyCoeff != 0)
      perToken = sub(perToken, entropy * opt.entropyCoeff, loc);
  }

  Tensor weighted = mul(perToken, mask, loc);
  // The sequences that exist: padding rows of an unfilled batch are no
  // sequences, so they must not dilute grpo's or dr_grpo's mean.
  Tensor rows =
      in.rowValid ? maximum(sum(work(*in.rowValid), {0}, false, loc), 1.0, loc)
                  : scalar(f, static_cast<double>(b), dt, loc);
  switch (opt.lossType) {
  case LossType::grpo: {
    Tensor perSeqTokens = maximum(sum(mask, {1}, false, loc), 1.0, loc);
    out.loss = div(sum(div(sum(weighted, {1}, false, loc), perSeqTokens, loc),
                       {0}, false, loc),
                   rows, loc);
    break;
  }
  case LossType::bnpo:
    out.loss = div(sum(weighted, {0, 1}, false, loc), tokens, loc);
    break;
  case LossType::drGrpo: {
    int64_t length = opt.maxCompletionLength > 0 ? opt.maxCompletionLength : t;
    out.loss = div(sum(weighted, {0, 1}, false, loc),
                   rows * static_cast<double>(length), loc);
    break;
  }
  case LossType::dapo:
    out.loss = div(sum(weighted, {0, 1}, false, loc),
                   maximum(work(*in.totalTokens), 1.0, loc), loc);
    break;
  }

  auto asFloat = [&](const Tensor &cond) { return cast(cond, dt, loc); };
  Tensor low = logicalAnd(less(ratio, full(f, {b, t}, lo, dt, loc), loc),
                          less(adv, zero, loc), loc);
  Tensor high = logicalAnd(greater(ratio, full(f, {b, t}, hi, dt, loc), loc),
                           greater(adv, zero, loc), loc);
  out.lowClipFraction = maskedMean(asFloat(low));
  out.highClipFraction = maskedMean(asFloat(high));
  out.clipFraction = maskedMean(asFloat(logicalOr(low, high, loc)));
  out.meanRatio = maskedMean(ratio);
  return out;
}

} // namespace kiln::models
