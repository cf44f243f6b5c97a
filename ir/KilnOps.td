//===- KilnOps.td - kiln dialect operations ---------------------*- tablegen -*-===//
//
// Every kiln op. Type inference and operand checks are in KilnOps.cpp; the exact
// semantics (rounding, tie order, accumulation) are pinned here and in docs/OPS.md.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_OPS_TD
#define KILN_OPS_TD

include "ir/KilnAttrs.td"
include "ir/KilnDialect.td"
include "ir/KilnInterfaces.td"
include "mlir/IR/OpBase.td"
include "mlir/IR/CommonAttrConstraints.td"
include "mlir/Interfaces/InferTypeOpInterface.td"
include "mlir/Interfaces/ControlFlowInterfaces.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

// Shorthands for the two gradient kinds every op declares (tests/autodiff checks).
defvar Kiln_Vjp = DeclareOpInterfaceMethods<Kiln_VjpOpInterface>;
defvar Kiln_NoGrad = Kiln_NoGradient;

// Every kiln op is pure and prints in one uniform generic-looking form.
class Kiln_Op<string mnemonic, list<Trait> traits = []>
    : Op<Kiln_Dialect, mnemonic, !listconcat(traits, [Pure])> {
  let assemblyFormat = "operands attr-dict `:` functional-type(operands, results)";
}

// An op whose result types follow from its operands and attributes.
class Kiln_InferOp<string mnemonic, list<Trait> traits = []>
    : Kiln_Op<mnemonic, !listconcat(traits,
          [DeclareOpInterfaceMethods<InferTypeOpInterface>])>;

// An op that a pass can rewrite into primitives (rms_norm, softmax, attention, ...).
class Kiln_CompositeOp<string mnemonic, list<Trait> traits = []>
    : Kiln_InferOp<mnemonic, !listconcat(traits, [Kiln_CompositeOpInterface])>;

//===----------------------------------------------------------------------===//
// Sources
//===----------------------------------------------------------------------===//

def Kiln_ConstantOp : Kiln_InferOp<"constant", [Kiln_NoGrad, ConstantLike]> {
  let summary = "a literal tensor";
  let arguments = (ins ElementsAttr:$value);
  let results = (outs AnyRankedTensor:$result);
  let hasFolder = 1;
}

def Kiln_IotaOp : Kiln_Op<"iota", [Kiln_NoGrad]> {
  let summary = "element = its index along `dimension`";
  let arguments = (ins I64Attr:$dimension);
  let results = (outs AnyRankedTensor:$result);
  let hasVerifier = 1;
}

def Kiln_RandomUniformOp : Kiln_Op<"random_uniform", [Kiln_NoGrad]> {
  let summary = "counter-based uniform samples in [0, 1)";
  let description = [{
    Philox4x32-10 keyed by the two 32-bit halves of `key`, counter = the element's flat
    index; value = (first word >> 8) * 2^-24, rounded to the result type. The same key
    gives the same tensor on every target.
  }];
  let arguments = (ins AnyRankedTensor:$key);
  let results = (outs AnyRankedTensor:$result);
  let hasVerifier = 1;
}

def Kiln_RandomNormalOp : Kiln_Op<"random_normal", [Kiln_NoGrad]> {
  let summary = "counter-based standard normal samples";
  let description = [{
    Box-Muller on the first two Philox words of the element's counter:
    u1 = ((w0 >> 8) + 1) * 2^-24, u2 = (w1 >> 8) * 2^-24,
    value = sqrt(-2 ln u1) cos(2 pi u2).
  }];
  let arguments = (ins AnyRankedTensor:$key);
  let results = (outs AnyRankedTensor:$result);
  let hasVerifier = 1;
}

def Kiln_RandomCategoricalOp : Kiln_InferOp<"random_categorical", [Kiln_NoGrad]> {
  let summary = "one sample per row of logits [..., V] by Gumbel-max";
  let description = [{
    argmax over V of logits + g with g = -ln(-ln u), u drawn as random_uniform,
    clamped to [2^-24, 1 - 2^-24]. The key is tensor<i64> (one key for the whole
    tensor, counter = flat index into [..., V]) or i64 [...] (one key per row,
    counter = index within the row: each row is drawn as if sampled alone with
    its own key). Ties go to the lowest index. Result is i64 of shape [...].
  }];
  let arguments = (ins AnyRankedTensor:$key, AnyRankedTensor:$logits);
  let results = (outs AnyRankedTensor:$result);
}

//===----------------------------------------------------------------------===//
// Elementwise
//===----------------------------------------------------------------------===//

class Kiln_UnaryOp<string mnemonic, string summaryText,
                   list<Trait> gradient = [Kiln_Vjp]>
    : Kiln_InferOp<mnemonic, !listconcat([Kiln_ElementwiseOp], gradient)> {
  let summary = summaryText;
  let description = [{
    Computed in f32 (f64 for f64 operands) and rounded once to the operand type with
    round-to-nearest-even.
  }];
  let arguments = (ins AnyRankedTensor:$x);
  let results = (outs AnyRankedTensor:$result);
}

def Kiln_NegOp : Kiln_UnaryOp<"neg", "-x (float or int)">;
def Kiln_AbsOp : Kiln_UnaryOp<"abs", "|x| (float or int)">;
def Kiln_SignOp : Kiln_UnaryOp<"sign", "-1, 0 or 1; sign(NaN) = NaN (float or int)",
                               [Kiln_NoGrad]>;
