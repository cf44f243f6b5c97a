//===- ArgmaxKernel.cpp - kiln.argmax, a warp or block per row ------------===//
//
// Each thread walks a strided part of its row and keeps its best (key, rank):
// the key is the value (NaN as +inf), the rank its index, less n for a NaN,
// so that "higher key, then lower rank" (betterCandidate) orders NaN above
// every number, the first NaN first, and equal maxima by index: the
// sequential argmax of the CPU executor in any reduction order. Shuffle
// butterflies, and for a block per row shared memory between warps, pick the
// row's best. Long rows (a vocabulary) take a block each, short ones a warp.
// One launch reads the row once; the f32 row reductions it replaces took five.
//
//===----------------------------------------------------------------------===//

#include "codegen/ptx/DirectKernel.h"
#include "codegen/ptx/Scalars.h"

#include <cmath>

#include "ir/KilnOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"

using namespace mlir;
namespace kir = kiln::ir;

namespace kiln::codegen::ptx {

bool isDirectArgmax(Operation *op) {
  auto argmax = llvm::dyn_cast<kir::ArgmaxOp>(op);
  if (!argmax)
    return false;
  auto type = llvm::dyn_cast<RankedTensorType>(argmax.getX().getType());
  if (!type || !type.hasStaticShape() || type.getRank() < 1 ||
      type.getNumElements() == 0)
    return false;
  Type e = type.getElementType();
  int64_t n =
      type.getDimSize(ir::normalizeAxis(argmax.getAxis(), type.getRank()));
  // Ranks down to -n stay in i32.
  return (e.isF32() || e.isBF16() || e.isF16()) && n < (int64_t{1} << 30);
}

absl::Status buildArgmaxKernels(Operation *op, DirectKernels &k) {
  auto argmax = llvm::cast<kir::ArgmaxOp>(op);
  auto type = llvm::cast<RankedTensorType>(argmax.getX().getType());
  AxisRows r = axisRows(type.getShape(),
                        ir::normalizeAxis(argmax.getAxis(), type.getRank()));
  bool blockPerRow = r.n >= 2048;
  constexpr int64_t kWarps = 8, kRowWarps = 16, kUnroll = 4;
  int64_t threads = blockPerRow ? kRowWarps * 32 : kWarps * 32;
  int64_t rows = r.rows();
  OpBuilder b = k.addKernel(
      "argmax", blockPerRow ? rows : (rows + kWarps - 1) / kWarps, threads);
  Location l = k.loc();
  Type f32 = b.getF32Type(), i32 = b.getI32Type();
  Value sharedKeys, sharedRanks;
  if (blockPerRow) {
    sharedKeys = k.addSharedBuffer({kRowWarps}, f32);
    sharedRanks = k.addSharedBuffer({kRowWarps}, i32);
  }
  auto c = [&](OpBuilder &nb, int64_t v) { return indexConst(nb, l, v); };
  auto i32c = [&](OpBuilder &nb, int64_t v) -> Value {
    return nb.create<arith::ConstantOp>(
        l, nb.getI32IntegerAttr(static_cast<int32_t>(v)));
  };

  Value tid = threadIndex(b, l);
  Value lane = b.create<arith::RemUIOp>(l, tid, c(b, 32));
  Value warp = b.create<arith::DivUIOp>(l, tid, c(b, 32));
  Value row =
      blockPerRow
          ? blockIndex(b, l)
          : b.create<arith::AddIOp>(
                 l, b.create<arith::MulIOp>(l, blockIndex(b, l), c(b, kWarps)),
                 warp)
                .getResult();
  Value first = blockPerRow ? tid : lane;
  int64_t stride = blockPerRow ? threads : 32;

  auto bestOfRow = [&](OpBuilder &nb) -> std::pair<Value, Value> {
    Value base = rowBase(nb, l, row, r);
    SmallVector<Value> inits{floatConst(nb, l, f32, -INFINITY), i32c(nb, r.n)};
    SmallVector<Value> best = forLoopUnrolled(
        nb, l, first, c(nb, r.n), stride, kUnroll, inits,
        [&](OpBuilder &ib, Location il, Value v) -> SmallVector<Value> {
          Value flat = ib.create<arith::AddIOp>(
              il, base, ib.create<arith::MulIOp>(il, v, c(ib, r.inner)));
          return {convert(
              ib, il, ib.create<memref::LoadOp>(il, k.operand(0), flat), f32)};
        },
        [&](OpBuilder &ib, Location il, Value v, Value valid,
            ArrayRef<Value> read, ValueRange acc) -> SmallVector<Value> {
          Value x = read[0];
          Value nan =
              ib.create<arith::CmpFOp>(il, arith::CmpFPredicate::UNO, x, x);
          Value key = ib.create<arith::SelectOp>(
              il, nan, floatConst(ib, il, f32, INFINITY), x);
          Value index = ib.create<arith::IndexCastOp>(il, i32, v);
          Value rank = ib.create<arith::SelectOp>(
              il, nan, ib.create<arith::SubIOp>(il, index, i32c(ib, r.n)),
              index);
          auto [bestKey, bestRank] =
              betterCandidate(ib, il, acc[0], acc[1], key, rank);
          return {ib.create<arith::SelectOp>(il, valid, bestKey, acc[0]),
                  ib.create<arith::SelectOp>(il, valid, bestRank, acc[1])};
        });
    return warpBestCandidate(nb, l, best[0], best[1]);
  };
  auto write = [&](OpBuilder &nb, Value rank) {
    ifThen(nb, l,
           nb.create<arith::CmpIOp>(l, arith::CmpIPredicate::eq,
                                    blockPerRow ? tid : lane, c(nb, 0)),
           [&](OpBuilder &wb, Location wl) {
             Value negative = wb.create<arith::CmpIOp>(
                 wl, arith::CmpIPredicate::slt, rank, i32c(wb, 0));
             Value index = wb.create<arith::SelectOp>(
                 wl, negative,
                 wb.create<arith::AddIOp>(wl, rank, i32c(wb, r.n)), rank);
             wb.create<memref::StoreOp>(
                 wl, wb.create<arith::ExtSIOp>(wl, wb.getI64Type(), index),
                 k.result(0), row);
           });
  };
  if (!blockPerRow) {
    // Whole warps leave together, so the shuffles see all 32 lanes.
    ifThen(
        b, l,
        b.create<arith::CmpIOp>(l, arith::CmpIPredicate::ult, row, c(b, rows)),
        [&](OpBuilder &nb, Location) { write(nb, bestOfRow(nb).second); });
    return absl::OkStatus();
  }
  auto [key, rank] = bestOfRow(b);
  ifThen(b, l,
         b.create<arith::CmpIOp>(l, arith::CmpIPredicate::eq, lane, c(b, 0)),
         [&](OpBuilder &nb, Location nl) {
           nb.create<memref::StoreOp>(nl, key, sharedKeys, warp);
           nb.create<memref::StoreOp>(nl, rank, sharedRanks, warp);
         });
  b.create<gpu::BarrierOp>(l);
  ifThen(b, l,
         b.create<arith::CmpIOp>(l, arith::CmpIPredicate::eq, warp, c(b, 0)),
         [&](OpBuilder &nb, Location nl) {
           Value has = nb.create<arith::CmpIOp>(nl, arith::CmpIPredicate::ult,
                                                lane, c(nb, kRowWarps));
           Value at = nb.create<arith::MinUIOp>(nl, lane, c(nb, kRowWarps - 1));
           Value key = nb.create<arith::SelectOp>(
               nl, has, nb.create<memref::LoadOp>(nl, sharedKeys, at),
               floatConst(nb, nl, f32, -INFINITY));
           Value rank = nb.create<arith::SelectOp>(
               nl, has, nb.create<memref::LoadOp>(nl, sharedRanks, at),
               i32c(nb, r.n));
           write(nb, warpBestCandidate(nb, nl, key, rank).second);
         });
  return absl::OkStatus();
}

} // namespace kiln::codegen::ptx
