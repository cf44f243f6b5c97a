//===- WgmmaMatmul.h - tensor-core matmul on Hopper (wgmma + TMA) -*- C++
//-*-===//
//
// The sm_90a path of kiln.matmul, grouped_matmul (both modes) and the fp8
// scaled_matmul: a warp-specialised
// kernel in which one warpgroup streams tiles of both operands into shared
// memory with the bulk tensor copy engine (TMA), completing on mbarriers, and
// two warpgroups multiply them with wgmma out of shared memory.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_CODEGEN_PTX_WGMMAMATMUL_H
#define KILN_CODEGEN_PTX_WGMMAMATMUL_H

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "executor/executable.pb.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Operation.h"
#include "llvm/ADT/StringRef.h"

namespace kiln::codegen::ptx {

/// A tensor map a kernel takes by value after its buffer parameters: the
/// launch names its buffer by `argument` (the op's operand index, or the
/// number of operands for the result), and PtxCodegen declares the parameter.
struct KernelTensorMap {
  std::string kernel;
  int argument;
  proto::TensorMap map; // `buffer` unset: the launch fills it in
};

/// The kiln.dispatch attribute that splits a dense matmul's K over the blocks
/// of a thread-block cluster (kiln-select-kernels sets it; an i64 in
/// [1, kMaxSplitK], 1 keeping K whole). Each block multiplies its share of K
/// and the cluster sums the partial tiles through distributed shared memory, in
/// rank order: deterministic, in another order than an unsplit K.
inline constexpr llvm::StringLiteral kSplitKAttrName("kiln.split_k");
inline constexpr int64_t kMaxSplitK = 8; // the portable cluster size

/// The kiln.dispatch attribute that sets a wgmma kernel's tile width (the
/// output columns a block computes): 32, 64, 128 or 256 (at most 128 for two
/// B operands, a split or fp8; 32 only where B's tiles are K-major).
/// kiln-select-kernels records wgmmaTileN's choice on every wgmma region
/// that lacks one; a hand-written one (kiln-opt, a sweep) stays. Lowering
/// requires it and checks it.
inline constexpr llvm::StringLiteral kTileNAttrName("kiln.tile_n");

/// The split of K that spreads a dense kiln.matmul the wgmma kernel runs
/// over idle multiprocessors: few output tiles, each a long walk over K (a
/// weight gradient's K is the tokens; decoding's [64, 2816] x [2816, 1024]),
/// at most 4 blocks a tile, each keeping at least 10 steps of 64. 1 for one
/// that fills the GPU already, for shorter K (decoding's K = 1024
/// projections: there the cluster's fixed costs outweigh the K loop), and
/// for every other op.
int64_t wgmmaSplitK(mlir::Operation *op);

/// The tile width (kiln.tile_n) the wgmma kernel takes for `op`, the root
/// of a region it runs (its dispatch's kiln.split_k read): see
/// pickTileN in WgmmaMatmul.cpp for the rule and the measurements behind
/// it. 0 for an op the kernel does not take.
int64_t wgmmaTileN(mlir::Operation *op);

/// Builds `func.func @<name>(operands..., out)` launching the wgmma kernel,
/// plus the gpu.module holding it, into `module`; appends the kernel's tensor
/// maps (in parameter order) to `maps`. Takes the ops isTensorCoreMatmul,
/// isTensorCoreContract, isTensorCoreScaledMatmul and isTensorCoreGateUp
/// (MatmulTiling.h) accept. moe_gate_up runs as one grouped GEMM of two B
/// operands: its producer threads gather the token rows into the A tiles, and
/// the epilogue stores gate, up and SwiGLU's act.
absl::Status buildWgmmaMatmul(mlir::Operation *op, mlir::ModuleOp module,
                              const std::string &name, std::vector<KernelTensorMap> &maps);

} // namespace kiln::codegen::ptx

#endif // KILN_CODEGEN_PTX_WGMMAMATMUL_H