def Kiln_ExpOp : Kiln_UnaryOp<"exp", "e^x">;
def Kiln_LogOp : Kiln_UnaryOp<"log", "natural logarithm">;
def Kiln_SqrtOp : Kiln_UnaryOp<"sqrt", "square root">;
def Kiln_RsqrtOp : Kiln_UnaryOp<"rsqrt", "1 / sqrt(x)">;
def Kiln_TanhOp : Kiln_UnaryOp<"tanh", "hyperbolic tangent">;
def Kiln_SigmoidOp : Kiln_UnaryOp<"sigmoid", "1 / (1 + e^-x)">;
def Kiln_SiluOp : Kiln_UnaryOp<"silu", "x * sigmoid(x)">;
def Kiln_GeluOp : Kiln_UnaryOp<"gelu",
    "exact erf form 0.5 x (1 + erf(x / sqrt 2)) (PyTorch approximate='none')">;
def Kiln_ErfOp : Kiln_UnaryOp<"erf", "error function">;
def Kiln_SinOp : Kiln_UnaryOp<"sin", "sine">;
def Kiln_CosOp : Kiln_UnaryOp<"cos", "cosine">;
def Kiln_LogicalNotOp : Kiln_UnaryOp<"logical_not", "not x (i1)", [Kiln_NoGrad]>;

class Kiln_BinaryOp<string mnemonic, string summaryText,
                    list<Trait> gradient = [Kiln_Vjp]>
    : Kiln_InferOp<mnemonic,
                   !listconcat([Kiln_BroadcastingOp, Kiln_ElementwiseOp], gradient)> {
  let summary = summaryText;
  let description = [{
    numpy broadcasting; both operands share one element type, which the result has.
    Float math in f32 (f64 for f64), rounded once; integer math in i64, wrapped.
  }];
  let arguments = (ins AnyRankedTensor:$lhs, AnyRankedTensor:$rhs);
  let results = (outs AnyRankedTensor:$result);
}

def Kiln_AddOp : Kiln_BinaryOp<"add", "lhs + rhs">;
def Kiln_SubOp : Kiln_BinaryOp<"sub", "lhs - rhs">;
def Kiln_MulOp : Kiln_BinaryOp<"mul", "lhs * rhs">;
def Kiln_DivOp : Kiln_BinaryOp<"div",
    "lhs / rhs; integer division truncates toward zero and x / 0 = 0">;
def Kiln_PowOp : Kiln_BinaryOp<"pow", "lhs ^ rhs (float)">;
def Kiln_MaximumOp : Kiln_BinaryOp<"maximum", "max(lhs, rhs), NaN propagates">;
def Kiln_MinimumOp : Kiln_BinaryOp<"minimum", "min(lhs, rhs), NaN propagates">;
def Kiln_LogicalAndOp : Kiln_BinaryOp<"logical_and", "lhs and rhs (i1)", [Kiln_NoGrad]>;
def Kiln_LogicalOrOp : Kiln_BinaryOp<"logical_or", "lhs or rhs (i1)", [Kiln_NoGrad]>;

class Kiln_CompareOp<string mnemonic, string summaryText>
    : Kiln_BinaryOp<mnemonic, summaryText # "; result i1; NaN compares unequal",
                    [Kiln_NoGrad]>;

def Kiln_EqualOp : Kiln_CompareOp<"equal", "lhs == rhs">;
def Kiln_NotEqualOp : Kiln_CompareOp<"not_equal", "lhs != rhs">;
def Kiln_LessOp : Kiln_CompareOp<"less", "lhs < rhs">;
def Kiln_LessEqualOp : Kiln_CompareOp<"less_equal", "lhs <= rhs">;
def Kiln_GreaterOp : Kiln_CompareOp<"greater", "lhs > rhs">;
def Kiln_GreaterEqualOp : Kiln_CompareOp<"greater_equal", "lhs >= rhs">;

def Kiln_SelectOp : Kiln_InferOp<"select",
    [Kiln_Vjp, Kiln_BroadcastingOp, Kiln_ElementwiseOp]> {
  let summary = "cond ? a : b with numpy broadcasting of all three";
  let arguments = (ins AnyRankedTensor:$cond, AnyRankedTensor:$a,
                       AnyRankedTensor:$b);
  let results = (outs AnyRankedTensor:$result);
}

def Kiln_CastOp : Kiln_InferOp<"cast", [Kiln_Vjp, Kiln_ElementwiseOp]> {
  let summary = "element type conversion";
  let description = [{
    float -> float rounds to nearest even; conversion to f8E4M3FN / f8E5M2 saturates
    (overflow and infinity become the largest finite value of that sign, NaN stays NaN).
    float -> int rounds toward zero and saturates, NaN -> 0. int -> float rounds to
    nearest even. int -> int wraps. Anything -> i1 is x != 0; i1 -> anything is 0 or 1.
  }];
  let arguments = (ins AnyRankedTensor:$x, TypeAttr:$to);
  let results = (outs AnyRankedTensor:$result);
  let hasFolder = 1;
}

//===----------------------------------------------------------------------===//
// Shape
//===----------------------------------------------------------------------===//

def Kiln_ReshapeOp : Kiln_InferOp<"reshape", [Kiln_Vjp]> {
  let summary = "same elements in row-major order, new shape";
  let arguments = (ins AnyRankedTensor:$x, DenseI64ArrayAttr:$shape);
  let results = (outs AnyRankedTensor:$result);
  let hasFolder = 1;
  let hasCanonicalizer = 1;
}

