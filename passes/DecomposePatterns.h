//===- DecomposePatterns.h - rewrite patterns of kiln-decompose --*- C++
//-*-===//
//
// One rewrite pattern per composite op, grouped by file; the pass picks which
// to add.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_PASSES_DECOMPOSEPATTERNS_H
#define KILN_PASSES_DECOMPOSEPATTERNS_H

#include "ir/PrimitiveBuilder.h"
#include "ir/ShapeUtils.h"

#include "mlir/IR/PatternMatch.h"
#include "llvm/ADT/STLFunctionalExtras.h"

namespace kiln::passes {

using ir::PrimitiveBuilder;

/// True when the composite op with this name (no "kiln." prefix) is to be
/// expanded.
using CompositeFilter = llvm::function_ref<bool(llvm::StringRef)>;

/// The names (no "kiln." prefix) of every composite op kiln-decompose expands.
llvm::ArrayRef<llvm::StringLiteral> compositeOpNames();

/// softmax, log_softmax, rms_norm, cross_entropy, token_logprobs.
void populateNormalizationDecompositions(mlir::RewritePatternSet &patterns,
                                         CompositeFilter enabled);
/// rotary.
void populateRotaryDecomposition(mlir::RewritePatternSet &patterns,
                                 CompositeFilter enabled);
/// attention.
void populateAttentionDecomposition(mlir::RewritePatternSet &patterns,
                                    CompositeFilter enabled);

/// moe_plan, moe_gate_up, moe_down, moe_combine.
void populateMoeDecompositions(mlir::RewritePatternSet &patterns,
                               CompositeFilter enabled);

/// quantize, dequantize, scaled_matmul.
void populateQuantDecompositions(mlir::RewritePatternSet &patterns,
                                 CompositeFilter enabled);

/// Max-shifted softmax / log_softmax of `x` along `axis` (non-negative), in x's
/// element type: callers cast to the compute type first.
mlir::Value buildSoftmax(PrimitiveBuilder &pb, mlir::Value x, int64_t axis);
mlir::Value buildLogSoftmax(PrimitiveBuilder &pb, mlir::Value x, int64_t axis);

using ir::normalizeAxis;

} // namespace kiln::passes

#endif // KILN_PASSES_DECOMPOSEPATTERNS_H
