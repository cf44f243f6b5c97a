//===- DirectKernel.h - kernels written in the gpu dialect -------*- C++
//-*-===//
//
// The ops that are not loop nests get kernels written against the GPU's thread
// model instead of a linalg nest: a block per row sorting in shared memory
// (sort, argsort, top-k), a block-wide scan (cumsum), warps reducing with
// shuffles (categorical sampling, fused attention), atomics (scatter_add,
// bincount). Each builder adds a
// gpu.module of kernels and `func.func @<name>(operands..., results...)` that
// launches them in order, as buildMmaMatmul does for the tensor-core GEMM.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_CODEGEN_PTX_DIRECTKERNEL_H
#define KILN_CODEGEN_PTX_DIRECTKERNEL_H

#include <optional>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"

#include "ir/KilnOps.h"
#include "ir/ShapeUtils.h"

namespace kiln::passes {
struct WeightedCombineRows;
} // namespace kiln::passes

namespace kiln::codegen::ptx {

/// The gpu.module of one op's direct kernels and the host function launching
/// them (into a gpu.container_module). Every buffer is passed flat (rank 0 as
/// one element): operands first, then results. KernelTable.cpp picks the
/// kernel family; each family's builder below fills it.
class DirectKernels {
public:
  DirectKernels(mlir::Operation *op, mlir::ModuleOp module,
                const std::string &name);
  /// The same over `inputs` instead of the op's operands (a kernel that
  /// reads through a fused producer takes that producer's operands).
  DirectKernels(mlir::Operation *op, mlir::TypeRange inputs,
                mlir::ModuleOp module, const std::string &name);

  /// Appends a kernel taking every buffer, launched after the ones before it
  /// with `grid` x `block` threads (1-D) and `dynamicShared` bytes of dynamic
  /// shared memory. Returns a builder at the start of its body (before the
  /// gpu.return).
  mlir::OpBuilder addKernel(const std::string &suffix, int64_t grid,
                            int64_t block, int64_t dynamicShared = 0);

  /// A static shared-memory buffer of the kernel added last.
  mlir::Value addSharedBuffer(llvm::ArrayRef<int64_t> shape,
                              mlir::Type element);

