//===- QuantKernels.cpp - block-scaled quantization on the CPU ------------===//
//
// quantize, dequantize and scaled_matmul (docs/OPS.md "Quantization"): the
// exact emulation every other kernel of these ops is checked against. Every
// value is computed in f32 with the roundings the semantics name and no
// others; this file is compiled with -ffp-contract=off (executor/
// CMakeLists.txt) so that acc + P * s never fuses into one rounding. Results
// do not depend on how the work is split over threads: a block's amax is a
// max (order-free), and each output element of scaled_matmul is summed by one
// thread in ascending k and kb.
//
//===----------------------------------------------------------------------===//

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "executor/cpu/Compute.h"
#include "executor/cpu/Kernel.h"

namespace kiln {
namespace {

bool isFloat8(proto::DType type) {
  return type == proto::F8E4M3FN || type == proto::F8E5M2;
}

/// f32, bf16 or f16: what quantize reads and dequantize writes.
bool isDequantized(proto::DType type) {
  return type == proto::F32 || type == proto::BF16 || type == proto::F16;
}

std::string shapeString(const std::vector<int64_t> &shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ","), "]");
}

/// The value of every code of a float8 type, or of an i8/i4 byte (stored as
/// int8): indexed by the stored byte.
std::array<float, 256> decodeTable(proto::DType type) {
  std::array<float, 256> table;
  for (int i = 0; i < 256; ++i) {
    auto byte = static_cast<uint8_t>(i);
    if (type == proto::F8E4M3FN)
      table[i] = f8E4M3FNToFloat(byte);
    else if (type == proto::F8E5M2)
      table[i] = f8E5M2ToFloat(byte);
    else
      table[i] = static_cast<float>(static_cast<int8_t>(byte));
  }
  return table;
}

/// Rounds an f32 once into element i of f32, bf16 or f16 storage.
void storeRounded(proto::DType type, void *data, int64_t i, float value) {
  if (type == proto::F32)
    static_cast<float *>(data)[i] = value;
  else if (type == proto::BF16)
    static_cast<uint16_t *>(data)[i] = floatToBf16(value);
  else
    static_cast<uint16_t *>(data)[i] = floatToF16(value);
}

/// A tensor split into blocks with one f32 scale each, walked as rows (every
/// dimension but the last) of `cols` elements. A scalar is one row of one.
struct BlockGrid {
  std::vector<int64_t> shape, block, scaleShape;
  int64_t rows = 1, cols = 1;
  /// Number of blocks along the last dimension (scales per scale row).
  int64_t colBlocks = 1;
  int64_t lastBlock = 1;

  /// Flat index of the first scale of the scale row that holds `row`.
  int64_t scaleRowOffset(int64_t row) const {
    int64_t off = 0, stride = colBlocks;
    for (int64_t d = static_cast<int64_t>(shape.size()) - 2; d >= 0; --d) {
      int64_t i = row % shape[d];
      row /= shape[d];
      off += i / block[d] * stride;
      stride *= scaleShape[d];
    }
    return off;
  }
};

/// ceil(d / b) without overflow, for d >= 0 and b >= 1.
int64_t ceilDiv(int64_t d, int64_t b) { return d == 0 ? 0 : (d - 1) / b + 1; }

/// The scale shape of `shape` in blocks of `block`: ceil(d_i / block_i).
std::vector<int64_t> blockScaleShape(const std::vector<int64_t> &shape,
                                     const std::vector<int64_t> &block) {
  std::vector<int64_t> s(shape.size());
  for (size_t i = 0; i < shape.size(); ++i)
    s[i] = ceilDiv(shape[i], block[i]);
  return s;
}

/// Checks that `block` (the attribute `name`) has one size >= 1 per dimension
/// of `what` and builds its grid.
absl::StatusOr<BlockGrid> makeGrid(const KernelContext &ctx,
                                   absl::string_view name,
                                   std::vector<int64_t> block,
                                   const HostTensor &what,
                                   absl::string_view role) {
  if (block.size() != what.shape().size() ||
      std::any_of(block.begin(), block.end(), [](int64_t b) { return b < 1; }))
    return ctx.error(absl::StrCat(name, " ", shapeString(block),
                                  " must have one size >= 1 per dimension of ",
                                  role, " ", what.typeString()));
  BlockGrid g;
  g.shape = what.shape();
  g.block = std::move(block);
  g.scaleShape = blockScaleShape(g.shape, g.block);
  if (!g.shape.empty()) {
    g.cols = g.shape.back();
    g.lastBlock = g.block.back();
    g.colBlocks = g.scaleShape.back();
    g.rows = g.cols == 0 ? 0 : what.numElements() / g.cols;
  }
  return g;
}

