// Source ops: constant, iota and the Philox-based random_uniform / random_normal /
// random_categorical (sampling rules pinned in docs/OPS.md).
#include <cmath>
#include <cstring>
#include <limits>

#include "absl/strings/str_cat.h"
#include "executor/cpu/Compute.h"
#include "executor/cpu/Kernel.h"
#include "executor/cpu/Philox.h"

namespace kiln {
namespace {

absl::Status constantKernel(const KernelContext &ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectOutputs(1));
  KILN_ASSIGN_OR_RETURN(HostTensor value, ctx.attrTensor("value"));
  KILN_RETURN_IF_ERROR(ctx.expectOutput(0, value.shape(), value.dtype()));
  ctx.output(0) = value;
  return absl::OkStatus();
}

absl::Status iotaKernel(const KernelContext &ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(0));
  KILN_RETURN_IF_ERROR(ctx.expectOutputs(1));
  HostTensor &out = ctx.output(0);
  KILN_ASSIGN_OR_RETURN(int64_t dimAttr, ctx.attrInt("dimension"));
  KILN_ASSIGN_OR_RETURN(int64_t dim, ctx.axis(dimAttr, out.rank()));
  AxisSplit s = splitAt(out.shape(), dim);
  for (int64_t i = 0; i < out.numElements(); ++i)
    out.setInt(i, (i / s.inner) % s.n);
  return absl::OkStatus();
}

absl::StatusOr<int64_t> readKey(const KernelContext &ctx) {
  const HostTensor &key = ctx.input(0);
  if (!isInteger(key.dtype()) || key.numElements() != 1)
    return ctx.error(absl::StrCat("key must be a scalar int, got ", key.typeString()));
  return key.getInt(0);
}

/// Fills the float output with `sample(key, flatIndex)` (Philox, counter based).
template <typename Sample>
absl::Status fillRandom(const KernelContext &ctx, int64_t grain, Sample sample) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(1));
  KILN_RETURN_IF_ERROR(ctx.expectOutputs(1));
  KILN_ASSIGN_OR_RETURN(int64_t key, readKey(ctx));
  HostTensor &out = ctx.output(0);
  if (!isFloat(out.dtype()))
    return ctx.error("result must be a float type");
  return dispatchCompute(out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    WriteView<T> o(out);
    ctx.parallelFor(out.numElements(), grain, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i)
        o[i] = static_cast<T>(sample(key, i));
    });
    o.commit();
    return absl::OkStatus();
  });
}

absl::Status randomUniformKernel(const KernelContext &ctx) {
  return fillRandom(ctx, 60, [](int64_t key, int64_t i) { return philox::uniformAt(key, i); });
}

absl::Status randomNormalKernel(const KernelContext &ctx) {
  return fillRandom(ctx, 120, [](int64_t key, int64_t i) { return philox::normalAt(key, i); });
}

absl::Status randomCategoricalKernel(const KernelContext &ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(2));
  KILN_RETURN_IF_ERROR(ctx.expectOutputs(1));
  const HostTensor &logits = ctx.input(1);
  if (!isFloat(logits.dtype()) || logits.rank() < 1)
    return ctx.error(absl::StrCat("logits must be float of rank >= 1, got ",
                                  logits.typeString()));
  std::vector<int64_t> outShape(logits.shape().begin(), logits.shape().end() - 1);
  KILN_RETURN_IF_ERROR(ctx.expectOutput(0, outShape, proto::I64));
  int64_t v = logits.shape().back();
  int64_t rows = v == 0 ? 0 : logits.numElements() / v;
  // One key for the tensor (counter = flat index), or one per row (counter =
  // index within the row).
  const HostTensor &keys = ctx.input(0);
  bool perRow = keys.rank() > 0;
  if (perRow && (!isInteger(keys.dtype()) ||
                 std::vector<int64_t>(keys.shape().begin(), keys.shape().end()) != outShape))
    return ctx.error(absl::StrCat("per-row keys must be int of the rows' shape, got ",
                                  keys.typeString(), " for logits ", logits.typeString()));
  int64_t key = 0;
  if (!perRow) {
    KILN_ASSIGN_OR_RETURN(key, readKey(ctx));
  }
  ReadView<double> l(logits);
  int64_t *out = ctx.output(0).data<int64_t>();
  ctx.parallelFor(rows, 80.0 * v, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      int64_t best = 0;
      double bestVal = -std::numeric_limits<double>::infinity();
      bool found = false;
      int64_t rowKey = perRow ? keys.getInt(r) : key;
      int64_t first = perRow ? 0 : r * v;
      for (int64_t j = 0; j < v; ++j) {
        double x = l[r * v + j];
        if (x == -std::numeric_limits<double>::infinity())
          continue; // never chosen unless all are (then index 0)
        double u = std::clamp(philox::uniformAt(rowKey, first + j), 0x1p-24, 1.0 - 0x1p-24);
        double val = x - std::log(-std::log(u));
        if (!found || val > bestVal) {
          best = j;
          bestVal = val;
          found = true;
        }
      }
      out[r] = best;
    }
  });
  return absl::OkStatus();
}

} // namespace

void registerSourceKernels(KernelRegistry &r) {
  r["constant"] = constantKernel;
  r["iota"] = iotaKernel;
  r["random_uniform"] = randomUniformKernel;
  r["random_normal"] = randomNormalKernel;
  r["random_categorical"] = randomCategoricalKernel;
}

} // namespace kiln
