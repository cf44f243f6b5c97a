//===- GrpoLossTest.cpp - the GRPO loss against hand-written loops --------===//
//
// Compiles tiny graphs around grpoLoss, runs them on the CPU executor and
// checks the loss, d loss / d logp and the metrics against a plain C++
// reference for every loss type, beta = 0 and > 0, asymmetric clipping,
// masked tokens and a sequence with no valid token; and the host advantages.
//
//===----------------------------------------------------------------------===//

#include <cmath>
#include <map>
#include <numeric>
#include <random>

#include "absl/strings/str_cat.h"
#include "executor/Executor.h"
#include "frontend/Kiln.h"
#include "models/grpo/Advantages.h"
#include "models/grpo/GrpoLoss.h"

#include "tests/codegen/CompileTestUtil.h"
#include "gtest/gtest.h"

namespace kiln::models {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

/// The inputs of one loss, [B, T] row-major; masked entries of the log-prob
/// vectors may hold garbage the loss must ignore.
struct Batch {
  int64_t b = 0, t = 0, v = 0;
  std::vector<double> logp, oldLogp, refLogp, advantages, mask, logits;
  /// Empty: every row is a sequence; else 1 per real row, 0 per padding row.
  std::vector<double> rowValid;
  double totalTokens = 0;
};

struct Expected {
  double loss = 0, kl = 0, low = 0, high = 0, region = 0, ratio = 0,
         entropy = 0;
  std::vector<double> grad;
};

/// The reference, written from the formulas (TRL's GRPOTrainer._compute_loss)
/// token by token, independently of the graph code.
Expected reference(const Batch &x, const GrpoLossOptions &o) {
  Expected e;
  e.grad.assign(x.b * x.t, 0.0);
  double tokens = 0, weightedSum = 0, seqMeanSum = 0;
  double klSum = 0, lowSum = 0, highSum = 0, regionSum = 0, ratioSum = 0,
         entropySum = 0;
  std::vector<double> perTokenLoss(x.b * x.t, 0), perTokenGrad(x.b * x.t, 0);
  for (int64_t i = 0; i < x.b; ++i) {
    double a = x.advantages[i];
    double seqTokens = 0, seqSum = 0;
    for (int64_t j = 0; j < x.t; ++j) {
      int64_t k = i * x.t + j;
      double m = x.mask[k];
      if (m == 0)
        continue;
      double r = std::exp(x.logp[k] - x.oldLogp[k]);
      double c = std::min(std::max(r, 1 - o.epsLow), 1 + o.epsHigh);
      double unclipped = r * a, clipped = c * a;
      double l = -std::min(unclipped, clipped);
      // d(-r A)/dlogp = -r A where the unclipped term is the min (inside the
      // range both terms are the same), else the clipped constant: 0.
      double g = unclipped <= clipped ? -r * a : 0.0;
      if (o.beta != 0) {
        // d = ref - logp, so d d / d logp = -1.
        double d = x.refLogp[k] - x.logp[k], kl = 0, dkl = 0;
        switch (o.klEstimator) {
        case KlEstimator::k1:
          kl = -d, dkl = 1;
          break;
        case KlEstimator::k2:
          kl = 0.5 * d * d, dkl = -d;
          break;
        case KlEstimator::k3:
          kl = std::exp(d) - d - 1, dkl = 1 - std::exp(d);
          break;
        }
        l += o.beta * kl;
        g += o.beta * dkl;
        klSum += m * kl;
      }
      perTokenLoss[k] = l;
      perTokenGrad[k] = g;
      seqTokens += m;
      seqSum += m * l;
      tokens += m;
      ratioSum += m * r;
      bool low = r < 1 - o.epsLow && a<0, high = r> 1 + o.epsHigh && a > 0;
      lowSum += m * low;
      highSum += m * high;
      regionSum += m * (low || high);
      if (!x.logits.empty()) {
        const double *z = &x.logits[k * x.v];
        double zmax = *std::max_element(z, z + x.v), total = 0;
        for (int64_t u = 0; u < x.v; ++u)
          total += std::exp(z[u] - zmax);
        double h = 0;
        for (int64_t u = 0; u < x.v; ++u) {
          double p = std::exp(z[u] - zmax) / total;
          h -= p * std::log(p);
        }
        entropySum += m * h;
      }
    }
    weightedSum += seqSum;
    seqMeanSum += seqSum / std::max(seqTokens, 1.0);
    if (o.lossType == LossType::grpo)
      for (int64_t j = 0; j < x.t; ++j) {
        int64_t k = i * x.t + j;
        e.grad[k] = x.mask[k] * perTokenGrad[k] / std::max(seqTokens, 1.0) /
                    static_cast<double>(x.b);
      }
  }
  // grpo and dr_grpo count sequences: the rows that exist.
  double rows = static_cast<double>(x.b);
  if (!x.rowValid.empty())
    rows = std::max(std::accumulate(x.rowValid.begin(), x.rowValid.end(), 0.0),
                    1.0);
  if (o.lossType == LossType::grpo)
    for (double &g : e.grad)
      g *= static_cast<double>(x.b) / rows;
  double denominator = 1;
  switch (o.lossType) {
  case LossType::grpo:
    e.loss = seqMeanSum / rows;
    break;
  case LossType::bnpo:
    denominator = std::max(tokens, 1.0);
    break;
  case LossType::drGrpo:
    denominator =
        rows * static_cast<double>(o.maxCompletionLength ? o.maxCompletionLength
                                                         : x.t);
    break;
  case LossType::dapo:
    denominator = std::max(x.totalTokens, 1.0);
    break;
  }
  if (o.lossType != LossType::grpo) {
    e.loss = weightedSum / denominator;
    for (int64_t k = 0; k < x.b * x.t; ++k)
      e.grad[k] = x.mask[k] * perTokenGrad[k] / denominator;
  }
  double n = std::max(tokens, 1.0);
  e.kl = klSum / n;
  e.low = lowSum / n;
  e.high = highSum / n;
  e.region = regionSum / n;
  e.ratio = ratioSum / n;
  e.entropy = entropySum / n;
  return e;
}

/// Round-trips through f32 so the reference sees exactly the graph's inputs.
std::vector<double> asF32(const std::vector<double> &v, Shape shape) {
  return HostTensor::fromDoubles(proto::F32, shape, v).toDoubles();
}

/// Three sequences of five tokens: a full one with a positive advantage, a
/// prompt-then-completion-then-padding one with a negative advantage, and
/// one with no valid token at all. Masked entries hold -inf and huge values.
Batch makeBatch(uint64_t seed, bool withLogits = false) {
  Batch x;
  x.b = 3;
  x.t = 5;
  x.v = withLogits ? 4 : 0;
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> logp(-3.0, -0.2), noise(-0.45, 0.45);
  x.mask = {1, 1, 1, 1, 1, /**/ 0, 0, 1, 1, 0, /**/ 0, 0, 0, 0, 0};
  x.advantages = asF32({1.3, -0.7, 0.4}, {3});
  for (int64_t k = 0; k < x.b * x.t; ++k) {
    double l = logp(rng);
    x.logp.push_back(l);
    x.oldLogp.push_back(l + noise(rng));
    x.refLogp.push_back(l + noise(rng));
  }
  // One token clipped low (A < 0, r = e^-0.4) and one high (A > 0, r =
  // e^0.35), so both clip directions are exercised.
  x.oldLogp[7] = x.logp[7] + 0.4;
  x.oldLogp[0] = x.logp[0] - 0.35;
  for (int64_t k : {5, 10, 14})
    x.logp[k] = -kInf;
  for (int64_t k : {9, 11})
    x.oldLogp[k] = 1e30;
  for (int64_t k : {6, 12})
    x.refLogp[k] = kInf;
  x.logp = asF32(x.logp, {3, 5});
  x.oldLogp = asF32(x.oldLogp, {3, 5});
  x.refLogp = asF32(x.refLogp, {3, 5});
  if (withLogits) {
    std::normal_distribution<double> normal;
    for (int64_t k = 0; k < x.b * x.t * x.v; ++k)
      x.logits.push_back(2 * normal(rng));
    x.logits = asF32(x.logits, {3, 5, 4});
  }
  x.totalTokens = 17; // e.g. this micro-batch's 7 and another's 10
  return x;
}

/// One sequence of two valid tokens whose log-ratios against old = 0 are
/// ln 1.5 and ln 0.9, with A = 1: the batch the tests by hand work out.
Batch twoTokenBatch() {
  Batch x;
  x.b = 1;
  x.t = 2;
  x.logp = asF32({std::log(1.5), std::log(0.9)}, {1, 2});
  x.oldLogp = {0, 0};
  x.advantages = {1};
  x.mask = {1, 1};
  return x;
}

/// Compiles `loss` (every named output plus "grad_logp") for `x`'s shapes.
std::unique_ptr<Executor> compileLoss(const Batch &x,
                                      const GrpoLossOptions &options) {
  Graph graph("grpo");
  Function &f = graph.function("loss");
  GrpoLossInputs in;
  in.logp = f.input("logp", {x.b, x.t}, DType::f32);
  in.oldLogp = f.input("old_logp", {x.b, x.t}, DType::f32);
  in.advantages = f.input("advantages", {x.b}, DType::f32);
  in.mask = f.input("mask", {x.b, x.t}, DType::f32);
  if (options.beta != 0)
    in.refLogp = f.input("ref_logp", {x.b, x.t}, DType::f32);
  if (options.lossType == LossType::dapo)
    in.totalTokens = f.input("total_tokens", {}, DType::f32);
  if (!x.logits.empty())
    in.logits = f.input("logits", {x.b, x.t, x.v}, DType::f32);
  if (!x.rowValid.empty())
    in.rowValid = f.input("row_valid", {x.b}, DType::f32);
  GrpoLossOutputs out = grpoLoss(in, options);
  for (const auto &[name, tensor] : out.named())
    f.output(name, tensor);
  f.output("grad_logp", grad(out.loss, {in.logp})[0]);
  if (options.entropyCoeff != 0)
    f.output("grad_logits", grad(out.loss, {*in.logits})[0]);
  return kiln::testing::compileGraph(graph);
}

std::map<std::string, HostTensor> runLoss(Executor &executor, const Batch &x,
                                          const GrpoLossOptions &options) {
  std::map<std::string, HostTensor> inputs = {
      {"logp", HostTensor::fromDoubles(proto::F32, {x.b, x.t}, x.logp)},
      {"old_logp", HostTensor::fromDoubles(proto::F32, {x.b, x.t}, x.oldLogp)},
      {"advantages", HostTensor::fromDoubles(proto::F32, {x.b}, x.advantages)},
      {"mask", HostTensor::fromDoubles(proto::F32, {x.b, x.t}, x.mask)}};
  if (options.beta != 0)
    inputs.emplace("ref_logp",
                   HostTensor::fromDoubles(proto::F32, {x.b, x.t}, x.refLogp));
  if (options.lossType == LossType::dapo)
    inputs.emplace("total_tokens",
                   HostTensor::fromDoubles(proto::F32, {}, {x.totalTokens}));
  if (!x.logits.empty())
    inputs.emplace("logits", HostTensor::fromDoubles(
                                 proto::F32, {x.b, x.t, x.v}, x.logits));
  if (!x.rowValid.empty())
    inputs.emplace("row_valid",
                   HostTensor::fromDoubles(proto::F32, {x.b}, x.rowValid));
  auto results = executor.runNamed("loss", inputs);
  EXPECT_TRUE(results.ok()) << results.status();
  return results.ok() ? *results : std::map<std::string, HostTensor>{};
}

double scalarOf(const std::map<std::string, HostTensor> &results,
                const std::string &name) {
  auto it = results.find(name);
  EXPECT_NE(it, results.end()) << "no output " << name;
  return it == results.end() ? NAN : it->second.toDoubles()[0];
}

void expectNear(double actual, double expected, const std::string &what) {
  EXPECT_NEAR(actual, expected, 2e-6 + 2e-5 * std::abs(expected)) << what;
}

void checkAgainstReference(const Batch &x, const GrpoLossOptions &options) {
  std::string what =
      absl::StrCat(lossTypeName(options.lossType), " beta=", options.beta,
                   " eps=", options.epsLow, "/", options.epsHigh);
  auto executor = compileLoss(x, options);
  ASSERT_NE(executor, nullptr) << what;
  auto results = runLoss(*executor, x, options);
  Expected e = reference(x, options);

  expectNear(scalarOf(results, "loss"), e.loss, what + " loss");
  std::vector<double> grad = results.at("grad_logp").toDoubles();
  ASSERT_EQ(grad.size(), e.grad.size());
  for (size_t k = 0; k < grad.size(); ++k) {
    ASSERT_TRUE(std::isfinite(grad[k])) << what << " grad " << k;
    expectNear(grad[k], e.grad[k], what + " grad " + std::to_string(k));
  }
  expectNear(scalarOf(results, "clip_ratio/low_mean"), e.low, what + " low");
  expectNear(scalarOf(results, "clip_ratio/high_mean"), e.high, what + " high");
  expectNear(scalarOf(results, "clip_ratio/region_mean"), e.region,
             what + " region");
  expectNear(scalarOf(results, "ratio_mean"), e.ratio, what + " ratio");
  if (options.beta != 0)
    expectNear(scalarOf(results, "kl"), e.kl, what + " kl");
  else
    EXPECT_EQ(results.count("kl"), 0u) << what;
  if (!x.logits.empty())
    expectNear(scalarOf(results, "entropy"), e.entropy, what + " entropy");
}

TEST(GrpoLoss, HandWorkedTwoTokens) {
  // old = 0: ratios 1.5 (clipped to 1.2 for A = +1: no gradient) and 0.9
  // (inside: gradient -r A). grpo: loss = -(1.2 + 0.9) / 2, grad = [0,
  // -0.9/2]; one of two tokens clipped high; mean ratio 1.2.
  Batch x = twoTokenBatch();
  GrpoLossOptions options;
  options.lossType = LossType::grpo;
  auto executor = compileLoss(x, options);
  ASSERT_NE(executor, nullptr);
  auto results = runLoss(*executor, x, options);
  expectNear(scalarOf(results, "loss"), -1.05, "loss");
  std::vector<double> grad = results.at("grad_logp").toDoubles();
  expectNear(grad[0], 0.0, "grad 0");
  expectNear(grad[1], -0.45, "grad 1");
  expectNear(scalarOf(results, "clip_ratio/high_mean"), 0.5, "high");
  expectNear(scalarOf(results, "clip_ratio/low_mean"), 0.0, "low");
  expectNear(scalarOf(results, "ratio_mean"), 1.2, "ratio");
}

TEST(GrpoLoss, EveryLossTypeBetaAndClipRangeMatchesReference) {
  Batch x = makeBatch(7);
  for (LossType type :
       {LossType::grpo, LossType::bnpo, LossType::drGrpo, LossType::dapo})
    for (double beta : {0.0, 0.04})
      for (auto [epsLow, epsHigh] : {std::pair{0.2, 0.2}, {0.2, 0.28}}) {
        GrpoLossOptions options;
        options.lossType = type;
        options.beta = beta;
        options.epsLow = epsLow;
        options.epsHigh = epsHigh;
        options.maxCompletionLength = type == LossType::drGrpo ? 8 : 0;
        checkAgainstReference(x, options);
      }
  // The batch exercises both clip directions, so the checks are not vacuous.
  GrpoLossOptions asymmetric;
  asymmetric.epsHigh = 0.28;
  Expected e = reference(x, asymmetric);
  EXPECT_GT(e.low, 0);
  EXPECT_GT(e.high, 0);
  EXPECT_LT(e.region, 1);
}

TEST(GrpoLoss, EveryKlEstimatorMatchesReference) {
  Batch x = makeBatch(13);
  for (KlEstimator estimator :
       {KlEstimator::k1, KlEstimator::k2, KlEstimator::k3})
    for (LossType type : {LossType::grpo, LossType::dapo}) {
      GrpoLossOptions options;
      options.lossType = type;
      options.beta = 0.3;
      options.klEstimator = estimator;
      SCOPED_TRACE(klEstimatorName(estimator));
      checkAgainstReference(x, options);
    }
  // By hand, one token with ref - logp = ln 2: k1 = -ln 2, k2 = (ln 2)^2 / 2,
  // k3 = 2 - ln 2 - 1.
  Batch one;
  one.b = 1;
  one.t = 1;
  one.logp = {0.0};
  one.oldLogp = {0.0};
  one.refLogp = asF32({std::log(2.0)}, {1, 1});
  one.advantages = {0.0};
  one.mask = {1};
  const double ln2 = std::log(2.0);
  for (auto [estimator, want] : {std::pair{KlEstimator::k1, -ln2},
                                 {KlEstimator::k2, 0.5 * ln2 * ln2},
                                 {KlEstimator::k3, 1 - ln2}}) {
    GrpoLossOptions options;
    options.lossType = LossType::bnpo;
    options.beta = 1;
    options.klEstimator = estimator;
    auto executor = compileLoss(one, options);
    ASSERT_NE(executor, nullptr);
    auto results = runLoss(*executor, one, options);
    expectNear(scalarOf(results, "kl"), want, klEstimatorName(estimator));
    expectNear(scalarOf(results, "loss"), want, klEstimatorName(estimator));
  }
  EXPECT_EQ(*parseKlEstimator("k2"), KlEstimator::k2);
  EXPECT_FALSE(parseKlEstimator("kl").ok());
}

TEST(GrpoLoss, EntropyFromLogits) {
  GrpoLossOptions options;
  options.lossType = LossType::bnpo;
  options.beta = 0.1;
  checkAgainstReference(makeBatch(11, /*withLogits=*/true), options);
}

/// The loss alone, in double, written from TRL's formulas for both
/// importance sampling levels (GSPO: the sequence's mean log-ratio,
/// exponentiated, for each of its tokens) and verl's entropy bonus; the
/// checks below take its gradients by central differences.
struct LossValue {
  double loss = 0, low = 0, high = 0, ratio = 0;
};
LossValue referenceLoss(const Batch &x, const GrpoLossOptions &o) {
  std::vector<double> seqTokens(x.b, 0), seqLogRatio(x.b, 0), seqSum(x.b, 0);
  for (int64_t i = 0; i < x.b; ++i)
    for (int64_t j = 0; j < x.t; ++j) {
      int64_t k = i * x.t + j;
      if (x.mask[k] == 0)
        continue;
      seqTokens[i] += x.mask[k];
      seqLogRatio[i] += x.mask[k] * (x.logp[k] - x.oldLogp[k]);
    }
  double tokens = 0, weighted = 0, seqMeans = 0, low = 0, high = 0, ratio = 0;
  for (int64_t i = 0; i < x.b; ++i) {
    double a = x.advantages[i];
    for (int64_t j = 0; j < x.t; ++j) {
      int64_t k = i * x.t + j;
      double m = x.mask[k];
      if (m == 0)
        continue;
      double logRatio =
          o.importanceSamplingLevel == ImportanceSamplingLevel::sequence
              ? seqLogRatio[i] / std::max(seqTokens[i], 1.0)
              : x.logp[k] - x.oldLogp[k];
      double r = std::exp(logRatio);
      double c = std::min(std::max(r, 1 - o.epsLow), 1 + o.epsHigh);
      double l = -std::min(r * a, c * a);
      if (o.beta != 0) {
        double d = x.refLogp[k] - x.logp[k];
        l += o.beta * (std::exp(d) - d - 1); // k3
      }
      if (o.entropyCoeff != 0) {
        const double *z = &x.logits[k * x.v];
        double zmax = *std::max_element(z, z + x.v), total = 0, h = 0;
        for (int64_t u = 0; u < x.v; ++u)
          total += std::exp(z[u] - zmax);
        for (int64_t u = 0; u < x.v; ++u) {
          double logp = z[u] - zmax - std::log(total);
          h -= std::exp(logp) * logp;
        }
        l -= o.entropyCoeff * h;
      }
      seqSum[i] += m * l;
      weighted += m * l;
      tokens += m;
      ratio += m * r;
      low += m * (r < 1 - o.epsLow && a < 0);
      high += m * (r > 1 + o.epsHigh && a > 0);
    }
    seqMeans += seqSum[i] / std::max(seqTokens[i], 1.0);
  }
  double rows = static_cast<double>(x.b);
  LossValue v;
  switch (o.lossType) {
  case LossType::grpo:
    v.loss = seqMeans / rows;
    break;
  case LossType::bnpo:
    v.loss = weighted / std::max(tokens, 1.0);
    break;
  case LossType::drGrpo:
    v.loss = weighted /
             (rows * (o.maxCompletionLength ? o.maxCompletionLength : x.t));
    break;
  case LossType::dapo:
    v.loss = weighted / std::max(x.totalTokens, 1.0);
    break;
  }
  v.low = low / std::max(tokens, 1.0);
  v.high = high / std::max(tokens, 1.0);
  v.ratio = ratio / std::max(tokens, 1.0);
  return v;
}

/// d referenceLoss / d (*values)[k] by central differences, for valid
/// positions (masked ones hold infinities and get gradient 0).
double numericGrad(Batch x, std::vector<double> Batch::*values, int64_t k,
                   const GrpoLossOptions &o) {
  const double h = 1e-6, at = (x.*values)[k];
  (x.*values)[k] = at + h;
  double up = referenceLoss(x, o).loss;
  (x.*values)[k] = at - h;
  double down = referenceLoss(x, o).loss;
  return (up - down) / (2 * h);
}

TEST(GrpoLoss, SequenceLevelRatioByHand) {
  // GSPO, one sequence of two tokens with log-ratios ln 1.5 and ln 0.9: one
  // ratio sqrt(1.35) = 1.1619 for both (inside [0.8, 1.2], where the token
  // ratio 1.5 was clipped), A = 1. grpo: loss = -sqrt(1.35); each token's
  // gradient is -r A / 2: the mean spreads the sequence's ratio over its
  // tokens.
  Batch x = twoTokenBatch();
  GrpoLossOptions options;
  options.lossType = LossType::grpo;
  options.importanceSamplingLevel = ImportanceSamplingLevel::sequence;
  auto executor = compileLoss(x, options);
  ASSERT_NE(executor, nullptr);
  auto results = runLoss(*executor, x, options);
  const double r = std::sqrt(1.35);
  expectNear(scalarOf(results, "loss"), -r, "loss");
  std::vector<double> grad = results.at("grad_logp").toDoubles();
  expectNear(grad[0], -r / 2, "grad 0");
  expectNear(grad[1], -r / 2, "grad 1");
  expectNear(scalarOf(results, "ratio_mean"), r, "ratio");
  expectNear(scalarOf(results, "clip_ratio/high_mean"), 0.0, "high");
  EXPECT_EQ(*parseImportanceSamplingLevel("sequence"),
            ImportanceSamplingLevel::sequence);
  EXPECT_FALSE(parseImportanceSamplingLevel("seq").ok());
}

TEST(GrpoLoss, SequenceLevelRatioMatchesReference) {
  // The second row's mean log-ratio is pushed below ln 0.8 with A < 0, so a
  // whole sequence clips low.
  Batch x = makeBatch(17);
  x.oldLogp[7] = x.logp[7] + 0.5;
  x.oldLogp[8] = x.logp[8] + 0.4;
  for (LossType type :
       {LossType::grpo, LossType::bnpo, LossType::drGrpo, LossType::dapo})
    for (double beta : {0.0, 0.04}) {
      GrpoLossOptions options;
      options.lossType = type;
      options.beta = beta;
      options.epsHigh = 0.28;
      options.importanceSamplingLevel = ImportanceSamplingLevel::sequence;
      std::string what = absl::StrCat(lossTypeName(type), " beta=", beta);
      auto executor = compileLoss(x, options);
      ASSERT_NE(executor, nullptr) << what;
      auto results = runLoss(*executor, x, options);
      LossValue e = referenceLoss(x, options);
      expectNear(scalarOf(results, "loss"), e.loss, what + " loss");
      expectNear(scalarOf(results, "ratio_mean"), e.ratio, what + " ratio");
      expectNear(scalarOf(results, "clip_ratio/low_mean"), e.low, what);
      expectNear(scalarOf(results, "clip_ratio/high_mean"), e.high, what);
      EXPECT_GT(e.low, 0) << what; // the clipped row is exercised
      std::vector<double> grad = results.at("grad_logp").toDoubles();
      for (int64_t k = 0; k < x.b * x.t; ++k) {
        double want = x.mask[k] ? numericGrad(x, &Batch::logp, k, options) : 0;
        EXPECT_NEAR(grad[k], want, 1e-5 + 1e-4 * std::abs(want))
            << what << " grad " << k;
      }
    }
  // Token level through the same reference agrees with the token one.
  GrpoLossOptions token;
  token.lossType = LossType::grpo;
  EXPECT_NEAR(referenceLoss(x, token).loss, reference(x, token).loss, 1e-12);
}

TEST(GrpoLoss, EntropyBonusSubtractsTheAggregatedEntropy) {
  Batch x = makeBatch(19, /*withLogits=*/true);
  for (LossType type : {LossType::grpo, LossType::dapo}) {
    GrpoLossOptions options;
    options.lossType = type;
    options.entropyCoeff = 0.3;
    std::string what = lossTypeName(type);
    auto executor = compileLoss(x, options);
    ASSERT_NE(executor, nullptr) << what;
    auto results = runLoss(*executor, x, options);
    GrpoLossOptions without = options;
    without.entropyCoeff = 0;
    // The loss moves by the entropy's aggregate; the entropy metric stays
    // the plain token mean.
    EXPECT_GT(std::abs(referenceLoss(x, options).loss -
                       referenceLoss(x, without).loss),
              1e-2)
        << what;
    expectNear(scalarOf(results, "loss"), referenceLoss(x, options).loss,
               what + " loss");
    expectNear(scalarOf(results, "entropy"), reference(x, without).entropy,
               what + " entropy");
    std::vector<double> grad = results.at("grad_logits").toDoubles();
    for (int64_t k = 0; k < x.b * x.t; ++k)
      for (int64_t u = 0; u < x.v; ++u) {
        int64_t e = k * x.v + u;
        double want =
            x.mask[k] ? numericGrad(x, &Batch::logits, e, options) : 0;
        ASSERT_TRUE(std::isfinite(grad[e])) << what << " " << e;
        EXPECT_NEAR(grad[e], want, 1e-5 + 1e-4 * std::abs(want))
            << what << " grad logits " << e;
      }
  }
  // Without logits the bonus has nothing to weigh.
  Graph graph("bad");
  Function &f = graph.function("loss");
  GrpoLossInputs in;
  in.logp = f.input("logp", {1, 2}, DType::f32);
  in.oldLogp = f.input("old_logp", {1, 2}, DType::f32);
  in.advantages = f.input("advantages", {1}, DType::f32);
  in.mask = f.input("mask", {1, 2}, DType::f32);
  in.totalTokens = f.input("total_tokens", {}, DType::f32);
  GrpoLossOptions bonus;
  bonus.entropyCoeff = 0.1;
  grpoLoss(in, bonus);
  EXPECT_NE(graph.status().message().find("needs logits"), std::string::npos)
      << graph.status();
}

TEST(GrpoLoss, NoValidTokenGivesZerosNotNaN) {
  // Every denominator that counts tokens is clamped to 1 (TRL's clamp(min=1)):
  // an all-masked batch has loss 0, gradient 0 and metrics 0.
  Batch x = makeBatch(3);
  std::fill(x.mask.begin(), x.mask.end(), 0.0);
  x.totalTokens = 0;
  for (LossType type :
       {LossType::grpo, LossType::bnpo, LossType::drGrpo, LossType::dapo}) {
    GrpoLossOptions options;
    options.lossType = type;
    options.beta = 0.04;
    auto executor = compileLoss(x, options);
    ASSERT_NE(executor, nullptr);
    auto results = runLoss(*executor, x, options);
    for (const auto &[name, tensor] : results)
      for (double v : tensor.toDoubles())
        EXPECT_EQ(v, 0.0) << lossTypeName(type) << " " << name;
  }
}

TEST(GrpoLoss, DapoMicroBatchesAddUpToTheGlobalTokenMean) {
  // Two micro-batches normalised by the global token count: their losses and
  // gradients are exactly the slices of one bnpo loss over the whole batch.
  Batch whole = makeBatch(5);
  Batch first = whole, second = whole;
  first.b = second.b = 1;
  auto take = [&](Batch &part, int64_t row) {
    for (auto *v : {&part.logp, &part.oldLogp, &part.refLogp, &part.mask})
      *v = std::vector<double>(v->begin() + row * whole.t,
                               v->begin() + (row + 1) * whole.t);
    part.advantages = {whole.advantages[row]};
  };
  take(first, 0);
  take(second, 1);
  GrpoLossOptions dapo;
  dapo.beta = 0.04;
  first.totalTokens = second.totalTokens = 5 + 2; // the first two rows
  auto executor = compileLoss(first, dapo);
  ASSERT_NE(executor, nullptr);
  auto a = runLoss(*executor, first, dapo),
       b = runLoss(*executor, second, dapo);

  Batch firstTwo = whole;
  firstTwo.b = 2;
  for (auto *v :
       {&firstTwo.logp, &firstTwo.oldLogp, &firstTwo.refLogp, &firstTwo.mask})
    v->resize(2 * whole.t);
  firstTwo.advantages.resize(2);
  GrpoLossOptions bnpo = dapo;
  bnpo.lossType = LossType::bnpo;
  Expected e = reference(firstTwo, bnpo);
  expectNear(scalarOf(a, "loss") + scalarOf(b, "loss"), e.loss, "summed loss");
  std::vector<double> ga = a.at("grad_logp").toDoubles(),
                      gb = b.at("grad_logp").toDoubles();
  for (int64_t k = 0; k < whole.t; ++k) {
    expectNear(ga[k], e.grad[k], "grad first " + std::to_string(k));
    expectNear(gb[k], e.grad[whole.t + k], "grad second " + std::to_string(k));
  }
}

TEST(GrpoLoss, PaddingRowsNeverEnterADenominator) {
  // The third row of the batch has no valid token. As a padding row (a group
  // dynamic sampling could not fill) it is no sequence: every loss type gives
  // the loss and gradients of the two real rows alone, where before grpo
  // divided by 3 sequences and dr_grpo by 3 * 8 tokens.
  Batch padded = makeBatch(7);
  padded.rowValid = {1, 1, 0};
  Batch twoRows = padded;
  twoRows.b = 2;
  twoRows.rowValid.clear();
  for (auto *v :
       {&twoRows.logp, &twoRows.oldLogp, &twoRows.refLogp, &twoRows.mask})
    v->resize(2 * padded.t);
  twoRows.advantages.resize(2);
  for (LossType type :
       {LossType::grpo, LossType::bnpo, LossType::drGrpo, LossType::dapo}) {
    GrpoLossOptions options;
    options.lossType = type;
    options.beta = 0.04;
    options.maxCompletionLength = 8;
    checkAgainstReference(padded, options);
    Expected alone = reference(twoRows, options);
    auto executor = compileLoss(padded, options);
    ASSERT_NE(executor, nullptr);
    auto results = runLoss(*executor, padded, options);
    std::string what = lossTypeName(type);
    expectNear(scalarOf(results, "loss"), alone.loss, what + " loss");
    std::vector<double> grad = results.at("grad_logp").toDoubles();
    for (int64_t k = 0; k < 2 * padded.t; ++k)
      expectNear(grad[k], alone.grad[k], what + " grad " + std::to_string(k));
  }
  // By hand for dr_grpo: the token sum over 2 rows * 8, not 3 * 8.
  GrpoLossOptions drGrpo;
  drGrpo.lossType = LossType::drGrpo;
  drGrpo.maxCompletionLength = 8;
  Batch unpadded = padded;
  unpadded.rowValid.clear();
  EXPECT_NEAR(reference(padded, drGrpo).loss,
              reference(unpadded, drGrpo).loss * 3.0 / 2.0, 1e-12);
}

absl::Status buildStatus(const GrpoLossOptions &options, bool withRef,
                         bool withTotal, Shape advantagesShape = {2}) {
  Graph graph("bad");
  Function &f = graph.function("loss");
  GrpoLossInputs in;
  in.logp = f.input("logp", {2, 3}, DType::f32);
  in.oldLogp = f.input("old_logp", {2, 3}, DType::f32);
  in.advantages = f.input("advantages", advantagesShape, DType::f32);
  in.mask = f.input("mask", {2, 3}, DType::f32);
  if (withRef)
    in.refLogp = f.input("ref_logp", {2, 3}, DType::f32);
  if (withTotal)
    in.totalTokens = f.input("total_tokens", {}, DType::f32);
  GrpoLossOutputs out = grpoLoss(in, options);
  EXPECT_EQ(out.loss.valid(), graph.status().ok());
  return graph.status();
}

TEST(GrpoLoss, BadInputsAreStickyErrorsThatSayWhy) {
  GrpoLossOptions grpo;
  grpo.lossType = LossType::grpo;
  GrpoLossOptions withBeta = grpo;
  withBeta.beta = 0.1;
  GrpoLossOptions dapo;
  auto expectError = [](absl::Status status, const std::string &needle) {
    EXPECT_FALSE(status.ok());
    EXPECT_NE(status.message().find(needle), std::string::npos)
        << status.message();
  };
  expectError(buildStatus(withBeta, false, false), "needs refLogp");
  expectError(buildStatus(grpo, true, false), "beta = 0");
  expectError(buildStatus(dapo, false, false), "needs totalTokens");
  expectError(buildStatus(grpo, false, true), "totalTokens is for");
  expectError(buildStatus(grpo, false, false, {3}), "advantages must be [2]");
  EXPECT_TRUE(buildStatus(dapo, false, true).ok());
  EXPECT_EQ(parseLossType("dr_grpo").value(), LossType::drGrpo);
  EXPECT_FALSE(parseLossType("ppo").ok());
}

//===--- Advantages ------------------------------------------------------===//

TEST(Advantages, EveryScaleOnHandComputedGroups) {
  // Two prompts, G = 3. Group 0: {1, 0, 0}: mean 1/3, unbiased std
  // sqrt(((2/3)^2 + 2 (1/3)^2) / 2) = sqrt(1/3). Group 1: {2, 2, 2}: zero
  // variance. Batch {1, 0, 0, 2, 2, 2}: mean 7/6, sum of squares
  // (1/6)^2 + 2 (7/6)^2 + 3 (5/6)^2 = 29/6, unbiased var 29/30.
  std::vector<double> rewards = {1, 0, 0, 2, 2, 2};
  double groupStd = std::sqrt(1.0 / 3), batchStd = std::sqrt(29.0 / 30);
  std::vector<double> centred = {2.0 / 3, -1.0 / 3, -1.0 / 3, 0, 0, 0};
  for (ScaleRewards scale :
       {ScaleRewards::group, ScaleRewards::batch, ScaleRewards::none}) {
    auto a = computeAdvantages(rewards, 3, scale);
    ASSERT_TRUE(a.ok()) << a.status();
    double divisor = scale == ScaleRewards::group   ? groupStd + 1e-4
                     : scale == ScaleRewards::batch ? batchStd + 1e-4
                                                    : 1.0;
    for (size_t i = 0; i < rewards.size(); ++i)
      EXPECT_NEAR(a->advantages[i], centred[i] / divisor, 1e-12)
          << scaleRewardsName(scale) << " " << i;
    EXPECT_NEAR(a->groupMean[0], 1.0 / 3, 1e-15);
    EXPECT_NEAR(a->groupStd[0], groupStd, 1e-15);
    EXPECT_EQ(a->groupStd[1], 0);
    EXPECT_EQ(a->zeroVariance, (std::vector<bool>{false, true}));
    EXPECT_EQ(a->zeroVarianceFraction, 0.5);
  }
  // Group 1 of {0.5, -1.5} under group scaling: (±1) / (sqrt(2) + 1e-4).
  auto a = computeAdvantages({0.5, -1.5}, 2, ScaleRewards::group);
  ASSERT_TRUE(a.ok());
  EXPECT_NEAR(a->advantages[0], 1 / (std::sqrt(2.0) + 1e-4), 1e-12);
  EXPECT_NEAR(a->advantages[1], -1 / (std::sqrt(2.0) + 1e-4), 1e-12);
}

TEST(Advantages, RewardStdIsTheAdvantagesEstimator) {
  // The groups above: group and none log the mean of the groups' unbiased
  // stds, (sqrt(1/3) + 0) / 2, as TRL's reward_std; batch logs the batch's
  // unbiased sqrt(29/30). The population std of the batch, sqrt(29/36),
  // which Kiln logged before, is neither.
  std::vector<double> rewards = {1, 0, 0, 2, 2, 2};
  for (ScaleRewards scale : {ScaleRewards::group, ScaleRewards::none}) {
    auto a = computeAdvantages(rewards, 3, scale);
    ASSERT_TRUE(a.ok());
    EXPECT_NEAR(rewardStd(*a, scale), std::sqrt(1.0 / 3) / 2, 1e-15);
  }
  auto a = computeAdvantages(rewards, 3, ScaleRewards::batch);
  ASSERT_TRUE(a.ok());
  EXPECT_NEAR(a->batchStd, std::sqrt(29.0 / 30), 1e-15);
  EXPECT_NEAR(rewardStd(*a, ScaleRewards::batch), std::sqrt(29.0 / 30), 1e-15);
}

TEST(Advantages, ZeroVarianceGroupsAreExactlyZero) {
  // 0.1 * 3 / 3 is not 0.1 in binary: without care, (r - mean) / 1e-4 would
  // give such a group advantages near 1e-13 instead of 0.
  auto a = computeAdvantages({0.1, 0.1, 0.1, 1, 0, 1, 0.7, 0.7, 0.7}, 3,
                             ScaleRewards::group);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->zeroVariance, (std::vector<bool>{true, false, true}));
  EXPECT_NEAR(a->zeroVarianceFraction, 2.0 / 3, 1e-15);
  for (int i : {0, 1, 2, 6, 7, 8})
    EXPECT_EQ(a->advantages[i], 0.0) << i;
  // G = 1: the unbiased std is undefined; advantages are 0, not NaN.
  auto single = computeAdvantages({3, 4}, 1, ScaleRewards::batch);
  ASSERT_TRUE(single.ok());
  EXPECT_EQ(single->advantages, (std::vector<double>{0, 0}));
  EXPECT_EQ(single->zeroVarianceFraction, 1.0);
}

TEST(Advantages, BadInputsSayWhy) {
  EXPECT_FALSE(computeAdvantages({1, 2, 3}, 2, ScaleRewards::group).ok());
  EXPECT_FALSE(computeAdvantages({}, 2, ScaleRewards::group).ok());
  EXPECT_FALSE(computeAdvantages({1, 2}, 0, ScaleRewards::group).ok());
  auto nan = computeAdvantages({1, NAN}, 2, ScaleRewards::group);
  ASSERT_FALSE(nan.ok());
  EXPECT_NE(nan.status().message().find("reward 1"), std::string::npos);
  EXPECT_EQ(parseScaleRewards("True").value(), ScaleRewards::group);
  EXPECT_EQ(parseScaleRewards("batch").value(), ScaleRewards::batch);
  EXPECT_EQ(parseScaleRewards("false").value(), ScaleRewards::none);
  EXPECT_FALSE(parseScaleRewards("mean").ok());
}

} // namespace
} // namespace kiln::models
