//===- AssignPrecision.cpp - choose each weight GEMM's precision ----------===//
//
// The kiln-assign-precision pass (Passes.td). The decision is IR: a
// `kiln.precision` attribute on every matmul that reads a weight and is to
// run narrow; --dump-ir shows it, kiln-lower-precision carries it out. An
// explicit per-weight assignment (what `auto` calibration chose, or a
// user's mix) is an option, so a mixed choice reruns alone in kiln-opt.
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

bool isPolicy(StringRef name) {
  return name == "bf16" || name == "fp8" || name == "fp8-delayed" ||
         name == "int4";
}

/// One `WEIGHT=POLICY` entry of the assign option.
struct Assignment {
  std::string entry, weight, policy;
  bool used = false;
};

struct AssignPrecisionPass : impl::AssignPrecisionBase<AssignPrecisionPass> {
  using AssignPrecisionBase::AssignPrecisionBase;

  LogicalResult initialize(MLIRContext *ctx) override {
    // auto is a measurement, not a rule this pass could apply alone.
    if (policy == "auto")
      return emitError(UnknownLoc::get(ctx))
             << "kiln-assign-precision: policy 'auto' needs the model's "
                "weights and calibration data: kiln-serve --precision=auto "
                "measures them and prints a WEIGHT=TYPE,... assignment, "
                "which this pass takes (assign=...)";
    if (!isPolicy(policy))
      return emitError(UnknownLoc::get(ctx))
             << "kiln-assign-precision: unknown policy '" << policy
             << "' (expected bf16, fp8, fp8-delayed or int4)";
    if (blockSize < 1)
      return emitError(UnknownLoc::get(ctx))
             << "kiln-assign-precision: block must be at least 1, got "
             << blockSize;
    keepPatterns = keepPatternsOr(keep);
    assignments.clear();
    for (const std::string &entry : assign) {
      auto [weight, chosen] = StringRef(entry).rsplit('=');
      if (weight.empty() || chosen.size() == entry.size() || !isPolicy(chosen))
        return emitError(UnknownLoc::get(ctx))
               << "kiln-assign-precision: assign entry '" << entry
               << "' is not WEIGHT=bf16|fp8|fp8-delayed|int4";
      assignments.push_back({entry, weight.str(), chosen.str()});
    }
    return success();
  }

  /// The assign entry for `weight`: one naming it exactly, else the first
  /// whose weight is a substring of it; null if none.
  Assignment *entryFor(StringRef weight) {
    for (Assignment &a : assignments)
      if (a.weight == weight)
        return &a;
    for (Assignment &a : assignments)
      if (weight.contains(a.weight))
        return &a;
    return nullptr;
  }

  /// The policy for `weight`: its assign entry's (entryFor), else the pass's
  /// policy unless a keep pattern matches.
  StringRef choose(StringRef weight) {
    Assignment *match = entryFor(weight);
    if (match) {
      match->used = true;
      return match->policy;
    }
    return matchesAny(weight, keepPatterns) ? StringRef("bf16")
                                            : StringRef(policy);
  }

  void runOnOperation() override {
    if (policy == "bf16" && assignments.empty())
      return;
    ModuleOp module = getOperation();
    llvm::StringMap<DictionaryAttr> table = stateTable(module);
    OpBuilder b(module.getContext());
    SmallVector<std::pair<ir::MatmulOp, DictionaryAttr>> choices;
    bool weightOnly = false;
    module.walk([&](ir::MatmulOp op) {
      StringAttr weight = narrowableWeight(op, table);
      if (!weight)
        return;
      StringRef chosen = choose(weight.getValue());
      if (chosen == "bf16")
        return;
      weightOnly |= chosen == "int4";
      choices.push_back({op, precisionChoice(b, chosen, blockSize, weight)});
    });
    // Experts' weights (narrowableExpertWeights: grouped_matmul, moe_gate_up,
    // moe_down): only int4 has a form for them (there is no scaled grouped
    // GEMM yet), so fp8 keeps them.
    SmallVector<std::pair<Operation *, ArrayAttr>> expertChoices;
    WalkResult experts = module.walk([&](Operation *op) {
      SmallVector<Attribute> narrowed;
      for (const ExpertWeight &w : narrowableExpertWeights(op, table)) {
        Assignment *entry = entryFor(w.name.getValue());
        StringRef chosen = choose(w.name.getValue());
        if (entry && chosen != "int4" && chosen != "bf16") {
          op->emitError("kiln-assign-precision: assign entry '")
              << entry->entry << "' narrows the expert weights '"
              << w.name.getValue() << "' to " << chosen
              << ", which has no grouped GEMM yet (expert weights take int4 "
                 "or bf16)";
          return WalkResult::interrupt();
        }
        if (chosen != "int4")
          continue;
        weightOnly = true;
        NamedAttrList fields(precisionChoice(b, "int4", blockSize, w.name));
        fields.set("operand", b.getI64IntegerAttr(w.operand));
        fields.set("k_axis", b.getI64IntegerAttr(w.kAxis));
        narrowed.push_back(fields.getDictionary(b.getContext()));
      }
      if (!narrowed.empty())
        expertChoices.push_back({op, b.getArrayAttr(narrowed)});
      return WalkResult::advance();
    });
    if (experts.wasInterrupted())
      return signalPassFailure();
    for (const Assignment &a : assignments)
      if (!a.used) {
        // At the module's location, without the whole module as a note.
        emitError(module.getLoc(), "kiln-assign-precision: assign entry '")
            << a.entry << "' matches no weight GEMM of this module";
        return signalPassFailure();
      }
    if (weightOnly) {
      // Integer weights have no gradient: training through them would
      // freeze every quantized weight.
      WalkResult differentiates = module.walk([](ir::GradOp grad) {
        grad.emitError("kiln-assign-precision: int4 quantizes weights "
                       "for inference only, and this module differentiates "
                       "(kiln.grad); train in bf16 or fp8");
        return WalkResult::interrupt();
      });
      if (differentiates.wasInterrupted())
        return signalPassFailure();
    }
    for (auto [op, choice] : choices)
      op->setAttr(kPrecisionAttr, choice);
    for (auto [op, choice] : expertChoices)
      op->setAttr(kPrecisionAttr, choice);
  }

  std::vector<std::string> keepPatterns;
  std::vector<Assignment> assignments;
};

} // namespace
} // namespace kiln::passes
