//===- CategoricalKernel.cpp - Gumbel-max sampling, a warp per row --------===//
//
// Each lane scores every 32nd logit (logit + Gumbel noise from the element's
// Philox counter, in f64 as the CPU executor computes it) and keeps its best;
// a shuffle butterfly then picks the row's best, ties to the lowest index, so
// the sample is the one the sequential argmax of the CPU executor draws.
//
//===----------------------------------------------------------------------===//

#include "codegen/ptx/DirectKernel.h"
#include "codegen/ptx/Scalars.h"

#include <cmath>

#include "ir/KilnOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"

using namespace mlir;
namespace kir = kiln::ir;

namespace kiln::codegen::ptx {

absl::Status buildCategoricalKernels(Operation *op, DirectKernels &k) {
  auto sample = llvm::cast<kir::RandomCategoricalOp>(op);
  auto logitsType = llvm::cast<RankedTensorType>(sample.getLogits().getType());
  int64_t vocab = logitsType.getShape().back();
  int64_t rows = logitsType.getNumElements() / vocab;
  constexpr int64_t kWarps = 8;
  OpBuilder b = k.addKernel("gumbel_max", (rows + kWarps - 1) / kWarps, kWarps * 32);
  Location l = k.loc();
  Type f64 = b.getF64Type(), i32 = b.getI32Type(), i64 = b.getI64Type();

  Value tid = threadIndex(b, l);
  Value lane = b.create<arith::RemUIOp>(l, tid, indexConst(b, l, 32));
  Value row = b.create<arith::AddIOp>(
      l, b.create<arith::MulIOp>(l, blockIndex(b, l), indexConst(b, l, kWarps)),
      b.create<arith::DivUIOp>(l, tid, indexConst(b, l, 32)));
  // Whole warps leave together, so the shuffles below see all 32 lanes.
  ifThen(b, l, b.create<arith::CmpIOp>(l, arith::CmpIPredicate::ult, row, indexConst(b, l, rows)),
         [&](OpBuilder &nb, Location nl) {
           Value key = nb.create<memref::LoadOp>(nl, k.operand(nb, 0), indexConst(nb, nl, 0));
           key = convert(nb, nl, key, i64);
           Value rowBase = nb.create<arith::MulIOp>(nl, row, indexConst(nb, nl, vocab));
           SmallVector<Value> inits{floatConst(nb, nl, f64, -INFINITY),
                                    nb.create<arith::ConstantOp>(nl, nb.getI32IntegerAttr(0))};
           ValueRange best = forLoop(
               nb, nl, lane, indexConst(nb, nl, vocab), indexConst(nb, nl, 32), inits,
               [&](OpBuilder &ib, Location il, Value v, ValueRange acc) {
                 Value flat = ib.create<arith::AddIOp>(il, rowBase, v);
                 Value u = unitFromWord(
                     ib, il, philox(ib, il, ib.create<arith::IndexCastOp>(il, i64, flat), key)[0],
                     false);
                 u = ib.create<arith::MaximumFOp>(
                     il, ib.create<arith::MinimumFOp>(il, u, floatConst(ib, il, f64, 1.0 - 0x1p-24)),
                     floatConst(ib, il, f64, 0x1p-24));
                 Value gumbel = ib.create<arith::NegFOp>(
                     il, ib.create<math::LogOp>(
                             il, ib.create<arith::NegFOp>(il, ib.create<math::LogOp>(il, u))));
                 Value logit =
                     convert(ib, il, ib.create<memref::LoadOp>(il, k.operand(ib, 1), flat), f64);
                 Value score = ib.create<arith::AddFOp>(il, logit, gumbel);
                 Value better =
                     ib.create<arith::CmpFOp>(il, arith::CmpFPredicate::OGT, score, acc[0]);
                 return SmallVector<Value>{
                     ib.create<arith::SelectOp>(il, better, score, acc[0]),
                     ib.create<arith::SelectOp>(il, better,
                                                ib.create<arith::IndexCastOp>(il, i32, v), acc[1])};
               });
           Value score = best[0], index = best[1];
           for (int32_t offset = 16; offset >= 1; offset /= 2) {
             Value otherScore = shuffle(nb, nl, score, offset, gpu::ShuffleMode::XOR);
             Value otherIndex = shuffle(nb, nl, index, offset, gpu::ShuffleMode::XOR);
             Value greater =
                 nb.create<arith::CmpFOp>(nl, arith::CmpFPredicate::OGT, otherScore, score);
             Value tie = nb.create<arith::AndIOp>(
                 nl, nb.create<arith::CmpFOp>(nl, arith::CmpFPredicate::OEQ, otherScore, score),
                 nb.create<arith::CmpIOp>(nl, arith::CmpIPredicate::slt, otherIndex, index));
             Value take = nb.create<arith::OrIOp>(nl, greater, tie);
             score = nb.create<arith::SelectOp>(nl, take, otherScore, score);
             index = nb.create<arith::SelectOp>(nl, take, otherIndex, index);
           }
           Value out = k.result(nb, 0);
           Type element = llvm::cast<MemRefType>(out.getType()).getElementType();
           ifThen(nb, nl,
                  nb.create<arith::CmpIOp>(nl, arith::CmpIPredicate::eq, lane,
                                           indexConst(nb, nl, 0)),
                  [&](OpBuilder &wb, Location wl) {
                    wb.create<memref::StoreOp>(wl, convert(wb, wl, index, element), out, row);
                  });
         });
  return absl::OkStatus();
}

} // namespace kiln::codegen::ptx
