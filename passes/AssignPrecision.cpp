//===- AssignPrecision.cpp - choose each weight GEMM's precision ----------===//
//
// The kiln-assign-precision pass (Passes.td). The decision is IR: a
// `kiln.precision` attribute on every matmul that reads a weight and is to
// run in fp8; --dump-ir shows it, kiln-lower-precision carries it out.
//
//===----------------------------------------------------------------------===//

#include "ir/KilnOps.h"
#include "passes/Passes.h"
#include "passes/Precision.h"
#include "passes/StateArguments.h"

#include "mlir/IR/Builders.h"

namespace kiln::passes {
#define GEN_PASS_DEF_ASSIGNPRECISION
#include "passes/Passes.h.inc"
} // namespace kiln::passes

using namespace mlir;

namespace kiln::passes {
namespace {

/// Parameters the fp8 recipe keeps in the model's type: the embedding and
/// output head (DeepSeek-V3 keeps both in bf16) and the MoE router, whose
/// scores choose the experts.
constexpr llvm::StringLiteral kDefaultKeep[] = {"embed_tokens", "lm_head",
                                                "mlp.gate.weight"};

struct AssignPrecisionPass : impl::AssignPrecisionBase<AssignPrecisionPass> {
  using AssignPrecisionBase::AssignPrecisionBase;

  LogicalResult initialize(MLIRContext *ctx) override {
    if (policy != "bf16" && policy != "fp8" && policy != "int4")
      return emitError(UnknownLoc::get(ctx))
             << "kiln-assign-precision: unknown policy '" << policy
             << "' (expected bf16, fp8 or int4)";
    if (blockSize < 1)
      return emitError(UnknownLoc::get(ctx))
             << "kiln-assign-precision: block must be at least 1, got "
             << blockSize;
    keepPatterns.assign(keep.begin(), keep.end());
    if (keepPatterns.empty())
      for (llvm::StringLiteral p : kDefaultKeep)
        keepPatterns.push_back(p.str());
    return success();
  }

  void runOnOperation() override {
    if (policy == "bf16")
      return;
    ModuleOp module = getOperation();
    bool weightOnly = policy == "int4";
    if (weightOnly) {
      // Integer weights have no gradient: training through them would
      // freeze every quantized weight.
      WalkResult differentiates = module.walk([](ir::GradOp grad) {
        grad.emitError("kiln-assign-precision: policy int4 quantizes weights "
                       "for inference only, and this module differentiates "
                       "(kiln.grad); train in bf16 or fp8");
        return WalkResult::interrupt();
      });
      if (differentiates.wasInterrupted())
        return signalPassFailure();
    }
    llvm::StringMap<DictionaryAttr> table = stateTable(module);
    OpBuilder b(module.getContext());
    Type narrow =
        weightOnly ? Type(b.getIntegerType(4)) : Type(b.getFloat8E4M3FNType());
    module.walk([&](ir::MatmulOp op) {
      Type element = op.getA().getType().getElementType();
      if (!(element.isBF16() || element.isF16() || element.isF32()) ||
          op.getB().getType().getRank() != 2)
        return;
      StringAttr weight = parameterRead(op.getB(), table);
      if (!weight || llvm::any_of(keepPatterns, [&](const std::string &p) {
            return weight.getValue().contains(p);
          }))
        return;
      op->setAttr(kPrecisionAttr,
                  b.getDictionaryAttr(
                      {b.getNamedAttr("dtype", TypeAttr::get(narrow)),
                       b.getNamedAttr("block", b.getI64IntegerAttr(blockSize)),
                       b.getNamedAttr("weight", weight)}));
    });
  }

  std::vector<std::string> keepPatterns;
};

} // namespace
} // namespace kiln::passes
