//===- MergeSiblingMatmuls.cpp - kiln-merge-sibling-matmuls --------------===//
//
// GEMMs that multiply one activation by different weights (MLA's q_a and
// kv_a projections both read the normed hidden state) become one GEMM over
// the weights concatenated along N, and each result a slice of its output:
// one launch instead of several, each of which would pay a GEMM's fixed
// costs for a few hundred columns, as XLA's DotMerger merges dots that share
// an operand. The weights must be parameters the function does not write, so
// kiln-hoist-derived-state, which runs next, turns their concatenation into
// derived state computed once; the pass runs only where it does.
//
// Each output column is the same dot product over the same K in both forms;
// the slices only change where it is stored.
//
//===----------------------------------------------------------------------===//

#include "ir/KilnOps.h"
#include "ir/PrimitiveBuilder.h"
#include "passes/GatedMatmuls.h"
#include "passes/Passes.h"
#include "passes/StateArguments.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/MapVector.h"

namespace kiln::passes {
#define GEN_PASS_DEF_MERGESIBLINGMATMULS
#include "passes/Passes.h.inc"
} // namespace kiln::passes

using namespace mlir;

namespace kiln::passes {
namespace {

/// What sibling GEMMs must share to become one: the activation, its
/// transpose, the weights' transpose and type, and the output's element
/// type (the transposes as unsigned: DenseMapInfo has no bool).
using SiblingKey = std::tuple<Value, unsigned, unsigned, Type, Type>;

class MergeSiblingMatmulsPass
    : public impl::MergeSiblingMatmulsBase<MergeSiblingMatmulsPass> {
public:
  void runOnOperation() override {
    ModuleOp module = getOperation();
    llvm::StringMap<DictionaryAttr> table = stateTable(module);
    for (auto func : module.getOps<func::FuncOp>())
      if (!func.isExternal() && func.getBody().hasOneBlock())
        mergeIn(func, table);
  }

private:
  void mergeIn(func::FuncOp func,
               const llvm::StringMap<DictionaryAttr> &table) {
    llvm::DenseSet<Value> weights = unwrittenParameters(func, table);
    Block &block = func.getBody().front();
    // A SwiGLU MLP's projections stay apart: the gated kernel multiplies
    // both and applies the gate without writing either.
    llvm::DenseSet<Operation *> gated;
    for (auto mul : block.getOps<ir::MulOp>())
      if (std::optional<GatedMatmuls> g = gatedMatmuls(mul)) {
        gated.insert(g->gate);
        gated.insert(g->up);
      }
    // In program order, so the rewrite does not depend on pointer values.
    llvm::MapVector<SiblingKey, SmallVector<ir::MatmulOp>> siblings;
    for (auto matmul : block.getOps<ir::MatmulOp>()) {
      auto b = llvm::cast<RankedTensorType>(matmul.getB().getType());
      auto result = llvm::cast<RankedTensorType>(matmul.getType());
      // A shared [K, N] (or [N, K]) weight, no attributes beyond the op's
      // own (a precision decision stays with its GEMM).
      if (b.getRank() != 2 || !weights.contains(matmul.getB()) ||
          gated.contains(matmul) ||
          !matmul->getDiscardableAttrDictionary().empty())
        continue;
      siblings[{matmul.getA(), matmul.getTransposeA(), matmul.getTransposeB(),
                b.getElementType(), result.getElementType()}]
          .push_back(matmul);
    }
    for (auto &[key, group] : siblings)
      if (group.size() > 1)
        merge(group);
  }

  /// One GEMM over the concatenated weights, placed where the first sibling
  /// was (the shared activation and every weight, a function argument,
  /// dominate it); each sibling becomes a slice of its output.
  void merge(ArrayRef<ir::MatmulOp> group) {
    ir::MatmulOp first = group.front();
    OpBuilder b(first);
    ir::PrimitiveBuilder pb(b, first.getLoc());
    // B is [N, K] with transpose_b, [K, N] without.
    int64_t weightAxis = first.getTransposeB() ? 0 : 1;
    SmallVector<Value> parts;
    for (ir::MatmulOp m : group)
      parts.push_back(m.getB());
    Value weight = pb.concat(parts, weightAxis);
    Value merged = pb.op<ir::MatmulOp>(
        {first.getA(), weight},
        {b.getNamedAttr("transpose_a", b.getBoolAttr(first.getTransposeA())),
         b.getNamedAttr("transpose_b", b.getBoolAttr(first.getTransposeB()))});
    int64_t axis = pb.shapeOf(merged).size() - 1, start = 0;
    for (ir::MatmulOp m : group) {
      int64_t n = pb.shapeOf(m.getResult()).back();
      m.getResult().replaceAllUsesWith(
          pb.slice(merged, axis, start, start + n));
      start += n;
    }
    // The builder inserts before the first sibling: erased last.
    for (ir::MatmulOp m : group)
      m.erase();
  }
};

} // namespace
} // namespace kiln::passes
