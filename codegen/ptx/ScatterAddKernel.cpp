//===- ScatterAddKernel.cpp - scatter_add with atomics --------------------===//
//
// Two launches: copy x into the result, then one thread per update element
// adds it to its target with an atomic add. O(updates) work, where the
// gather-style kernel (each output scanning every index) is O(outputs x
// indices). The hardware adds in the element's own precision: integers are
// exact; float duplicates are summed in arrival order, which differs from index
// order only in rounding, and bf16/f16 round after every add where the CPU
// rounds once (as GPU scatter-adds in XLA and PyTorch do; the MoE combine adds
// top-k contributions per token; bf16/f16 pairs go as one packed bf16x2/f16x2
// reduction). fp8 has no atomics and keeps the exact kernel.
//
//===----------------------------------------------------------------------===//

#include "codegen/ptx/DirectKernel.h"
#include "codegen/ptx/HopperAsm.h"
#include "codegen/ptx/Scalars.h"

#include "ir/KilnOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"

using namespace mlir;
namespace kir = kiln::ir;

namespace kiln::codegen::ptx {

namespace {
constexpr int64_t kThreads = 256;

Value globalThread(OpBuilder &b, Location l) {
  return globalThreadIndex(b, l, kThreads);
}
} // namespace

bool scatterAddUsesAtomics(Operation *op) {
  Type element = llvm::cast<RankedTensorType>(op->getResult(0).getType()).getElementType();
  return element.isF32() || element.isF64() || element.isF16() || element.isBF16() ||
         element.isInteger(32) || element.isInteger(64);
}

absl::Status buildScatterAddKernels(Operation *op, DirectKernels &k) {
  auto scatter = llvm::cast<kir::ScatterAddOp>(op);
  auto xType = llvm::cast<RankedTensorType>(scatter.getX().getType());
  int64_t axis =
      ir::normalizeAxis(scatter.getAxisAttr().getInt(), xType.getRank());
  AxisRows r = axisRows(xType.getShape(), axis);
  int64_t indices =
      llvm::cast<RankedTensorType>(scatter.getIndices().getType()).getNumElements();
  int64_t elements = xType.getNumElements();
  int64_t updates = r.outer * indices * r.inner;

  {
    OpBuilder b = k.addKernel("copy", (elements + kThreads - 1) / kThreads, kThreads);
    Location l = k.loc();
    Value e = globalThread(b, l);
    ifThen(b, l, b.create<arith::CmpIOp>(l, arith::CmpIPredicate::ult, e,
                                         indexConst(b, l, elements)),
           [&](OpBuilder &nb, Location nl) {
             nb.create<memref::StoreOp>(
                 nl, nb.create<memref::LoadOp>(nl, k.operand(0), e), k.result(0), e);
           });
  }

  // bf16/f16 rows of even length: a thread adds two neighbouring elements with
  // one packed reduction (red.add.noftz.bf16x2 rounds each half as the scalar
  // atomic does), half the atomics of the MoE combine.
  Type element = xType.getElementType();
  bool pairs = (element.isBF16() || element.isF16()) && r.inner % 2 == 0;
  int64_t perThread = pairs ? 2 : 1;
  int64_t threads = updates / perThread;
  OpBuilder b = k.addKernel(pairs ? "atomic_add_pairs" : "atomic_add",
                            (threads + kThreads - 1) / kThreads, kThreads);
  Location l = k.loc();
  Value e = b.create<arith::MulIOp>(l, globalThread(b, l), indexConst(b, l, perThread));
  Value resultBase;
  if (pairs)
    resultBase = b.create<arith::IndexCastOp>(
        l, b.getI64Type(), b.create<memref::ExtractAlignedPointerAsIndexOp>(l, k.result(0)));
  ifThen(b, l, b.create<arith::CmpIOp>(l, arith::CmpIPredicate::ult, e, indexConst(b, l, updates)),
         [&](OpBuilder &nb, Location nl) {
           // Update e is (o, j, i) of [outer, indices, inner].
           Value i = nb.create<arith::RemUIOp>(nl, e, indexConst(nb, nl, r.inner));
           Value oj = nb.create<arith::DivUIOp>(nl, e, indexConst(nb, nl, r.inner));
           Value j = nb.create<arith::RemUIOp>(nl, oj, indexConst(nb, nl, indices));
           Value o = nb.create<arith::DivUIOp>(nl, oj, indexConst(nb, nl, indices));
           Value target = convert(nb, nl, nb.create<memref::LoadOp>(nl, k.operand(1), j),
                                  nb.getI64Type());
           Value inRange = nb.create<arith::AndIOp>(
               nl,
               nb.create<arith::CmpIOp>(
                   nl, arith::CmpIPredicate::sge, target,
                   nb.create<arith::ConstantOp>(nl, nb.getI64IntegerAttr(0))),
               nb.create<arith::CmpIOp>(
                   nl, arith::CmpIPredicate::slt, target,
                   nb.create<arith::ConstantOp>(nl, nb.getI64IntegerAttr(r.n))));
           // Out-of-range indices are dropped.
           ifThen(nb, nl, inRange, [&](OpBuilder &ab, Location al) {
             Value t = ab.create<arith::IndexCastOp>(al, ab.getIndexType(), target);
             Value flat = ab.create<arith::AddIOp>(
                 al,
                 ab.create<arith::MulIOp>(
                     al,
                     ab.create<arith::AddIOp>(
                         al, ab.create<arith::MulIOp>(al, o, indexConst(ab, al, r.n)), t),
                     indexConst(ab, al, r.inner)),
                 i);
             if (pairs) {
               Type i16 = ab.getI16Type(), i32 = ab.getI32Type();
               auto bits = [&](Value index) -> Value {
                 Value v = ab.create<memref::LoadOp>(al, k.operand(2), index);
                 return ab.create<arith::ExtUIOp>(al, i32, ab.create<arith::BitcastOp>(al, i16, v));
               };
               Value low = bits(e);
               Value high = bits(ab.create<arith::AddIOp>(al, e, indexConst(ab, al, 1)));
               Value packed = ab.create<arith::OrIOp>(
                   al, low,
                   ab.create<arith::ShLIOp>(
                       al, high, ab.create<arith::ConstantOp>(al, ab.getI32IntegerAttr(16))));
               Value address = ab.create<arith::AddIOp>(
                   al, resultBase,
                   ab.create<arith::MulIOp>(
                       al, ab.create<arith::IndexCastOp>(al, ab.getI64Type(), flat),
                       ab.create<arith::ConstantOp>(al, ab.getI64IntegerAttr(2))));
               std::string instruction = element.isBF16() ? "red.global.add.noftz.bf16x2"
                                                          : "red.global.add.noftz.f16x2";
               hopper::inlinePtx(
                   ab, al, Type(), {address, packed},
                   "{ .reg .b64 g; cvta.to.global.u64 g, $0; " + instruction + " [g], $1; }",
                   "l,r,~{memory}");
               return;
             }
             Value update = ab.create<memref::LoadOp>(al, k.operand(2), e);
             auto kind = isFloat(update.getType()) ? arith::AtomicRMWKind::addf
                                                   : arith::AtomicRMWKind::addi;
             ab.create<memref::AtomicRMWOp>(al, kind, update, k.result(0), ValueRange{flat});
           });
         });
  return absl::OkStatus();
}

} // namespace kiln::codegen::ptx