def Kiln_TransposeOp : Kiln_InferOp<"transpose", [Kiln_Vjp, Kiln_IndexRemapOp]> {
  let summary = "permute dimensions: result dim i = x dim perm[i]";
  let arguments = (ins AnyRankedTensor:$x, DenseI64ArrayAttr:$perm);
  let results = (outs AnyRankedTensor:$result);
  let hasFolder = 1;
  let hasCanonicalizer = 1;
}

def Kiln_BroadcastToOp : Kiln_InferOp<"broadcast_to",
    [Kiln_Vjp, Kiln_ElementwiseOp]> {
  let summary = "numpy broadcast of x to `shape`";
  let arguments = (ins AnyRankedTensor:$x, DenseI64ArrayAttr:$shape);
  let results = (outs AnyRankedTensor:$result);
  let hasFolder = 1;
}

def Kiln_SliceOp : Kiln_InferOp<"slice", [Kiln_Vjp, Kiln_IndexRemapOp]> {
  let summary = "strided static window [start, limit) with step `stride`";
  let arguments = (ins AnyRankedTensor:$x, DenseI64ArrayAttr:$start,
                       DenseI64ArrayAttr:$limit, DenseI64ArrayAttr:$stride);
  let results = (outs AnyRankedTensor:$result);
  let hasFolder = 1;
}

def Kiln_DynamicUpdateSliceOp : Kiln_InferOp<"dynamic_update_slice", [Kiln_Vjp]> {
  let summary = "x with `update` written at the position held in `start`";
  let description = [{
    `start` is a rank-1 i64 (or other int) tensor with one entry per dimension; each
    entry is clamped to [0, dim - update dim] as in XLA, so the write never leaves x.
  }];
  let arguments = (ins AnyRankedTensor:$x, AnyRankedTensor:$update,
                       AnyRankedTensor:$start);
  let results = (outs AnyRankedTensor:$result);
}

def Kiln_ConcatOp : Kiln_InferOp<"concat", [Kiln_Vjp, Kiln_IndexRemapOp]> {
  let summary = "join tensors along `axis`";
  let arguments = (ins Variadic<AnyRankedTensor>:$inputs, I64Attr:$axis);
  let results = (outs AnyRankedTensor:$result);
  let hasFolder = 1;
}

def Kiln_GatherOp : Kiln_InferOp<"gather", [Kiln_Vjp]> {
  let summary = "numpy take along `axis`; indices clamped into range";
  let description = [{
    Result shape x.shape[:axis] + indices.shape + x.shape[axis+1:].
  }];
  let arguments = (ins AnyRankedTensor:$x, AnyRankedTensor:$indices, I64Attr:$axis);
  let results = (outs AnyRankedTensor:$result);
}

def Kiln_TakeAlongAxisOp : Kiln_InferOp<"take_along_axis", [Kiln_Vjp]> {
  let summary = "numpy take_along_axis; indices clamped into range";
  let arguments = (ins AnyRankedTensor:$x, AnyRankedTensor:$indices, I64Attr:$axis);
  let results = (outs AnyRankedTensor:$result);
}

def Kiln_PutAlongAxisOp : Kiln_InferOp<"put_along_axis", [Kiln_Vjp]> {
  let summary = "x with `values` written at `indices` along `axis` (take_along_axis's inverse)";
  let description = [{
    numpy put_along_axis: indices (integers) have x's rank, K entries along
    `axis` and, in every other dim, x's size or 1 (broadcast); values are x's
    shape with K along `axis`. For each position p of values, x at p with its
    axis coordinate replaced by indices[p] (a size-1 dim read at 0) becomes
    values[p]. An index outside [0, x.shape[axis]) writes nothing (a decode
    row past its cache writes no slot); where two entries of one fiber name
    the same slot the later one (larger position along `axis`) wins. With
    `kiln.in_place` (set by kiln-update-in-place) the result takes x's buffer
    and only the written slots are touched.
  }];
  let arguments = (ins AnyRankedTensor:$x, AnyRankedTensor:$indices,
                       AnyRankedTensor:$values, I64Attr:$axis);
  let results = (outs AnyRankedTensor:$result);
}

def Kiln_ScatterAddOp : Kiln_InferOp<"scatter_add", [Kiln_Vjp]> {
  let summary = "x plus updates added at `indices` along `axis` (gather's transpose)";
  let description = [{
    updates has gather's result shape: x.shape[:axis] + indices.shape +
    x.shape[axis+1:]. Out-of-range indices are dropped; duplicates accumulate in index
    order (the ptx target adds with atomics in the element type: float duplicates in
    arrival order, bf16/f16 rounded after each add; fp8 keeps index order).
  }];
  let arguments = (ins AnyRankedTensor:$x, AnyRankedTensor:$indices,
                       AnyRankedTensor:$updates, I64Attr:$axis);
  let results = (outs AnyRankedTensor:$result);
}

def Kiln_OneHotOp : Kiln_InferOp<"one_hot", [Kiln_NoGrad]> {
  let summary = "indices.shape + [depth], 1 where k == index; out of range is all 0";
  let arguments = (ins AnyRankedTensor:$indices, I64Attr:$depth, TypeAttr:$dtype);
  let results = (outs AnyRankedTensor:$result);
}