  mlir::Location loc() const { return location; }
  /// The buffer of operand i / result i inside the kernel added last.
  mlir::Value operand(unsigned i) const;
  mlir::Value result(unsigned i) const;

private:
  mlir::Operation *op;
  mlir::Location location;
  std::string name;
  mlir::gpu::GPUModuleOp gpuModule;
  mlir::func::FuncOp host;
  llvm::SmallVector<mlir::Type> buffers;
  mutable mlir::gpu::GPUFuncOp current; // the kernel added last
  int kernels = 0;
  unsigned numInputs;
};

/// Building blocks for kernel bodies (index arithmetic, loops, warp shuffles).
mlir::Value indexConst(mlir::OpBuilder &b, mlir::Location l, int64_t v);
mlir::Value threadIndex(mlir::OpBuilder &b, mlir::Location l);
mlir::Value blockIndex(mlir::OpBuilder &b, mlir::Location l);
/// block * blockSize + thread: a thread's index over a 1-D grid.
mlir::Value globalThreadIndex(mlir::OpBuilder &b, mlir::Location l,
                              int64_t blockSize);
/// scf.for from `lo` to `hi` by `step` carrying `inits`; `body` returns the
/// values to yield.
mlir::ValueRange
forLoop(mlir::OpBuilder &b, mlir::Location l, mlir::Value lo, mlir::Value hi,
        mlir::Value step, mlir::ValueRange inits,
        const std::function<llvm::SmallVector<mlir::Value>(
            mlir::OpBuilder &, mlir::Location, mlir::Value, mlir::ValueRange)>
            &body);
/// for (k = lo; k < hi; k += step) in groups of `unroll`: `read` is called
/// for each k of a group first (k clamped to hi - 1, so every read is in
/// bounds), then `use` for each in order, with whether k < hi, carrying
/// `inits` (returned at the end). `use` runs in the plain loop's order, so
/// results keep their bits; a group's reads are in flight together, where a
/// loop that waits for each load before issuing the next is latency-bound.
llvm::SmallVector<mlir::Value>
forLoopUnrolled(mlir::OpBuilder &b, mlir::Location l, mlir::Value lo,
                mlir::Value hi, int64_t step, int64_t unroll,
                mlir::ValueRange inits,
                const std::function<llvm::SmallVector<mlir::Value>(
                    mlir::OpBuilder &, mlir::Location, mlir::Value)> &read,
                const std::function<llvm::SmallVector<mlir::Value>(
                    mlir::OpBuilder &, mlir::Location, mlir::Value, mlir::Value,
                    llvm::ArrayRef<mlir::Value>, mlir::ValueRange)> &use);
/// scf.if without results.
void ifThen(mlir::OpBuilder &b, mlir::Location l, mlir::Value cond,
            const std::function<void(mlir::OpBuilder &, mlir::Location)> &body);
/// gpu.shuffle of a 32- or 64-bit value (64-bit ones as two 32-bit halves).
mlir::Value shuffle(mlir::OpBuilder &b, mlir::Location l, mlir::Value v,
                    int32_t offset, mlir::gpu::ShuffleMode mode);
/// `x` reduced over the 32 lanes of a warp (max or sum, by XOR shuffles in a
/// fixed order); every lane gets the result.
mlir::Value warpAllReduce(mlir::OpBuilder &b, mlir::Location l, mlir::Value x,
                          bool max);
/// (score, index) of the better of two candidates: the higher score, ties
/// to the lower index, so any reduction order picks the sequential argmax.
std::pair<mlir::Value, mlir::Value>
betterCandidate(mlir::OpBuilder &b, mlir::Location l, mlir::Value score,
                mlir::Value index, mlir::Value otherScore,
                mlir::Value otherIndex);
/// The best (betterCandidate) of a warp's 32 candidates, in every lane.
std::pair<mlir::Value, mlir::Value> warpBestCandidate(mlir::OpBuilder &b,
                                                      mlir::Location l,
                                                      mlir::Value score,
                                                      mlir::Value index);
/// The smallest power of two >= n (1 for n <= 1).
int64_t nextPowerOfTwo(int64_t n);

/// The rows of a tensor of `shape` along `axis`: outer x n x inner.
struct AxisRows {
  int64_t outer = 1, n = 1, inner = 1;
  int64_t rows() const { return outer * inner; }
};
AxisRows axisRows(llvm::ArrayRef<int64_t> shape, int64_t axis);
/// Flat position of element 0 of row `row` in a tensor split as `r`.
mlir::Value rowBase(mlir::OpBuilder &b, mlir::Location l, mlir::Value row,
                    const AxisRows &r);

// The kernels, one file each.
absl::Status buildSortKernels(mlir::Operation *op, DirectKernels &k);
absl::Status buildScanKernels(mlir::Operation *op, DirectKernels &k);
absl::Status buildScatterAddKernels(mlir::Operation *op, DirectKernels &k);
absl::Status buildCategoricalKernels(mlir::Operation *op, DirectKernels &k);
absl::Status buildArgmaxKernels(mlir::Operation *op, DirectKernels &k);
absl::Status buildAttentionKernels(mlir::Operation *op, DirectKernels &k);
/// The decode attention (passes/DecodeAttention.h) over `inputs`: q, the key
/// (or the parts of its fused concat), v, then valid_len and q_offset where
/// the op has them.
absl::Status buildDecodeAttentionKernels(mlir::Operation *op,
                                         mlir::ArrayRef<mlir::Value> inputs,
                                         mlir::ModuleOp module,
                                         const std::string &name);
/// `op`: a root simtMatmulOf takes (its sigmoid applied as results are
/// stored).
absl::Status buildSimtMatmulKernels(mlir::Operation *op, DirectKernels &k);
absl::Status buildBincountKernels(mlir::Operation *op, DirectKernels &k);
absl::Status buildPutAlongAxisKernels(mlir::Operation *op, DirectKernels &k);
/// The combine over (rows, order, slot), or with `weighted` over (the
/// chain's rows, order, slot, its weights).
absl::Status buildMoeCombineKernels(mlir::Operation *op,
                                    const passes::WeightedCombineRows *weighted,
                                    DirectKernels &k);
absl::Status buildMoePlanKernels(mlir::Operation *op, DirectKernels &k);
absl::Status buildMoeRouteKernels(mlir::Operation *op, DirectKernels &k);
absl::Status buildQuantizeKernels(mlir::Operation *op, DirectKernels &k);

/// The composites the ptx target keeps whole for a direct kernel
/// (kiln-decompose expands every other one before lowering).
llvm::ArrayRef<llvm::StringLiteral> directComposites();
/// A kiln.matmul as [batch] x (m x k) @ (k x n), when each operand's batch dims
/// are absent (one matrix shared by every batch) or the result's; nothing for
/// partial broadcasts or empty dims.
struct MatmulShape {
  int64_t batch, m, n, k;
  bool aBatched, bBatched;
};
std::optional<MatmulShape> matmulShape(ir::MatmulOp matmul);

/// True for the matmuls the tiled CUDA-core kernel runs (float types, batch
/// dims absent or equal to the result's); the tensor-core kernel is tried
/// first.
bool isSimtMatmul(mlir::Operation *op);
/// The matmul a simt_matmul region computes from its root: the root itself,
/// or an f32 matmul in its block that only the root, a kiln.sigmoid, reads
/// (the kernel applies it as it stores: a router's scores; the elementwise
/// kernels' formula, so no bit changes). Null otherwise.
ir::MatmulOp simtMatmulOf(mlir::Operation *root);
/// True for the argmax ops the warp- or block-per-row kernel runs: f32,
/// bf16 or f16, any axis, static shapes.
bool isDirectArgmax(mlir::Operation *op);
/// True for the attention ops the fused kernel runs (every score of a query
/// row fits in shared memory); the others are decomposed before lowering.
bool isDirectAttention(mlir::Operation *op);
/// True for the moe_plan ops the one-block kernel runs (static shapes, at
/// most 1024 pairs and experts); kiln-expand-unfused-composites expands the
/// others before lowering.
bool isDirectMoePlan(mlir::Operation *op);
/// True for the moe_route ops the thread-per-token kernel runs (static
/// shapes, at most 64 groups); kiln-expand-unfused-composites expands the
/// others before lowering.
bool isDirectMoeRoute(mlir::Operation *op);
/// True for the quantize ops the warp-per-tile kernel runs: f32/bf16/f16 into
/// float8 or i8, blocks along the last axis only (1 x B tiles);
/// kiln-expand-unfused-composites expands the others before lowering.
bool isDirectQuantize(mlir::Operation *op);
/// True for the scatter_add element types with hardware atomic adds (all but
/// fp8 and i1/i8, which keep the exact gather-style kernel).
bool scatterAddUsesAtomics(mlir::Operation *op);

} // namespace kiln::codegen::ptx

#endif // KILN_CODEGEN_PTX_DIRECTKERNEL_H
