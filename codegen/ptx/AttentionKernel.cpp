//===- AttentionKernel.cpp - fused scaled dot-product attention ------------===//
//
// One warp per query row (batch, query head, position), its scores kept in
// shared memory: lanes take every 32nd visible key and compute its score,
// the warp reduces the max, lanes turn scores into probabilities (exp of the
// shifted score over the row's sum, as the decomposition computes them), then
// lanes take every 32nd output column and sum probability x value over the
// keys, up to kColumnsAtOnce columns a pass. Nothing of size queries x keys touches global memory, and the G
// query heads of a kv head read it in place (GQA). Visibility is a prefix:
// key j is visible when j < valid_len[b] and, if causal, j <= i + q_offset[b],
// so each row scans min(those bounds) keys; a row that sees none writes 0.
// All math in f32 (f64 for f64), rounded once to the result type.
//
//===----------------------------------------------------------------------===//

#include "codegen/ptx/DirectKernel.h"
#include "codegen/ptx/Scalars.h"
#include "passes/DecodeAttention.h"

#include <cmath>

#include "ir/KilnOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"

using namespace mlir;
namespace kir = kiln::ir;

namespace kiln::codegen::ptx {
namespace {

constexpr int64_t kWarps = 4;
/// Terms of a dot product (q.k over dk, p.v over the keys) whose loads are
/// issued before the first is summed (forLoopUnrolled).
constexpr int64_t kUnroll = 8;
/// Output columns a lane sums over the keys in one pass, and the keys whose
/// loads that pass issues together.
constexpr int64_t kColumnsAtOnce = 8, kColumnsUnroll = 4;
/// Keys whose scores a lane computes side by side.
constexpr int64_t kKeysAtOnce = 4;

/// n sums over k in [lo, hi) of x(k) * y_i(k), each in ascending k: `read`
/// returns {x, y_0, ..., y_{n-1}} for one k (k clamped into the range by
/// forLoopUnrolled, whose `unroll` keys' loads are in flight together); the
/// products of k past the range are left out.
SmallVector<Value> sumsOfProducts(
    OpBuilder &b, Location l, Value lo, Value hi, int64_t unroll, int64_t n,
    Type compute,
    const std::function<SmallVector<Value>(OpBuilder &, Location, Value)>
        &read) {
  SmallVector<Value> zeros(n, floatConst(b, l, compute, 0.0));
  return forLoopUnrolled(
      b, l, lo, hi, 1, unroll, zeros, read,
      [&](OpBuilder &ib, Location il, Value, Value valid, ArrayRef<Value> xy,
          ValueRange sums) -> SmallVector<Value> {
        SmallVector<Value> next;
        for (int64_t i = 0; i < n; ++i)
          next.push_back(ib.create<arith::SelectOp>(
              il, valid,
              ib.create<arith::AddFOp>(
                  il, sums[i], ib.create<arith::MulFOp>(il, xy[0], xy[1 + i])),
              sums[i]));
        return next;
      });
}

struct AttentionShape {
  int64_t batch, qHeads, qLen, kvHeads, kLen, dk, dv;
  Type compute;
};

AttentionShape shapeOf(kir::AttentionOp op) {
  auto q = llvm::cast<RankedTensorType>(op.getQ().getType());
  auto k = llvm::cast<RankedTensorType>(op.getK().getType());
  auto v = llvm::cast<RankedTensorType>(op.getV().getType());
  OpBuilder probe(op->getContext());
  return {q.getDimSize(0), q.getDimSize(1), q.getDimSize(2), k.getDimSize(1),
          k.getDimSize(2), q.getDimSize(3), v.getDimSize(3),
          computeType(probe, q.getElementType())};
}

int64_t sharedBytes(const AttentionShape &s) {
  return kWarps * s.kLen * (s.compute.getIntOrFloatBitWidth() / 8);
}

} // namespace

bool isDirectAttention(Operation *op) {
  auto attention = llvm::dyn_cast<kir::AttentionOp>(op);
  if (!attention)
    return false;
  AttentionShape s = shapeOf(attention);
  auto element = llvm::cast<RankedTensorType>(attention.getQ().getType()).getElementType();
  // Every score of a row lives in shared memory (at most 128 KiB a block);
  // a decode step's attention has a kernel of its own.
  return (isFloat(element) && !isF8(element) && s.kLen > 0 && s.qLen > 0 &&
          sharedBytes(s) <= 128 * 1024) ||
         passes::isDecodeAttention(attention);
}

absl::Status buildAttentionKernels(Operation *op, DirectKernels &k) {
  auto attention = llvm::cast<kir::AttentionOp>(op);
  AttentionShape s = shapeOf(attention);
  Type compute = s.compute;
  int64_t rows = s.batch * s.qHeads * s.qLen;
  int64_t group = s.qHeads / s.kvHeads;
  OpBuilder b = k.addKernel("attention", (rows + kWarps - 1) / kWarps, kWarps * 32,
                            sharedBytes(s));
  Location l = k.loc();
  Type i64 = b.getI64Type();
  auto c = [&](OpBuilder &nb, int64_t v) { return indexConst(nb, l, v); };
  auto workgroup = gpu::AddressSpaceAttr::get(b.getContext(), gpu::AddressSpace::Workgroup);
  Value dynamic = b.create<gpu::DynamicSharedMemoryOp>(
      l, MemRefType::get({ShapedType::kDynamic}, b.getI8Type(), MemRefLayoutAttrInterface(),
                         workgroup));
  Value scores = b.create<memref::ViewOp>(
      l, MemRefType::get({kWarps * s.kLen}, compute, MemRefLayoutAttrInterface(), workgroup),
      dynamic, c(b, 0), ValueRange{});

  Value tid = threadIndex(b, l);
  Value lane = b.create<arith::RemUIOp>(l, tid, c(b, 32));
  Value warp = b.create<arith::DivUIOp>(l, tid, c(b, 32));
  Value rawRow = b.create<arith::AddIOp>(
      l, b.create<arith::MulIOp>(l, blockIndex(b, l), c(b, kWarps)), warp);
  // Warps past the last row compute the last row again (and write nothing), so
  // every warp reaches every barrier.
  Value row = b.create<arith::MinUIOp>(l, rawRow, c(b, rows - 1));
  Value live = b.create<arith::CmpIOp>(l, arith::CmpIPredicate::ult, rawRow, c(b, rows));
  Value i = b.create<arith::RemUIOp>(l, row, c(b, s.qLen));
  Value head = b.create<arith::RemUIOp>(l, b.create<arith::DivUIOp>(l, row, c(b, s.qLen)),
                                        c(b, s.qHeads));
  Value batch = b.create<arith::DivUIOp>(l, row, c(b, s.qHeads * s.qLen));
  Value kvHead = b.create<arith::DivUIOp>(l, head, c(b, group));
  Value qBase = b.create<arith::MulIOp>(l, row, c(b, s.dk));
  Value kvRow = b.create<arith::AddIOp>(l, b.create<arith::MulIOp>(l, batch, c(b, s.kvHeads)),
                                        kvHead);
  Value kBase = b.create<arith::MulIOp>(l, kvRow, c(b, s.kLen * s.dk));
  Value vBase = b.create<arith::MulIOp>(l, kvRow, c(b, s.kLen * s.dv));
  Value scoreBase = b.create<arith::MulIOp>(l, warp, c(b, s.kLen));

  // The visible prefix of the keys.
  Value limit = b.create<arith::ConstantOp>(l, b.getI64IntegerAttr(s.kLen));
  auto operandAt = [&](Value operand, Value at) {
    return convert(b, l, b.create<memref::LoadOp>(l, operand, ValueRange{at}), i64);
  };
  unsigned next = 3;
  if (attention.getValidLen())
    limit = b.create<arith::MinSIOp>(l, limit, operandAt(k.operand(next++), batch));
  if (attention.getCausal()) {
    Value offset = b.create<arith::ConstantOp>(l, b.getI64IntegerAttr(0));
    if (attention.getQOffset())
      offset = operandAt(k.operand(next++), batch);
    Value last = b.create<arith::AddIOp>(
        l, b.create<arith::AddIOp>(l, b.create<arith::IndexCastOp>(l, i64, i), offset),
        b.create<arith::ConstantOp>(l, b.getI64IntegerAttr(1)));
    limit = b.create<arith::MinSIOp>(l, limit, last);
  }
  limit = b.create<arith::MaxSIOp>(l, limit, b.create<arith::ConstantOp>(
                                                 l, b.getI64IntegerAttr(0)));
  Value keys = b.create<arith::IndexCastOp>(l, b.getIndexType(), limit);

  Value q = k.operand(0), kMem = k.operand(1), v = k.operand(2);
  auto load = [&](OpBuilder &nb, Location nl, Value mem, Value at) {
    return convert(nb, nl, nb.create<memref::LoadOp>(nl, mem, ValueRange{at}), compute);
  };
  auto warpReduce = [&](Value x, bool max) {
    return warpAllReduce(b, l, x, max);
  };
  Value scale = floatConst(b, l, compute, attention.getScaleAttr().getValueAsDouble());
  Value lanes = c(b, 32);

  // Scores of this lane's keys, and their max: kKeysAtOnce keys (j, j + 32,
  // ...) at a time, their dot products summed side by side (each over d in
  // ascending order) so their loads interleave.
  Value localMax = forLoop(
      b, l, lane, keys, c(b, 32 * kKeysAtOnce),
      {floatConst(b, l, compute, -INFINITY)},
      [&](OpBuilder &nb, Location nl, Value j0, ValueRange acc) {
        // j0 < keys here, so keys - 1 is a key.
        Value lastKey = nb.create<arith::SubIOp>(nl, keys, c(nb, 1));
        SmallVector<Value> js, valid, kRows;
        for (int64_t i = 0; i < kKeysAtOnce; ++i) {
          Value j = nb.create<arith::AddIOp>(nl, j0, c(nb, 32 * i));
          js.push_back(j);
          valid.push_back(
              nb.create<arith::CmpIOp>(nl, arith::CmpIPredicate::ult, j, keys));
          kRows.push_back(nb.create<arith::AddIOp>(
              nl, kBase,
              nb.create<arith::MulIOp>(
                  nl, nb.create<arith::MinUIOp>(nl, j, lastKey), c(nb, s.dk))));
        }
        SmallVector<Value> dots = sumsOfProducts(
            nb, nl, c(nb, 0), c(nb, s.dk), kUnroll, kKeysAtOnce, compute,
            [&](OpBuilder &ib, Location il, Value d) -> SmallVector<Value> {
              SmallVector<Value> xy{
                  load(ib, il, q, ib.create<arith::AddIOp>(il, qBase, d))};
              for (Value kRow : kRows)
                xy.push_back(
                    load(ib, il, kMem, ib.create<arith::AddIOp>(il, kRow, d)));
              return xy;
            });
        Value max = acc[0];
        for (int64_t i = 0; i < kKeysAtOnce; ++i) {
          Value score = nb.create<arith::MulFOp>(nl, dots[i], scale);
          ifThen(nb, nl, valid[i], [&](OpBuilder &wb, Location wl) {
            wb.create<memref::StoreOp>(
                wl, score, scores,
                Value(wb.create<arith::AddIOp>(wl, scoreBase, js[i])));
          });
          max = nb.create<arith::SelectOp>(
              nl, valid[i], nb.create<arith::MaximumFOp>(nl, max, score), max);
        }
        return SmallVector<Value>{max};
      })[0];
  Value rowMax = warpReduce(localMax, /*max=*/true);
  // A row that sees no key keeps max -inf: shift by 0 (its sum stays 0).
  Value noKey = b.create<arith::CmpFOp>(l, arith::CmpFPredicate::OEQ, rowMax,
                                        floatConst(b, l, compute, -INFINITY));
  Value shift = b.create<arith::SelectOp>(l, noKey, floatConst(b, l, compute, 0.0), rowMax);
  Value localSum = forLoop(b, l, lane, keys, lanes, {floatConst(b, l, compute, 0.0)},
                           [&](OpBuilder &nb, Location nl, Value j, ValueRange acc) {
                             Value at = nb.create<arith::AddIOp>(nl, scoreBase, j);
                             Value e = nb.create<math::ExpOp>(
                                 nl, nb.create<arith::SubFOp>(
                                         nl, nb.create<memref::LoadOp>(nl, scores, at), shift));
                             nb.create<memref::StoreOp>(nl, e, scores, at);
                             return SmallVector<Value>{nb.create<arith::AddFOp>(nl, acc[0], e)};
                           })[0];
  Value total = warpReduce(localSum, /*max=*/false);
  total = b.create<arith::SelectOp>(l, noKey, floatConst(b, l, compute, 1.0), total);
  forLoop(b, l, lane, keys, lanes, {}, [&](OpBuilder &nb, Location nl, Value j, ValueRange) {
    Value at = nb.create<arith::AddIOp>(nl, scoreBase, j);
    nb.create<memref::StoreOp>(
        nl, nb.create<arith::DivFOp>(nl, nb.create<memref::LoadOp>(nl, scores, at), total),
        scores, at);
    return SmallVector<Value>{};
  });
  // Every lane reads every key's probability next.
  b.create<gpu::BarrierOp>(l);

  Value out = k.result(0);
  Type outElement = llvm::cast<MemRefType>(out.getType()).getElementType();
  Value outBase = b.create<arith::MulIOp>(l, row, c(b, s.dv));
  // Lane j owns output columns j, j + 32, ...; kColumnsAtOnce of them take
  // one pass over the keys together (independent sums, each over the keys
  // in ascending order as before), instead of one pass per column.
  int64_t laneColumns = (s.dv + 31) / 32;
  for (int64_t first = 0; first < laneColumns; first += kColumnsAtOnce) {
    int64_t n = std::min(kColumnsAtOnce, laneColumns - first);
    SmallVector<Value> cols, inside, colsAt;
    for (int64_t i = 0; i < n; ++i) {
      Value col = b.create<arith::AddIOp>(l, lane, c(b, 32 * (first + i)));
      cols.push_back(col);
      inside.push_back(b.create<arith::AndIOp>(
          l, live,
          b.create<arith::CmpIOp>(l, arith::CmpIPredicate::ult, col,
                                  c(b, s.dv))));
      colsAt.push_back(b.create<arith::MinUIOp>(l, col, c(b, s.dv - 1)));
    }
    SmallVector<Value> sums = sumsOfProducts(
        b, l, c(b, 0), keys, kColumnsUnroll, n, compute,
        [&](OpBuilder &ib, Location il, Value j) -> SmallVector<Value> {
          SmallVector<Value> pv{ib.create<memref::LoadOp>(
              il, scores, Value(ib.create<arith::AddIOp>(il, scoreBase, j)))};
          Value rowAt = ib.create<arith::AddIOp>(
              il, vBase, ib.create<arith::MulIOp>(il, j, c(ib, s.dv)));
          for (Value at : colsAt)
            pv.push_back(
                load(ib, il, v, ib.create<arith::AddIOp>(il, rowAt, at)));
          return pv;
        });
    for (int64_t i = 0; i < n; ++i)
      ifThen(b, l, inside[i], [&](OpBuilder &wb, Location wl) {
        wb.create<memref::StoreOp>(
            wl, convert(wb, wl, sums[i], outElement), out,
            Value(wb.create<arith::AddIOp>(wl, outBase, cols[i])));
      });
  }
  return absl::OkStatus();
}

} // namespace kiln::codegen::ptx
