//===- ShapeLoops.cpp - transpose, slice, iota, concat --------------------===//
//
// Loop-nest kernels of the shape ops: transpose, slice, iota and concat.
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

absl::Status LoopNestBuilder::buildTranspose(ArrayRef<int64_t> perm) {
  indexed([&](OpBuilder &nb, Location l, ValueRange idx) -> Value {
    SmallVector<Value> src(perm.size());
    for (size_t i = 0; i < perm.size(); ++i)
      src[perm[i]] = idx[i];
    if (perm.empty())
      src.push_back(idx[0]);
    return nb.create<memref::LoadOp>(l, arg(0), src);
  });
  return absl::OkStatus();
}

absl::Status LoopNestBuilder::buildSlice(ArrayRef<int64_t> start,
                                         ArrayRef<int64_t> stride) {
  if (operandType(0).getRank() == 0) {
    // Slicing a scalar takes all of it.
    indexed([&](OpBuilder &nb, Location l, ValueRange idx) -> Value {
      return nb.create<memref::LoadOp>(l, arg(0), idx);
    });
    return absl::OkStatus();
  }
  indexed([&](OpBuilder &nb, Location l, ValueRange idx) -> Value {
    SmallVector<Value> src;
    for (size_t i = 0; i < start.size(); ++i) {
      Value scaled = nb.create<arith::MulIOp>(
          l, idx[i], nb.create<arith::ConstantIndexOp>(l, stride[i]));
      src.push_back(nb.create<arith::AddIOp>(
          l, scaled, nb.create<arith::ConstantIndexOp>(l, start[i])));
    }
    return nb.create<memref::LoadOp>(l, arg(0), src);
  });
  return absl::OkStatus();
}

absl::Status LoopNestBuilder::buildIota(int64_t dimension) {
  Type element = resultType().getElementType();
  indexed([&](OpBuilder &nb, Location l, ValueRange idx) -> Value {
    Value i = nb.create<arith::IndexCastOp>(l, nb.getI64Type(), idx[dimension]);
    return convert(nb, l, i, element);
  });
  return absl::OkStatus();
}

absl::Status LoopNestBuilder::buildConcat(int64_t axis) {
  int64_t rank = resultType().getRank();
  axis = normalizeAxis(axis, rank);
  indexed([&](OpBuilder &nb, Location l, ValueRange out) -> Value {
    Value i64 = nb.create<arith::IndexCastOp>(l, nb.getI64Type(), out[axis]);
    Value chosen;
    int64_t begin = 0;
    for (unsigned k = 0; k < op->getNumOperands(); ++k) {
      int64_t size = operandType(k).getDimSize(axis);
      Value local = nb.create<arith::SubIOp>(
          l, i64, nb.create<arith::ConstantOp>(l, nb.getI64IntegerAttr(begin)));
      SmallVector<Value> src(out.begin(), out.end());
      src[axis] = clampIndex(nb, l, local, std::max<int64_t>(size, 1));
      Value v = nb.create<memref::LoadOp>(l, arg(k), src);
      if (!chosen) {
        chosen = v;
      } else {
        Value inside = nb.create<arith::CmpIOp>(
            l, arith::CmpIPredicate::sge, i64,
            nb.create<arith::ConstantOp>(l, nb.getI64IntegerAttr(begin)));
        chosen = nb.create<arith::SelectOp>(l, inside, v, chosen);
      }
      begin += size;
    }
    return chosen;
  });
  return absl::OkStatus();
}

} // namespace kiln::codegen::ptx::loopnest
