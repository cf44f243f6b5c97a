//===- MatmulTiling.h - where a tensor-core matmul block works --*- C++ -*-===//
//
// What the two tensor-core matmul kernels (mma.sync and wgmma) share: which ops
// they take, the operands' storage geometry, and where each thread block's
// output tile lies (banded rasterisation of dense matmuls, the group scan of
// grouped ones).
//
//===----------------------------------------------------------------------===//

#ifndef KILN_CODEGEN_PTX_MATMULTILING_H
#define KILN_CODEGEN_PTX_MATMULTILING_H

#include <optional>

#include "ir/KilnOps.h"
#include "mlir/IR/Builders.h"
#include "passes/StridedView.h"

namespace kiln::codegen::ptx {

/// One operand as a kernel sees it: [batch, rows, cols] in storage order (cols
/// contiguous).
struct MatmulOperand {
  int64_t batch, rows, cols;
  bool broadcast; // no batch dims: every batch reads the same matrix
  /// Elements between rows and between batch entries; 0: packed (cols, and
  /// rows * cols). A strided view of another tensor sets them
  /// (viewOperandOfA).
  int64_t rowStride = 0, batchStride = 0;
};

struct MatmulGeometry {
  int64_t batch, m, n, k;
  bool transposeA, transposeB;
  MatmulOperand a, b;
  mlir::Type element;  // operands' type: bf16, f16, or float8 (scaled)
  int64_t groups = 0;  // grouped_matmul "rows": b holds one matrix per group
  mlir::Type result;   // the output's type (element, but for scaled_matmul)
};

MatmulGeometry geometryOf(ir::MatmulOp matmul);
/// grouped_matmul "rows": x [T, K] is A, w [E, K, N] (or [E, N, K]) is B with
/// one batch entry per group; the output [T, N] is one batch.
MatmulGeometry groupedGeometryOf(ir::GroupedMatmulOp grouped);

/// moe_gate_up: the gathered token rows [T*k, H] are A (read through
/// `order`, never stored), w_gate and w_up [E, I, H] are two B operands read
/// transposed, each group's rows use its expert; the outputs are [T*k, I].
MatmulGeometry gateUpGeometryOf(ir::MoeGateUpOp gateUp);

/// True for a kiln.moe_gate_up the wgmma gate/up kernel runs: tokens,
/// w_gate, w_up and the results all bf16 or all f16, H a multiple of 8
/// (16-byte copies), weights that are not a dequantize's result (an int4
/// weight's expansion takes the mma kernel that reads the nibbles).
bool isTensorCoreGateUp(mlir::Operation *op);

/// grouped_matmul "contract": dw[e] = x_e^T dy_e is a batch of E matmuls of
/// [K_x, T_e] x [T_e, N], each over its group's rows: A is x [T, K_x] read
/// transposed, B is dy [T, N]; k is T (each group takes its rows of it).
MatmulGeometry contractGeometryOf(ir::GroupedMatmulOp grouped);

/// A dense matmul's A read as `view` of the view's base (its remaps fused
/// into the matmul's region): the operand with the view's strides, when a
/// tensor map can read it in place (K contiguous, no transpose_a, the rows
/// one stride and the batch entries one stride, each a multiple of 16
/// bytes, the view starting at the base's first element).
std::optional<MatmulOperand> viewOperandOfA(const MatmulGeometry &g,
                                            const passes::StridedView &view);

/// The view of A the region of `matmul` reads through (exactly its remaps
/// fused with it, as kiln-select-kernels leaves them for wgmma_matmul), and
/// the operand viewOperandOfA makes of it, when it takes it.
struct FusedViewOfA {
  passes::StridedView view;
  MatmulOperand operand;
};
std::optional<FusedViewOfA> fusedViewOfA(ir::MatmulOp matmul);

/// The batched kiln.matmul a region's root `root` stores transposed: root
/// is kiln.transpose with perm [1, 0, 2] of the [B, M, N] result of a
/// kiln.matmul in its region (read by it alone, B > 1 batch entries, not
/// folded into rows), so the kernel writes [M, B, N] directly (the absorbed
/// MLA's per-head attention output, heads back beside each other). Null
/// otherwise.
ir::MatmulOp transposedStoreOf(mlir::Operation *root);

/// The kiln.scaled_matmul in the form isTensorCoreScaledMatmul accepts: a [M,
/// K] and b [N, K] (both K-major), one batch.
MatmulGeometry scaledGeometryOf(ir::ScaledMatmulOp scaled);

/// True for the kiln.scaled_matmul the fp8 wgmma kernel runs: DeepSeek-V3's
/// recipe with both operands K-major (a [M, K] in 1 x 128 tiles, b [N, K]
/// with transpose_b in 128 x 128 blocks, or in 1 x 128 tiles as the weight
/// gradient's are), both f8E4M3FN or both f8E5M2, K a multiple
/// of 16 (16-byte rows for the copies), output f32, bf16 or f16.
bool isTensorCoreScaledMatmul(mlir::Operation *op);
/// The same, in any layout: what the kernel runs once
/// kiln-expand-unfused-composites transposes the operands K-major.
bool isTensorCoreScaledRecipe(ir::ScaledMatmulOp scaled);

/// True for a "contract" kiln.grouped_matmul the wgmma kernel runs (bf16 or
/// f16, x's and dy's contiguous dims multiples of 8).
bool isTensorCoreContract(mlir::Operation *op);

/// True if `op` is a kiln.matmul or a "rows" kiln.grouped_matmul a tensor-core
/// kernel runs: bf16 or f16 operands, each operand's contiguous dim a multiple
/// of 8 (16-byte copies), and matmul batch dims either equal to the result's or
/// absent (broadcast).
bool isTensorCoreMatmul(mlir::Operation *op);

/// True for a kiln.dequantize the mma kernel dequantizes as it loads its
/// B tiles: an int4 weight in the form passes::isGemmInt4Weight describes,
/// read by a GEMM isTensorCoreMatmul takes.
bool isTensorCoreInt4Weight(ir::DequantizeOp dequantize);

/// True for the root of a kiln.dispatch region that holds exactly a GEMM and
/// the dequantize of its int4 weight (isTensorCoreInt4Weight): the region
/// mma_int4_matmul lowers.
bool isTensorCoreInt4Matmul(mlir::Operation *root);

/// A tensor-core kernel's buffer parameters: a and b as [batch, rows, cols] of
/// `operandElement`, then a grouped op's offsets, then the output [batch, m, n].
llvm::SmallVector<mlir::Type> matmulKernelArgs(const MatmulGeometry &g, mlir::Type operandElement,
                                               mlir::Operation *op);

/// Where one thread block's tile lies: its first output row and the bound on
/// rows (the group's end for grouped matmuls), its first column, the batch
/// entry of each operand and of the output, and whether it computes at all
/// (null for dense matmuls; grouped blocks past every tile only write zeros).
struct TilePlacement {
  mlir::Value rowBase, rowLimit, colBase, batchA, batchB, batchOut, active;
  /// "contract": the group's rows [kBegin, kEnd), the block's K range. A
  /// dense matmul split along K: its share's first K, kEnd null.
  mlir::Value kBegin, kEnd;
  /// Split along K: the block's rank in its cluster (an i32), which picks
  /// its share of K.
  mlir::Value splitRank;
};

/// A dense (batched) matmul's block over grid (N tiles * splitK, M tiles,
/// batch): the splitK consecutive blocks of a cluster share a tile. Tiles
/// are rasterised in bands of `bandRows` row tiles: consecutive ones walk
/// down a band before moving right, so the B tiles they share are still in
/// L2.
TilePlacement denseTilePlacement(mlir::OpBuilder &b, mlir::Location loc,
                                 const MatmulGeometry &g, int64_t blockM,
                                 int64_t blockN, int64_t bandRows,
                                 int64_t splitK = 1);

/// A grouped block: grid y enumerates the blockM-row tiles of group 0, then
/// group 1, ..., then of the rows past the last offset (which are zero), from
/// offsets read on the device. Offsets are clamped into [0, T] and made
/// non-decreasing, as the CPU executor reads them.
TilePlacement groupedTilePlacement(mlir::OpBuilder &b, mlir::Location loc,
                                   const MatmulGeometry &g, mlir::Value offsets,
                                   int64_t blockM, int64_t blockN);

/// A contract block over grid (N tiles, M tiles, E): group blockIdx.z, its rows
/// from the offsets (clamped into [0, T] and made non-decreasing).
TilePlacement contractTilePlacement(mlir::OpBuilder &b, mlir::Location loc,
                                    const MatmulGeometry &g, mlir::Value offsets,
                                    int64_t blockM, int64_t blockN);

/// Row tiles a grouped launch needs for any split of T rows into E groups,
/// plus the tail.
int64_t groupedRowTiles(const MatmulGeometry &g, int64_t blockM);

} // namespace kiln::codegen::ptx

#endif // KILN_CODEGEN_PTX_MATMULTILING_H
