//===- Ops.h - one free function per kiln op --------------------*- C++ -*-===//
//
// PyTorch/JAX-like names and defaults over the ops of docs/OPS.md. Each call
// adds one op (or, for conveniences such as scalar operands, a constant and the
// op) at the caller's source location; a bad call records the graph's sticky
// error and returns an invalid Tensor.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_FRONTEND_OPS_H
#define KILN_FRONTEND_OPS_H

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "frontend/Tensor.h"

namespace kiln {

using Axes = std::vector<int64_t>;
#define KILN_LOC SourceLoc loc = SourceLoc::current()

//===--- Sources ---------------------------------------------------------===//

/// A literal: `values` row-major with one entry per element of `shape`, or a
/// single value repeated (a splat).
Tensor constant(Function &fn, const std::vector<double> &values, Shape shape,
                DType dtype, KILN_LOC);
/// A rank-0 constant.
Tensor scalar(Function &fn, double value, DType dtype, KILN_LOC);
Tensor full(Function &fn, Shape shape, double value, DType dtype, KILN_LOC);
Tensor zeros(Function &fn, Shape shape, DType dtype, KILN_LOC);
Tensor ones(Function &fn, Shape shape, DType dtype, KILN_LOC);
/// Element = its index along `dim`.
Tensor iota(Function &fn, Shape shape, int64_t dim, DType dtype, KILN_LOC);
/// Counter-based samples keyed by a `tensor<i64>` key (same key, same tensor).
Tensor randomUniform(const Tensor &key, Shape shape, DType dtype = DType::f32,
                     KILN_LOC);
Tensor randomNormal(const Tensor &key, Shape shape, DType dtype = DType::f32,
                    KILN_LOC);
/// One i64 sample per row of logits [..., V] (Gumbel-max).
Tensor randomCategorical(const Tensor &key, const Tensor &logits, KILN_LOC);

//===--- Elementwise -----------------------------------------------------===//

Tensor neg(const Tensor &x, KILN_LOC);
Tensor abs(const Tensor &x, KILN_LOC);
Tensor sign(const Tensor &x, KILN_LOC);
Tensor exp(const Tensor &x, KILN_LOC);
Tensor log(const Tensor &x, KILN_LOC);
Tensor sqrt(const Tensor &x, KILN_LOC);
Tensor rsqrt(const Tensor &x, KILN_LOC);
Tensor tanh(const Tensor &x, KILN_LOC);
Tensor sigmoid(const Tensor &x, KILN_LOC);
Tensor silu(const Tensor &x, KILN_LOC);
/// Exact erf form (PyTorch approximate='none').
Tensor gelu(const Tensor &x, KILN_LOC);
/// The error function (gelu's gradient needs it).
Tensor erf(const Tensor &x, KILN_LOC);
Tensor sin(const Tensor &x, KILN_LOC);
Tensor cos(const Tensor &x, KILN_LOC);

Tensor add(const Tensor &a, const Tensor &b, KILN_LOC);
Tensor sub(const Tensor &a, const Tensor &b, KILN_LOC);
Tensor mul(const Tensor &a, const Tensor &b, KILN_LOC);
Tensor div(const Tensor &a, const Tensor &b, KILN_LOC);
Tensor pow(const Tensor &a, const Tensor &b, KILN_LOC);
Tensor pow(const Tensor &a, double exponent, KILN_LOC);
Tensor maximum(const Tensor &a, const Tensor &b, KILN_LOC);
Tensor maximum(const Tensor &a, double b, KILN_LOC);
Tensor minimum(const Tensor &a, const Tensor &b, KILN_LOC);
Tensor minimum(const Tensor &a, double b, KILN_LOC);

Tensor equal(const Tensor &a, const Tensor &b, KILN_LOC);
Tensor equal(const Tensor &a, double b, KILN_LOC);
Tensor notEqual(const Tensor &a, const Tensor &b, KILN_LOC);
Tensor notEqual(const Tensor &a, double b, KILN_LOC);
Tensor less(const Tensor &a, const Tensor &b, KILN_LOC);
Tensor lessEqual(const Tensor &a, const Tensor &b, KILN_LOC);
Tensor greater(const Tensor &a, const Tensor &b, KILN_LOC);
Tensor greaterEqual(const Tensor &a, const Tensor &b, KILN_LOC);
Tensor logicalAnd(const Tensor &a, const Tensor &b, KILN_LOC);
Tensor logicalOr(const Tensor &a, const Tensor &b, KILN_LOC);
Tensor logicalNot(const Tensor &x, KILN_LOC);

/// cond ? a : b, broadcasting all three.
Tensor select(const Tensor &cond, const Tensor &a, const Tensor &b, KILN_LOC);
Tensor cast(const Tensor &x, DType to, KILN_LOC);

//===--- Shape -----------------------------------------------------------===//

/// One entry may be -1: it is inferred from the element count.
Tensor reshape(const Tensor &x, Shape shape, KILN_LOC);
Tensor transpose(const Tensor &x, const std::vector<int64_t> &perm, KILN_LOC);
Tensor broadcastTo(const Tensor &x, Shape shape, KILN_LOC);
/// Strided window [start, limit); negative entries count from the end of the
/// dimension; an empty `stride` means 1 everywhere.
Tensor slice(const Tensor &x, std::vector<int64_t> start,
             std::vector<int64_t> limit, std::vector<int64_t> stride = {},
             KILN_LOC);
/// x with `update` written at `start` (a rank-1 int tensor; clamped as in XLA).
Tensor dynamicUpdateSlice(const Tensor &x, const Tensor &update,
                          const Tensor &start, KILN_LOC);
/// The same with a static start (materialised as an i64 constant).
Tensor dynamicUpdateSlice(const Tensor &x, const Tensor &update,
                          const std::vector<int64_t> &start, KILN_LOC);
Tensor concat(const std::vector<Tensor> &xs, int64_t axis, KILN_LOC);
/// numpy take: x.shape[:axis] + indices.shape + x.shape[axis+1:].
Tensor gather(const Tensor &x, const Tensor &indices, int64_t axis = 0,
              KILN_LOC);
Tensor takeAlongAxis(const Tensor &x, const Tensor &indices, int64_t axis,
                     KILN_LOC);
/// x with `values` written at `indices` along `axis` (numpy put_along_axis;
/// indices' other dims x's or 1). Out-of-range indices write nothing; a later
/// entry naming the same slot wins.
Tensor putAlongAxis(const Tensor &x, const Tensor &indices,
                    const Tensor &values, int64_t axis, KILN_LOC);
/// x plus `updates` (gather's result shape) added at `indices` along `axis`.
Tensor scatterAdd(const Tensor &x, const Tensor &indices, const Tensor &updates,
                  int64_t axis = 0, KILN_LOC);
Tensor oneHot(const Tensor &indices, int64_t depth, DType dtype = DType::f32,
              KILN_LOC);
/// i64 counts of each value of a rank-1 int tensor, [length].
Tensor bincount(const Tensor &x, int64_t length, KILN_LOC);

//===--- Reductions and normalisation -------------------------------------===//

// Empty `axes` is the identity (as numpy's axis=()).
Tensor sum(const Tensor &x, const Axes &axes, bool keepdims = false, KILN_LOC);
Tensor mean(const Tensor &x, const Axes &axes, bool keepdims = false, KILN_LOC);
Tensor max(const Tensor &x, const Axes &axes, bool keepdims = false, KILN_LOC);
Tensor min(const Tensor &x, const Axes &axes, bool keepdims = false, KILN_LOC);
Tensor logsumexp(const Tensor &x, const Axes &axes, bool keepdims = false,
                 KILN_LOC);
Tensor argmax(const Tensor &x, int64_t axis, bool keepdims = false, KILN_LOC);
Tensor softmax(const Tensor &x, int64_t axis = -1, KILN_LOC);
Tensor logSoftmax(const Tensor &x, int64_t axis = -1, KILN_LOC);
Tensor cumsum(const Tensor &x, int64_t axis, bool exclusive = false,
              bool reverse = false, KILN_LOC);
Tensor rmsNorm(const Tensor &x, const Tensor &weight, double eps = 1e-6,
               KILN_LOC);

//===--- Linear algebra --------------------------------------------------===//

/// a [..., M, K] @ b [..., K, N]; a transpose flag swaps that operand's last
/// two dims first; a rank-2 operand broadcasts over the other's batch.
Tensor matmul(const Tensor &a, const Tensor &b, bool transposeA = false,
              bool transposeB = false, KILN_LOC);
/// MoE rows: x [T, K], w [E, K, N] ([E, N, K] when transposeW), offsets [E]
/// cumulative end rows -> [T, N].
Tensor groupedMatmul(const Tensor &x, const Tensor &w, const Tensor &offsets,
                     bool transposeW = false, KILN_LOC);
/// MoE weight gradient: x [T, K], dy [T, N], offsets [E] -> [E, K, N].
Tensor groupedMatmulContract(const Tensor &x, const Tensor &dy,
                             const Tensor &offsets, KILN_LOC);

//===--- Selection -------------------------------------------------------===//

/// The k largest along the last axis: (values, i64 indices).
std::pair<Tensor, Tensor> topk(const Tensor &x, int64_t k, KILN_LOC);
Tensor sort(const Tensor &x, int64_t axis = -1, bool descending = false,
            KILN_LOC);
Tensor argsort(const Tensor &x, int64_t axis = -1, bool descending = false,
               KILN_LOC);

//===--- Collectives (docs/OPS.md "Collectives") -------------------------===//

/// Every rank's x reduced elementwise ("sum", "max" or "min") over the
/// `ranks` processes the program runs on; sums in f32, rank order.
Tensor allReduce(const Tensor &x, const std::string &reduction, int64_t ranks,
                 KILN_LOC);
/// Every rank's x concatenated along `axis`, in rank order.
Tensor allGather(const Tensor &x, int64_t axis, int64_t ranks, KILN_LOC);
/// Block `rank` along `axis` of the sum over ranks of x.
Tensor reduceScatter(const Tensor &x, int64_t axis, int64_t ranks, KILN_LOC);
/// Rows of x [N, ...] sent to each rank by send_counts [ranks] (i64), in
/// order: (rows received [capacity, ...] in source-rank order then zeros,
/// i64 counts received from each rank).
std::pair<Tensor, Tensor> allToAll(const Tensor &x, const Tensor &sendCounts,
                                   int64_t capacity, int64_t ranks, KILN_LOC);

//===--- Model ops -------------------------------------------------------===//

/// Rotary embedding of x [..., S, D]; cos and sin broadcast to [..., S, D/2].
Tensor rotary(const Tensor &x, const Tensor &cos, const Tensor &sin,
              bool interleaved = false, KILN_LOC);

struct AttentionOptions {
  /// Defaults to 1/sqrt(Dk).
  std::optional<double> scale;
  bool causal = false;
  /// [B] int: keys at or past valid_len[b] are hidden.
  std::optional<Tensor> validLen;
  /// [B] int: query i sits at position i + q_offset[b] for the causal mask.
  std::optional<Tensor> qOffset;
};
/// q [B, Hq, Sq, Dk], k [B, Hkv, Sk, Dk], v [B, Hkv, Sk, Dv] -> [B, Hq, Sq,
/// Dv].
Tensor attention(const Tensor &q, const Tensor &k, const Tensor &v,
                 const AttentionOptions &options = {}, KILN_LOC);
/// -log_softmax(logits)[label]; labels outside [0, V) give 0.
Tensor crossEntropy(const Tensor &logits, const Tensor &labels, KILN_LOC);
/// log_softmax(logits)[token]; tokens outside [0, V) give 0.
Tensor tokenLogprobs(const Tensor &logits, const Tensor &tokens, KILN_LOC);

#undef KILN_LOC

} // namespace kiln

#endif // KILN_FRONTEND_OPS_H
