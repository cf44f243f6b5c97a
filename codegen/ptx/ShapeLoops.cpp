//===- ShapeLoops.cpp - transpose, slice, iota, concat --------------------===//
//
// Loop-nest kernels of the shape ops: the index remaps (transpose, slice,
// concat), which also read through as fused producers, and iota.
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

Value readRemapped(OpBuilder &nb, Location l, Operation *op,
                   ArrayRef<Reader> operands, ValueRange idx) {
  auto rankOf = [&](unsigned i) {
    return llvm::cast<RankedTensorType>(op->getOperand(i).getType()).getRank();
  };
  if (auto transpose = llvm::dyn_cast<kir::TransposeOp>(op)) {
    ArrayRef<int64_t> perm = transpose.getPerm();
    if (perm.empty()) // rank 0: the canonical shape is [1]
      return operands[0](nb, l, idx);
    SmallVector<Value> src(perm.size());
    for (size_t i = 0; i < perm.size(); ++i)
      src[perm[i]] = idx[i];
    return operands[0](nb, l, src);
  }
  if (auto slice = llvm::dyn_cast<kir::SliceOp>(op)) {
    if (rankOf(0) == 0) // slicing a scalar takes all of it
      return operands[0](nb, l, idx);
    SmallVector<Value> src;
    for (auto [i, start, stride] :
         llvm::enumerate(slice.getStart(), slice.getStride())) {
      Value scaled = nb.create<arith::MulIOp>(
          l, idx[i], nb.create<arith::ConstantIndexOp>(l, stride));
      src.push_back(nb.create<arith::AddIOp>(
          l, scaled, nb.create<arith::ConstantIndexOp>(l, start)));
    }
    return operands[0](nb, l, src);
  }
  // concat: the operand whose slab along the axis holds the element, chosen
  // by a chain of branches so only that operand is read (or recomputed).
  auto concat = llvm::cast<kir::ConcatOp>(op);
  int64_t axis = normalizeAxis(concat.getAxis(), rankOf(0));
  std::function<Value(OpBuilder &, unsigned, int64_t)> pick =
      [&](OpBuilder &ib, unsigned k, int64_t begin) -> Value {
    auto read = [&](OpBuilder &rb) {
      SmallVector<Value> src(idx.begin(), idx.end());
      src[axis] = rb.create<arith::SubIOp>(
          l, idx[axis], rb.create<arith::ConstantIndexOp>(l, begin));
      return operands[k](rb, l, src);
    };
    int64_t end =
        begin + llvm::cast<RankedTensorType>(op->getOperand(k).getType())
                    .getDimSize(axis);
    if (k + 1 == op->getNumOperands())
      return read(ib);
    Value inside =
        ib.create<arith::CmpIOp>(l, arith::CmpIPredicate::ult, idx[axis],
                                 ib.create<arith::ConstantIndexOp>(l, end));
    auto branch = ib.create<scf::IfOp>(
        l, inside,
        [&](OpBuilder &tb, Location tl) {
          tb.create<scf::YieldOp>(tl, read(tb));
        },
        [&](OpBuilder &eb, Location el) {
          eb.create<scf::YieldOp>(el, pick(eb, k + 1, end));
        });
    return branch.getResult(0);
  };
  return pick(nb, 0, 0);
}

absl::Status LoopNestBuilder::buildRemap() {
  indexed([&](OpBuilder &nb, Location l, ValueRange idx) -> Value {
    return readRemapped(nb, l, op, readers, idx);
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

} // namespace kiln::codegen::ptx::loopnest
