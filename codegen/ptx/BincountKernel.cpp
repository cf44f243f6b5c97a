//===- BincountKernel.cpp - bincount with atomic increments -----------------===//
//
// Two launches: zero the counts, then one thread per input value adds 1 to its
// bin with an atomic add (values outside [0, length) are ignored). O(n) work,
// where counting per bin (each bin scanning every value) is O(n x length);
// integer adds commute, so the counts are exact whatever the order.
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

absl::Status buildBincountKernels(Operation *op, DirectKernels &k) {
  constexpr int64_t kThreads = 256;
  auto bincount = llvm::cast<kir::BincountOp>(op);
  int64_t n = llvm::cast<RankedTensorType>(bincount.getX().getType()).getNumElements();
  auto outType = llvm::cast<RankedTensorType>(bincount.getResult().getType());
  int64_t bins = outType.getNumElements();
  Type count = outType.getElementType();
  auto globalThread = [&](OpBuilder &b, Location l) {
    return globalThreadIndex(b, l, kThreads);
  };
  {
    OpBuilder b = k.addKernel("zero", (bins + kThreads - 1) / kThreads, kThreads);
    Location l = k.loc();
    Value e = globalThread(b, l);
    ifThen(b, l, b.create<arith::CmpIOp>(l, arith::CmpIPredicate::ult, e, indexConst(b, l, bins)),
           [&](OpBuilder &nb, Location nl) {
             nb.create<memref::StoreOp>(
                 nl, nb.create<arith::ConstantOp>(nl, nb.getIntegerAttr(count, 0)),
                 k.result(0), ValueRange{e});
           });
  }
  OpBuilder b = k.addKernel("count", (n + kThreads - 1) / kThreads, kThreads);
  Location l = k.loc();
  Value e = globalThread(b, l);
  ifThen(b, l, b.create<arith::CmpIOp>(l, arith::CmpIPredicate::ult, e, indexConst(b, l, n)),
         [&](OpBuilder &nb, Location nl) {
           Value v = convert(nb, nl, nb.create<memref::LoadOp>(nl, k.operand(0), ValueRange{e}),
                             nb.getI64Type());
           Value inRange = nb.create<arith::AndIOp>(
               nl,
               nb.create<arith::CmpIOp>(nl, arith::CmpIPredicate::sge, v,
                                        nb.create<arith::ConstantOp>(nl, nb.getI64IntegerAttr(0))),
               nb.create<arith::CmpIOp>(
                   nl, arith::CmpIPredicate::slt, v,
                   nb.create<arith::ConstantOp>(nl, nb.getI64IntegerAttr(bins))));
           ifThen(nb, nl, inRange, [&](OpBuilder &ab, Location al) {
             ab.create<memref::AtomicRMWOp>(
                 al, arith::AtomicRMWKind::addi,
                 ab.create<arith::ConstantOp>(al, ab.getIntegerAttr(count, 1)), k.result(0),
                 ValueRange{ab.create<arith::IndexCastOp>(al, ab.getIndexType(), v)});
           });
         });
  return absl::OkStatus();
}

} // namespace kiln::codegen::ptx
