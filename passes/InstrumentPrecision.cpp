//===- InstrumentPrecision.cpp - every candidate GEMM in every precision --===//
//
// The kiln-instrument-precision pass (Passes.td): the `auto` policy's
// calibration graph. Each candidate weight GEMM is computed as written and
// in each narrow choice, and a switch input picks one per weight at run
// time, so one compile measures every candidate alone and every mix.
//
//===----------------------------------------------------------------------===//

#include "ir/KilnOps.h"
#include "ir/PrimitiveBuilder.h"
#include "passes/Passes.h"
#include "passes/Precision.h"
#include "passes/StateArguments.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "llvm/ADT/MapVector.h"
#include "llvm/ADT/SmallPtrSet.h"

namespace kiln::passes {
#define GEN_PASS_DEF_INSTRUMENTPRECISION
#include "passes/Passes.h.inc"
} // namespace kiln::passes

using namespace mlir;

namespace kiln::passes {
namespace {

using ir::PrimitiveBuilder;

struct InstrumentPrecisionPass
    : impl::InstrumentPrecisionBase<InstrumentPrecisionPass> {
  using InstrumentPrecisionBase::InstrumentPrecisionBase;

  LogicalResult initialize(MLIRContext *ctx) override {
    if (blockSize < 1)
      return emitError(UnknownLoc::get(ctx))
             << "kiln-instrument-precision: block must be at least 1, got "
             << blockSize;
    narrow.assign(choices.begin(), choices.end());
    if (narrow.empty())
      narrow = {"fp8", "int4"};
    for (auto [i, choice] : llvm::enumerate(narrow))
      if ((choice != "fp8" && choice != "int4") ||
          llvm::is_contained(ArrayRef(narrow).take_front(i), choice))
        return emitError(UnknownLoc::get(ctx))
               << "kiln-instrument-precision: choice '" << choice
               << "' is not fp8 or int4, or is listed twice";
    keepPatterns = keepPatternsOr(keep);
    return success();
  }

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (llvm::is_contained(narrow, "int4")) {
      WalkResult differentiates = module.walk([](ir::GradOp grad) {
        grad.emitError("kiln-instrument-precision: int4 quantizes weights "
                       "for inference only, and this module differentiates "
                       "(kiln.grad); instrument it with choices=fp8");
        return WalkResult::interrupt();
      });
      if (differentiates.wasInterrupted())
        return signalPassFailure();
    }
    llvm::StringMap<DictionaryAttr> table = stateTable(module);
    // Candidate weights in the order their GEMMs first appear; each
    // function's candidate matmuls.
    llvm::MapVector<StringAttr, int64_t> index;
    llvm::MapVector<func::FuncOp, SmallVector<ir::MatmulOp>> perFunction;
    module.walk([&](ir::MatmulOp op) {
      StringAttr weight = narrowableWeight(op, table);
      if (!weight || matchesAny(weight.getValue(), keepPatterns))
        return;
      index.insert({weight, static_cast<int64_t>(index.size())});
      perFunction[op->getParentOfType<func::FuncOp>()].push_back(op);
    });

    OpBuilder b(module.getContext());
    SmallVector<Attribute> weights, values{b.getStringAttr("bf16")};
    for (auto &entry : index)
      weights.push_back(entry.first);
    for (const std::string &choice : narrow)
      values.push_back(b.getStringAttr(choice));
    module->setAttr(
        kPrecisionSwitchAttr,
        b.getDictionaryAttr(
            {b.getNamedAttr("input", b.getStringAttr(kPrecisionSwitchInput)),
             b.getNamedAttr("weights", b.getArrayAttr(weights)),
             b.getNamedAttr("values", b.getArrayAttr(values))}));

    auto switchType = RankedTensorType::get(
        {static_cast<int64_t>(index.size())}, b.getF32Type());
    for (auto &[func, ops] : perFunction) {
      if (!func) {
        ops.front().emitError(
            "kiln-instrument-precision: a candidate GEMM outside a function");
        return signalPassFailure();
      }
      unsigned position = func.getNumArguments();
      (void)func.insertArgument(
          position, switchType,
          b.getDictionaryAttr(b.getNamedAttr(
              "kiln.name", b.getStringAttr(kPrecisionSwitchInput))),
          func.getLoc());
      Value switches = func.getArgument(position);
      for (ir::MatmulOp op : ops) {
        StringAttr weight = narrowableWeight(op, table);
        instrument(op, switches, index.lookup(weight), weight);
      }
    }
  }

  /// y -> select(s == n, y_n, ... select(s == 1, y_1, y)) with s the
  /// switch of weight `i` and y_k the matmul tagged with choice k.
  void instrument(ir::MatmulOp op, Value switches, int64_t i,
                  StringAttr weight) {
    OpBuilder b(op->getContext());
    b.setInsertionPointAfter(op);
    PrimitiveBuilder pb(b, op.getLoc());
    Value s = pb.slice(switches, 0, i, i + 1);
    Value selected = op.getResult();
    llvm::SmallPtrSet<Operation *, 4> selects;
    for (auto [k, choice] : llvm::enumerate(narrow)) {
      Operation *narrowed = b.clone(*op);
      narrowed->setAttr(kPrecisionAttr,
                        precisionChoice(b, choice, blockSize, weight));
      Value on = pb.op<ir::EqualOp>(
          {s, pb.scalar(b.getF32Type(), static_cast<double>(k + 1))});
      selected = pb.select(on, narrowed->getResult(0), selected);
      selects.insert(selected.getDefiningOp());
    }
    op.getResult().replaceUsesWithIf(selected, [&](OpOperand &use) {
      return !selects.contains(use.getOwner());
    });
  }

  std::vector<std::string> keepPatterns, narrow;
};

} // namespace
} // namespace kiln::passes
