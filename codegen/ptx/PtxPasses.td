//===- PtxPasses.td - passes of the ptx target ------------------*- tablegen -*-===//
//
// Decisions only the ptx target makes, recorded in the IR: which attention ops
// its fused kernel takes, which provider lowers each kernel region; and the
// one transformation of its kernel-lowering pipeline Kiln adds to MLIR's.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_CODEGEN_PTX_PASSES_TD
#define KILN_CODEGEN_PTX_PASSES_TD

include "mlir/Pass/PassBase.td"

def ExpandUnfusedComposites
    : Pass<"kiln-expand-unfused-composites", "::mlir::ModuleOp"> {
  let summary = "Decompose the composites the ptx target's direct kernels refuse";
  let description = [{
    The ptx target keeps kiln.attention, kiln.moe_route and kiln.moe_plan
    whole for their direct kernels. The attention kernel keeps a query row's
    every score in shared memory (at most 128 KiB a block); the route kernel
    keeps the kept groups in an i64 mask (at most 64 groups); the plan kernel
    is one block (at most 1024 token-expert pairs and experts). Larger ops,
    and element types the kernels lack, are expanded into primitives here,
    and only they: a route feeding an expanded plan keeps its kernel. Then the
    composites that expansion creates (softmax) are expanded too.
    kiln.moe_gate_up stays whole where the wgmma gate/up kernel takes it
    (option `wgmma`; bf16 or f16, H a multiple of 8, weights that are no
    int4 dequantize's); the others are expanded first, so the grouped
    matmuls of an expansion keep their int4 weights packed.
    kiln.scaled_matmul stays whole where the
    fp8 wgmma kernel takes it (option `wgmma`: a Hopper target; DeepSeek-V3's
    1 x 128 / 128 x 128 blocks; K a multiple of 16); those with a transposed
    operand first get it transposed K-major (operand and scale, exact), as
    float8 wgmma reads only K-major tiles. The others are expanded, as are
    kiln.quantize ops outside the warp-per-tile kernel (blocks along the last
    axis only, into float8 or i8).
  }];
  let options = [
    Option<"wgmma", "wgmma", "bool", /*default=*/"true",
           "The target runs the Hopper wgmma kernels (sm_90 with --wgmma)">,
    Option<"gateUpKernel", "gate-up-kernel", "bool", /*default=*/"true",
           "Keep moe_gate_up whole for the wgmma gate/up kernel (the ptx "
           "pipeline passes PtxGraphOptions::gateUpKernel, off: slower than "
           "its expansion on an H100); a region that names that kernel "
           "keeps it either way">
  ];
  let dependentDialects = ["::kiln::ir::KilnDialect"];
}

def SelectKernels : Pass<"kiln-select-kernels", "::mlir::ModuleOp"> {
  let summary = "Record on each kiln.dispatch the provider that lowers it";
  let description = [{
    Sets each region's `kernel` attribute to the first entry of the ptx
    target's kernel table (codegen/ptx/KernelTable.cpp) that takes its root:
    cublas_gemm (opt-in), wgmma_matmul, wgmma_moe_gate_up,
    wgmma_gated_matmul (Hopper), mma_matmul, sort, scan,
    scatter_add, categorical, argmax, attention, simt_matmul, bincount,
    loop_nest.
    Regions with fused producers take loop_nest, but for the producers a
    direct kernel reads itself. An existing choice is
    kept if its provider still takes the region, so a hand-written choice can
    be tried from kiln-opt; one it cannot take is an error.

    A dense wgmma_matmul whose output tiles would leave most multiprocessors
    idle while each walks a long K (at most 4 blocks a tile, each keeping at
    least 10 steps of 64: a weight gradient over many tokens, a 2816-wide
    down projection) also gets `kiln.split_k = S`: K is
    split over the S blocks of a thread-block cluster, which sum their partial
    tiles through distributed shared memory in rank order (deterministic; in
    another order than an unsplit K). A hand-written split is kept, and
    checked when the region is lowered.

    A wgmma_matmul whose A is written by a region of remaps alone (reshapes,
    transposes, slices: the absorbed MLA's head-major operands), read
    through reshapes outside regions, takes those remaps into its own
    region when they are a strided view its tensor map reads in place (K
    contiguous, rows and batch entries each one stride of 16-byte
    multiples, starting at the base's first element; passes/StridedView.h):
    the copy is never written and its launch is gone. On Hopper, the region
    of a SwiGLU MLP's gated product (silu and mul) takes in the two wgmma
    GEMM regions of its projections when they read one A
    (passes/GatedMatmuls.h) and becomes wgmma_gated_matmul: one launch
    multiplies A by both weights, and neither projection is written. A
    batched wgmma_matmul read only by a region that swaps its batch and
    rows ([B, M, N] to [M, B, N]: the absorbed MLA's attention output on
    its way to o_proj) moves into that region and stores its tiles
    transposed. An f32 simt_matmul read only by a region's kiln.sigmoid (a
    router's scores) moves into it and applies the sigmoid as it stores.

    Last, every wgmma region gets its tile width, `kiln.tile_n = W` (the
    output columns one block computes; wgmmaTileN in WgmmaMatmul.h has the
    rule and the H100 sweep behind it). A hand-written width is kept, and
    checked when the region is lowered.
  }];
  let options = [
    Option<"chip", "chip", "std::string", /*default=*/"\"sm_90\"",
           "The GPU the PTX targets">,
    Option<"wgmma", "wgmma", "bool", /*default=*/"true",
           "Hopper matmuls on the wgmma + TMA kernel (else mma.sync)">,
    ListOption<"providers", "providers", "std::string",
               "Opt-in providers, OP=PROVIDER (today: matmul=cublas)">,
    Option<"fuseGemms", "fuse-gemms", "bool", /*default=*/"true",
           "Move a SwiGLU MLP's projection GEMMs into their gated product's "
           "region, a strided view of A into its GEMM's, a GEMM into the "
           "region of the transpose of its output (wgmma only) and an f32 "
           "matmul into its sigmoid's">
  ];
  let dependentDialects = ["::kiln::ir::KilnDialect"];
}

def SinkLaunchConstants : Pass<"kiln-sink-launch-constants", "::mlir::ModuleOp"> {
  let summary = "Move constant kernel operands into the kernels";
  let description = [{
    After gpu-kernel-outlining a launch may pass constants (loop bounds,
    sizes); each is cloned into its kernel and dropped from the launch, so
    every launch passes exactly its buffers (the Executable's Launch message
    has a bare-pointer parameter list).
  }];
  let dependentDialects = ["::mlir::gpu::GPUDialect"];
}

def EmulatePackedI4 : Pass<"kiln-emulate-packed-i4", "::mlir::gpu::GPUModuleOp"> {
  let summary = "Read and write i4 buffers in their packed layout";
  let description = [{
    Device buffers hold i4 two elements to a byte (executor/DType.h
    bufferBytes), as host tensors, bundles and checkpoints do. Kernels are
    written over memref<...xi4>; this pass, run on each gpu.module before
    NVVM lowering, rewrites every i4 memref into the flat i8 memref of its
    bytes: a load reads the byte and shifts its nibble down (the i4 value's
    bits); a store clears and sets its nibble with two
    atomic read-modify-writes, so the two threads that write one byte's two
    nibbles never lose each other's. Kernel parameters stay bare pointers,
    so launches are unchanged.
  }];
  let dependentDialects = ["::mlir::memref::MemRefDialect",
                           "::mlir::arith::ArithDialect"];
}

#endif // KILN_CODEGEN_PTX_PASSES_TD
