//===- MoePlanKernel.cpp - moe_plan in one launch
//--------------------------===//
//
// The dispatch plan of a decode- or serving-sized batch in one block: the T*k
// expert ids are staged in shared memory, then every pair's sorted position
// is counted directly, as the pairs ahead of it in the stable order (smaller
// ids, or the same id at a lower index), and every expert's end offset as the
// ids in [0, e]. That is O(T*k) per thread, which at the sizes this kernel
// takes (isDirectMoePlan: at most kMaxMoePlanPairs pairs) costs less than the
// four to six launches of the decomposed form (argsort, bincount, cumsum and
// the inverse permutation's scatter). Integer counts: the result is exact and
// the same whatever the scheduling, ids outside [0, E) included (they sort as
// integers and count for no expert, as the op defines).
//
//===----------------------------------------------------------------------===//

#include "codegen/ptx/DirectKernel.h"
#include "codegen/ptx/Scalars.h"

#include <algorithm>
#include <functional>

#include "absl/strings/str_cat.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"

using namespace mlir;
namespace kir = kiln::ir;

namespace kiln::codegen::ptx {

namespace {

/// One block holds every pair and every expert: at most a block's threads.
constexpr int64_t kMaxMoePlanPairs = 1024;

/// The number of j in [0, n) for which `counts(b, l, j)` holds, as i64.
Value countWhere(
    OpBuilder &b, Location l, int64_t n,
    const std::function<Value(OpBuilder &, Location, Value)> &counts) {
  Value zero = b.create<arith::ConstantOp>(l, b.getI64IntegerAttr(0));
  return forLoop(b, l, indexConst(b, l, 0), indexConst(b, l, n),
                 indexConst(b, l, 1), ValueRange{zero},
                 [&](OpBuilder &lb, Location ll, Value j,
                     ValueRange acc) -> SmallVector<Value> {
                   Value add = lb.create<arith::ExtUIOp>(ll, lb.getI64Type(),
                                                         counts(lb, ll, j));
                   return {lb.create<arith::AddIOp>(ll, acc[0], add)};
                 })[0];
}

} // namespace

bool isDirectMoePlan(Operation *op) {
  auto plan = llvm::dyn_cast<kir::MoePlanOp>(op);
  if (!plan)
    return false;
  auto type = llvm::dyn_cast<RankedTensorType>(plan.getExperts().getType());
  return type && type.hasStaticShape() && type.getNumElements() > 0 &&
         type.getNumElements() <= kMaxMoePlanPairs &&
         plan.getNumExperts() <= kMaxMoePlanPairs;
}

absl::Status buildMoePlanKernels(Operation *op, DirectKernels &k) {
  if (!isDirectMoePlan(op))
    return absl::InvalidArgumentError(absl::StrCat(
        "moe_plan: the one-block kernel takes at most ", kMaxMoePlanPairs,
        " pairs and experts (kiln-expand-unfused-composites expands larger "
        "plans)"));
  auto plan = llvm::cast<kir::MoePlanOp>(op);
  int64_t pairs = llvm::cast<RankedTensorType>(plan.getExperts().getType())
                      .getNumElements();
  int64_t experts = plan.getNumExperts();
  auto elementOf = [](Value v) {
    return llvm::cast<RankedTensorType>(v.getType()).getElementType();
  };
  Type orderType = elementOf(plan.getOrder()),
       slotType = elementOf(plan.getSlot()),
       offsetType = elementOf(plan.getOffsets());
  int64_t threads =
      std::max<int64_t>(32, nextPowerOfTwo(std::max(pairs, experts)));

  OpBuilder b = k.addKernel("plan", 1, threads);
  Location l = k.loc();
  Type i64 = b.getI64Type();
  Value ids = k.addSharedBuffer({pairs}, i64);
  Value t = threadIndex(b, l);
  auto below = [&](OpBuilder &nb, Location nl, Value v, int64_t n) {
    return nb.create<arith::CmpIOp>(nl, arith::CmpIPredicate::ult, v,
                                    indexConst(nb, nl, n));
  };
  ifThen(b, l, below(b, l, t, pairs), [&](OpBuilder &nb, Location nl) {
    Value id =
        convert(nb, nl, nb.create<memref::LoadOp>(nl, k.operand(0), t), i64);
    nb.create<memref::StoreOp>(nl, id, ids, t);
  });
  b.create<gpu::BarrierOp>(l);

  // Pair t's position: the pairs before it in the stable order by id.
  ifThen(b, l, below(b, l, t, pairs), [&](OpBuilder &nb, Location nl) {
    Value mine = nb.create<memref::LoadOp>(nl, ids, t);
    Value position =
        countWhere(nb, nl, pairs, [&](OpBuilder &cb, Location cl, Value j) {
          Value other = cb.create<memref::LoadOp>(cl, ids, j);
          Value smaller = cb.create<arith::CmpIOp>(
              cl, arith::CmpIPredicate::slt, other, mine);
          Value tie = cb.create<arith::AndIOp>(
              cl,
              cb.create<arith::CmpIOp>(cl, arith::CmpIPredicate::eq, other,
                                       mine),
              cb.create<arith::CmpIOp>(cl, arith::CmpIPredicate::ult, j, t));
          return cb.create<arith::OrIOp>(cl, smaller, tie);
        });
    Value at = nb.create<arith::IndexCastOp>(nl, nb.getIndexType(), position);
    nb.create<memref::StoreOp>(
        nl,
        convert(nb, nl, nb.create<arith::IndexCastOp>(nl, i64, t), orderType),
        k.result(0), at);
    nb.create<memref::StoreOp>(nl, convert(nb, nl, position, slotType),
                               k.result(1), t);
  });

  // Expert e's end: the ids in [0, e] (ids outside [0, E) count for none).
  ifThen(b, l, below(b, l, t, experts), [&](OpBuilder &nb, Location nl) {
    Value e = nb.create<arith::IndexCastOp>(nl, i64, t);
    Value zero = nb.create<arith::ConstantOp>(nl, nb.getI64IntegerAttr(0));
    Value end =
        countWhere(nb, nl, pairs, [&](OpBuilder &cb, Location cl, Value j) {
          Value id = cb.create<memref::LoadOp>(cl, ids, j);
          return cb.create<arith::AndIOp>(
              cl,
              cb.create<arith::CmpIOp>(cl, arith::CmpIPredicate::sge, id, zero),
              cb.create<arith::CmpIOp>(cl, arith::CmpIPredicate::sle, id, e));
        });
    nb.create<memref::StoreOp>(nl, convert(nb, nl, end, offsetType),
                               k.result(2), t);
  });
  return absl::OkStatus();
}

} // namespace kiln::codegen::ptx
