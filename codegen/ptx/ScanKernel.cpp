//===- ScanKernel.cpp - cumsum as a block-wide scan -----------------------===//
//
// One block per row. Each thread owns a contiguous chunk of the row (in scan
// order, so a reverse scan walks from the end): it sums its chunk, the block
// turns the chunk sums into exclusive prefixes (a shuffle scan inside each
// warp, then the warp totals through shared memory), and each thread walks its
// chunk again writing running sums. Float sums accumulate in f32 (f64 for f64)
// as the op pins; the grouping differs from a sequential loop only in rounding.
//
//===----------------------------------------------------------------------===//

#include "codegen/ptx/DirectKernel.h"
#include "codegen/ptx/Scalars.h"

#include "ir/KilnOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"

using namespace mlir;
namespace kir = kiln::ir;

namespace kiln::codegen::ptx {

absl::Status buildScanKernels(Operation *op, DirectKernels &k) {
  auto cumsum = llvm::cast<kir::CumsumOp>(op);
  auto xType = llvm::cast<RankedTensorType>(cumsum.getX().getType());
  int64_t axis =
      ir::normalizeAxis(cumsum.getAxisAttr().getInt(), xType.getRank());
  AxisRows r = axisRows(xType.getShape(), axis);
  bool exclusive = cumsum.getExclusive(), reverse = cumsum.getReverse();

  int64_t threads = std::clamp<int64_t>(nextPowerOfTwo(r.n), 32, 256);
  int64_t warps = threads / 32;
  int64_t chunk = (r.n + threads - 1) / threads;
  OpBuilder probe(op->getContext());
  Type element = xType.getElementType();
  Type compute = isFloat(element) || isF8(element)
                     ? computeType(probe, isF8(element) ? probe.getF32Type() : element)
                 : element.getIntOrFloatBitWidth() < 64 ? probe.getI32Type()
                                                        : element;
  OpBuilder b = k.addKernel("scan", r.rows(), threads);
  Location l = k.loc();
  Value warpTotals = k.addSharedBuffer({warps}, compute);

  bool fp = isFloat(compute);
  auto zero = [&](OpBuilder &nb, Location nl) -> Value {
    return fp ? floatConst(nb, nl, compute, 0.0)
              : nb.create<arith::ConstantOp>(nl, nb.getIntegerAttr(compute, 0)).getResult();
  };
  auto add = [&](OpBuilder &nb, Location nl, Value a, Value c) -> Value {
    return fp ? nb.create<arith::AddFOp>(nl, a, c).getResult()
              : nb.create<arith::AddIOp>(nl, a, c).getResult();
  };

  Value tid = threadIndex(b, l), row = blockIndex(b, l);
  Value lane = b.create<arith::RemUIOp>(l, tid, indexConst(b, l, 32));
  Value warp = b.create<arith::DivUIOp>(l, tid, indexConst(b, l, 32));
  Value base = rowBase(b, l, row, r);
  Value lo = b.create<arith::MinUIOp>(l, b.create<arith::MulIOp>(l, tid, indexConst(b, l, chunk)),
                                      indexConst(b, l, r.n));
  Value hi = b.create<arith::MinUIOp>(l, b.create<arith::AddIOp>(l, lo, indexConst(b, l, chunk)),
                                      indexConst(b, l, r.n));
  Value one = indexConst(b, l, 1);
  // Scan position q lives at row position q, or n - 1 - q for a reverse scan.
  auto flatAt = [&](OpBuilder &nb, Location nl, Value q) -> Value {
    Value pos = reverse ? nb.create<arith::SubIOp>(nl, indexConst(nb, nl, r.n - 1), q).getResult()
                        : q;
    return nb.create<arith::AddIOp>(
        nl, base, nb.create<arith::MulIOp>(nl, pos, indexConst(nb, nl, r.inner)));
  };
  auto load = [&](OpBuilder &nb, Location nl, Value q) -> Value {
    Value v = nb.create<memref::LoadOp>(nl, k.operand(0), flatAt(nb, nl, q));
    return v.getType().isInteger(1) ? nb.create<arith::ExtUIOp>(nl, compute, v).getResult()
                                    : convert(nb, nl, v, compute);
  };

  Value own = forLoop(b, l, lo, hi, one, {zero(b, l)},
                      [&](OpBuilder &nb, Location nl, Value q, ValueRange acc) {
                        return SmallVector<Value>{add(nb, nl, acc[0], load(nb, nl, q))};
                      })[0];
  // Inclusive scan of the chunk sums across the warp.
  Value inclusive = own;
  for (int32_t offset = 1; offset < 32; offset *= 2) {
    Value from = shuffle(b, l, inclusive, offset, gpu::ShuffleMode::UP);
    Value take = b.create<arith::CmpIOp>(l, arith::CmpIPredicate::uge, lane,
                                         indexConst(b, l, offset));
    inclusive = b.create<arith::SelectOp>(l, take, add(b, l, inclusive, from), inclusive);
  }
  Value last = b.create<arith::CmpIOp>(l, arith::CmpIPredicate::eq, lane, indexConst(b, l, 31));
  ifThen(b, l, last, [&](OpBuilder &nb, Location nl) {
    nb.create<memref::StoreOp>(nl, inclusive, warpTotals, warp);
  });
  b.create<gpu::BarrierOp>(l);
  Value warpPrefix = forLoop(b, l, indexConst(b, l, 0), warp, one, {zero(b, l)},
                             [&](OpBuilder &nb, Location nl, Value w, ValueRange acc) {
                               return SmallVector<Value>{add(
                                   nb, nl, acc[0], nb.create<memref::LoadOp>(nl, warpTotals, w))};
                             })[0];
  Value shifted = shuffle(b, l, inclusive, 1, gpu::ShuffleMode::UP);
  Value firstLane = b.create<arith::CmpIOp>(l, arith::CmpIPredicate::eq, lane,
                                            indexConst(b, l, 0));
  Value prefix = add(b, l, warpPrefix, b.create<arith::SelectOp>(l, firstLane, zero(b, l), shifted));

  Value out = k.result(0);
  Type outElement = llvm::cast<MemRefType>(out.getType()).getElementType();
  forLoop(b, l, lo, hi, one, {prefix}, [&](OpBuilder &nb, Location nl, Value q, ValueRange acc) {
    Value next = add(nb, nl, acc[0], load(nb, nl, q));
    Value written = exclusive ? acc[0] : next;
    nb.create<memref::StoreOp>(nl, convert(nb, nl, written, outElement), out, flatAt(nb, nl, q));
    return SmallVector<Value>{next};
  });
  return absl::OkStatus();
}

} // namespace kiln::codegen::ptx
