//===- Passes.td - kiln graph passes ----------------------------*- tablegen -*-===//
//
// Graph-to-graph transformations over the kiln dialect.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_PASSES_TD
#define KILN_PASSES_TD

include "mlir/Pass/PassBase.td"

def Decompose : Pass<"kiln-decompose", "::mlir::ModuleOp"> {
  let summary = "Rewrite composite ops into kiln primitives";
  let description = [{
    Expands rms_norm, softmax, log_softmax, rotary, attention, cross_entropy,
    token_logprobs and the fused MoE ops (moe_plan, moe_gate_up, moe_down,
    moe_combine) into elementwise, reduction, matmul and shape primitives with the
    same semantics (f32 compute for narrow float types; the MoE combine stays a
    fixed-order reduction). Targets that have no fused
    kernel for a composite run this; others keep the fused op.
  }];
  let options = [
    ListOption<"onlyOps", "ops", "std::string",
               "Decompose only these composite ops (names without 'kiln.')">
  ];
  let dependentDialects = ["::kiln::ir::KilnDialect"];
}

def Grad : Pass<"kiln-grad", "::mlir::ModuleOp"> {
  let summary = "Expand kiln.grad by reverse-mode differentiation";
  let description = [{
    Replaces every kiln.grad with the ops computing its gradients, built from each
    op's VjpOpInterface rule, summing the contributions of every use. Ops carrying
    an integer `kiln.remat` attribute are recomputed in the backward pass (one
    clone per group) instead of keeping their forward results alive.
  }];
  let dependentDialects = ["::kiln::ir::KilnDialect"];
}

def FuseMoe : Pass<"kiln-fuse-moe", "::mlir::ModuleOp"> {
  let summary = "Rewrite the dropless MoE dispatch into fused MoE ops";
  let description = [{
    First rewrites DeepSeek-V3's routing (group-limited top-k of scores plus
    a correction bias, the chosen scores gathered, normalised and scaled) into
    kiln.moe_route. Then finds the MoE layer that model code writes with
    ordinary ops (argsort,
    bincount and cumsum of the chosen experts, a gather of the tokens, gate and
    up grouped products with SwiGLU, a down product scaled by the routing
    weights, and scatter_add into zeros) and replaces it with kiln.moe_plan,
    kiln.moe_gate_up and kiln.moe_down: no gathered copy of the tokens, and a
    combine that sums each token's rows in a fixed order. Runs before kiln-grad
    so the backward comes from the fused ops' gradient rules. A layer that
    differs in any piece (another divisor than k, offsets from another plan, an
    intermediate used elsewhere) is left alone.
  }];
  let dependentDialects = ["::kiln::ir::KilnDialect"];
}

