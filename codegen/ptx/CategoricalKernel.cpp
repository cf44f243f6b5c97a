//===- CategoricalKernel.cpp - Gumbel-max sampling, a warp or block per row -===//
//
// Each thread scores a strided part of its row (logit + Gumbel noise from the
// element's Philox counter, in f64 as the CPU executor computes it) and keeps
// its best; shuffle butterflies (and, for a block per row, shared memory
// between warps) pick the row's best, ties to the lowest index, so the sample
// is the one the sequential argmax of the CPU executor draws.
//
//===----------------------------------------------------------------------===//

#include "codegen/ptx/DirectKernel.h"
#include "codegen/ptx/Scalars.h"

#include <cmath>

#include "ir/KilnOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

using namespace mlir;
namespace kir = kiln::ir;

namespace kiln::codegen::ptx {

absl::Status buildCategoricalKernels(Operation *op, DirectKernels &k) {
  auto sample = llvm::cast<kir::RandomCategoricalOp>(op);
  auto logitsType = llvm::cast<RankedTensorType>(sample.getLogits().getType());
  int64_t vocab = logitsType.getShape().back();
  int64_t rows = logitsType.getNumElements() / vocab;
  // Short rows: a warp each, several rows per block. Long rows (a vocabulary):
  // a block each, so one row's f64 Philox and logs spread over 16 warps.
  bool blockPerRow = vocab >= 2048;
  constexpr int64_t kWarps = 8, kRowWarps = 16;
  int64_t threads = blockPerRow ? kRowWarps * 32 : kWarps * 32;
  OpBuilder b = k.addKernel("gumbel_max", blockPerRow ? rows : (rows + kWarps - 1) / kWarps,
                            threads);
  Location l = k.loc();
  Type f64 = b.getF64Type(), i32 = b.getI32Type(), i64 = b.getI64Type();
  Value sharedScores, sharedIndices;
  if (blockPerRow) {
    sharedScores = k.addSharedBuffer({kRowWarps}, f64);
    sharedIndices = k.addSharedBuffer({kRowWarps}, i32);
  }

  Value tid = threadIndex(b, l);
  Value lane = b.create<arith::RemUIOp>(l, tid, indexConst(b, l, 32));
  Value warp = b.create<arith::DivUIOp>(l, tid, indexConst(b, l, 32));
  Value row = blockPerRow ? blockIndex(b, l)
                          : b.create<arith::AddIOp>(
                                l, b.create<arith::MulIOp>(l, blockIndex(b, l),
                                                           indexConst(b, l, kWarps)),
                                warp)
                                .getResult();
  // Each thread scores every `stride`-th logit of its row from `first` on.
  Value first = blockPerRow ? tid : lane;
  int64_t stride = blockPerRow ? threads : 32;
  // One key for the tensor (Philox counter = flat index) or one per row
  // (counter = index within the row).
  bool perRowKeys = llvm::cast<RankedTensorType>(sample.getKey().getType()).getRank() > 0;
  auto scoreRow = [&](OpBuilder &nb, Location nl) -> std::pair<Value, Value> {
    Value key = convert(nb, nl, nb.create<memref::LoadOp>(nl, k.operand(0),
                                                          perRowKeys ? row : indexConst(nb, nl, 0)),
                        i64);
    Value rowBase = nb.create<arith::MulIOp>(nl, row, indexConst(nb, nl, vocab));
    SmallVector<Value> inits{floatConst(nb, nl, f64, -INFINITY),
                             nb.create<arith::ConstantOp>(nl, nb.getI32IntegerAttr(0))};
    ValueRange best = forLoop(
        nb, nl, first, indexConst(nb, nl, vocab), indexConst(nb, nl, stride), inits,
        [&](OpBuilder &ib, Location il, Value v, ValueRange acc) {
          Value flat = ib.create<arith::AddIOp>(il, rowBase, v);
          Value logit =
              convert(ib, il, ib.create<memref::LoadOp>(il, k.operand(1), flat), f64);
          // -inf logits score -inf whatever the noise: skip Philox and the two
          // f64 logs (after top-k/top-p filtering, nearly the whole vocabulary).
          Value finite = ib.create<arith::CmpFOp>(il, arith::CmpFPredicate::ONE, logit,
                                                  floatConst(ib, il, f64, -INFINITY));
          auto noisy = ib.create<scf::IfOp>(
              il, finite,
              [&](OpBuilder &tb, Location tl) {
                Value counter = tb.create<arith::IndexCastOp>(tl, i64, perRowKeys ? v : flat);
                Value u = unitFromWord(tb, tl, philox(tb, tl, counter, key)[0], false);
                u = tb.create<arith::MaximumFOp>(
                    tl, tb.create<arith::MinimumFOp>(tl, u, floatConst(tb, tl, f64, 1.0 - 0x1p-24)),
                    floatConst(tb, tl, f64, 0x1p-24));
                Value gumbel = tb.create<arith::NegFOp>(
                    tl, tb.create<math::LogOp>(
                            tl, tb.create<arith::NegFOp>(tl, tb.create<math::LogOp>(tl, u))));
                tb.create<scf::YieldOp>(tl, ValueRange{tb.create<arith::AddFOp>(tl, logit, gumbel)});
              },
              [&](OpBuilder &eb, Location el) {
                eb.create<scf::YieldOp>(el, ValueRange{logit});
              });
          Value score = noisy.getResult(0);
          Value improves = ib.create<arith::CmpFOp>(il, arith::CmpFPredicate::OGT, score, acc[0]);
          return SmallVector<Value>{
              ib.create<arith::SelectOp>(il, improves, score, acc[0]),
              ib.create<arith::SelectOp>(il, improves, ib.create<arith::IndexCastOp>(il, i32, v),
                                         acc[1])};
        });
    return warpBestCandidate(nb, nl, best[0], best[1]);
  };
  auto write = [&](OpBuilder &nb, Location nl, Value index) {
    Value out = k.result(0);
    Type element = llvm::cast<MemRefType>(out.getType()).getElementType();
    ifThen(nb, nl,
           nb.create<arith::CmpIOp>(nl, arith::CmpIPredicate::eq, blockPerRow ? tid : lane,
                                    indexConst(nb, nl, 0)),
           [&](OpBuilder &wb, Location wl) {
             wb.create<memref::StoreOp>(wl, convert(wb, wl, index, element), out, row);
           });
  };
  if (!blockPerRow) {
    // Whole warps leave together, so the shuffles see all 32 lanes.
    ifThen(b, l,
           b.create<arith::CmpIOp>(l, arith::CmpIPredicate::ult, row, indexConst(b, l, rows)),
           [&](OpBuilder &nb, Location nl) { write(nb, nl, scoreRow(nb, nl).second); });
    return absl::OkStatus();
  }
  // Block per row: each warp's best through shared memory, then warp 0 picks.
  auto [score, index] = scoreRow(b, l);
  ifThen(b, l, b.create<arith::CmpIOp>(l, arith::CmpIPredicate::eq, lane, indexConst(b, l, 0)),
         [&](OpBuilder &nb, Location nl) {
           nb.create<memref::StoreOp>(nl, score, sharedScores, warp);
           nb.create<memref::StoreOp>(nl, index, sharedIndices, warp);
         });
  b.create<gpu::BarrierOp>(l);
  ifThen(b, l, b.create<arith::CmpIOp>(l, arith::CmpIPredicate::eq, warp, indexConst(b, l, 0)),
         [&](OpBuilder &nb, Location nl) {
           Value has = nb.create<arith::CmpIOp>(nl, arith::CmpIPredicate::ult, lane,
                                                indexConst(nb, nl, kRowWarps));
           Value at = nb.create<arith::MinUIOp>(nl, lane, indexConst(nb, nl, kRowWarps - 1));
           Value s = nb.create<arith::SelectOp>(nl, has,
                                                nb.create<memref::LoadOp>(nl, sharedScores, at),
                                                floatConst(nb, nl, f64, -INFINITY));
           Value i = nb.create<arith::SelectOp>(
               nl, has, nb.create<memref::LoadOp>(nl, sharedIndices, at),
               nb.create<arith::ConstantOp>(nl, nb.getI32IntegerAttr(0)));
           write(nb, nl, warpBestCandidate(nb, nl, s, i).second);
         });
  return absl::OkStatus();
}

} // namespace kiln::codegen::ptx