/// Checks a quantized operand's scale: f32 of the grid's scale shape.
absl::Status checkScale(const KernelContext &ctx, absl::string_view role,
                        const HostTensor &q, const HostTensor &scale,
                        const BlockGrid &grid, absl::string_view blockName) {
  if (scale.dtype() != proto::F32 || scale.shape() != grid.scaleShape)
    return ctx.error(absl::StrCat(
        role, "'s scale must be f32", shapeString(grid.scaleShape), " (", role,
        " ", q.typeString(), " in blocks of ", shapeString(grid.block),
        " from ", blockName, "), got ", scale.typeString()));
  return absl::OkStatus();
}

/// max(a, |x|) that keeps a NaN from either side.
inline float amaxStep(float a, float x) {
  float m = std::fabs(x);
  return std::isnan(a) || a >= m ? a : m;
}

absl::Status quantizeKernel(const KernelContext &ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(1));
  KILN_RETURN_IF_ERROR(ctx.expectOutputs(2));
  const HostTensor &x = ctx.input(0);
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> block, ctx.attrInts("block"));
  KILN_ASSIGN_OR_RETURN(proto::DType dtype, ctx.attrType("dtype"));
  if (!isDequantized(x.dtype()))
    return ctx.error(
        absl::StrCat("x must be f32, bf16 or f16, got ", x.typeString()));
  std::optional<float> qmaxOr = quantizedMax(dtype);
  if (!qmaxOr)
    return ctx.error(absl::StrCat("dtype must be f8E4M3FN, f8E5M2, i8 or i4, ",
                                  "got ", dtypeName(dtype)));
  const float qmax = *qmaxOr;
  KILN_ASSIGN_OR_RETURN(BlockGrid g,
                        makeGrid(ctx, "block", std::move(block), x, "x"));
  KILN_RETURN_IF_ERROR(ctx.expectOutput(0, x.shape(), dtype));
  KILN_RETURN_IF_ERROR(ctx.expectOutput(1, g.scaleShape, proto::F32));
  if (x.numElements() == 0)
    return absl::OkStatus();
  ReadView<float> xv(x); // bf16 and f16 widen exactly
  float *scale = ctx.output(1).data<float>();
  const int64_t numScales = ctx.output(1).numElements();

  // amax of each (row, column block), rows in parallel; then each scale's
  // amax over the rows of its block. A max does not depend on order.
  std::vector<float> partial(g.rows * g.colBlocks);
  ctx.parallelFor(g.rows, 2.0 * g.cols, [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) {
      const float *row = xv.data() + r * g.cols;
      for (int64_t cb = 0; cb < g.colBlocks; ++cb) {
        int64_t c0 = cb * g.lastBlock;
        int64_t c1 = g.cols - c0 <= g.lastBlock ? g.cols : c0 + g.lastBlock;
        float a = 0.0f;
        for (int64_t c = c0; c < c1; ++c)
          a = amaxStep(a, row[c]);
        partial[r * g.colBlocks + cb] = a;
      }
    }
  });
  std::fill(scale, scale + numScales, 0.0f);
  for (int64_t r = 0; r < g.rows; ++r) {
    float *s = scale + g.scaleRowOffset(r);
    const float *p = partial.data() + r * g.colBlocks;
    for (int64_t cb = 0; cb < g.colBlocks; ++cb)
      s[cb] = amaxStep(s[cb], p[cb]);
  }
  for (int64_t i = 0; i < numScales; ++i) {
    float s = scale[i] / qmax; // f32 division
    if (std::isnan(s))
      s = std::numeric_limits<float>::quiet_NaN();
    else if (s == 0.0f)
      s = 1.0f;
    scale[i] = s;
  }

  // q = convert(x / scale), the division in f32, rows in parallel.
  void *q = ctx.output(0).data();
  const bool f8 = isFloat8(dtype);
  ctx.parallelFor(g.rows, 8.0 * g.cols, [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) {
      const float *s = scale + g.scaleRowOffset(r);
      const float *row = xv.data() + r * g.cols;
      for (int64_t c = 0; c < g.cols; ++c) {
        int64_t i = r * g.cols + c;
        float v = row[c] / s[c / g.lastBlock];
        if (f8) {
          static_cast<uint8_t *>(q)[i] =
              dtype == proto::F8E4M3FN ? floatToF8E4M3FN(v) : floatToF8E5M2(v);
        } else {
          // Round half to even (the default rounding mode), clamp, NaN -> 0.
          float n =
              std::isnan(v) ? 0.0f : std::clamp(std::nearbyint(v), -qmax, qmax);
          static_cast<int8_t *>(q)[i] = static_cast<int8_t>(n);
        }
      }
    }
  });
  return absl::OkStatus();
}

