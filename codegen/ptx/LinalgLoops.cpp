//===- LinalgLoops.cpp - matmuls off the tensor cores ---------------------===//
//
// Loop-nest kernels of the matmuls no tensor-core or tiled kernel takes
// (integer matmuls, partial batch broadcasts) and of grouped matmuls.
//
//===----------------------------------------------------------------------===//

#include "codegen/ptx/LoopNestBuilder.h"

#include "absl/strings/str_cat.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

using namespace mlir;
namespace kir = kiln::ir;

namespace kiln::codegen::ptx::loopnest {

std::pair<Value, Value> LoopNestBuilder::groupRows(OpBuilder &nb, Location l,
                                                   Value e, int64_t rows) {
  // Offsets are clamped into [0, rows] and made non-decreasing (a running max),
  // exactly as the CPU executor reads them.
  int64_t groups = operandType(2).getDimSize(0);
  Value eI64 = toI64(nb, l, e);
  auto bounds = loops(
      nb, l, {groups}, {i64Const(nb, l, 0), i64Const(nb, l, 0)},
      [&](OpBuilder &ib, Location il, ValueRange ivs, ValueRange a) {
        Value g = toI64(ib, il, ivs[0]);
        Value off = loadAs(ib, il, 2, {ivs[0]}, ib.getI64Type());
        off = ib.create<arith::MinSIOp>(
            il, ib.create<arith::MaxSIOp>(il, off, i64Const(ib, il, 0)),
            i64Const(ib, il, rows));
        Value running = ib.create<arith::MaxSIOp>(il, a[1], off);
        Value beforeE =
            ib.create<arith::CmpIOp>(il, arith::CmpIPredicate::slt, g, eI64);
        Value upToE =
            ib.create<arith::CmpIOp>(il, arith::CmpIPredicate::sle, g, eI64);
        // a[0]: end of group e-1 (lo); a[1]: running max up to e (hi).
        return SmallVector<Value>{
            ib.create<arith::SelectOp>(il, beforeE, running, a[0]),
            ib.create<arith::SelectOp>(il, upToE, running, a[1])};
      });
  return {bounds[0], bounds[1]};
}

absl::Status LoopNestBuilder::buildGroupedRows(bool transposeW) {
  auto xType = operandType(0), wType = operandType(1), offType = operandType(2);
  int64_t t = xType.getDimSize(0), k = xType.getDimSize(1),
          e = offType.getDimSize(0);
  (void)wType;
  Type compute = computeType(b, xType.getElementType());
  indexed([&](OpBuilder &nb, Location l, ValueRange out) -> Value {
    Value row = toI64(nb, l, out[0]);
    // The row's group: the first e whose range holds it (E if none: zeros).
    auto found = loops(
        nb, l, {e}, {i64Const(nb, l, e)},
        [&](OpBuilder &ib, Location il, ValueRange ivs, ValueRange a) {
          auto [lo, hi] = groupRows(ib, il, ivs[0], t);
          Value in = ib.create<arith::AndIOp>(
              il,
              ib.create<arith::CmpIOp>(il, arith::CmpIPredicate::sge, row, lo),
              ib.create<arith::CmpIOp>(il, arith::CmpIPredicate::slt, row, hi));
          Value unset = ib.create<arith::CmpIOp>(il, arith::CmpIPredicate::eq,
                                                 a[0], i64Const(ib, il, e));
          Value take = ib.create<arith::AndIOp>(il, in, unset);
          return SmallVector<Value>{ib.create<arith::SelectOp>(
              il, take, toI64(ib, il, ivs[0]), a[0])};
        })[0];
    Value valid = nb.create<arith::CmpIOp>(l, arith::CmpIPredicate::slt, found,
                                           i64Const(nb, l, e));
    Value group = clampIndex(nb, l, found, e);
    Value acc = loops(
        nb, l, {k}, {zeroOf(nb, l, compute)},
        [&](OpBuilder &ib, Location il, ValueRange ivs, ValueRange a) {
          Value x = loadAs(ib, il, 0, {out[0], ivs[0]}, compute);
          SmallVector<Value> wIdx{group};
          if (transposeW) {
            wIdx.push_back(out[1]);
            wIdx.push_back(ivs[0]);
          } else {
            wIdx.push_back(ivs[0]);
            wIdx.push_back(out[1]);
          }
          Value w = loadAs(ib, il, 1, wIdx, compute);
          return SmallVector<Value>{addOf(ib, il, a[0], mulOf(ib, il, x, w))};
        })[0];
    return nb.create<arith::SelectOp>(l, valid, acc, zeroOf(nb, l, compute));
  });
  return absl::OkStatus();
}

absl::Status LoopNestBuilder::buildGroupedContract() {
  auto xType = operandType(0);
  int64_t t = xType.getDimSize(0);
  Type compute = computeType(b, xType.getElementType());
  indexed([&](OpBuilder &nb, Location l, ValueRange out) -> Value {
    auto [lo, hi] = groupRows(nb, l, out[0], t);
    Value first = nb.create<arith::IndexCastOp>(l, nb.getIndexType(), lo);
    Value last = nb.create<arith::IndexCastOp>(l, nb.getIndexType(), hi);
    // An empty group (lo >= hi) runs no iteration and gives 0.
    auto loop = nb.create<scf::ForOp>(
        l, first, nb.create<arith::MaxSIOp>(l, first, last),
        indexConst(nb, l, 1), ValueRange{zeroOf(nb, l, compute)},
        [&](OpBuilder &ib, Location il, Value row, ValueRange a) {
          Value x = loadAs(ib, il, 0, {row, out[1]}, compute);
          Value dy = loadAs(ib, il, 1, {row, out[2]}, compute);
          ib.create<scf::YieldOp>(il,
                                  addOf(ib, il, a[0], mulOf(ib, il, x, dy)));
        });
    return loop.getResult(0);
  });
  return absl::OkStatus();
}

absl::Status LoopNestBuilder::buildMatmul(bool transposeA, bool transposeB) {
  auto aType = operandType(0), bType = operandType(1);
  auto outTensor = resultType();
  Type compute = computeType(b, outTensor.getElementType());
  int64_t outRank = outTensor.getRank(), batch = outRank - 2;
  int64_t k = aType.getDimSize(aType.getRank() - (transposeA ? 2 : 1));
  auto operandIndex = [&](RankedTensorType t, ValueRange out, Value rows,
                          Value cols, bool transposed) {
    SmallVector<Value> idx;
    int64_t lead = batch - (t.getRank() - 2);
    OpBuilder &nb = b;
    (void)nb;
    for (int64_t i = 0; i < t.getRank() - 2; ++i)
      idx.push_back(t.getDimSize(i) == 1 && outTensor.getDimSize(i + lead) != 1
                        ? Value()
                        : out[i + lead]);
    idx.push_back(transposed ? cols : rows);
    idx.push_back(transposed ? rows : cols);
    return idx;
  };
  indexed([&](OpBuilder &nb, Location l, ValueRange out) -> Value {
    return loops(
        nb, l, {k}, {zeroOf(nb, l, compute)},
        [&](OpBuilder &ib, Location il, ValueRange ivs, ValueRange a) {
          auto fill = [&](SmallVector<Value> idx) {
            for (Value &v : idx)
              if (!v)
                v = indexConst(ib, il, 0);
            return idx;
          };
          Value x = loadAs(
              ib, il, 0,
              fill(operandIndex(aType, out, out[batch], ivs[0], transposeA)),
              compute);
          Value y = loadAs(ib, il, 1,
                           fill(operandIndex(bType, out, ivs[0], out[batch + 1],
                                             transposeB)),
                           compute);
          return SmallVector<Value>{addOf(ib, il, a[0], mulOf(ib, il, x, y))};
        })[0];
  });
  return absl::OkStatus();
}

} // namespace kiln::codegen::ptx::loopnest