def Kiln_BincountOp : Kiln_InferOp<"bincount", [Kiln_NoGrad]> {
  let summary = "i64 counts of each value of a rank-1 int tensor; out of range ignored";
  let arguments = (ins AnyRankedTensor:$x, I64Attr:$length);
  let results = (outs AnyRankedTensor:$result);
}

//===----------------------------------------------------------------------===//
// Reductions and normalisation
//===----------------------------------------------------------------------===//

class Kiln_ReduceOp<string mnemonic, string summaryText>
    : Kiln_InferOp<mnemonic, [Kiln_ReductionOp, Kiln_Vjp]> {
  let summary = summaryText;
  let description = [{
    Reduces `axes` (empty: identity), keeping them as size 1 when `keepdims`. Float
    sums accumulate in f32 (f64 for f64) in index order; max and min propagate NaN;
    integer sums wrap in i64.
  }];
  let arguments = (ins AnyRankedTensor:$x, DenseI64ArrayAttr:$axes,
                       BoolAttr:$keepdims);
  let results = (outs AnyRankedTensor:$result);
}

def Kiln_SumOp : Kiln_ReduceOp<"sum", "sum over axes">;
def Kiln_MeanOp : Kiln_ReduceOp<"mean", "mean over axes">;
def Kiln_MaxOp : Kiln_ReduceOp<"max", "maximum over axes">;
def Kiln_MinOp : Kiln_ReduceOp<"min", "minimum over axes">;
def Kiln_LogSumExpOp : Kiln_ReduceOp<"logsumexp",
    "log(sum(exp(x))) over axes, max-shifted; all -inf gives -inf">;

def Kiln_ArgmaxOp : Kiln_InferOp<"argmax", [Kiln_NoGrad]> {
  let summary = "i64 index of the first maximum along `axis`; NaN counts as maximum";
  let arguments = (ins AnyRankedTensor:$x, I64Attr:$axis, BoolAttr:$keepdims);
  let results = (outs AnyRankedTensor:$result);
}

def Kiln_SoftmaxOp : Kiln_CompositeOp<"softmax", [Kiln_Vjp]> {
  let summary = "exp(x - max) / sum(exp(x - max)) along `axis`, in f32";
  let arguments = (ins AnyRankedTensor:$x, I64Attr:$axis);
  let results = (outs AnyRankedTensor:$result);
}

def Kiln_LogSoftmaxOp : Kiln_CompositeOp<"log_softmax", [Kiln_Vjp]> {
  let summary = "x - logsumexp(x) along `axis`, in f32";
  let arguments = (ins AnyRankedTensor:$x, I64Attr:$axis);
  let results = (outs AnyRankedTensor:$result);
}

def Kiln_CumsumOp : Kiln_InferOp<"cumsum", [Kiln_Vjp]> {
  let summary = "running sum along `axis` in index order";
  let description = [{
    `reverse` sums from the end; `exclusive` shifts by one so the first element is 0.
    Float sums accumulate in f32 (f64 for f64).
  }];
  let arguments = (ins AnyRankedTensor:$x, I64Attr:$axis, BoolAttr:$exclusive,
                       BoolAttr:$reverse);
  let results = (outs AnyRankedTensor:$result);
}

def Kiln_RmsNormOp : Kiln_CompositeOp<"rms_norm", [Kiln_Vjp]> {
  let summary = "weight * (x * rsqrt(mean(x^2, last axis) + eps))";
  let description = [{
    Computed in f32 (f64 for f64) and rounded once to x's type; weight has shape [D]
    and x's element type.
  }];
  let arguments = (ins AnyRankedTensor:$x, AnyRankedTensor:$weight, F64Attr:$eps);
  let results = (outs AnyRankedTensor:$result);
}

//===----------------------------------------------------------------------===//
// Linear algebra
//===----------------------------------------------------------------------===//

def Kiln_MatmulOp : Kiln_InferOp<"matmul", [Kiln_Vjp]> {
  let summary = "batched a @ b with transpose flags and batch broadcasting";
  let description = [{
    a [..., M, K], b [..., K, N] (after swapping the last two dims of an operand whose
    transpose flag is set); batch dims broadcast. Both operands share an element type;
    products accumulate in f32 (f64 for f64) and the result is rounded once to it.
  }];
  let arguments = (ins AnyRankedTensor:$a, AnyRankedTensor:$b,
                       BoolAttr:$transpose_a, BoolAttr:$transpose_b);
  let results = (outs AnyRankedTensor:$result);
}