def AssignPrecision : Pass<"kiln-assign-precision", "::mlir::ModuleOp"> {
  let summary = "Choose the precision of every weight GEMM (a policy, or per weight)";
  let description = [{
    Runs before kiln-grad. With policy `fp8` (DeepSeek-V3's recipe), every
    kiln.matmul whose b operand is a float parameter (a state argument of kind
    "parameter", read through casts, reshapes and transposes) gets a
    `kiln.precision` attribute: {dtype = f8E4M3FN, block = 128, weight =
    "<parameter name>"}. kiln-grad copies it onto the matmuls of that
    matmul's gradient, so the forward GEMM and both backward GEMMs run in fp8;
    kiln-lower-precision then writes the quantize and scaled_matmul ops.
    Parameters whose name contains one of the `keep` patterns stay in the
    type the model wrote (default: the embedding and output head, and the
    MoE router `mlp.gate.weight`), as do attention's activation-by-activation
    products and every non-matmul op (norms, softmax, the optimizer's f32
    state). Policy `int4` (weight-only, for inference: a module with
    kiln.grad is refused, integer weights having no gradient) tags the same
    matmuls with dtype i4; their weights are quantized group-wise along K
    (groups of `block`) and dequantized in front of the matmul. Policy
    `fp8-delayed` tags as fp8 does, adding `scaling = "delayed", history =
    16`: Transformer Engine's delayed scaling (see kiln-lower-precision).
    Policy `bf16`
    (the default) keeps the model's types and tags nothing.

    `assign` chooses per weight: each entry `WEIGHT=bf16|fp8|int4` applies to
    the parameter of that name or, failing an exact name, to every parameter
    whose name contains WEIGHT (the first such entry wins), before the policy
    and the keep patterns, which decide the weights no entry names. This is
    how a mixed assignment (the `auto` policy's calibration,
    models/precision/) becomes IR that kiln-opt reruns. An entry that is not
    WEIGHT=TYPE, or that matches no weight GEMM of the module, is an error
    naming it.
  }];
  let options = [
    Option<"policy", "policy", "std::string", "\"bf16\"",
           "bf16 (the types the model wrote), fp8 (DeepSeek-V3's block-scaled E4M3 GEMMs), fp8-delayed (E4M3 with delayed per-tensor scaling) or int4 (weight-only, inference)">,
    ListOption<"keep", "keep", "std::string",
               "Parameter name substrings that stay in the model's type "
               "(default embed_tokens, lm_head, mlp.gate.weight)">,
    ListOption<"assign", "assign", "std::string",
               "Per-weight choices WEIGHT=bf16|fp8|int4 (an exact parameter "
               "name, else a substring), ahead of policy and keep">,
    Option<"blockSize", "block", "int64_t", "128",
           "Scale block: 1 x block for activations along K, block x block for weights">
  ];
  let dependentDialects = ["::kiln::ir::KilnDialect"];
}

def LowerPrecision : Pass<"kiln-lower-precision", "::mlir::ModuleOp"> {
  let summary = "Write the quantize and scaled_matmul ops of kiln.precision choices";
  let description = [{
    Runs after kiln-grad. Each kiln.matmul carrying `kiln.precision` becomes a
    kiln.quantize of each operand and a kiln.scaled_matmul in the matmul's
    type: an operand read from the named weight (through casts, reshapes and
    transposes) in block x block tiles, any other (activations, output
    gradients) in 1 x block tiles along K over its stored layout; batch
    dimensions of a are folded into rows. An i4 choice quantizes only the
    weight, group-wise along K, and dequantizes it to its type in front of
    the unchanged matmul. A matmul it cannot lower (batched b)
    keeps its type and loses the tag, with a remark naming it. A choice
    with `scaling = "delayed"` quantizes each operand with one scale,
    max(history) / qmax (the current amax / qmax while the history is all
    zero), spread over the same blocks, and returns the history with this
    step's amax shifted in: a state "precision.amax.<weight>.<n>" of kind
    "precision" (tensor<history x f32>, zeros) that its function reads and
    returns, so it updates in place and checkpoints keep it.
  }];
  let dependentDialects = ["::kiln::ir::KilnDialect"];
}

def MergeSiblingMatmuls : Pass<"kiln-merge-sibling-matmuls", "::mlir::ModuleOp"> {
  let summary = "Multiply one activation by several weights in one GEMM";
  let description = [{
    kiln.matmul ops of one function that read the same A (with the same
    transpose_a) and different rank-2 weights that are parameters the
    function does not write (same type and transpose_b, same result element
    type, no attributes of their own) become one kiln.matmul over the weights
    concatenated along N; each result is a slice of its output. MLA's q_a
    and kv_a projections, which both read the normed hidden state, become
    one GEMM launch, as XLA's DotMerger merges dots sharing an operand. The
    two projections of a SwiGLU MLP (passes/GatedMatmuls.h) stay apart: the
    gated kernel multiplies both without writing either. Every output column
    is the same dot product over the same K as before. The pipeline runs the
    pass just before kiln-hoist-derived-state, which makes the weights'
    concatenation derived state computed once; without that the concat
    would run every call, so the pipeline adds neither without the other.
  }];
  let dependentDialects = ["::kiln::ir::KilnDialect"];
}

def HoistDerivedState : Pass<"kiln-hoist-derived-state", "::mlir::ModuleOp"> {
  let summary = "Compute what entries derive from parameters once, as derived state";
  let description = [{
    Work that depends only on parameters (casts of norm and router weights,
    a weight's quantization to fp8 or int4, a transposed copy) gives the
    same tensor every call until a parameter changes, yet an entry
    recomputes it on every call: a decode step re-quantizes every weight.
    This pass moves it out, as IREE's hoist-into-globals does with constant
    expressions. In each public function, a value computed by pure ops from
    parameters (state of kind "parameter") that the function does not write,
    and constants, and used by other work, becomes an argument reading a
    state "derived.<parameter>.<n>" of kind "derived". Its state table entry
    names the parameters it is `sources` and the `entry` that computes it:
    one function, "kiln.derive_state", reads every source and returns every
    derived state (equal computations of several entries are computed and
    stored once). The executor runs that entry before an entry that reads
    derived state whenever a source was written since it last ran (a train
    step between two decode calls), so results are bit for bit the same as
    without the pass. A value is hoisted only when its computation holds an
    op other than reshape, and when it is no larger than the parameters it
    reads or at most `max-growth-bytes` (a widening cast of an embedding
    table read by a gather would cost memory and save nothing). A function
    named "kiln.derive_state" already present is an error.
  }];
  let options = [
    Option<"maxGrowthBytes", "max-growth-bytes", "int64_t", "1048576",
           "Largest derived tensor hoisted when it is larger than its sources">,
    Option<"keepInt4WeightDequantize", "keep-int4-weight-dequantize", "bool",
           "false",
           "Leave in the entry the int4 weight dequantizes a GEMM reads "
           "(isGemmInt4Weight), so derived state holds the packed int4 "
           "weight and its scales: for targets whose GEMM dequantizes in "
           "registers (the ptx target's mma_int4_matmul)">
  ];
  let dependentDialects = ["::kiln::ir::KilnDialect"];
}

def InstrumentPrecision : Pass<"kiln-instrument-precision", "::mlir::ModuleOp"> {
  let summary = "Compute every candidate weight GEMM in each precision, chosen by a switch input";
  let description = [{
    For the `auto` precision policy's calibration: one compiled graph
    measures what quantizing each weight alone, or any mix, does to the
    output, instead of a compile per candidate. The candidates are the
    matmuls kiln-assign-precision's narrow policies would tag (a float
    rank-2 weight read from a parameter), minus the `keep` patterns. Each
    function that holds one gains a last argument `precision_switch`
    (tensor<N x f32>, N candidate weights, kiln.name "precision_switch"), and
    each candidate matmul `y` becomes
      select(switch[i] == 2, y_int4, select(switch[i] == 1, y_fp8, y))
    where y_fp8 and y_int4 are clones tagged with kiln.precision for
    kiln-lower-precision (the values follow the `choices` option: value k
    selects choices[k-1]). A select copies the chosen operand, so a switch of
    zeros gives the unquantized graph's values bit for bit, and switch[i] =
    k the values of the graph where only weight i takes choices[k-1]. Weight
    i is the module attribute `kiln.precision_switch = {input =
    "precision_switch", weights = [...], values = ["bf16", choices...]}`'s
    weights[i] (in the order the matmuls first appear). int4 having no
    gradient, a module with kiln.grad is refused while int4 is a choice.
  }];
  let options = [
    ListOption<"keep", "keep", "std::string",
               "Parameter name substrings that are no candidate "
               "(default embed_tokens, lm_head, mlp.gate.weight)">,
    ListOption<"choices", "choices", "std::string",
               "Narrow types each candidate is computed in, switch values 1, "
               "2, ...: fp8 and/or int4 (default fp8,int4)">,
    Option<"blockSize", "block", "int64_t", "128",
           "Scale block, as kiln-assign-precision's">
  ];
  let dependentDialects = ["::kiln::ir::KilnDialect"];
}

def DataParallel : Pass<"kiln-data-parallel", "::mlir::ModuleOp"> {
  let summary = "Average replicated parameters' gradients over data-parallel ranks";
  let description = [{
    Every rank runs the same training step on its own slice of the global
    batch. For each kiln.grad, the gradient of every replicated parameter (a
    state argument of kind "parameter" whose kiln.state entry has no
    `sharding`) becomes kiln.all_reduce (sum) of it times 1 / group-size (a
    sharded parameter's gradient, which already sums every rank's loss
    through kiln-expert-parallel's exchanges, is only scaled), and
    the loss, where the function returns it, is averaged the same way (the
    gradients' all_reduces are marked `kiln.gradient` for
    kiln-bucket-gradients): the
    step then sees the gradient and loss of the global batch, taking the
    loss to be a mean over equal slices. Gradients with respect to inputs and
    intermediates stay local. Runs before kiln-grad (it rewrites kiln.grad's
    results, not the backward); a group size of 1 leaves the module alone.
  }];
  let options = [
    Option<"groupSize", "group-size", "int64_t", "1",
           "Number of data-parallel ranks">
  ];
  let dependentDialects = ["::kiln::ir::KilnDialect"];
}

def ShardOptimizerState : Pass<"kiln-shard-optimizer-state", "::mlir::ModuleOp"> {
  let summary = "ZeRO-1: each data-parallel rank keeps and updates 1/G of the optimizer state";
  let description = [{
    DeepSpeed's ZeRO stage 1 over a kiln-data-parallel step. Every float
    optimizer state of rank >= 1 (AdamW's moments, master weights, gradient
    accumulators) is flattened, padded with zeros to a multiple of
    group-size and cut into one contiguous block per rank: its kiln.state
    entry gets the block's type tensor<ceil(n/G)xT>, kind
    "optimizer_shard", `full_type` (the whole tensor's type) and
    `group_size`; scalar states (the step counter) stay whole. In each
    function that reads or writes such a state, each gradient all_reduce
    that kiln-data-parallel marked `kiln.gradient` becomes a
    kiln.reduce_scatter of the padded gradient, and every elementwise op
    that reads a block runs on the block (replicated operands, such as the
    parameter, are cut to this rank's block; splat constants are resized);
    a full reduction of a block (the global-norm clip's sum of squares)
    becomes the block's reduction, padding excluded, then an all_reduce.
    A whole value still needed (the updated parameter, returned to the
    state table) is kiln.all_gather of the blocks. Per element the update
    runs the same ops on the same values, so parameters match the unsharded
    step bit for bit; only full reductions sum in another order. The
    rank's index comes from a reduce_scatter of [0, 1, ..., G-1] (the
    dialect has no rank op). Runs after kiln-grad and before
    kiln-bucket-gradients; a group size of 1 leaves the module alone.
  }];
  let options = [
    Option<"groupSize", "group-size", "int64_t", "1",
           "Number of data-parallel ranks sharing the optimizer state">
  ];
  let dependentDialects = ["::kiln::ir::KilnDialect"];
}

def ExpertParallel : Pass<"kiln-expert-parallel", "::mlir::ModuleOp"> {
  let summary = "Shard MoE experts over ranks: dispatch and combine as all_to_all";
  let description = [{
    For every parameter whose kiln.state entry says `sharding = "experts"`
    (an [E, ...] tensor), each of the group-size ranks keeps experts
    [r E/G, (r+1) E/G): the argument, the state table and every op that
    reads it are retyped to [E/G, ...]. Each fused MoE layer over such
    weights (kiln.moe_plan, moe_gate_up, moe_down from kiln-fuse-moe)
    becomes: the token rows in expert order sent to the ranks owning their
    experts (kiln.all_to_all, counts from the plan's offsets), a plan of the
    received rows over the local experts, the local grouped products, the
    results sent back (the reverse all_to_all), and each token's k rows
    scaled by their routing weights and summed by kiln.moe_combine in a
    fixed order. Runs after kiln-fuse-moe and before kiln-grad, so the
    backward comes from the gradient rules (the reverse exchanges); the
    receive buffers hold G * T * k rows, the dropless worst case. Every rank
    runs its own tokens; a layer whose weights are not all sharded, or whose
    intermediate results have other uses, is an error naming it.
  }];
  let options = [
    Option<"groupSize", "group-size", "int64_t", "1",
           "Number of expert-parallel ranks">
  ];
  let dependentDialects = ["::kiln::ir::KilnDialect"];
}

def ExpandCollectives : Pass<"kiln-expand-collectives", "::mlir::ModuleOp"> {
  let summary = "Rewrite reducing collectives into exchanges and ordinary reductions";
  let description = [{
    For targets whose communicator only moves bytes (NCCL on the ptx
    target): kiln.all_reduce becomes an all_to_all of 1/G blocks (constant
    counts), a reduction over the G received blocks (floats summed in f32,
    rounded once) and an all_gather of the reduced blocks; reduce_scatter the
    same without the all_gather; an all_gather along an inner axis becomes
    one along axis 0 and a transpose. What remains (all_gather on axis 0,
    all_to_all, send, recv) moves bytes only. The bytes moved are a ring's.
  }];
  let dependentDialects = ["::kiln::ir::KilnDialect"];
}

def BucketGradients : Pass<"kiln-bucket-gradients", "::mlir::ModuleOp"> {
  let summary = "Average data-parallel gradients in buckets, each as soon as it is ready";
  let description = [{
    Runs after kiln-grad on the all_reduces kiln-data-parallel marked
    `kiln.gradient`. They are taken in the order their gradients are
    computed by the backward, grouped (one element type, up to bucket-bytes
    each, as PyTorch DDP's 25 MiB buckets), and each group becomes one
    kiln.all_reduce of the flattened, concatenated gradients placed right
    after the last of them is computed, with slices giving each gradient
    back: fewer, larger transfers that start while the rest of the backward
    runs. Then every op that depends on a bucket (the slices, the average,
    the optimizer's update) moves to just before its first user, last
    first: as late as the program allows, so an executor that waits for a
    collective where its result is first read (the CPU executor's collective
    thread) keeps computing the backward meanwhile. The sums are
    elementwise, so the results are bit-identical to one all_reduce per
    gradient.
  }];
  let options = [
    Option<"bucketBytes", "bucket-bytes", "int64_t", "25 << 20",
           "Most bytes of gradients in one all_reduce">
  ];
  let dependentDialects = ["::kiln::ir::KilnDialect"];
}

def UpdateInPlace : Pass<"kiln-update-in-place", "::mlir::ModuleOp"> {
  let summary = "Let put_along_axis write into its operand's buffer";
  let description = [{
    Marks `kiln.in_place` on each kiln.put_along_axis whose x has no other
    reader and is either a state argument the entry also returns (donated:
    the entry replaces it anyway) or the result of a kernel (not a reshape,
    whose buffer is another value's, nor a constant, uploaded once). The
    lowering then gives the result x's buffer, and the ptx kernel writes only
    the slots the indices name: a decode step's KV-cache write moves one row
    a sequence instead of copying the cache, and the donated state needs no
    copy back. XLA's in-place dynamic-update-slice does the same.
  }];
  let dependentDialects = ["::kiln::ir::KilnDialect"];
}

def FormFusions : Pass<"kiln-form-fusions", "::mlir::ModuleOp"> {
  let summary = "Group the ops of each kernel into kiln.dispatch regions";
  let description = [{
    Wraps every op that needs a kernel into a kiln.dispatch, together with the
    producers that kernel recomputes instead of reading from memory:
    elementwise ops and index remaps (transpose, slice, concat) whose every
    reader lands in that region (a same-size elementwise op, a reduction or a
    remap; several readers only for cheap producers: casts, broadcasts,
    reshapes, remaps), cheap ops of kernel inputs under a broadcasting
    consumer, and row reductions (trailing axes, >= 32 elements, 32-bit
    compute) whose per-row values feed an elementwise region over their input
    shape. Reshapes and constants stay outside (they need no kernel).

    A producer read by several regions is cloned into each instead of
    launching its own kernel when the clones are cheap: a cast, broadcast,
    reshape or index remap, or one simple arithmetic op (add, sub, mul, min,
    max, neg, abs, a compare, a select; no division or transcendental) with at
    most one arithmetic clone on any path of reads in a region; and the
    clones read no more bytes than its own kernel would move (regions * in <=
    in + out * (1 + regions), in and out its operand and result bytes). So
    the decode step's residual adds, RoPE's cos/sin casts and the transposed
    q cost no launch of their own; a clone is the same op on the same
    operands, so no result changes. Kernel targets run it after the graph
    passes; the host target never does.
  }];
  let dependentDialects = ["::kiln::ir::KilnDialect"];
}

#endif // KILN_PASSES_TD