absl::Status dequantizeKernel(const KernelContext &ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(2));
  KILN_RETURN_IF_ERROR(ctx.expectOutputs(1));
  const HostTensor &q = ctx.input(0), &scale = ctx.input(1);
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> block, ctx.attrInts("block"));
  KILN_ASSIGN_OR_RETURN(proto::DType dtype, ctx.attrType("dtype"));
  if (!quantizedMax(q.dtype()))
    return ctx.error(absl::StrCat("q must be f8E4M3FN, f8E5M2, i8 or i4, got ",
                                  q.typeString()));
  if (!isDequantized(dtype))
    return ctx.error(
        absl::StrCat("dtype must be f32, bf16 or f16, got ", dtypeName(dtype)));
  KILN_ASSIGN_OR_RETURN(BlockGrid g,
                        makeGrid(ctx, "block", std::move(block), q, "q"));
  KILN_RETURN_IF_ERROR(checkScale(ctx, "q", q, scale, g, "block"));
  KILN_RETURN_IF_ERROR(ctx.expectOutput(0, q.shape(), dtype));
  const std::array<float, 256> table = decodeTable(q.dtype());
  const uint8_t *qb = q.data<uint8_t>();
  const float *s = scale.data<float>();
  void *y = ctx.output(0).data();
  ctx.parallelFor(g.rows, 4.0 * g.cols, [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) {
      const float *rowScale = s + g.scaleRowOffset(r);
      for (int64_t c = 0; c < g.cols; ++c) {
        int64_t i = r * g.cols + c;
        storeRounded(dtype, y, i, table[qb[i]] * rowScale[c / g.lastBlock]);
      }
    }
  });
  return absl::OkStatus();
}

/// Output columns one task computes together: independent accumulators, so
/// the loop over them vectorises without reordering any element's sum.
constexpr int64_t kTile = 16;

