//===- PutAlongAxisKernel.cpp - put_along_axis, in place or into a copy ---===//
//
// A thread per fiber of `values` (every position but the axis) walks the
// fiber's K entries in order and writes each in-range one at its index, so a
// later entry naming the same slot lands last, as the op says. Where
// kiln-update-in-place gave the result x's buffer (`kiln.in_place`), that is
// the only launch and only the written slots are touched (a decode step's
// cache write moves one row a sequence, not the cache); otherwise a first
// launch copies x.
//
//===----------------------------------------------------------------------===//

#include "codegen/ptx/DirectKernel.h"
#include "codegen/ptx/Scalars.h"

#include "ir/KilnOps.h"
#include "ir/ShapeUtils.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"

using namespace mlir;
namespace kir = kiln::ir;

namespace kiln::codegen::ptx {

absl::Status buildPutAlongAxisKernels(Operation *op, DirectKernels &k) {
  constexpr int64_t kThreads = 256;
  auto put = llvm::cast<kir::PutAlongAxisOp>(op);
  auto xType = llvm::cast<RankedTensorType>(put.getX().getType());
  auto idxType = llvm::cast<RankedTensorType>(put.getIndices().getType());
  auto valType = llvm::cast<RankedTensorType>(put.getValues().getType());
  int64_t rank = xType.getRank();
  int64_t axis = ir::normalizeAxis(put.getAxis(), rank);
  AxisRows xs = axisRows(xType.getShape(), axis);
  AxisRows vs = axisRows(valType.getShape(), axis);
  if (!op->hasAttr("kiln.in_place")) {
    int64_t n = xType.getNumElements();
    OpBuilder b = k.addKernel("copy", (n + kThreads - 1) / kThreads, kThreads);
    Location l = k.loc();
    Value e = globalThreadIndex(b, l, kThreads);
    ifThen(b, l,
           b.create<arith::CmpIOp>(l, arith::CmpIPredicate::ult, e,
                                   indexConst(b, l, n)),
           [&](OpBuilder &nb, Location nl) {
             nb.create<memref::StoreOp>(
                 nl, nb.create<memref::LoadOp>(nl, k.operand(0), ValueRange{e}),
                 k.result(0), ValueRange{e});
           });
  }
  int64_t fibers = vs.outer * vs.inner;
  OpBuilder b =
      k.addKernel("put", (fibers + kThreads - 1) / kThreads, kThreads);
  Location l = k.loc();
  auto c = [&](OpBuilder &nb, int64_t v) { return indexConst(nb, l, v); };
  Value fiber = globalThreadIndex(b, l, kThreads);
  ifThen(
      b, l,
      b.create<arith::CmpIOp>(l, arith::CmpIPredicate::ult, fiber,
                              c(b, fibers)),
      [&](OpBuilder &fb, Location fl) {
        Value o = fb.create<arith::DivUIOp>(fl, fiber, c(fb, vs.inner));
        Value i = fb.create<arith::RemUIOp>(fl, fiber, c(fb, vs.inner));
        // The fiber's first index: its coordinates, with the indices'
        // size-1 dims read at 0.
        Value idxBase = c(fb, 0);
        int64_t stride = 1;
        SmallVector<int64_t> strides(rank);
        for (int64_t d = rank - 1; d >= 0; --d) {
          strides[d] = stride;
          stride *= idxType.getDimSize(d);
        }
        Value outerLeft = o, innerLeft = i;
        for (int64_t d = rank - 1; d >= 0; --d) {
          if (d == axis)
            continue;
          Value &left = d < axis ? outerLeft : innerLeft;
          int64_t size = valType.getDimSize(d);
          Value coord = fb.create<arith::RemUIOp>(fl, left, c(fb, size));
          left = fb.create<arith::DivUIOp>(fl, left, c(fb, size));
          if (idxType.getDimSize(d) != 1)
            idxBase = fb.create<arith::AddIOp>(
                fl, idxBase,
                fb.create<arith::MulIOp>(fl, coord, c(fb, strides[d])));
        }
        Type i64 = fb.getI64Type();
        forLoop(
            fb, fl, c(fb, 0), c(fb, vs.n), c(fb, 1), {},
            [&](OpBuilder &nb, Location nl, Value j,
                ValueRange) -> SmallVector<Value> {
              Value at = nb.create<arith::AddIOp>(
                  nl, idxBase,
                  nb.create<arith::MulIOp>(nl, j, c(nb, strides[axis])));
              Value index = convert(
                  nb, nl,
                  nb.create<memref::LoadOp>(nl, k.operand(1), ValueRange{at}),
                  i64);
              Value inRange = nb.create<arith::AndIOp>(
                  nl,
                  nb.create<arith::CmpIOp>(nl, arith::CmpIPredicate::sge, index,
                                           nb.create<arith::ConstantOp>(
                                               nl, nb.getI64IntegerAttr(0))),
                  nb.create<arith::CmpIOp>(
                      nl, arith::CmpIPredicate::slt, index,
                      nb.create<arith::ConstantOp>(
                          nl, nb.getI64IntegerAttr(xs.n))));
              ifThen(nb, nl, inRange, [&](OpBuilder &wb, Location wl) {
                Value slot =
                    wb.create<arith::IndexCastOp>(wl, wb.getIndexType(), index);
                // (o * n + at) * inner + i over outer x n x inner rows.
                auto flat = [&](const AxisRows &r, Value at) -> Value {
                  Value row = wb.create<arith::AddIOp>(
                      wl, wb.create<arith::MulIOp>(wl, o, c(wb, r.n)), at);
                  return wb.create<arith::AddIOp>(
                      wl, wb.create<arith::MulIOp>(wl, row, c(wb, r.inner)), i);
                };
                Value src = flat(vs, j), dst = flat(xs, slot);
                wb.create<memref::StoreOp>(
                    wl,
                    wb.create<memref::LoadOp>(wl, k.operand(2),
                                              ValueRange{src}),
                    k.result(0), ValueRange{dst});
              });
              return {};
            });
      });
  return absl::OkStatus();
}

} // namespace kiln::codegen::ptx