def Kiln_GroupedMatmulOp : Kiln_InferOp<"grouped_matmul", [Kiln_Vjp]> {
  let summary = "the dropless MoE primitive: one matmul per group of rows";
  let description = [{
    `offsets` [E] holds cumulative end rows (torch._grouped_mm's offs): group e is rows
    [offsets[e-1], offsets[e]).
    mode rows: x [T, K], w [E, K, N] ([E, N, K] with transpose_w) -> [T, N]; rows of
    group e use w[e]; rows past offsets[E-1] are 0 (forward and input gradient).
    mode contract: x [T, K], w holds dy [T, N] -> [E, K, N], dw[e] = x_e^T dy_e (the
    weight gradient); empty groups give 0. Accumulation in f32 (f64 for f64).
  }];
  let arguments = (ins AnyRankedTensor:$x, AnyRankedTensor:$w,
                       AnyRankedTensor:$offsets, Kiln_GroupedMatmulModeAttr:$mode,
                       BoolAttr:$transpose_w);
  let results = (outs AnyRankedTensor:$result);
}

//===----------------------------------------------------------------------===//
// Selection
//===----------------------------------------------------------------------===//

def Kiln_TopkOp : Kiln_InferOp<"topk", [Kiln_Vjp]> {
  let summary = "the k largest along the last axis, largest first, with i64 indices";
  let description = [{
    Ties keep the lower index first; NaN counts as the largest value.
  }];
  let arguments = (ins AnyRankedTensor:$x, I64Attr:$k);
  let results = (outs AnyRankedTensor:$values, AnyRankedTensor:$indices);
}

def Kiln_SortOp : Kiln_InferOp<"sort", [Kiln_Vjp]> {
  let summary = "stable sort along `axis` (ties keep index order)";
  let arguments = (ins AnyRankedTensor:$x, I64Attr:$axis, BoolAttr:$descending);
  let results = (outs AnyRankedTensor:$result);
}

def Kiln_ArgsortOp : Kiln_InferOp<"argsort", [Kiln_NoGrad]> {
  let summary = "i64 indices of a stable sort along `axis`";
  let arguments = (ins AnyRankedTensor:$x, I64Attr:$axis, BoolAttr:$descending);
  let results = (outs AnyRankedTensor:$result);
}

//===----------------------------------------------------------------------===//
// Model ops (composites)
//===----------------------------------------------------------------------===//

def Kiln_RotaryOp : Kiln_CompositeOp<"rotary", [Kiln_Vjp]> {
  let summary = "rotary position embedding of x [..., S, D]";
  let description = [{
    cos and sin broadcast to [..., S, D/2]. Pairs are (x[2i], x[2i+1]) when
    `interleaved`, else (x[i], x[i + D/2]); (a, b) -> (a cos - b sin, b cos + a sin).
  }];
  let arguments = (ins AnyRankedTensor:$x, AnyRankedTensor:$cos,
                       AnyRankedTensor:$sin, BoolAttr:$interleaved);
  let results = (outs AnyRankedTensor:$result);
}

def Kiln_AttentionOp : Kiln_CompositeOp<"attention", [Kiln_Vjp, AttrSizedOperandSegments]> {
  let summary = "scaled dot-product attention with GQA, causal offset and lengths";
  let description = [{
    q [B, Hq, Sq, Dk], k [B, Hkv, Sk, Dk], v [B, Hkv, Sk, Dv] -> [B, Hq, Sq, Dv].
    Query head h reads kv head h / (Hq / Hkv). Key j is visible to query i when
    j < valid_len[b] (all keys without valid_len) and, if `causal`,
    j <= i + q_offset[b] (0 without q_offset). softmax(scale * q k^T) over the visible
    keys in f32; a query that sees no key gives 0.
  }];
  let arguments = (ins AnyRankedTensor:$q, AnyRankedTensor:$k, AnyRankedTensor:$v,
                       Optional<AnyRankedTensor>:$valid_len,
                       Optional<AnyRankedTensor>:$q_offset,
                       F64Attr:$scale, BoolAttr:$causal);
  let results = (outs AnyRankedTensor:$result);
}

def Kiln_CrossEntropyOp : Kiln_CompositeOp<"cross_entropy", [Kiln_Vjp]> {
  let summary = "-log_softmax(logits)[label] per position; label out of range gives 0";
  let arguments = (ins AnyRankedTensor:$logits, AnyRankedTensor:$labels);
  let results = (outs AnyRankedTensor:$result);
}

def Kiln_TokenLogprobsOp : Kiln_CompositeOp<"token_logprobs", [Kiln_Vjp]> {
  let summary = "log_softmax(logits)[token] per position; token out of range gives 0";
  let arguments = (ins AnyRankedTensor:$logits, AnyRankedTensor:$tokens);
  let results = (outs AnyRankedTensor:$result);
}

//===----------------------------------------------------------------------===//
// Mixture of experts (made by kiln-fuse-moe from the dispatch that model code
// writes with ordinary ops; docs/OPS.md has the pattern and the rounding)
//===----------------------------------------------------------------------===//

def Kiln_MoeRouteOp : Kiln_CompositeOp<"moe_route", [Kiln_Vjp]> {
  let summary = "DeepSeek-V3's group-limited top-k routing of scored tokens";
  let description = [{
    scores [T, E] and bias [E] (both f32, or both f64) -> experts [T, k] i64 and
    weights [T, k] in the scores' type, with E = num_groups * n and n >= 2.
    choice = scores + bias picks the experts and never weighs them. A group's
    score is the sum of its two largest choices; the topk_group best groups are
    kept; the k best choices of the kept groups are the experts (the others
    count as -inf), best first. Every ranking is topk's: larger first, ties to
    the lower index, NaN largest. w_j = scores[t, experts[t, j]]; with
    `normalize`, w_j = w_j / (sum_j w_j + epsilon), the sum taken in index
    order in the scores' type; then w_j = w_j * scaling. Equal, bit for bit, to
    the ops kiln-fuse-moe replaces (transformers' DeepseekV3TopkRouter). The
    gradient reaches scores through the chosen weights only (bias: none).
  }];
  let arguments = (ins AnyRankedTensor:$scores, AnyRankedTensor:$bias,
                       I64Attr:$num_groups, I64Attr:$topk_group,
                       I64Attr:$top_k, BoolAttr:$normalize,
                       F64Attr:$epsilon, F64Attr:$scaling);
  let results = (outs AnyRankedTensor:$experts, AnyRankedTensor:$weights);
}

def Kiln_MoePlanOp : Kiln_CompositeOp<"moe_plan", [Kiln_NoGrad]> {
  let summary = "the dropless dispatch plan of top-k routing: permutation and offsets";
  let description = [{
    experts [T, k] (integers; T tokens, k experts each) -> order [T*k], slot [T, k],
    offsets [E], all i64. The T*k (token, choice) pairs, flattened as t*k + j, are
    sorted stably by expert: `order[p]` is the pair at sorted position p (so its
    token is order[p] / k), `slot[t, j]` is the position of pair (t, j) (order's
    inverse), `offsets[e]` is the end position of expert e's rows (inclusive cumsum
    of the counts; torch._grouped_mm's offs). Experts outside [0, E) are counted by
    no expert and sort as integers do, so their rows fall past offsets[E-1]. Equal
    to argsort + bincount + cumsum, exactly.
  }];
  let arguments = (ins AnyRankedTensor:$experts, I64Attr:$num_experts);
  let results = (outs AnyRankedTensor:$order, AnyRankedTensor:$slot,
                      AnyRankedTensor:$offsets);
}

def Kiln_MoeGateUpOp : Kiln_CompositeOp<"moe_gate_up", [Kiln_Vjp]> {
  let summary = "the experts' gate and up projections over gathered tokens, with SwiGLU";
  let description = [{
    tokens [T, H], w_gate and w_up [E, I, H] (HF's gate_proj / up_proj layout),
    order [T*k] and offsets [E] from moe_plan -> act, gate, up [T*k, I] in the
    tokens' type. Row p reads token order[p] / k (k = T*k / T; no copy of the
    gathered rows need exist) and uses expert e with offsets[e-1] <= p <
    offsets[e]: gate_p = x w_gate[e]^T and up_p = x w_up[e]^T, each accumulated
    in f32 (f64 for f64) and rounded once to the type; act_p = silu(gate_p) *
    up_p computed in f32 from those rounded values and rounded once. Rows past
    offsets[E-1] are 0. gate and up are kept for the gradient.
  }];
  let arguments = (ins AnyRankedTensor:$tokens, AnyRankedTensor:$w_gate,
                       AnyRankedTensor:$w_up, AnyRankedTensor:$order,
                       AnyRankedTensor:$offsets);
  let results = (outs AnyRankedTensor:$act, AnyRankedTensor:$gate,
                      AnyRankedTensor:$up);
}

def Kiln_MoeDownOp : Kiln_CompositeOp<"moe_down", [Kiln_Vjp]> {
  let summary = "the experts' down projection, routing weights and deterministic combine";
  let description = [{
    act [T*k, I], w_down [E, H, I], weights [T, k] (any float type), order and
    offsets from moe_plan, slot [T, k] from moe_plan -> [T, H] in act's type.
    Row p of expert e is r_p = w * (act_p w_down[e]^T) with w = weights at pair
    order[p], accumulated in f32 and rounded once to the type (rows past
    offsets[E-1] are 0); token t's output is moe_combine of those rows: its k
    rows summed in f32 in ascending position (= ascending expert) order and
    rounded once. No float atomics: the bits do not depend on scheduling.
  }];
  let arguments = (ins AnyRankedTensor:$act, AnyRankedTensor:$w_down,
                       AnyRankedTensor:$weights, AnyRankedTensor:$order,
                       AnyRankedTensor:$slot, AnyRankedTensor:$offsets);
  let results = (outs AnyRankedTensor:$result);
}

def Kiln_MoeCombineOp : Kiln_CompositeOp<"moe_combine", [Kiln_Vjp]> {
  let summary = "each token's k routed rows summed in a fixed order";
  let description = [{
    rows [T*k, H], order [T*k] and slot [T, k] from moe_plan -> [T, H]:
    y_t = sum of rows[slot[t, j]] over j, taken in ascending slot order (the
    order the experts sort in), accumulated in f32 (f64 for f64) and rounded
    once. The transpose of gathering each row's token (order[p] / k): the
    deterministic replacement for scatter_add of expert rows.
  }];
  let arguments = (ins AnyRankedTensor:$rows, AnyRankedTensor:$order,
                       AnyRankedTensor:$slot);
  let results = (outs AnyRankedTensor:$result);
}

//===----------------------------------------------------------------------===//
// Quantization (docs/OPS.md "Quantization"): block-scaled narrow formats, the
// ops kiln-lower-precision writes for the choices kiln-assign-precision makes.
// A `block` attribute has one size per dimension of the stored tensor; the
// scale tensor has ceil(dim / size) entries per dimension, so a block that
// reaches past the end (a partial last block, or a size larger than the
// dimension) is scaled on its own.
//===----------------------------------------------------------------------===//

def Kiln_QuantizeOp : Kiln_CompositeOp<"quantize", [Kiln_Vjp]> {
  let summary = "x in a narrow type with one f32 scale per block (current scaling)";
  let description = [{
    x (f32, bf16 or f16) -> q of `dtype` (f8E4M3FN, f8E5M2, i8 or i4) in x's
    shape, and scale f32 [ceil(d_i / block_i)...]. Per block, in f32:
    amax = max |x| (NaN if any element is NaN); scale = amax / qmax, qmax
    being the type's largest finite (448, 57344, 127, 7); a scale of 0
    becomes 1. q = x / scale, divided in f32 (correctly rounded) and then
    converted once: f8 by round-to-nearest-even, saturating at +-qmax;
    integers round half to even and clamp to [-qmax, qmax] (NaN -> 0).
    dequantize(q, scale) brings the block back within half a unit of q's
    last place times scale. Gradient (straight-through): d x = d q / scale,
    none to the scale (scales are constants to autodiff, as in DeepSeek-V3's
    and Transformer Engine's recipes); the cotangent of a float8 value is
    carried in f32.
  }];
  let arguments = (ins AnyRankedTensor:$x, DenseI64ArrayAttr:$block,
                       TypeAttr:$dtype);
  let results = (outs AnyRankedTensor:$q, AnyRankedTensor:$scale);
}

def Kiln_DequantizeOp : Kiln_CompositeOp<"dequantize", [Kiln_Vjp]> {
  let summary = "q times its block's scale, in `dtype`";
  let description = [{
    q (f8E4M3FN, f8E5M2, i8 or i4) and scale f32 [ceil(d_i / block_i)...] ->
    `dtype` (f32, bf16 or f16) in q's shape: f32(q) * scale of q's block,
    in f32, rounded once. Gradient: d q = d y * scale (in f32 for a float8
    q; an integer q has none), none to the scale.
  }];
  let arguments = (ins AnyRankedTensor:$q, AnyRankedTensor:$scale,
                       DenseI64ArrayAttr:$block, TypeAttr:$dtype);
  let results = (outs AnyRankedTensor:$result);
}

def Kiln_ScaledMatmulOp : Kiln_CompositeOp<"scaled_matmul", [Kiln_Vjp]> {
  let summary = "a @ b of two block-scaled float8 matrices, promoted per K block";
  let description = [{
    a [M, K] ([K, M] with transpose_a) and b [K, N] ([N, K] with transpose_b),
    both float8, each with an f32 scale over its stored layout in blocks of
    a_block / b_block; the two blocks' K sizes must be equal (the promotion
    interval, 128 in DeepSeek-V3's recipe) -> `dtype` (f32, bf16 or f16)
    [M, N]. For each K block kb, P = sum over its k of a[m, k] * b[k, n] in
    f32 in ascending k (the products are exact), then
    acc += P * (scale_a(m, kb) * scale_b(kb, n)) in f32 over ascending kb;
    the result is acc rounded once. Tensor-core kernels sum inside a K block
    in their own order (within the tests/gpu tolerance). Gradient: that of
    dequantize(a) @ dequantize(b), carried to a and b as dequantize's rule
    does (in f32), none to the scales.
  }];
  let arguments = (ins AnyRankedTensor:$a, AnyRankedTensor:$a_scale,
                       AnyRankedTensor:$b, AnyRankedTensor:$b_scale,
                       DenseI64ArrayAttr:$a_block, DenseI64ArrayAttr:$b_block,
                       BoolAttr:$transpose_a, BoolAttr:$transpose_b,
                       TypeAttr:$dtype);
  let results = (outs AnyRankedTensor:$result);
}

//===----------------------------------------------------------------------===//
// Collectives (docs/OPS.md "Collectives"). Every rank runs the same program;
// `group_size` is the number of ranks it was compiled for, and a group is all of
// them. They communicate, so they are not Pure: no pass may drop, merge or
// reorder one, and every rank issues them in program order.
//===----------------------------------------------------------------------===//

// An op that exchanges data with other ranks.
class Kiln_CollectiveOp<string mnemonic, list<Trait> traits = []>
    : Op<Kiln_Dialect, mnemonic, !listconcat(traits,
          [MemoryEffects<[MemRead, MemWrite]>,
           DeclareOpInterfaceMethods<InferTypeOpInterface>])> {
  let assemblyFormat = "operands attr-dict `:` functional-type(operands, results)";
}

def Kiln_AllReduceOp : Kiln_CollectiveOp<"all_reduce", [Kiln_Vjp]> {
  let summary = "every rank gets the elementwise reduction of every rank's x";
  let description = [{
    x -> the same type. `reduction` is "sum", "max" or "min". A sum of floats
    is accumulated in f32 (f64 for f64) over ranks 0, 1, ..., group_size-1 in
    that order and rounded once, so every rank gets the same bits. Gradient,
    with the objective taken as the sum of every rank's loss: d x = all_reduce
    sum of d y (max / min: d y where x equals the result, else 0).
  }];
  let arguments = (ins AnyRankedTensor:$x, StrAttr:$reduction,
                       I64Attr:$group_size);
  let results = (outs AnyRankedTensor:$result);
}

def Kiln_AllGatherOp : Kiln_CollectiveOp<"all_gather", [Kiln_Vjp]> {
  let summary = "every rank's x concatenated along `axis`, in rank order";
  let description = [{
    x -> x with dimension `axis` multiplied by group_size; rank r's x is block
    r. Gradient: reduce_scatter (sum) of d y along the same axis.
  }];
  let arguments = (ins AnyRankedTensor:$x, I64Attr:$axis, I64Attr:$group_size);
  let results = (outs AnyRankedTensor:$result);
}

def Kiln_ReduceScatterOp : Kiln_CollectiveOp<"reduce_scatter", [Kiln_Vjp]> {
  let summary = "block r of the sum over ranks of x, on rank r";
  let description = [{
    x -> x with dimension `axis` divided by group_size (which must divide it):
    rank r gets block r of all_reduce sum of x, accumulated as all_reduce does.
    Gradient: all_gather of d y along the same axis.
  }];
  let arguments = (ins AnyRankedTensor:$x, I64Attr:$axis, I64Attr:$group_size);
  let results = (outs AnyRankedTensor:$result);
}

def Kiln_AllToAllOp : Kiln_CollectiveOp<"all_to_all", [Kiln_Vjp]> {
  let summary = "rows sent to each rank by per-peer counts (MoE dispatch)";
  let description = [{
    x [N, ...] and send_counts [group_size] (i64) -> y [capacity, ...] of x's
    type and recv_counts [group_size] (i64). Rows [c_0 + ... + c_(p-1),
    c_0 + ... + c_p) of x go to rank p (rows past the sum of the counts are not
    sent); y holds the rows received, packed in ascending source rank order,
    zeros after them, and recv_counts[s] rows came from rank s. The counts are
    data: the executor copies them to the host once per op (MPI_Alltoallv and
    NCCL's send/recv need them there), and a count that is negative, sends
    more rows than x has or receives more than `capacity` is a run-time error
    naming the op. Gradient: the reverse all_to_all, d x = all_to_all(d y,
    recv_counts) with capacity N, whose rows land where they were sent from.
  }];
  let arguments = (ins AnyRankedTensor:$x, AnyRankedTensor:$send_counts,
                       I64Attr:$capacity, I64Attr:$group_size);
  let results = (outs AnyRankedTensor:$result, AnyRankedTensor:$recv_counts);
}

def Kiln_SendOp : Kiln_CollectiveOp<"send", [Kiln_Vjp]> {
  let summary = "sends x to rank `peer`, which runs the matching kiln.recv";
  let description = [{
    No result. Sends and receives between two ranks match in program order.
    Gradient: d x is received from `peer` (the peer's recv sends its
    cotangent back); kiln-grad differentiates a send whose x depends on a wrt
    value even though the loss does not read it.
  }];
  let arguments = (ins AnyRankedTensor:$x, I64Attr:$peer, I64Attr:$group_size);
}

def Kiln_RecvOp : Kiln_CollectiveOp<"recv", [Kiln_Vjp]> {
  let summary = "receives a tensor of `type` from rank `peer`'s kiln.send";
  let description = [{
    -> a tensor of `type`. Gradient: d y is sent back to `peer`, whose send
    receives it as its x's cotangent.
  }];
  let arguments = (ins TypeAttr:$type, I64Attr:$peer, I64Attr:$group_size);
  let results = (outs AnyRankedTensor:$result);
}

//===----------------------------------------------------------------------===//
// Autodiff
//===----------------------------------------------------------------------===//

def Kiln_GradOp : Kiln_InferOp<"grad", [Kiln_NoGrad]> {
  let summary = "gradients of a scalar loss with respect to values it depends on";
  let description = [{
    Result i is d loss / d wrt[i], computed by reverse-mode differentiation of the
    ops between the wrt values and the loss in the enclosing block (the way
    tf.gradients reads a graph). kiln-grad expands it into ordinary kiln ops using
    each op's VjpOpInterface; a wrt value the loss does not depend on gets zeros.
    Ops tagged with an integer `kiln.remat` attribute are recomputed in the
    backward pass instead of keeping their results alive (rematerialisation).
  }];
  let arguments = (ins AnyRankedTensor:$loss, Variadic<AnyRankedTensor>:$wrt);
  let results = (outs Variadic<AnyRankedTensor>:$grads);
}

//===----------------------------------------------------------------------===//
// Compiler structure (made by passes, never by the frontend)
//===----------------------------------------------------------------------===//

def Kiln_DispatchOp : Op<Kiln_Dialect, "dispatch",
    [RecursiveMemoryEffects, SingleBlock, Kiln_NoGrad]> {
  let summary = "the ops of one kernel: a fusion region";
  let description = [{
    Made by `kiln-form-fusions` on the ptx target, as IREE's flow.dispatch.region:
    the body holds the ops that one kernel computes, ending in a `kiln.yield` of
    the region's root (the one op whose results leave it). Every other op of the
    body is a producer recomputed where the root reads it, so its result never
    reaches memory. Values defined above are captured implicitly: they are the
    kernel's inputs. `kernel`, set by `kiln-select-kernels`, names the provider of
    the target's kernel table that lowers the region (e.g. "loop_nest",
    "wgmma_matmul", "sort"); codegen dispatches on it and decides nothing.
  }];
  let arguments = (ins OptionalAttr<StrAttr>:$kernel);
  let results = (outs Variadic<AnyRankedTensor>:$results);
  let regions = (region SizedRegion<1>:$body);
  let assemblyFormat = "(`kernel` $kernel^)? attr-dict `:` type($results) $body";
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// The op whose results the region yields.
    ::mlir::Operation *getRoot();
  }];
}

def Kiln_YieldOp : Op<Kiln_Dialect, "yield",
    [Pure, Terminator, ReturnLike, HasParent<"DispatchOp">, Kiln_NoGrad]> {
  let summary = "the results of a kiln.dispatch region";
  let arguments = (ins Variadic<AnyRankedTensor>:$values);
  let assemblyFormat = "$values attr-dict `:` type($values)";
}

#endif // KILN_OPS_TD
