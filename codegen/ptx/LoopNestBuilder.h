//===- LoopNestBuilder.h - loop-nest kernel pieces --------------*- C++ -*-===//
//
// Private to codegen/ptx: the helpers and the per-op builder behind
// buildLoopNestKernel (LoopNestKernel.h). A region's root becomes a linalg
// function over memrefs; each op family's builder lives in its own file
// (ElementwiseLoops, ShapeLoops, IndexingLoops, ReductionLoops, LinalgLoops,
// RandomLoops), as executor/cpu/*Kernels.cpp split the CPU kernels.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_CODEGEN_PTX_LOOPNESTBUILDER_H
#define KILN_CODEGEN_PTX_LOOPNESTBUILDER_H

#include <functional>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "codegen/ptx/Scalars.h"
#include "ir/KilnOps.h"
#include "ir/ShapeUtils.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "passes/RowReduction.h"
#include "llvm/ADT/DenseMap.h"

namespace kiln::codegen::ptx::loopnest {

// This header is private to the loop-nest files, which all build MLIR IR.
using namespace mlir;
namespace kir = kiln::ir;
using passes::warpRowLength;

/// The ops whose kernel is a pure function of each output element's operands.
bool isElementwise(Operation *op);

using ScalarFn = std::function<Value(OpBuilder &, Location, ValueRange)>;

/// Elements per thread in flat elementwise kernels (16 bytes of bf16).
constexpr int64_t kVector = 8;

using Preloaded = llvm::DenseMap<std::pair<Value, Value>, Value>;

absl::Status unsupported(Operation *op, const std::string &why);

SmallVector<int64_t> canonicalShape(ArrayRef<int64_t> shape);

MemRefType memrefOf(Type tensorType);

/// The map reading an operand of `shape` broadcast to an iteration space whose
/// first `shape`-aligned dims are `outShape` (numpy rules, right-aligned).
AffineMap broadcastMap(MLIRContext *ctx, ArrayRef<int64_t> shape,
                       ArrayRef<int64_t> outShape, unsigned numDims);

/// The multi-dimensional index of flat position `flat` in row-major `shape`.
SmallVector<Value> delinearize(OpBuilder &b, Location l, Value flat,
                               ArrayRef<int64_t> shape);

/// Reads an operand's element at an index of the operand's (canonical) shape:
/// a memref.load, or the recomputation of a producer fused into this kernel.
/// The value has the operand's element type.
using Reader = std::function<Value(OpBuilder &, Location, ValueRange idx)>;

/// The operands at output index `idx` under numpy broadcasting, converted to
/// `compute` (integer and i1 operands stay as they are).
SmallVector<Value> readBroadcast(OpBuilder &nb, Location l,
                                 ArrayRef<Reader> ins,
                                 ArrayRef<SmallVector<int64_t>> inShapes,
                                 ArrayRef<int64_t> outShape, ValueRange idx,
                                 Type compute);

/// Every kernel is one flat loop over its output's elements: the loop maps to
/// blocks of 256 consecutive elements (coalesced, no grid-dimension limits) and
/// the body recovers the element's index. `fn` computes the value at `idx` of
/// the logical (row-major) `shape`; the result is converted to out's type.
void flatIndexed(
    OpBuilder &b, Location loc, Value out, ArrayRef<int64_t> shape,
    const std::function<Value(OpBuilder &, Location, ValueRange)> &fn);

/// out[i...] = fn(ins[broadcast(i)]...), computed in `compute` (integer and i1
/// operands stay as they are) and converted to out's type; numpy broadcasting.
/// Each operand is read through its Reader (a load, or a fused producer).
void elementwise(OpBuilder &b, Location loc, ArrayRef<Reader> ins,
                 ArrayRef<SmallVector<int64_t>> inShapes, Value out,
                 ArrayRef<int64_t> outShape, const ScalarFn &fn, Type compute);

/// The scalar body of a unary elementwise op on `x` (already in compute type).
FailureOr<Value> unaryScalar(OpBuilder &b, Location l, Operation *op, Value x);

/// The scalar body of a binary elementwise op (operands in compute type).
FailureOr<Value> binaryScalar(OpBuilder &b, Location l, Operation *op, Value x,
                              Value y);

/// An elementwise op's scalar body and the type it computes in.
struct ElementwiseBody {
  Type compute;
  std::function<FailureOr<Value>(OpBuilder &, Location, ValueRange)> fn;
};

Value signOf(OpBuilder &nb, Location l, Value x);

std::optional<ElementwiseBody> elementwiseBody(OpBuilder &b, Operation *op);

using ir::normalizeAxis;

/// Clamps an index value (any integer type) into [0, size) as an `index`.
Value clampIndex(OpBuilder &b, Location l, Value v, int64_t size);

/// A reduction's combining step and identity in `compute`.
Value combineReduction(OpBuilder &nb, Location l, Operation *reduction, Value a,
                       Value x);

Value reductionIdentity(OpBuilder &nb, Location l, Operation *reduction,
                        Type compute);

/// Lanes that reduce each of `rows` rows of `cols`: a warp, or a whole block
/// of 256 threads (the mapping's block size), which combines its warps
/// through shared memory, for rows long enough to starve the GPU with a warp
/// each (a vocabulary), and for rows of kBlockRowFewCols or more when there
/// are at most kBlockRowFewRows of them: a decode step's 64 rows of 1024 as a
/// warp each are 8 blocks, each lane waiting on 32 loads.
constexpr int64_t kBlockRowLanes = 256, kBlockRowMinCols = 4096;
constexpr int64_t kBlockRowFewCols = 512, kBlockRowFewRows = 256;

int64_t rowLanes(int64_t cols, int64_t rows);

/// Elements of a row one lane reads before it uses the first of them: a
/// strided loop that waits for each load before the next one leaves a row of
/// a few thousand elements latency-bound (the decode step's norms of 64 rows
/// and its argmax over the vocabulary).
constexpr int64_t kRowUnroll = 8;

/// Lane `lane` of `lanes` visits k = lane, lane + lanes, ... < count in
/// ascending order, kRowUnroll at a time: `read` is called for each k of a
/// group first (with k clamped into the row, so every read is in bounds),
/// then `use` for each in order with whether k is really in the row. The
/// order of `use` is that of the plain strided loop, so results keep their
/// bits. `use` returns the new carried values (`init` in, the last out).
SmallVector<Value> forEachStrided(
    OpBuilder &nb, Location l, Value lane, int64_t count, int64_t lanes,
    ValueRange init,
    const std::function<SmallVector<Value>(OpBuilder &, Location, Value)> &read,
    const std::function<SmallVector<Value>(OpBuilder &, Location, Value, Value,
                                           ArrayRef<Value>, ValueRange)> &use);

/// The shared-memory slots of a block-per-row reduction: one value per warp,
/// a module global the kernel outlining carries into the gpu.module.
Value rowPartials(OpBuilder &nb, Location l, ModuleOp module, Type compute);

/// `lanes` threads (rowLanes) reduce a row of `count` elements (`load` reads
/// element k in `compute`): lane j combines elements j, j + lanes, ..., then a
/// butterfly of shuffles combines each warp's lanes; a block-wide row then
/// combines the warps' values through `partials` in warp order. Every lane ends
/// with the row's value; mean divides and logsumexp makes its second, shifted
/// pass. The standalone reduction kernel and the row kernels share it, so
/// fusing a reduction into its consumer never changes a bit.
Value warpReduceRow(
    OpBuilder &nb, Location l, Operation *reduction, Value lane, int64_t count,
    int64_t lanes, Type compute,
    const std::function<Value(OpBuilder &, Location, Value)> &load,
    Value partials);

/// The element at `idx` (of the result's canonical shape) of an index remap
/// (transpose, slice, concat; ir::KilnIndexRemap), read through its operands'
/// readers: the remap's own kernel and every kernel it is fused into share it.
Value readRemapped(OpBuilder &nb, Location l, Operation *op,
                   ArrayRef<Reader> operands, ValueRange idx);

/// Builds the kernel of one op that is a region's root (no row phase):
/// build() picks the op family's method.
class LoopNestBuilder {
public:
  /// `readers` read the op's operands (loads of the function's leading
  /// `numInputs` arguments, or fused producers); results follow the inputs.
  LoopNestBuilder(Operation *op, func::FuncOp func, OpBuilder &b,
                  SmallVector<Reader> readers, unsigned numInputs)
      : op(op), func(func), b(b), loc(op->getLoc()), ctx(b.getContext()),
        readers(std::move(readers)), numInputs(numInputs) {}
  /// Operand i's buffer; only for ops that are never fusion roots with fused
  /// producers (those read operands through `readers`).
  Value arg(unsigned i) { return func.getArgument(i); }
  Value result(unsigned i) { return func.getArgument(numInputs + i); }
  RankedTensorType operandType(unsigned i) {
    return llvm::cast<RankedTensorType>(op->getOperand(i).getType());
  }
  RankedTensorType resultType(unsigned i = 0) {
    return llvm::cast<RankedTensorType>(op->getResult(i).getType());
  }
  /// The first result's shape with rank 0 laid out as [1].
  SmallVector<int64_t> outShape() {
    return canonicalShape(resultType().getShape());
  }
  absl::Status build();

private:
  /// A generic over the result's shape whose body computes each element from
  /// its indices (linalg.index) by `fn`.
  void indexed(
      const std::function<Value(OpBuilder &, Location, ValueRange idx)> &fn) {
    indexedInto(0, fn);
  }
  void indexedInto(
      unsigned resultIndex,
      const std::function<Value(OpBuilder &, Location, ValueRange idx)> &fn) {
    flatIndexed(b, loc, result(resultIndex),
                canonicalShape(resultType(resultIndex).getShape()), fn);
  }
  /// transpose, slice, concat: each element read through readRemapped.
  absl::Status buildRemap();
  absl::Status buildIota(int64_t dimension);
  absl::Status buildGather(int64_t axis);
  /// Whole rows gathered along axis 0 (the MoE dispatch's token rows): each
  /// thread moves `vec` elements (16 bytes) of one row, loads first, so LLVM's
  /// load-store vectorizer makes one 16-byte load and store of them.
  absl::Status buildRowGather(int64_t vec);
  absl::Status buildTakeAlongAxis(int64_t axis);
  /// Nested scf.for loops over `sizes` carrying `inits`; `step` returns the new
  /// carried values from the induction variables and the current ones.
  SmallVector<Value>
  loops(OpBuilder &nb, Location l, ArrayRef<int64_t> sizes, ValueRange inits,
        const std::function<SmallVector<Value>(OpBuilder &, Location,
                                               ValueRange, ValueRange)> &step);
  Value indexConst(OpBuilder &nb, Location l, int64_t v) {
    return nb.create<arith::ConstantIndexOp>(l, v);
  }
  Value i64Const(OpBuilder &nb, Location l, int64_t v) {
    return nb.create<arith::ConstantOp>(l, nb.getI64IntegerAttr(v));
  }
  Value toI64(OpBuilder &nb, Location l, Value index) {
    return nb.create<arith::IndexCastOp>(l, nb.getI64Type(), index);
  }
  Value zeroOf(OpBuilder &nb, Location l, Type t) {
    return isFloat(t) ? floatConst(nb, l, t, 0.0)
                      : Value(nb.create<arith::ConstantOp>(
                            l, nb.getIntegerAttr(t, 0)));
  }
  Value addOf(OpBuilder &nb, Location l, Value a, Value c) {
    return isFloat(a.getType()) ? Value(nb.create<arith::AddFOp>(l, a, c))
                                : Value(nb.create<arith::AddIOp>(l, a, c));
  }
  Value mulOf(OpBuilder &nb, Location l, Value a, Value c) {
    return isFloat(a.getType()) ? Value(nb.create<arith::MulFOp>(l, a, c))
                                : Value(nb.create<arith::MulIOp>(l, a, c));
  }
  /// Reads operand i at `idx` (a rank-0 tensor is laid out as [1]) in
  /// `compute`.
  Value loadAs(OpBuilder &nb, Location l, unsigned i, SmallVector<Value> idx,
               Type compute) {
    if (idx.empty())
      idx.push_back(indexConst(nb, l, 0));
    return convert(nb, l, readers[i](nb, l, idx), compute);
  }
  /// One warp (or block, rowLanes) per output (see warpReduceRow); the
  /// block's warps never straddle the loop's bound: outputs x lanes is a
  /// multiple of the lanes.
  absl::Status buildWarpReduction(int64_t count, Type compute);
  /// One thread per output element; the reduced dims are loops inside it, with
  /// an f32 accumulator for narrow floats (the CPU executor's accumulation
  /// order).
  absl::Status buildReduction();
  absl::Status buildArgmax(int64_t axis, bool keepdims);
  absl::Status buildOneHot();
  absl::Status buildDynamicUpdateSlice();
  /// out = x plus every update whose index names this position, in index order
  /// (O(indices) per element, exact: f32 accumulation rounded once). For the
  /// types without atomic adds (fp8, narrow ints); the rest use the atomic
  /// kernel (ScatterAddKernel.cpp).
  absl::Status buildScatterAdd(int64_t axis);
  /// Lower and upper row of group `e` from the offsets (cumulative ends).
  std::pair<Value, Value> groupRows(OpBuilder &nb, Location l, Value e,
                                    int64_t rows);
  absl::Status buildGroupedRows(bool transposeW);
  /// dw[e] = x_e^T dy_e: each output loops over its own group's rows only (the
  /// rows of other groups would add nothing), in row order as the CPU does.
  absl::Status buildGroupedContract();
  Value flatIndex(OpBuilder &nb, Location l, ValueRange idx,
                  ArrayRef<int64_t> shape);
  absl::Status buildRandom(bool normal);
  /// One thread per output element with the contraction as a loop inside, so
  /// narrow floats accumulate in f32 and round once. Only for what neither the
  /// tensor-core kernel (MmaMatmul.cpp) nor the tiled CUDA-core kernel
  /// (SimtMatmul.cpp) takes: integer matmuls and batch dims that broadcast
  /// partially.
  absl::Status buildMatmul(bool transposeA, bool transposeB);

  Operation *op;
  func::FuncOp func;
  OpBuilder &b;
  Location loc;
  MLIRContext *ctx;
  SmallVector<Reader> readers;
  unsigned numInputs;
};

} // namespace kiln::codegen::ptx::loopnest

#endif // KILN_CODEGEN_PTX_LOOPNESTBUILDER_H
