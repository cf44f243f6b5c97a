//===- QuantizeKernel.cpp - 1 x B tile quantization, a warp per tile ------===//
//
// kiln.quantize with blocks along the last axis only (DeepSeek-V3's 1 x 128
// activation tiles, group-wise i8 along K): each warp takes one tile, finds
// its max |x| with a shuffle butterfly and writes the tile's scale and its
// quantized values, rereading the tile from L1; the decomposition takes a
// reduction, a scale and a division kernel with x read from memory by each.
// The arithmetic is the decomposition's (passes/DecomposeQuant.cpp) op for
// op, so the bits are the CPU executor's: maximumf over |x| (NaN wins; the
// padding zeros it adds change nothing), amax / qmax with a zero scale made
// 1, x / scale in f32, then the saturating convert for float8, or the clamp
// and the magic-number round half to even for i8. i4 keeps the decomposition
// until int4 is stored packed.
//
//===----------------------------------------------------------------------===//

#include "codegen/ptx/DirectKernel.h"
#include "codegen/ptx/Scalars.h"

#include "ir/KilnOps.h"
#include "ir/Quantization.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"

using namespace mlir;
namespace kir = kiln::ir;

namespace kiln::codegen::ptx {

bool isDirectQuantize(Operation *op) {
  auto quantize = llvm::dyn_cast<kir::QuantizeOp>(op);
  if (!quantize)
    return false;
  auto type = llvm::cast<RankedTensorType>(quantize.getX().getType());
  if (!type.hasStaticShape() || type.getRank() == 0 ||
      type.getNumElements() == 0)
    return false;
  Type x = type.getElementType(), to = quantize.getDtype();
  if (!(x.isF32() || x.isBF16() || x.isF16()) ||
      !(llvm::isa<Float8E4M3FNType, Float8E5M2Type>(to) || to.isInteger(8)))
    return false;
  ArrayRef<int64_t> block = quantize.getBlock();
  for (int64_t axis = 0; axis + 1 < type.getRank(); ++axis)
    if (ir::blockExtent(block[axis], type.getDimSize(axis)) != 1)
      return false;
  return true;
}

absl::Status buildQuantizeKernels(Operation *op, DirectKernels &k) {
  constexpr int64_t kWarps = 8;
  auto quantize = llvm::cast<kir::QuantizeOp>(op);
  auto type = llvm::cast<RankedTensorType>(quantize.getX().getType());
  int64_t cols = type.getShape().back();
  int64_t rows = type.getNumElements() / cols;
  int64_t tile = ir::blockExtent(quantize.getBlock().back(), cols);
  int64_t tilesPerRow = (cols + tile - 1) / tile;
  int64_t tiles = rows * tilesPerRow;
  Type to = quantize.getDtype();
  double qmax = *ir::quantizedMax(to);

  OpBuilder b =
      k.addKernel("tiles", (tiles + kWarps - 1) / kWarps, kWarps * 32);
  Location l = k.loc();
  Type f32 = b.getF32Type();
  auto c = [&](int64_t v) { return indexConst(b, l, v); };
  auto f = [&](OpBuilder &nb, Location nl, double v) {
    return floatConst(nb, nl, f32, v);
  };
  Value tid = threadIndex(b, l);
  Value lane = b.create<arith::RemUIOp>(l, tid, c(32));
  Value id = b.create<arith::AddIOp>(
      l, b.create<arith::MulIOp>(l, blockIndex(b, l), c(kWarps)),
      b.create<arith::DivUIOp>(l, tid, c(32)));
  // Whole warps leave together, so the shuffles see all 32 lanes.
  ifThen(
      b, l, b.create<arith::CmpIOp>(l, arith::CmpIPredicate::ult, id, c(tiles)),
      [&](OpBuilder &nb, Location nl) {
        auto ci = [&](int64_t v) { return indexConst(nb, nl, v); };
        Value row = nb.create<arith::DivUIOp>(nl, id, ci(tilesPerRow));
        Value t = nb.create<arith::RemUIOp>(nl, id, ci(tilesPerRow));
        Value first = nb.create<arith::MulIOp>(nl, t, ci(tile));
        Value start = nb.create<arith::AddIOp>(
            nl, nb.create<arith::MulIOp>(nl, row, ci(cols)), first);
        // The last tile of a row may be partial.
        Value count = nb.create<arith::MinUIOp>(
            nl, ci(tile), nb.create<arith::SubIOp>(nl, ci(cols), first));
        auto load = [&](OpBuilder &ib, Location il, Value i) {
          Value flat = ib.create<arith::AddIOp>(il, start, i);
          return convert(
              ib, il, ib.create<memref::LoadOp>(il, k.operand(0), flat), f32);
        };
        Value amax =
            forLoop(nb, nl, lane, count, ci(32), {f(nb, nl, 0.0)},
                    [&](OpBuilder &ib, Location il, Value i, ValueRange acc) {
                      Value magnitude =
                          ib.create<math::AbsFOp>(il, load(ib, il, i));
                      return SmallVector<Value>{
                          ib.create<arith::MaximumFOp>(il, acc[0], magnitude)};
                    })[0];
        for (int32_t offset = 16; offset >= 1; offset /= 2)
          amax = nb.create<arith::MaximumFOp>(
              nl, amax, shuffle(nb, nl, amax, offset, gpu::ShuffleMode::XOR));
        Value scale = nb.create<arith::DivFOp>(nl, amax, f(nb, nl, qmax));
        Value zero = nb.create<arith::CmpFOp>(nl, arith::CmpFPredicate::OEQ,
                                              scale, f(nb, nl, 0.0));
        scale = nb.create<arith::SelectOp>(nl, zero, f(nb, nl, 1.0), scale);
        ifThen(
            nb, nl,
            nb.create<arith::CmpIOp>(nl, arith::CmpIPredicate::eq, lane, ci(0)),
            [&](OpBuilder &sb, Location sl) {
              Value at = sb.create<arith::AddIOp>(
                               sl,
                               sb.create<arith::MulIOp>(
                                   sl, row, indexConst(sb, sl, tilesPerRow)),
                               t)
                             .getResult();
              sb.create<memref::StoreOp>(sl, scale, k.result(1), at);
            });
        forLoop(
            nb, nl, lane, count, ci(32), {},
            [&](OpBuilder &ib, Location il, Value i, ValueRange) {
              Value y = ib.create<arith::DivFOp>(il, load(ib, il, i), scale);
              if (to.isInteger(8)) {
                // Clamp (NaN passes, converting to 0), then round half
                // to even: +- 1.5 * 2^23 leaves the nearest integer.
                y = ib.create<arith::MinimumFOp>(
                    il, ib.create<arith::MaximumFOp>(il, y, f(ib, il, -qmax)),
                    f(ib, il, qmax));
                Value magic = f(ib, il, 12582912.0);
                y = ib.create<arith::SubFOp>(
                    il, ib.create<arith::AddFOp>(il, y, magic), magic);
              }
              Value flat = ib.create<arith::AddIOp>(il, start, i);
              ib.create<memref::StoreOp>(il, convert(ib, il, y, to),
                                         k.result(0), flat);
              return SmallVector<Value>{};
            });
      });
  return absl::OkStatus();
}

} // namespace kiln::codegen::ptx
