//===- Decompose.cpp - composite ops into primitives
//-----------------------===//
//
// The kiln-decompose pass: rewrites each composite kiln op (all, or those named
// by the `ops` option) into primitives with the same semantics.
//
//===----------------------------------------------------------------------===//

#include "ir/KilnOps.h"
#include "passes/DecomposePatterns.h"
#include "passes/Passes.h"

#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringSet.h"

namespace kiln::passes {
#define GEN_PASS_DEF_DECOMPOSE
#include "passes/Passes.h.inc"
} // namespace kiln::passes

using namespace mlir;

namespace kiln::passes {
namespace {

constexpr llvm::StringLiteral compositeNames[] = {
    "softmax",   "log_softmax",   "rms_norm",       "rotary",
    "attention", "cross_entropy", "token_logprobs", "moe_route",
    "moe_plan",  "moe_gate_up",   "moe_down",       "moe_combine",
    "quantize",  "dequantize",    "scaled_matmul"};

} // namespace

llvm::ArrayRef<llvm::StringLiteral> compositeOpNames() {
  return compositeNames;
}

namespace {

struct DecomposePass : impl::DecomposeBase<DecomposePass> {
  using DecomposeBase::DecomposeBase;

  LogicalResult initialize(MLIRContext *ctx) override {
    // A misspelt name would silently decompose nothing; refuse it instead.
    for (const std::string &name : onlyOps) {
      StringRef bare = StringRef(name).trim();
      bare.consume_front("kiln.");
      if (!llvm::is_contained(compositeNames, bare))
        return emitError(UnknownLoc::get(ctx))
               << "kiln-decompose: '" << name
               << "' is not a composite op (expected one of "
               << llvm::join(llvm::map_range(
                                 compositeNames,
                                 [](llvm::StringLiteral n) { return n.str(); }),
                             ", ")
               << ")";
      selected.insert(bare);
    }
    return success();
  }

  void runOnOperation() override {
    auto enabled = [&](StringRef name) {
      return selected.empty() || selected.contains(name);
    };
    RewritePatternSet patterns(&getContext());
    populateNormalizationDecompositions(patterns, enabled);
    populateRotaryDecomposition(patterns, enabled);
    populateAttentionDecomposition(patterns, enabled);
    populateMoeDecompositions(patterns, enabled);
    populateQuantDecompositions(patterns, enabled);
    if (failed(
            applyPatternsAndFoldGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }

  llvm::StringSet<> selected;
};

} // namespace
} // namespace kiln::passes
