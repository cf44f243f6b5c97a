//===- DataParallel.cpp - kiln-data-parallel: averaged gradients ----------===//
//
// Data parallelism as a rewrite of kiln.grad's results: each rank computes
// the gradient of its slice of the batch, and every replicated parameter's
// gradient is replaced by the mean over ranks (kiln.all_reduce, then a scale),
// so every later use (clipping, the optimizer update) sees the global batch's
// gradient and the replicas stay bit-identical. The backward itself is not
// touched: the all_reduce reads the finished gradient.
//
//===----------------------------------------------------------------------===//

#include "ir/KilnOps.h"
#include "ir/PrimitiveBuilder.h"
#include "passes/Passes.h"
#include "passes/StateArguments.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "llvm/ADT/StringMap.h"

namespace kiln::passes {
#define GEN_PASS_DEF_DATAPARALLEL
#include "passes/Passes.h.inc"
} // namespace kiln::passes

using namespace mlir;

namespace kiln::passes {
namespace {

using namespace kiln::ir;

/// How the ranks hold a float parameter argument.
enum class Holding { NotAParameter, Replicated, Sharded };

Holding holdingOf(Value v, const llvm::StringMap<DictionaryAttr> &table) {
  auto arg = llvm::dyn_cast<BlockArgument>(v);
  if (!arg || !llvm::isa<FloatType>(
                  llvm::cast<RankedTensorType>(v.getType()).getElementType()))
    return Holding::NotAParameter;
  StringAttr state = stateOf(arg);
  if (!state)
    return Holding::NotAParameter;
  auto it = table.find(state.getValue());
  if (it == table.end())
    return Holding::NotAParameter;
  auto kind = it->second.getAs<StringAttr>("kind");
  if (!kind || kind.getValue() != "parameter")
    return Holding::NotAParameter;
  return it->second.get("sharding") ? Holding::Sharded : Holding::Replicated;
}

struct DataParallelPass : impl::DataParallelBase<DataParallelPass> {
  using DataParallelBase::DataParallelBase;

  void runOnOperation() override {
    if (groupSize < 1) {
      getOperation().emitError("kiln-data-parallel: group-size must be at "
                               "least 1, got ")
          << groupSize;
      return signalPassFailure();
    }
    if (groupSize == 1)
      return;
    llvm::StringMap<DictionaryAttr> table = stateTable(getOperation());
    getOperation().walk([&](GradOp grad) { rewrite(grad, table); });
  }

  /// (sum over ranks of v) / group size, inserted after kiln.grad.
  Value mean(OpBuilder &b, Location loc, Value v) {
    PrimitiveBuilder pb(b, loc);
    Value sum = pb.op<AllReduceOp>(
        v, {b.getNamedAttr("reduction", b.getStringAttr("sum")),
            b.getNamedAttr("group_size", b.getI64IntegerAttr(groupSize))});
    Type element = PrimitiveBuilder::typeOf(v).getElementType();
    return pb.op<MulOp>(
        {sum, pb.scalar(element, 1.0 / static_cast<double>(groupSize))});
  }

  void rewrite(GradOp grad, const llvm::StringMap<DictionaryAttr> &table) {
    OpBuilder b(grad);
    b.setInsertionPointAfter(grad);
    Location loc = grad.getLoc();
    for (auto [wrt, g] : llvm::zip(grad.getWrt(), grad.getGrads())) {
      Holding holding = holdingOf(wrt, table);
      if (holding == Holding::NotAParameter || g.use_empty())
        continue;
      if (holding == Holding::Sharded) {
        // A shard's gradient already sums every rank's loss through the
        // exchanges that reach it (kiln-expert-parallel): only the mean's
        // 1 / G remains.
        PrimitiveBuilder pb(b, loc);
        Type element = PrimitiveBuilder::typeOf(g).getElementType();
        Value scaled = pb.op<MulOp>(
            {g, pb.scalar(element, 1.0 / static_cast<double>(groupSize))});
        g.replaceAllUsesExcept(scaled, scaled.getDefiningOp());
        continue;
      }
      Value averaged = mean(b, loc, g);
      Operation *allReduce =
          averaged.getDefiningOp()->getOperand(0).getDefiningOp();
      // kiln-bucket-gradients groups these once the backward exists.
      allReduce->setAttr("kiln.gradient", b.getUnitAttr());
      g.replaceAllUsesExcept(averaged, allReduce);
    }
    // The loss a step returns is the global batch's.
    Value loss = grad.getLoss();
    SmallVector<OpOperand *> returned;
    for (OpOperand &use : loss.getUses())
      if (llvm::isa<func::ReturnOp>(use.getOwner()))
        returned.push_back(&use);
    if (returned.empty() || !llvm::isa<FloatType>(
                                PrimitiveBuilder::typeOf(loss).getElementType()))
      return;
    Value averaged = mean(b, loc, loss);
    for (OpOperand *use : returned)
      use->set(averaged);
  }
};

} // namespace
} // namespace kiln::passes