absl::Status scaledMatmulKernel(const KernelContext &ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(4));
  KILN_RETURN_IF_ERROR(ctx.expectOutputs(1));
  const HostTensor &a = ctx.input(0), &aScale = ctx.input(1);
  const HostTensor &b = ctx.input(2), &bScale = ctx.input(3);
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> aBlockAttr,
                        ctx.attrInts("a_block"));
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> bBlockAttr,
                        ctx.attrInts("b_block"));
  KILN_ASSIGN_OR_RETURN(bool ta, ctx.attrBoolOr("transpose_a", false));
  KILN_ASSIGN_OR_RETURN(bool tb, ctx.attrBoolOr("transpose_b", false));
  KILN_ASSIGN_OR_RETURN(proto::DType dtype, ctx.attrType("dtype"));
  if (!isDequantized(dtype))
    return ctx.error(
        absl::StrCat("dtype must be f32, bf16 or f16, got ", dtypeName(dtype)));
  if (a.rank() != 2 || b.rank() != 2 || !isFloat8(a.dtype()) ||
      !isFloat8(b.dtype()))
    return ctx.error(
        absl::StrCat("a and b must be f8E4M3FN or f8E5M2 matrices, got ",
                     a.typeString(), " and ", b.typeString()));
  KILN_ASSIGN_OR_RETURN(
      BlockGrid ag, makeGrid(ctx, "a_block", std::move(aBlockAttr), a, "a"));
  KILN_ASSIGN_OR_RETURN(
      BlockGrid bg, makeGrid(ctx, "b_block", std::move(bBlockAttr), b, "b"));
  KILN_RETURN_IF_ERROR(checkScale(ctx, "a", a, aScale, ag, "a_block"));
  KILN_RETURN_IF_ERROR(checkScale(ctx, "b", b, bScale, bg, "b_block"));
  // Stored: a [M, K] or [K, M]; b [K, N] or [N, K].
  const int aK = ta ? 0 : 1, bK = tb ? 1 : 0;
  const int64_t m = a.dim(1 - aK), k = a.dim(aK), n = b.dim(1 - bK);
  if (b.dim(bK) != k)
    return ctx.error(absl::StrCat(
        "contraction sizes differ: a ", a.typeString(),
        ta ? " (transposed)" : "", " has K = ", k, ", b ", b.typeString(),
        tb ? " (transposed)" : "", " has K = ", b.dim(bK)));
  // The promotion interval: both K block sizes, capped at K, must agree.
  const int64_t bk = std::min(ag.block[aK], k);
  if (std::min(bg.block[bK], k) != bk)
    return ctx.error(
        absl::StrCat("a_block ", shapeString(ag.block), " and b_block ",
                     shapeString(bg.block),
                     " must share their K size (the promotion interval), got ",
                     bk, " and ", std::min(bg.block[bK], k)));
  KILN_RETURN_IF_ERROR(ctx.expectOutput(0, {m, n}, dtype));
  if (m == 0 || n == 0)
    return absl::OkStatus();

  // a as f32 [M, K] and b as f32 [K, N]: float8 values widen exactly.
  std::vector<float> af(m * k), bf(k * n);
  {
    const std::array<float, 256> at = decodeTable(a.dtype());
    const std::array<float, 256> bt = decodeTable(b.dtype());
    const uint8_t *ab = a.data<uint8_t>(), *bb = b.data<uint8_t>();
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < k; ++j)
        af[i * k + j] = at[ab[ta ? j * m + i : i * k + j]];
    for (int64_t i = 0; i < k; ++i)
      for (int64_t j = 0; j < n; ++j)
        bf[i * n + j] = bt[bb[tb ? j * k + i : i * n + j]];
  }
  const float *as = aScale.data<float>(), *bs = bScale.data<float>();
  const int64_t aCols = ag.scaleShape[1], bCols = bg.scaleShape[1];
  const int64_t a0 = ag.block[0], a1 = ag.block[1];
  const int64_t b0 = bg.block[0], b1 = bg.block[1];
  // The scales of a's block holding (row i, column k0) and b's holding
  // (k0, column j), indexed through the stored layouts.
  auto aScaleAt = [&](int64_t i, int64_t k0) {
    return ta ? as[k0 / a0 * aCols + i / a1] : as[i / a0 * aCols + k0 / a1];
  };
  auto bScaleAt = [&](int64_t k0, int64_t j) {
    return tb ? bs[j / b0 * bCols + k0 / b1] : bs[k0 / b0 * bCols + j / b1];
  };
  const int64_t kBlocks = ceilDiv(k, std::max<int64_t>(bk, 1));
  const int64_t tiles = ceilDiv(n, kTile);
  void *out = ctx.output(0).data();
  ctx.parallelFor(
      m * tiles, 2.0 * kTile * (k + 4 * kBlocks), [&](int64_t lo, int64_t hi) {
        std::array<float, kTile> acc, p;
        for (int64_t item = lo; item < hi; ++item) {
          const int64_t i = item / tiles, j0 = item % tiles * kTile;
          const int64_t w = std::min(kTile, n - j0);
          const float *arow = af.data() + i * k;
          acc.fill(0.0f);
          for (int64_t kb = 0; kb < kBlocks; ++kb) {
            const int64_t k0 = kb * bk, k1 = std::min(k0 + bk, k);
            p.fill(0.0f);
            for (int64_t kk = k0; kk < k1; ++kk) {
              const float av = arow[kk];
              const float *brow = bf.data() + kk * n + j0;
              for (int64_t j = 0; j < w; ++j)
                p[j] += av * brow[j]; // exact product, one rounding per add
            }
            const float sa = aScaleAt(i, k0);
            for (int64_t j = 0; j < w; ++j) {
              const float s = sa * bScaleAt(k0, j0 + j);
              const float term = p[j] * s;
              acc[j] = acc[j] + term;
            }
          }
          for (int64_t j = 0; j < w; ++j)
            storeRounded(dtype, out, i * n + j0 + j, acc[j]);
        }
      });
  return absl::OkStatus();
}

} // namespace

void registerQuantKernels(KernelRegistry &r) {
  r["quantize"] = quantizeKernel;
  r["dequantize"] = dequantizeKernel;
  r["scaled_matmul"] = scaledMatmulKernel;
}

} // namespace kiln
