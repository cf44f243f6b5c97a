//===- KernelBuilder.cpp - one kiln op as a linalg kernel function ---------===//
//
// Elementwise ops become one linalg.generic with numpy-broadcast indexing maps;
// reductions a fill plus a generic with reduction iterators; matmul a fill plus a
// generic over (batch, m, n, k); gathers read their source with memref.load from
// inside the generic's body. Narrow floats compute in f32 and round once, as the
// CPU executor does. Rank-0 tensors are laid out as [1] so every kernel keeps at
// least one parallel loop (otherwise the loop nest would run on the host).
//
//===----------------------------------------------------------------------===//

#include "codegen/ptx/KernelBuilder.h"
#include "codegen/ptx/Scalars.h"

#include "ir/KilnOps.h"
#include "ir/ShapeUtils.h"
#include "passes/RowReduction.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Builders.h"

using namespace mlir;
namespace kir = kiln::ir;

namespace kiln::codegen::ptx {
namespace {

using passes::warpRowLength;

bool isElementwise(Operation *op) {
  return op->hasTrait<kir::KilnElementwise>();
}

using ScalarFn = std::function<Value(OpBuilder &, Location, ValueRange)>;

/// Elements per thread in flat elementwise kernels (16 bytes of bf16).
constexpr int64_t kVector = 8;

using Preloaded = llvm::DenseMap<std::pair<Value, Value>, Value>;

absl::Status unsupported(Operation *op, const std::string &why) {
  return absl::UnimplementedError(absl::StrCat(
      "'", op->getName().getStringRef().str(), "' is not supported by the ptx target yet: ",
      why));
}

SmallVector<int64_t> canonicalShape(ArrayRef<int64_t> shape) {
  if (shape.empty())
    return {1};
  return SmallVector<int64_t>(shape);
}

MemRefType memrefOf(Type tensorType) {
  auto t = llvm::cast<RankedTensorType>(tensorType);
  return MemRefType::get(canonicalShape(t.getShape()), t.getElementType());
}

/// The map reading an operand of `shape` broadcast to an iteration space whose
/// first `shape`-aligned dims are `outShape` (numpy rules, right-aligned).
AffineMap broadcastMap(MLIRContext *ctx, ArrayRef<int64_t> shape,
                       ArrayRef<int64_t> outShape, unsigned numDims) {
  SmallVector<AffineExpr> exprs;
  size_t lead = outShape.size() - shape.size();
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == 1 && outShape[i + lead] != 1)
      exprs.push_back(getAffineConstantExpr(0, ctx));
    else
      exprs.push_back(getAffineDimExpr(i + lead, ctx));
  }
  return AffineMap::get(numDims, 0, exprs, ctx);
}

/// The multi-dimensional index of flat position `flat` in row-major `shape`.
SmallVector<Value> delinearize(OpBuilder &b, Location l, Value flat, ArrayRef<int64_t> shape) {
  SmallVector<Value> idx(shape.size());
  Value rest = flat;
  for (int64_t d = static_cast<int64_t>(shape.size()) - 1; d >= 0; --d) {
    Value size = b.create<arith::ConstantIndexOp>(l, shape[d]);
    idx[d] = d == 0 ? rest : b.create<arith::RemUIOp>(l, rest, size).getResult();
    rest = b.create<arith::DivUIOp>(l, rest, size);
  }
  return idx;
}

/// Reads an operand's element at an index of the operand's (canonical) shape:
/// a memref.load, or the recomputation of a producer fused into this kernel.
/// The value has the operand's element type.
using Reader = std::function<Value(OpBuilder &, Location, ValueRange idx)>;

/// The operands at output index `idx` under numpy broadcasting, converted to
/// `compute` (integer and i1 operands stay as they are).
SmallVector<Value> readBroadcast(OpBuilder &nb, Location l, ArrayRef<Reader> ins,
                                 ArrayRef<SmallVector<int64_t>> inShapes,
                                 ArrayRef<int64_t> outShape, ValueRange idx, Type compute) {
  SmallVector<Value> scalars;
  for (auto [in, inShape] : llvm::zip(ins, inShapes)) {
    size_t lead = outShape.size() - inShape.size();
    SmallVector<Value> src;
    for (size_t i = 0; i < inShape.size(); ++i)
      src.push_back(inShape[i] == 1 && outShape[i + lead] != 1
                        ? nb.create<arith::ConstantIndexOp>(l, 0).getResult()
                        : idx[i + lead]);
    Value a = in(nb, l, src);
    scalars.push_back(a.getType().isInteger(1) || (!isFloat(a.getType()) && !isF8(a.getType()))
                          ? a
                          : convert(nb, l, a, compute));
  }
  return scalars;
}

/// Every kernel is one flat loop over its output's elements: the loop maps to
/// blocks of 256 consecutive elements (coalesced, no grid-dimension limits) and
/// the body recovers the element's index. `fn` computes the value at `idx` of
/// the logical (row-major) `shape`; the result is converted to out's type.
void flatIndexed(OpBuilder &b, Location loc, Value out, ArrayRef<int64_t> shape,
                 const std::function<Value(OpBuilder &, Location, ValueRange)> &fn) {
  MLIRContext *ctx = b.getContext();
  auto outType = llvm::cast<MemRefType>(out.getType());
  SmallVector<AffineMap> maps{AffineMap::getMultiDimIdentityMap(1, ctx)};
  SmallVector<utils::IteratorType> iterators{utils::IteratorType::parallel};
  b.create<linalg::GenericOp>(
      loc, TypeRange{}, ValueRange{}, ValueRange{out}, maps, iterators,
      [&](OpBuilder &nb, Location l, ValueRange) {
        Value flat = nb.create<linalg::IndexOp>(l, 0);
        SmallVector<Value> idx = delinearize(nb, l, flat, shape);
        nb.create<linalg::YieldOp>(l, convert(nb, l, fn(nb, l, idx), outType.getElementType()));
      });
}

/// out[i...] = fn(ins[broadcast(i)]...), computed in `compute` (integer and i1
/// operands stay as they are) and converted to out's type; numpy broadcasting.
/// Each operand is read through its Reader (a load, or a fused producer).
void elementwise(OpBuilder &b, Location loc, ArrayRef<Reader> ins,
                 ArrayRef<SmallVector<int64_t>> inShapes, Value out, ArrayRef<int64_t> outShape,
                 const ScalarFn &fn, Type compute) {
  flatIndexed(b, loc, out, outShape, [&](OpBuilder &nb, Location l, ValueRange idx) {
    return fn(nb, l, readBroadcast(nb, l, ins, inShapes, outShape, idx, compute));
  });
}

/// The scalar body of a unary elementwise op on `x` (already in compute type).
FailureOr<Value> unaryScalar(OpBuilder &b, Location l, Operation *op, Value x) {
  Type t = x.getType();
  bool fp = isFloat(t);
  if (llvm::isa<kir::NegOp>(op))
    return fp ? Value(b.create<arith::NegFOp>(l, x))
              : Value(b.create<arith::SubIOp>(
                    l, b.create<arith::ConstantOp>(l, b.getIntegerAttr(t, 0)), x));
  if (llvm::isa<kir::AbsOp>(op))
    return fp ? Value(b.create<math::AbsFOp>(l, x)) : Value(b.create<math::AbsIOp>(l, x));
  if (llvm::isa<kir::LogicalNotOp>(op))
    return Value(b.create<arith::XOrIOp>(
        l, x, b.create<arith::ConstantOp>(l, b.getIntegerAttr(t, 1))));
  if (!fp)
    return failure();
  auto one = [&] { return floatConst(b, l, t, 1.0); };
  auto sigmoid = [&](Value v) -> Value {
    Value e = b.create<math::ExpOp>(l, b.create<arith::NegFOp>(l, v));
    return b.create<arith::DivFOp>(l, one(), b.create<arith::AddFOp>(l, one(), e));
  };
  if (llvm::isa<kir::ExpOp>(op))
    return Value(b.create<math::ExpOp>(l, x));
  if (llvm::isa<kir::LogOp>(op))
    return Value(b.create<math::LogOp>(l, x));
  if (llvm::isa<kir::SqrtOp>(op))
    return Value(b.create<math::SqrtOp>(l, x));
  if (llvm::isa<kir::RsqrtOp>(op))
    return Value(b.create<math::RsqrtOp>(l, x));
  if (llvm::isa<kir::TanhOp>(op))
    return Value(b.create<math::TanhOp>(l, x));
  if (llvm::isa<kir::SinOp>(op))
    return Value(b.create<math::SinOp>(l, x));
  if (llvm::isa<kir::CosOp>(op))
    return Value(b.create<math::CosOp>(l, x));
  if (llvm::isa<kir::ErfOp>(op))
    return Value(b.create<math::ErfOp>(l, x));
  if (llvm::isa<kir::SigmoidOp>(op))
    return sigmoid(x);
  if (llvm::isa<kir::SiluOp>(op))
    return Value(b.create<arith::MulFOp>(l, x, sigmoid(x)));
  if (llvm::isa<kir::GeluOp>(op)) {
    Value scaled = b.create<arith::MulFOp>(l, x, floatConst(b, l, t, M_SQRT1_2));
    Value cdf = b.create<arith::MulFOp>(
        l, floatConst(b, l, t, 0.5),
        b.create<arith::AddFOp>(l, one(), b.create<math::ErfOp>(l, scaled)));
    return Value(b.create<arith::MulFOp>(l, x, cdf));
  }
  return failure();
}

/// The scalar body of a binary elementwise op (operands in compute type).
FailureOr<Value> binaryScalar(OpBuilder &b, Location l, Operation *op, Value x, Value y) {
  Type t = x.getType();
  bool fp = isFloat(t);
  if (llvm::isa<kir::AddOp>(op))
    return fp ? Value(b.create<arith::AddFOp>(l, x, y)) : Value(b.create<arith::AddIOp>(l, x, y));
  if (llvm::isa<kir::SubOp>(op))
    return fp ? Value(b.create<arith::SubFOp>(l, x, y)) : Value(b.create<arith::SubIOp>(l, x, y));
  if (llvm::isa<kir::MulOp>(op))
    return fp ? Value(b.create<arith::MulFOp>(l, x, y)) : Value(b.create<arith::MulIOp>(l, x, y));
  if (llvm::isa<kir::DivOp>(op)) {
    if (fp)
      return Value(b.create<arith::DivFOp>(l, x, y));
    // Integer x / 0 = 0 (docs/OPS.md); divide by 1 there to stay defined.
    Value zero = b.create<arith::ConstantOp>(l, b.getIntegerAttr(t, 0));
    Value isZero = b.create<arith::CmpIOp>(l, arith::CmpIPredicate::eq, y, zero);
    Value safe = b.create<arith::SelectOp>(
        l, isZero, b.create<arith::ConstantOp>(l, b.getIntegerAttr(t, 1)), y);
    return Value(b.create<arith::SelectOp>(l, isZero, zero,
                                           b.create<arith::DivSIOp>(l, x, safe)));
  }
  if (llvm::isa<kir::PowOp>(op))
    return Value(b.create<math::PowFOp>(l, x, y));
  if (llvm::isa<kir::MaximumOp>(op))
    return fp ? Value(b.create<arith::MaximumFOp>(l, x, y)) : Value(b.create<arith::MaxSIOp>(l, x, y));
  if (llvm::isa<kir::MinimumOp>(op))
    return fp ? Value(b.create<arith::MinimumFOp>(l, x, y)) : Value(b.create<arith::MinSIOp>(l, x, y));
  if (llvm::isa<kir::LogicalAndOp>(op))
    return Value(b.create<arith::AndIOp>(l, x, y));
  if (llvm::isa<kir::LogicalOrOp>(op))
    return Value(b.create<arith::OrIOp>(l, x, y));
  struct Pred {
    arith::CmpFPredicate f;
    arith::CmpIPredicate i;
  };
  std::optional<Pred> pred;
  if (llvm::isa<kir::EqualOp>(op))
    pred = Pred{arith::CmpFPredicate::OEQ, arith::CmpIPredicate::eq};
  else if (llvm::isa<kir::NotEqualOp>(op))
    pred = Pred{arith::CmpFPredicate::UNE, arith::CmpIPredicate::ne};
  else if (llvm::isa<kir::LessOp>(op))
    pred = Pred{arith::CmpFPredicate::OLT, arith::CmpIPredicate::slt};
  else if (llvm::isa<kir::LessEqualOp>(op))
    pred = Pred{arith::CmpFPredicate::OLE, arith::CmpIPredicate::sle};
  else if (llvm::isa<kir::GreaterOp>(op))
    pred = Pred{arith::CmpFPredicate::OGT, arith::CmpIPredicate::sgt};
  else if (llvm::isa<kir::GreaterEqualOp>(op))
    pred = Pred{arith::CmpFPredicate::OGE, arith::CmpIPredicate::sge};
  if (!pred)
    return failure();
  return fp ? Value(b.create<arith::CmpFOp>(l, pred->f, x, y))
            : Value(b.create<arith::CmpIOp>(l, pred->i, x, y));
}

/// An elementwise op's scalar body and the type it computes in.
struct ElementwiseBody {
  Type compute;
  std::function<FailureOr<Value>(OpBuilder &, Location, ValueRange)> fn;
};

Value signOf(OpBuilder &nb, Location l, Value x) {
  Type t = x.getType();
  bool fp = isFloat(t);
  auto constant = [&](double v) -> Value {
    return fp ? floatConst(nb, l, t, v)
              : Value(nb.create<arith::ConstantOp>(l, nb.getIntegerAttr(t, static_cast<int64_t>(v))));
  };
  Value zero = constant(0.0);
  Value gt = fp ? Value(nb.create<arith::CmpFOp>(l, arith::CmpFPredicate::OGT, x, zero))
                : Value(nb.create<arith::CmpIOp>(l, arith::CmpIPredicate::sgt, x, zero));
  Value lt = fp ? Value(nb.create<arith::CmpFOp>(l, arith::CmpFPredicate::OLT, x, zero))
                : Value(nb.create<arith::CmpIOp>(l, arith::CmpIPredicate::slt, x, zero));
  // Zero and NaN pass through unchanged.
  return nb.create<arith::SelectOp>(l, gt, constant(1.0),
                                    nb.create<arith::SelectOp>(l, lt, constant(-1.0), x));
}

std::optional<ElementwiseBody> elementwiseBody(OpBuilder &b, Operation *op) {
  auto elementOf = [&](unsigned i) {
    return llvm::cast<RankedTensorType>(op->getOperand(i).getType()).getElementType();
  };
  if (!isElementwise(op))
    return std::nullopt;
  if (llvm::isa<kir::CastOp, kir::BroadcastToOp>(op))
    // Convert straight from the source type (no f32 detour for f64 -> int).
    return ElementwiseBody{elementOf(0), [](OpBuilder &, Location, ValueRange s) {
                             return FailureOr<Value>(s[0]);
                           }};
  if (llvm::isa<kir::SelectOp>(op))
    return ElementwiseBody{computeType(b, elementOf(1)),
                           [](OpBuilder &nb, Location l, ValueRange s) {
                             return FailureOr<Value>(
                                 nb.create<arith::SelectOp>(l, s[0], s[1], s[2]).getResult());
                           }};
  if (llvm::isa<kir::SignOp>(op))
    return ElementwiseBody{computeType(b, elementOf(0)),
                           [](OpBuilder &nb, Location l, ValueRange s) {
                             return FailureOr<Value>(signOf(nb, l, s[0]));
                           }};
  if (op->getNumOperands() == 2)
    return ElementwiseBody{computeType(b, elementOf(0)),
                           [op](OpBuilder &nb, Location l, ValueRange s) {
                             return binaryScalar(nb, l, op, s[0], s[1]);
                           }};
  return ElementwiseBody{computeType(b, elementOf(0)),
                         [op](OpBuilder &nb, Location l, ValueRange s) {
                           return unaryScalar(nb, l, op, s[0]);
                         }};
}

using ir::normalizeAxis;

/// Clamps an index value (any integer type) into [0, size) as an `index`.
Value clampIndex(OpBuilder &b, Location l, Value v, int64_t size) {
  Value i64 = convert(b, l, v, b.getI64Type());
  Value lo = b.create<arith::ConstantOp>(l, b.getI64IntegerAttr(0));
  Value hi = b.create<arith::ConstantOp>(l, b.getI64IntegerAttr(size - 1));
  Value c = b.create<arith::MinSIOp>(l, b.create<arith::MaxSIOp>(l, i64, lo), hi);
  return b.create<arith::IndexCastOp>(l, b.getIndexType(), c);
}

/// A reduction's combining step and identity in `compute`.
Value combineReduction(OpBuilder &nb, Location l, Operation *reduction, Value a, Value x) {
  bool fp = isFloat(a.getType());
  if (llvm::isa<kir::MaxOp, kir::LogSumExpOp>(reduction))
    return fp ? Value(nb.create<arith::MaximumFOp>(l, a, x))
              : Value(nb.create<arith::MaxSIOp>(l, a, x));
  if (llvm::isa<kir::MinOp>(reduction))
    return fp ? Value(nb.create<arith::MinimumFOp>(l, a, x))
              : Value(nb.create<arith::MinSIOp>(l, a, x));
  return fp ? Value(nb.create<arith::AddFOp>(l, a, x)) : Value(nb.create<arith::AddIOp>(l, a, x));
}

Value reductionIdentity(OpBuilder &nb, Location l, Operation *reduction, Type compute) {
  bool fp = isFloat(compute);
  unsigned bits = compute.getIntOrFloatBitWidth();
  if (llvm::isa<kir::MaxOp, kir::LogSumExpOp>(reduction))
    return fp ? floatConst(nb, l, compute, -INFINITY)
              : Value(nb.create<arith::ConstantOp>(
                    l, nb.getIntegerAttr(compute, APInt::getSignedMinValue(bits))));
  if (llvm::isa<kir::MinOp>(reduction))
    return fp ? floatConst(nb, l, compute, INFINITY)
              : Value(nb.create<arith::ConstantOp>(
                    l, nb.getIntegerAttr(compute, APInt::getSignedMaxValue(bits))));
  return fp ? floatConst(nb, l, compute, 0.0)
            : Value(nb.create<arith::ConstantOp>(l, nb.getIntegerAttr(compute, 0)));
}

/// Lanes that reduce one row of `cols`: a warp, or for rows long enough to
/// starve the GPU with a warp each (a vocabulary), a whole block of 256 threads
/// (the mapping's block size), which combines its warps through shared memory.
constexpr int64_t kBlockRowLanes = 256, kBlockRowMinCols = 4096;
int64_t rowLanes(int64_t cols) { return cols >= kBlockRowMinCols ? kBlockRowLanes : 32; }

/// The shared-memory slots of a block-per-row reduction: one value per warp,
/// a module global the kernel outlining carries into the gpu.module.
Value rowPartials(OpBuilder &nb, Location l, ModuleOp module, Type compute) {
  auto type = MemRefType::get(
      {kBlockRowLanes / 32}, compute, MemRefLayoutAttrInterface(),
      gpu::AddressSpaceAttr::get(nb.getContext(), gpu::AddressSpace::Workgroup));
  std::string name;
  llvm::raw_string_ostream os(name);
  os << "row_partials_" << compute;
  if (!module.lookupSymbol(name)) {
    OpBuilder gb(module.getBodyRegion());
    gb.create<memref::GlobalOp>(l, name, gb.getStringAttr("private"), type, Attribute(),
                                /*constant=*/false, IntegerAttr());
  }
  return nb.create<memref::GetGlobalOp>(l, type, name);
}

/// `lanes` threads (rowLanes) reduce a row of `count` elements (`load` reads
/// element k in `compute`): lane j combines elements j, j + lanes, ..., then a
/// butterfly of shuffles combines each warp's lanes; a block-wide row then
/// combines the warps' values through `partials` in warp order. Every lane ends
/// with the row's value; mean divides and logsumexp makes its second, shifted
/// pass. The standalone reduction kernel and the row kernels share it, so
/// fusing a reduction into its consumer never changes a bit.
Value warpReduceRow(OpBuilder &nb, Location l, Operation *reduction, Value lane, int64_t count,
                    Type compute, const std::function<Value(OpBuilder &, Location, Value)> &load,
                    Value partials) {
  auto c = [&](int64_t v) -> Value { return nb.create<arith::ConstantIndexOp>(l, v); };
  int64_t lanes = rowLanes(count);
  auto pass = [&](Value init, const std::function<Value(OpBuilder &, Location, Value)> &f,
                  const std::function<Value(OpBuilder &, Location, Value, Value)> &add) {
    auto loop = nb.create<scf::ForOp>(
        l, lane, c(count), c(lanes), ValueRange{init},
        [&](OpBuilder &ib, Location il, Value k, ValueRange acc) {
          ib.create<scf::YieldOp>(il, add(ib, il, acc[0], f(ib, il, load(ib, il, k))));
        });
    Value acc = loop.getResult(0);
    for (int32_t offset = 16; offset >= 1; offset /= 2) {
      auto shuffle = nb.create<gpu::ShuffleOp>(l, acc, offset, 32, gpu::ShuffleMode::XOR);
      acc = add(nb, l, acc, shuffle.getShuffleResult());
    }
    if (lanes == 32)
      return acc;
    Value warp = nb.create<arith::DivUIOp>(l, lane, c(32));
    Value first = nb.create<arith::CmpIOp>(l, arith::CmpIPredicate::eq,
                                           nb.create<arith::RemUIOp>(l, lane, c(32)), c(0));
    nb.create<scf::IfOp>(l, first, [&](OpBuilder &tb, Location tl) {
      tb.create<memref::StoreOp>(tl, acc, partials, ValueRange{warp});
      tb.create<scf::YieldOp>(tl);
    });
    nb.create<gpu::BarrierOp>(l);
    acc = nb.create<memref::LoadOp>(l, partials, ValueRange{c(0)});
    for (int64_t w = 1; w < lanes / 32; ++w)
      acc = add(nb, l, acc, nb.create<memref::LoadOp>(l, partials, ValueRange{c(w)}));
    // The slots are free again only once every warp has read them.
    nb.create<gpu::BarrierOp>(l);
    return acc;
  };
  auto same = [](OpBuilder &, Location, Value x) { return x; };
  auto combineFn = [&](OpBuilder &ib, Location il, Value a, Value x) {
    return combineReduction(ib, il, reduction, a, x);
  };
  Value acc = pass(reductionIdentity(nb, l, reduction, compute), same, combineFn);
  if (llvm::isa<kir::MeanOp>(reduction))
    acc = nb.create<arith::DivFOp>(l, acc, floatConst(nb, l, compute, static_cast<double>(count)));
  if (llvm::isa<kir::LogSumExpOp>(reduction)) {
    // Shift by the max (0 when the max is -inf, so -inf stays -inf).
    Value isInf = nb.create<arith::CmpFOp>(l, arith::CmpFPredicate::OEQ, acc,
                                           floatConst(nb, l, compute, -INFINITY));
    Value shift = nb.create<arith::SelectOp>(l, isInf, floatConst(nb, l, compute, 0.0), acc);
    Value sum = pass(
        floatConst(nb, l, compute, 0.0),
        [&](OpBuilder &ib, Location il, Value x) -> Value {
          return ib.create<math::ExpOp>(il, ib.create<arith::SubFOp>(il, x, shift));
        },
        [](OpBuilder &ib, Location il, Value a, Value x) -> Value {
          return ib.create<arith::AddFOp>(il, a, x);
        });
    acc = nb.create<arith::AddFOp>(l, nb.create<math::LogOp>(l, sum), shift);
  }
  return acc;
}

class Builder {
public:
  /// `readers` read the op's operands (loads of the function's leading
  /// `numInputs` arguments, or fused producers); results follow the inputs.
  Builder(Operation *op, func::FuncOp func, OpBuilder &b, SmallVector<Reader> readers,
          unsigned numInputs)
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
  SmallVector<int64_t> outShape() { return canonicalShape(resultType().getShape()); }

  absl::Status build() {

    if (auto body = elementwiseBody(b, op)) {
      SmallVector<SmallVector<int64_t>> shapes;
      for (Value operand : op->getOperands())
        shapes.push_back(
            canonicalShape(llvm::cast<RankedTensorType>(operand.getType()).getShape()));
      bool ok = true;
      elementwise(b, loc, readers, shapes, result(0), outShape(),
                  [&](OpBuilder &nb, Location l, ValueRange s) -> Value {
                    FailureOr<Value> v = body->fn(nb, l, s);
                    if (failed(v)) {
                      ok = false;
                      return s[0];
                    }
                    return *v;
                  },
                  body->compute);
      return ok ? absl::OkStatus() : unsupported(op, "no scalar lowering for this element type");
    }
    if (auto transpose = llvm::dyn_cast<kir::TransposeOp>(op))
      return buildTranspose(transpose.getPerm());
    if (auto slice = llvm::dyn_cast<kir::SliceOp>(op))
      return buildSlice(slice.getStart(), slice.getStride());
    if (auto iota = llvm::dyn_cast<kir::IotaOp>(op))
      return buildIota(iota.getDimensionAttr().getInt());
    if (op->hasTrait<kir::KilnReduction>())
      return buildReduction();
    if (auto argmax = llvm::dyn_cast<kir::ArgmaxOp>(op))
      return buildArgmax(argmax.getAxisAttr().getInt(), argmax.getKeepdims());
    if (llvm::isa<kir::OneHotOp>(op))
      return buildOneHot();
    if (llvm::isa<kir::DynamicUpdateSliceOp>(op))
      return buildDynamicUpdateSlice();
    if (auto scatter = llvm::dyn_cast<kir::ScatterAddOp>(op))
      return buildScatterAdd(scatter.getAxisAttr().getInt());
    if (auto grouped = llvm::dyn_cast<kir::GroupedMatmulOp>(op))
      return grouped.getMode() == kir::GroupedMatmulMode::rows ? buildGroupedRows(grouped.getTransposeW())
                                         : buildGroupedContract();
    if (llvm::isa<kir::RandomUniformOp, kir::RandomNormalOp>(op))
      return buildRandom(llvm::isa<kir::RandomNormalOp>(op));
    if (auto matmul = llvm::dyn_cast<kir::MatmulOp>(op))
      return buildMatmul(matmul.getTransposeA(), matmul.getTransposeB());
    if (auto concat = llvm::dyn_cast<kir::ConcatOp>(op))
      return buildConcat(concat.getAxisAttr().getInt());
    if (auto gather = llvm::dyn_cast<kir::GatherOp>(op))
      return buildGather(gather.getAxisAttr().getInt());
    if (auto take = llvm::dyn_cast<kir::TakeAlongAxisOp>(op))
      return buildTakeAlongAxis(take.getAxisAttr().getInt());
    return unsupported(op, "no kernel for this op yet");
  }

private:
  /// A generic over the result's shape whose body computes each element from
  /// its indices (linalg.index) by `fn`.
  void indexed(const std::function<Value(OpBuilder &, Location, ValueRange idx)> &fn) {
    indexedInto(0, fn);
  }

  void indexedInto(unsigned resultIndex,
                   const std::function<Value(OpBuilder &, Location, ValueRange idx)> &fn) {
    flatIndexed(b, loc, result(resultIndex), canonicalShape(resultType(resultIndex).getShape()),
                fn);
  }

  absl::Status buildTranspose(ArrayRef<int64_t> perm) {
    indexed([&](OpBuilder &nb, Location l, ValueRange idx) -> Value {
      SmallVector<Value> src(perm.size());
      for (size_t i = 0; i < perm.size(); ++i)
        src[perm[i]] = idx[i];
      if (perm.empty())
        src.push_back(idx[0]);
      return nb.create<memref::LoadOp>(l, arg(0), src);
    });
    return absl::OkStatus();
  }

  absl::Status buildSlice(ArrayRef<int64_t> start, ArrayRef<int64_t> stride) {
    if (operandType(0).getRank() == 0) {
      // Slicing a scalar takes all of it.
      indexed([&](OpBuilder &nb, Location l, ValueRange idx) -> Value {
        return nb.create<memref::LoadOp>(l, arg(0), idx);
      });
      return absl::OkStatus();
    }
    indexed([&](OpBuilder &nb, Location l, ValueRange idx) -> Value {
      SmallVector<Value> src;
      for (size_t i = 0; i < start.size(); ++i) {
        Value scaled = nb.create<arith::MulIOp>(
            l, idx[i], nb.create<arith::ConstantIndexOp>(l, stride[i]));
        src.push_back(nb.create<arith::AddIOp>(
            l, scaled, nb.create<arith::ConstantIndexOp>(l, start[i])));
      }
      return nb.create<memref::LoadOp>(l, arg(0), src);
    });
    return absl::OkStatus();
  }

  absl::Status buildIota(int64_t dimension) {
    Type element = resultType().getElementType();
    indexed([&](OpBuilder &nb, Location l, ValueRange idx) -> Value {
      Value i = nb.create<arith::IndexCastOp>(l, nb.getI64Type(), idx[dimension]);
      return convert(nb, l, i, element);
    });
    return absl::OkStatus();
  }

  absl::Status buildGather(int64_t axis) {
    auto xType = operandType(0);
    auto idxType = operandType(1);
    axis = normalizeAxis(axis, xType.getRank());
    int64_t idxRank = idxType.getRank();
    int64_t bits = xType.getElementType().getIntOrFloatBitWidth();
    if (axis == 0 && idxRank == 1 && xType.getRank() == 2 && bits >= 8 && bits % 8 == 0 &&
        (xType.getDimSize(1) * bits / 8) % 16 == 0)
      return buildRowGather(16 / (bits / 8));
    indexed([&](OpBuilder &nb, Location l, ValueRange out) -> Value {
      SmallVector<Value> idxPos;
      for (int64_t i = 0; i < idxRank; ++i)
        idxPos.push_back(out[axis + i]);
      if (idxRank == 0)
        idxPos.push_back(nb.create<arith::ConstantIndexOp>(l, 0));
      Value index = nb.create<memref::LoadOp>(l, arg(1), idxPos);
      SmallVector<Value> src;
      for (int64_t d = 0; d < axis; ++d)
        src.push_back(out[d]);
      src.push_back(clampIndex(nb, l, index, xType.getDimSize(axis)));
      for (int64_t d = axis + 1; d < xType.getRank(); ++d)
        src.push_back(out[d - 1 + idxRank]);
      return nb.create<memref::LoadOp>(l, arg(0), src);
    });
    return absl::OkStatus();
  }

  /// Whole rows gathered along axis 0 (the MoE dispatch's token rows): each
  /// thread moves `vec` elements (16 bytes) of one row, loads first, so LLVM's
  /// load-store vectorizer makes one 16-byte load and store of them.
  absl::Status buildRowGather(int64_t vec) {
    auto xType = operandType(0);
    int64_t rows = operandType(1).getDimSize(0), cols = xType.getDimSize(1);
    int64_t chunks = cols / vec;
    Value out = result(0);
    b.create<scf::ParallelOp>(
        loc, ValueRange{indexConst(b, loc, 0)}, ValueRange{indexConst(b, loc, rows * chunks)},
        ValueRange{indexConst(b, loc, 1)}, [&](OpBuilder &nb, Location l, ValueRange ivs) {
          // Inside the loop, so the assumptions move into the outlined kernel.
          nb.create<memref::AssumeAlignmentOp>(l, arg(0), 16);
          nb.create<memref::AssumeAlignmentOp>(l, out, 16);
          Value row = nb.create<arith::DivUIOp>(l, ivs[0], indexConst(nb, l, chunks));
          Value col = nb.create<arith::MulIOp>(
              l, nb.create<arith::RemUIOp>(l, ivs[0], indexConst(nb, l, chunks)),
              indexConst(nb, l, vec));
          Value source = clampIndex(nb, l, nb.create<memref::LoadOp>(l, arg(1), ValueRange{row}),
                                    xType.getDimSize(0));
          SmallVector<Value> values;
          for (int64_t j = 0; j < vec; ++j)
            values.push_back(nb.create<memref::LoadOp>(
                l, arg(0),
                ValueRange{source, nb.create<arith::AddIOp>(l, col, indexConst(nb, l, j))}));
          Value first = nb.create<arith::AddIOp>(
              l, nb.create<arith::MulIOp>(l, row, indexConst(nb, l, cols)), col);
          for (int64_t j = 0; j < vec; ++j)
            nb.create<memref::StoreOp>(
                l, values[j], out,
                ValueRange{nb.create<arith::AddIOp>(l, first, indexConst(nb, l, j))});
        });
    return absl::OkStatus();
  }

  /// Each element reads the input whose slab along `axis` holds it: every input
  /// is read at a clamped position and a chain of selects keeps the right one.
  absl::Status buildConcat(int64_t axis) {
    int64_t rank = resultType().getRank();
    axis = normalizeAxis(axis, rank);
    indexed([&](OpBuilder &nb, Location l, ValueRange out) -> Value {
      Value i64 = nb.create<arith::IndexCastOp>(l, nb.getI64Type(), out[axis]);
      Value chosen;
      int64_t begin = 0;
      for (unsigned k = 0; k < op->getNumOperands(); ++k) {
        int64_t size = operandType(k).getDimSize(axis);
        Value local = nb.create<arith::SubIOp>(
            l, i64, nb.create<arith::ConstantOp>(l, nb.getI64IntegerAttr(begin)));
        SmallVector<Value> src(out.begin(), out.end());
        src[axis] = clampIndex(nb, l, local, std::max<int64_t>(size, 1));
        Value v = nb.create<memref::LoadOp>(l, arg(k), src);
        if (!chosen) {
          chosen = v;
        } else {
          Value inside = nb.create<arith::CmpIOp>(
              l, arith::CmpIPredicate::sge, i64,
              nb.create<arith::ConstantOp>(l, nb.getI64IntegerAttr(begin)));
          chosen = nb.create<arith::SelectOp>(l, inside, v, chosen);
        }
        begin += size;
      }
      return chosen;
    });
    return absl::OkStatus();
  }

  absl::Status buildTakeAlongAxis(int64_t axis) {
    auto xType = operandType(0);
    axis = normalizeAxis(axis, xType.getRank());
    indexed([&](OpBuilder &nb, Location l, ValueRange out) -> Value {
      Value index = nb.create<memref::LoadOp>(l, arg(1), out);
      SmallVector<Value> src(out.begin(), out.end());
      src[axis] = clampIndex(nb, l, index, xType.getDimSize(axis));
      return nb.create<memref::LoadOp>(l, arg(0), src);
    });
    return absl::OkStatus();
  }

  /// Nested scf.for loops over `sizes` carrying `inits`; `step` returns the new
  /// carried values from the induction variables and the current ones.
  SmallVector<Value>
  loops(OpBuilder &nb, Location l, ArrayRef<int64_t> sizes, ValueRange inits,
        const std::function<SmallVector<Value>(OpBuilder &, Location, ValueRange,
                                               ValueRange)> &step) {
    SmallVector<Value> ivs;
    std::function<SmallVector<Value>(OpBuilder &, size_t, ValueRange)> nest =
        [&](OpBuilder &ob, size_t depth, ValueRange carried) -> SmallVector<Value> {
      if (depth == sizes.size())
        return step(ob, l, ivs, carried);
      Value lo = ob.create<arith::ConstantIndexOp>(l, 0);
      Value hi = ob.create<arith::ConstantIndexOp>(l, sizes[depth]);
      Value one = ob.create<arith::ConstantIndexOp>(l, 1);
      auto loop = ob.create<scf::ForOp>(
          l, lo, hi, one, carried,
          [&](OpBuilder &ib, Location il, Value iv, ValueRange args) {
            ivs.push_back(iv);
            SmallVector<Value> next = nest(ib, depth + 1, args);
            ivs.pop_back();
            ib.create<scf::YieldOp>(il, next);
          });
      return SmallVector<Value>(loop.getResults());
    };
    return nest(nb, 0, inits);
  }

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
                      : Value(nb.create<arith::ConstantOp>(l, nb.getIntegerAttr(t, 0)));
  }
  Value addOf(OpBuilder &nb, Location l, Value a, Value c) {
    return isFloat(a.getType()) ? Value(nb.create<arith::AddFOp>(l, a, c))
                                : Value(nb.create<arith::AddIOp>(l, a, c));
  }
  Value mulOf(OpBuilder &nb, Location l, Value a, Value c) {
    return isFloat(a.getType()) ? Value(nb.create<arith::MulFOp>(l, a, c))
                                : Value(nb.create<arith::MulIOp>(l, a, c));
  }
  /// Reads operand i at `idx` (a rank-0 tensor is laid out as [1]) in `compute`.
  Value loadAs(OpBuilder &nb, Location l, unsigned i, SmallVector<Value> idx, Type compute) {
    if (idx.empty())
      idx.push_back(indexConst(nb, l, 0));
    return convert(nb, l, readers[i](nb, l, idx), compute);
  }

  /// One warp (or block, rowLanes) per output (see warpReduceRow); the
  /// block's warps never straddle the loop's bound: outputs x lanes is a
  /// multiple of the lanes.
  absl::Status buildWarpReduction(int64_t count, Type compute) {
    int64_t outputs = resultType().getNumElements();
    int64_t lanes = rowLanes(count);
    SmallVector<int64_t> inShape = canonicalShape(operandType(0).getShape());
    Value out = result(0);
    Type element = llvm::cast<MemRefType>(out.getType()).getElementType();
    b.create<scf::ParallelOp>(
        loc, ValueRange{indexConst(b, loc, 0)}, ValueRange{indexConst(b, loc, outputs * lanes)},
        ValueRange{indexConst(b, loc, 1)}, [&](OpBuilder &nb, Location l, ValueRange ivs) {
          Value row = nb.create<arith::DivUIOp>(l, ivs[0], indexConst(nb, l, lanes));
          Value lane = nb.create<arith::RemUIOp>(l, ivs[0], indexConst(nb, l, lanes));
          Value rowBase = nb.create<arith::MulIOp>(l, row, indexConst(nb, l, count));
          Value partials = lanes > 32 ? rowPartials(nb, l, func->getParentOfType<ModuleOp>(),
                                                    compute)
                                      : Value();
          Value acc = warpReduceRow(nb, l, op, lane, count, compute,
                                    [&](OpBuilder &ib, Location il, Value k) {
                                      Value flat = ib.create<arith::AddIOp>(il, rowBase, k);
                                      return loadAs(ib, il, 0, delinearize(ib, il, flat, inShape),
                                                    compute);
                                    },
                                    partials);
          Value first = nb.create<arith::CmpIOp>(l, arith::CmpIPredicate::eq, lane,
                                                 indexConst(nb, l, 0));
          Value rounded = convert(nb, l, acc, element);
          nb.create<scf::IfOp>(l, first, [&](OpBuilder &tb, Location tl) {
            tb.create<memref::StoreOp>(tl, rounded, out, ValueRange{row});
            tb.create<scf::YieldOp>(tl);
          });
        });
    return absl::OkStatus();
  }

  /// One thread per output element; the reduced dims are loops inside it, with an
  /// f32 accumulator for narrow floats (the CPU executor's accumulation order).
  absl::Status buildReduction() {
    auto xType = operandType(0);
    Type element = xType.getElementType();
    Type compute = computeType(b, element);
    auto axesAttr = op->getAttrOfType<DenseI64ArrayAttr>("axes");
    bool keepdims = op->getAttrOfType<BoolAttr>("keepdims").getValue();
    int64_t rank = xType.getRank();
    SmallVector<bool> reduced(rank, false);
    for (int64_t a : axesAttr.asArrayRef())
      reduced[normalizeAxis(a, rank)] = true;
    SmallVector<int64_t> sizes;
    int64_t count = 1;
    for (int64_t i = 0; i < rank; ++i)
      if (reduced[i]) {
        sizes.push_back(xType.getDimSize(i));
        count *= xType.getDimSize(i);
      }
    bool isLse = llvm::isa<kir::LogSumExpOp>(op);
    if (warpRowLength(op) > 0)
      return buildWarpReduction(count, compute);
    auto source = [&](ValueRange out, ValueRange ivs) {
      SmallVector<Value> src;
      unsigned kept = 0, red = 0;
      for (int64_t i = 0; i < rank; ++i) {
        if (reduced[i]) {
          src.push_back(ivs[red++]);
          if (keepdims)
            ++kept;
        } else {
          src.push_back(out[keepdims ? i : kept]);
          ++kept;
        }
      }
      return src;
    };
    indexed([&](OpBuilder &nb, Location l, ValueRange out) -> Value {
      Value acc = loops(nb, l, sizes, {reductionIdentity(nb, l, op, compute)},
                        [&](OpBuilder &ib, Location il, ValueRange ivs, ValueRange a) {
                          Value x = loadAs(ib, il, 0, source(out, ivs), compute);
                          return SmallVector<Value>{combineReduction(ib, il, op, a[0], x)};
                        })[0];
      if (llvm::isa<kir::MeanOp>(op))
        return nb.create<arith::DivFOp>(l, acc,
                                        floatConst(nb, l, compute, static_cast<double>(count)));
      if (!isLse)
        return acc;
      // logsumexp: shift by the max (0 when the max is -inf, so -inf stays -inf).
      Value isInf = nb.create<arith::CmpFOp>(l, arith::CmpFPredicate::OEQ, acc,
                                             floatConst(nb, l, compute, -INFINITY));
      Value shift = nb.create<arith::SelectOp>(l, isInf, floatConst(nb, l, compute, 0.0), acc);
      Value sum = loops(nb, l, sizes, {floatConst(nb, l, compute, 0.0)},
                        [&](OpBuilder &ib, Location il, ValueRange ivs, ValueRange a) {
                          Value x = loadAs(ib, il, 0, source(out, ivs), compute);
                          Value e = ib.create<math::ExpOp>(
                              il, ib.create<arith::SubFOp>(il, x, shift));
                          return SmallVector<Value>{ib.create<arith::AddFOp>(il, a[0], e)};
                        })[0];
      return nb.create<arith::AddFOp>(l, nb.create<math::LogOp>(l, sum), shift);
    });
    return absl::OkStatus();
  }

  absl::Status buildArgmax(int64_t axis, bool keepdims) {
    auto xType = operandType(0);
    int64_t rank = xType.getRank();
    axis = normalizeAxis(axis, rank);
    Type compute = computeType(b, xType.getElementType());
    bool fp = isFloat(compute);
    indexed([&](OpBuilder &nb, Location l, ValueRange out) -> Value {
      Value init = fp ? floatConst(nb, l, compute, -INFINITY)
                      : Value(nb.create<arith::ConstantOp>(
                            l, nb.getIntegerAttr(compute, APInt::getSignedMinValue(
                                                              compute.getIntOrFloatBitWidth()))));
      auto r = loops(nb, l, {xType.getDimSize(axis)}, {init, i64Const(nb, l, 0)},
                     [&](OpBuilder &ib, Location il, ValueRange ivs, ValueRange a) {
                       SmallVector<Value> src;
                       for (int64_t d = 0, o = 0; d < rank; ++d) {
                         if (d == axis) {
                           src.push_back(ivs[0]);
                           if (keepdims)
                             ++o;
                         } else {
                           src.push_back(out[o++]);
                         }
                       }
                       Value x = loadAs(ib, il, 0, src, compute);
                       Value better;
                       if (fp) {
                         // NaN counts as the maximum; the first NaN wins.
                         Value bestIsNan = ib.create<arith::CmpFOp>(
                             il, arith::CmpFPredicate::UNO, a[0], a[0]);
                         Value xIsNan =
                             ib.create<arith::CmpFOp>(il, arith::CmpFPredicate::UNO, x, x);
                         Value greater =
                             ib.create<arith::CmpFOp>(il, arith::CmpFPredicate::OGT, x, a[0]);
                         Value candidate = ib.create<arith::OrIOp>(il, greater, xIsNan);
                         Value notNan = ib.create<arith::XOrIOp>(
                             il, bestIsNan,
                             ib.create<arith::ConstantOp>(il, ib.getBoolAttr(true)));
                         better = ib.create<arith::AndIOp>(il, candidate, notNan);
                       } else {
                         better =
                             ib.create<arith::CmpIOp>(il, arith::CmpIPredicate::sgt, x, a[0]);
                       }
                       return SmallVector<Value>{
                           ib.create<arith::SelectOp>(il, better, x, a[0]),
                           ib.create<arith::SelectOp>(il, better, toI64(ib, il, ivs[0]), a[1])};
                     });
      return r[1];
    });
    return absl::OkStatus();
  }

  absl::Status buildOneHot() {
    auto idxType = operandType(0);
    indexed([&](OpBuilder &nb, Location l, ValueRange out) -> Value {
      SmallVector<Value> pos(out.begin(), out.begin() + idxType.getRank());
      Value index = loadAs(nb, l, 0, pos, nb.getI64Type());
      Value hit = nb.create<arith::CmpIOp>(l, arith::CmpIPredicate::eq, index,
                                           toI64(nb, l, out[idxType.getRank()]));
      return convert(nb, l, hit, resultType().getElementType());
    });
    return absl::OkStatus();
  }

  absl::Status buildDynamicUpdateSlice() {
    auto xType = operandType(0), uType = operandType(1);
    int64_t rank = xType.getRank();
    if (rank == 0) {
      // The update covers the whole scalar (there are no start indices).
      indexed([&](OpBuilder &nb, Location l, ValueRange out) -> Value {
        return nb.create<memref::LoadOp>(l, arg(1), out);
      });
      return absl::OkStatus();
    }
    indexed([&](OpBuilder &nb, Location l, ValueRange out) -> Value {
      Value inside = nb.create<arith::ConstantOp>(l, nb.getBoolAttr(true));
      SmallVector<Value> src;
      for (int64_t d = 0; d < rank; ++d) {
        // XLA clamps the start so the update stays inside x.
        Value start = loadAs(nb, l, 2, {indexConst(nb, l, d)}, nb.getI64Type());
        Value hi = i64Const(nb, l, xType.getDimSize(d) - uType.getDimSize(d));
        start = nb.create<arith::MinSIOp>(
            l, nb.create<arith::MaxSIOp>(l, start, i64Const(nb, l, 0)), hi);
        Value local = nb.create<arith::SubIOp>(l, toI64(nb, l, out[d]), start);
        Value ge = nb.create<arith::CmpIOp>(l, arith::CmpIPredicate::sge, local,
                                            i64Const(nb, l, 0));
        Value lt = nb.create<arith::CmpIOp>(l, arith::CmpIPredicate::slt, local,
                                            i64Const(nb, l, uType.getDimSize(d)));
        inside = nb.create<arith::AndIOp>(l, inside, nb.create<arith::AndIOp>(l, ge, lt));
        src.push_back(clampIndex(nb, l, local, std::max<int64_t>(uType.getDimSize(d), 1)));
      }
      Type element = xType.getElementType();
      Value fromUpdate = nb.create<memref::LoadOp>(l, arg(1), src);
      Value fromX = nb.create<memref::LoadOp>(l, arg(0), out);
      (void)element;
      return nb.create<arith::SelectOp>(l, inside, fromUpdate, fromX);
    });
    return absl::OkStatus();
  }

  /// out = x plus every update whose index names this position, in index order
  /// (O(indices) per element, exact: f32 accumulation rounded once). For the
  /// types without atomic adds (fp8, narrow ints); the rest use the atomic
  /// kernel (ScatterAddKernel.cpp).
  absl::Status buildScatterAdd(int64_t axis) {
    auto xType = operandType(0), idxType = operandType(1);
    int64_t rank = xType.getRank(), idxRank = idxType.getRank();
    axis = normalizeAxis(axis, rank);
    Type compute = computeType(b, xType.getElementType());
    SmallVector<int64_t> sizes(idxType.getShape());
    if (sizes.empty())
      sizes.push_back(1);
    indexed([&](OpBuilder &nb, Location l, ValueRange out) -> Value {
      Value init = loadAs(nb, l, 0, SmallVector<Value>(out.begin(), out.end()), compute);
      Value target = toI64(nb, l, out[axis]);
      return loops(nb, l, sizes, {init},
                   [&](OpBuilder &ib, Location il, ValueRange ivs, ValueRange a) {
                     Value index = loadAs(ib, il, 1, SmallVector<Value>(ivs), ib.getI64Type());
                     Value hit =
                         ib.create<arith::CmpIOp>(il, arith::CmpIPredicate::eq, index, target);
                     SmallVector<Value> upd;
                     for (int64_t d = 0; d < axis; ++d)
                       upd.push_back(out[d]);
                     for (int64_t k = 0; k < idxRank; ++k)
                       upd.push_back(ivs[k]);
                     for (int64_t d = axis + 1; d < rank; ++d)
                       upd.push_back(out[d]);
                     Value u = loadAs(ib, il, 2, upd, compute);
                     Value sum = addOf(ib, il, a[0], u);
                     return SmallVector<Value>{ib.create<arith::SelectOp>(il, hit, sum, a[0])};
                   })[0];
    });
    return absl::OkStatus();
  }

  /// Lower and upper row of group `e` from the offsets (cumulative ends).
  std::pair<Value, Value> groupRows(OpBuilder &nb, Location l, Value e, int64_t rows) {
    // Offsets are clamped into [0, rows] and made non-decreasing (a running max),
    // exactly as the CPU executor reads them.
    int64_t groups = operandType(2).getDimSize(0);
    Value eI64 = toI64(nb, l, e);
    auto bounds = loops(nb, l, {groups}, {i64Const(nb, l, 0), i64Const(nb, l, 0)},
                        [&](OpBuilder &ib, Location il, ValueRange ivs, ValueRange a) {
                          Value g = toI64(ib, il, ivs[0]);
                          Value off = loadAs(ib, il, 2, {ivs[0]}, ib.getI64Type());
                          off = ib.create<arith::MinSIOp>(
                              il, ib.create<arith::MaxSIOp>(il, off, i64Const(ib, il, 0)),
                              i64Const(ib, il, rows));
                          Value running = ib.create<arith::MaxSIOp>(il, a[1], off);
                          Value beforeE = ib.create<arith::CmpIOp>(il, arith::CmpIPredicate::slt, g, eI64);
                          Value upToE = ib.create<arith::CmpIOp>(il, arith::CmpIPredicate::sle, g, eI64);
                          // a[0]: end of group e-1 (lo); a[1]: running max up to e (hi).
                          return SmallVector<Value>{
                              ib.create<arith::SelectOp>(il, beforeE, running, a[0]),
                              ib.create<arith::SelectOp>(il, upToE, running, a[1])};
                        });
    return {bounds[0], bounds[1]};
  }

  absl::Status buildGroupedRows(bool transposeW) {
    auto xType = operandType(0), wType = operandType(1), offType = operandType(2);
    int64_t t = xType.getDimSize(0), k = xType.getDimSize(1), e = offType.getDimSize(0);
    (void)wType;
    Type compute = computeType(b, xType.getElementType());
    indexed([&](OpBuilder &nb, Location l, ValueRange out) -> Value {
      Value row = toI64(nb, l, out[0]);
      // The row's group: the first e whose range holds it (E if none: zeros).
      auto found = loops(nb, l, {e}, {i64Const(nb, l, e)},
                         [&](OpBuilder &ib, Location il, ValueRange ivs, ValueRange a) {
                           auto [lo, hi] = groupRows(ib, il, ivs[0], t);
                           Value in = ib.create<arith::AndIOp>(
                               il, ib.create<arith::CmpIOp>(il, arith::CmpIPredicate::sge, row, lo),
                               ib.create<arith::CmpIOp>(il, arith::CmpIPredicate::slt, row, hi));
                           Value unset = ib.create<arith::CmpIOp>(il, arith::CmpIPredicate::eq,
                                                                  a[0], i64Const(ib, il, e));
                           Value take = ib.create<arith::AndIOp>(il, in, unset);
                           return SmallVector<Value>{ib.create<arith::SelectOp>(
                               il, take, toI64(ib, il, ivs[0]), a[0])};
                         })[0];
      Value valid = nb.create<arith::CmpIOp>(l, arith::CmpIPredicate::slt, found,
                                             i64Const(nb, l, e));
      Value group = clampIndex(nb, l, found, e);
      Value acc = loops(nb, l, {k}, {zeroOf(nb, l, compute)},
                        [&](OpBuilder &ib, Location il, ValueRange ivs, ValueRange a) {
                          Value x = loadAs(ib, il, 0, {out[0], ivs[0]}, compute);
                          SmallVector<Value> wIdx{group};
                          if (transposeW) {
                            wIdx.push_back(out[1]);
                            wIdx.push_back(ivs[0]);
                          } else {
                            wIdx.push_back(ivs[0]);
                            wIdx.push_back(out[1]);
                          }
                          Value w = loadAs(ib, il, 1, wIdx, compute);
                          return SmallVector<Value>{addOf(ib, il, a[0], mulOf(ib, il, x, w))};
                        })[0];
      return nb.create<arith::SelectOp>(l, valid, acc, zeroOf(nb, l, compute));
    });
    return absl::OkStatus();
  }

  /// dw[e] = x_e^T dy_e: each output loops over its own group's rows only (the
  /// rows of other groups would add nothing), in row order as the CPU does.
  absl::Status buildGroupedContract() {
    auto xType = operandType(0);
    int64_t t = xType.getDimSize(0);
    Type compute = computeType(b, xType.getElementType());
    indexed([&](OpBuilder &nb, Location l, ValueRange out) -> Value {
      auto [lo, hi] = groupRows(nb, l, out[0], t);
      Value first = nb.create<arith::IndexCastOp>(l, nb.getIndexType(), lo);
      Value last = nb.create<arith::IndexCastOp>(l, nb.getIndexType(), hi);
      // An empty group (lo >= hi) runs no iteration and gives 0.
      auto loop = nb.create<scf::ForOp>(
          l, first, nb.create<arith::MaxSIOp>(l, first, last), indexConst(nb, l, 1),
          ValueRange{zeroOf(nb, l, compute)},
          [&](OpBuilder &ib, Location il, Value row, ValueRange a) {
            Value x = loadAs(ib, il, 0, {row, out[1]}, compute);
            Value dy = loadAs(ib, il, 1, {row, out[2]}, compute);
            ib.create<scf::YieldOp>(il, addOf(ib, il, a[0], mulOf(ib, il, x, dy)));
          });
      return loop.getResult(0);
    });
    return absl::OkStatus();
  }

  Value flatIndex(OpBuilder &nb, Location l, ValueRange idx, ArrayRef<int64_t> shape) {
    Value flat = i64Const(nb, l, 0);
    for (size_t d = 0; d < shape.size(); ++d)
      flat = nb.create<arith::AddIOp>(
          l, nb.create<arith::MulIOp>(l, flat, i64Const(nb, l, shape[d])), toI64(nb, l, idx[d]));
    return flat;
  }

  absl::Status buildRandom(bool normal) {
    ArrayRef<int64_t> shape = resultType().getShape();
    indexed([&](OpBuilder &nb, Location l, ValueRange out) -> Value {
      Value key = loadAs(nb, l, 0, {}, nb.getI64Type());
      Value flat = shape.empty() ? i64Const(nb, l, 0) : flatIndex(nb, l, out, shape);
      SmallVector<Value> w = philox(nb, l, flat, key);
      Type f64 = nb.getF64Type();
      if (!normal)
        return unitFromWord(nb, l, w[0], false);
      // Box-Muller in f64, as the CPU executor computes it.
      Value u1 = unitFromWord(nb, l, w[0], true), u2 = unitFromWord(nb, l, w[1], false);
      Value radius = nb.create<math::SqrtOp>(
          l, nb.create<arith::MulFOp>(l, floatConst(nb, l, f64, -2.0),
                                      nb.create<math::LogOp>(l, u1)));
      Value angle = nb.create<arith::MulFOp>(l, floatConst(nb, l, f64, 2.0 * M_PI), u2);
      return nb.create<arith::MulFOp>(l, radius, nb.create<math::CosOp>(l, angle));
    });
    return absl::OkStatus();
  }

  /// One thread per output element with the contraction as a loop inside, so
  /// narrow floats accumulate in f32 and round once. Only for what neither the
  /// tensor-core kernel (MmaMatmul.cpp) nor the tiled CUDA-core kernel
  /// (SimtMatmul.cpp) takes: integer matmuls and batch dims that broadcast
  /// partially.
  absl::Status buildMatmul(bool transposeA, bool transposeB) {
    auto aType = operandType(0), bType = operandType(1);
    auto outTensor = resultType();
    Type compute = computeType(b, outTensor.getElementType());
    int64_t outRank = outTensor.getRank(), batch = outRank - 2;
    int64_t k = aType.getDimSize(aType.getRank() - (transposeA ? 2 : 1));
    auto operandIndex = [&](RankedTensorType t, ValueRange out, Value rows, Value cols,
                            bool transposed) {
      SmallVector<Value> idx;
      int64_t lead = batch - (t.getRank() - 2);
      OpBuilder &nb = b;
      (void)nb;
      for (int64_t i = 0; i < t.getRank() - 2; ++i)
        idx.push_back(t.getDimSize(i) == 1 && outTensor.getDimSize(i + lead) != 1
                          ? Value()
                          : out[i + lead]);
      idx.push_back(transposed ? cols : rows);
      idx.push_back(transposed ? rows : cols);
      return idx;
    };
    indexed([&](OpBuilder &nb, Location l, ValueRange out) -> Value {
      return loops(nb, l, {k}, {zeroOf(nb, l, compute)},
                   [&](OpBuilder &ib, Location il, ValueRange ivs, ValueRange a) {
                     auto fill = [&](SmallVector<Value> idx) {
                       for (Value &v : idx)
                         if (!v)
                           v = indexConst(ib, il, 0);
                       return idx;
                     };
                     Value x = loadAs(ib, il, 0,
                                      fill(operandIndex(aType, out, out[batch], ivs[0], transposeA)),
                                      compute);
                     Value y = loadAs(ib, il, 1,
                                      fill(operandIndex(bType, out, ivs[0], out[batch + 1], transposeB)),
                                      compute);
                     return SmallVector<Value>{addOf(ib, il, a[0], mulOf(ib, il, x, y))};
                   })[0];
    });
    return absl::OkStatus();
  }

  Operation *op;
  func::FuncOp func;
  OpBuilder &b;
  Location loc;
  MLIRContext *ctx;
  SmallVector<Reader> readers;
  unsigned numInputs;
};

/// The flat-region kernel: a parallel loop over groups of kVector consecutive
/// elements. Each iteration loads its kVector elements of every full-size
/// input, computes, then stores: with the loads adjacent (math lowerings may
/// contain inline asm, which would split them) and the buffers' 16-byte
/// alignment assumed (arena offsets are 256-aligned, allocations more), LLVM's
/// load-store vectorizer turns them and the stores into 16-byte accesses.
absl::Status buildFlatVectorKernel(OpBuilder &b, Operation *root, func::FuncOp func,
                                   const std::function<Reader(Value)> &readerFor,
                                   const std::function<SmallVector<int64_t>(Value)> &shapeOf,
                                   int64_t count, Preloaded &preloaded) {
  Location loc = root->getLoc();
  std::optional<ElementwiseBody> body = elementwiseBody(b, root);
  SmallVector<Reader> readers;
  SmallVector<SmallVector<int64_t>> shapes;
  for (Value operand : root->getOperands()) {
    readers.push_back(readerFor(operand));
    shapes.push_back(shapeOf(operand));
  }
  Value out = func.getArguments().back();
  Type element = llvm::cast<MemRefType>(out.getType()).getElementType();
  auto c = [&](OpBuilder &nb, int64_t v) -> Value {
    return nb.create<arith::ConstantIndexOp>(loc, v);
  };
  bool ok = true;
  b.create<scf::ParallelOp>(
      loc, ValueRange{c(b, 0)}, ValueRange{c(b, count / kVector)}, ValueRange{c(b, 1)},
      [&](OpBuilder &nb, Location l, ValueRange ivs) {
        // Inside the loop, so the assumption moves into the outlined kernel.
        for (BlockArgument arg : func.getArguments())
          nb.create<memref::AssumeAlignmentOp>(l, arg, 16);
        Value base = nb.create<arith::MulIOp>(l, ivs[0], c(nb, kVector));
        SmallVector<Value> flatIndex, results;
        for (int64_t j = 0; j < kVector; ++j)
          flatIndex.push_back(nb.create<arith::AddIOp>(l, base, c(nb, j)));
        for (BlockArgument arg : func.getArguments().drop_back())
          if (llvm::cast<MemRefType>(arg.getType()).getNumElements() == count)
            for (int64_t j = 0; j < kVector; ++j)
              preloaded[{arg, flatIndex[j]}] =
                  nb.create<memref::LoadOp>(l, arg, flatIndex[j]).getResult();
        for (int64_t j = 0; j < kVector; ++j) {
          SmallVector<Value> scalars = readBroadcast(nb, l, readers, shapes, {count},
                                                     flatIndex[j], body->compute);
          FailureOr<Value> r = body->fn(nb, l, scalars);
          if (failed(r)) {
            ok = false;
            r = scalars[0];
          }
          results.push_back(convert(nb, l, *r, element));
        }
        for (int64_t j = 0; j < kVector; ++j)
          nb.create<memref::StoreOp>(l, results[j], out, flatIndex[j]);
      });
  return ok ? absl::OkStatus() : unsupported(root, "no scalar lowering for this element type");
}

/// The row kernel of a region holding reductions (Fusion.cpp admits them only
/// over the trailing `cols` elements of the root's shape): one warp (or block,
/// rowLanes) per row
/// first reduces each fused reduction over the row (warpReduceRow, in program
/// order, so a later one may read an earlier one) and keeps the value in
/// `rowValues`, where the region's readers find it; then the lanes stride over
/// the row computing the root.
absl::Status buildRowKernel(OpBuilder &b, Operation *root, func::FuncOp func,
                            ArrayRef<Operation *> reductions,
                            const std::function<Reader(Value)> &readerFor,
                            const std::function<SmallVector<int64_t>(Value)> &shapeOf,
                            llvm::DenseMap<Operation *, Value> &rowValues) {
  Location loc = root->getLoc();
  int64_t count = llvm::cast<RankedTensorType>(root->getResult(0).getType()).getNumElements();
  int64_t cols = warpRowLength(reductions.front());
  int64_t rows = count / cols, lanes = rowLanes(cols);
  SmallVector<int64_t> rootShape = shapeOf(root->getResult(0));
  std::optional<ElementwiseBody> body = elementwiseBody(b, root);
  Value out = func.getArguments().back();
  Type element = llvm::cast<MemRefType>(out.getType()).getElementType();
  auto c = [&](OpBuilder &nb, int64_t v) -> Value {
    return nb.create<arith::ConstantIndexOp>(loc, v);
  };
  bool ok = true;
  b.create<scf::ParallelOp>(
      loc, ValueRange{c(b, 0)}, ValueRange{c(b, rows * lanes)}, ValueRange{c(b, 1)},
      [&](OpBuilder &nb, Location l, ValueRange ivs) {
        Value row = nb.create<arith::DivUIOp>(l, ivs[0], c(nb, lanes));
        Value lane = nb.create<arith::RemUIOp>(l, ivs[0], c(nb, lanes));
        Value rowBase = nb.create<arith::MulIOp>(l, row, c(nb, cols));
        for (Operation *reduction : reductions) {
          Value operand = reduction->getOperand(0);
          Type compute = computeType(
              nb, llvm::cast<RankedTensorType>(operand.getType()).getElementType());
          Reader in = readerFor(operand);
          SmallVector<int64_t> inShape = shapeOf(operand);
          Value partials =
              lanes > 32 ? rowPartials(nb, l, func->getParentOfType<ModuleOp>(), compute) : Value();
          Value v = warpReduceRow(nb, l, reduction, lane, cols, compute,
                                  [&](OpBuilder &ib, Location il, Value k) {
                                    Value flat = ib.create<arith::AddIOp>(il, rowBase, k);
                                    return convert(ib, il,
                                                   in(ib, il, delinearize(ib, il, flat, inShape)),
                                                   compute);
                                  },
                                  partials);
          // Rounded to the reduction's type, as its stored result would be.
          rowValues[reduction] = convert(
              nb, l, v,
              llvm::cast<RankedTensorType>(reduction->getResult(0).getType()).getElementType());
        }
        SmallVector<Reader> readers;
        SmallVector<SmallVector<int64_t>> shapes;
        for (Value operand : root->getOperands()) {
          readers.push_back(readerFor(operand));
          shapes.push_back(shapeOf(operand));
        }
        nb.create<scf::ForOp>(
            l, lane, c(nb, cols), c(nb, lanes), ValueRange{},
            [&](OpBuilder &ib, Location il, Value k, ValueRange) {
              Value flat = ib.create<arith::AddIOp>(il, rowBase, k);
              SmallVector<Value> scalars =
                  readBroadcast(ib, il, readers, shapes, rootShape,
                                delinearize(ib, il, flat, rootShape), body->compute);
              FailureOr<Value> r = body->fn(ib, il, scalars);
              if (failed(r)) {
                ok = false;
                r = scalars[0];
              }
              ib.create<memref::StoreOp>(il, convert(ib, il, *r, element), out, flat);
              ib.create<scf::YieldOp>(il);
            });
      });
  return ok ? absl::OkStatus() : unsupported(root, "no scalar lowering for this element type");
}

} // namespace

absl::Status buildKernelFunction(Operation *root, const llvm::DenseSet<Operation *> &fused,
                                 ModuleOp module, const std::string &name,
                                 SmallVectorImpl<Value> &inputs) {
  // The kernel's inputs: every operand the fused tree reads from outside it, in
  // operand order and not deduplicated, so an unfused op's operand i is input i.
  llvm::DenseMap<Value, unsigned> inputIndex;
  std::function<void(Operation *)> collect = [&](Operation *o) {
    for (Value v : o->getOperands()) {
      Operation *def = v.getDefiningOp();
      if (def && fused.contains(def)) {
        collect(def);
        continue;
      }
      inputIndex.try_emplace(v, inputs.size());
      inputs.push_back(v);
    }
  };
  collect(root);
  // Reductions fused into this region, in program order (a row kernel).
  SmallVector<Operation *> reductions;
  std::function<void(Operation *)> findReductions = [&](Operation *o) {
    for (Value v : o->getOperands())
      if (Operation *def = v.getDefiningOp(); def && fused.contains(def)) {
        if (def->hasTrait<kir::KilnReduction>() && !llvm::is_contained(reductions, def))
          reductions.push_back(def);
        findReductions(def);
      }
  };
  findReductions(root);
  llvm::sort(reductions, [](Operation *a, Operation *c) { return a->isBeforeInBlock(c); });

  // Flat regions: an elementwise root whose every value has the root's element
  // count or one element. Every tensor is then a flat vector (one-element ones
  // broadcast), no index is delinearised, and each thread computes kVector
  // consecutive elements.
  int64_t count = llvm::cast<RankedTensorType>(root->getResult(0).getType()).getNumElements();
  auto numElements = [](Value v) {
    return llvm::cast<RankedTensorType>(v.getType()).getNumElements();
  };
  bool flat = isElementwise(root) && count % kVector == 0 && count > 0 && reductions.empty();
  std::function<void(Operation *)> checkFlat = [&](Operation *o) {
    for (Value v : o->getOperands()) {
      flat &= numElements(v) == count || numElements(v) == 1;
      if (Operation *def = v.getDefiningOp(); def && fused.contains(def))
        checkFlat(def);
    }
  };
  checkFlat(root);
  auto shapeOf = [&](Value v) -> SmallVector<int64_t> {
    if (flat)
      return {numElements(v)};
    return canonicalShape(llvm::cast<RankedTensorType>(v.getType()).getShape());
  };

  OpBuilder b(module.getContext());
  b.setInsertionPointToEnd(module.getBody());
  SmallVector<Type> args;
  for (Value v : inputs)
    args.push_back(MemRefType::get(shapeOf(v), llvm::cast<RankedTensorType>(v.getType()).getElementType()));
  // Results are written through a flat view: every kernel is one flat loop.
  for (Type t : root->getResultTypes()) {
    auto tensor = llvm::cast<RankedTensorType>(t);
    args.push_back(MemRefType::get({std::max<int64_t>(tensor.getNumElements(), 1)},
                                   tensor.getElementType()));
  }
  auto func = b.create<func::FuncOp>(root->getLoc(), name, b.getFunctionType(args, {}));
  Block *entry = func.addEntryBlock();
  b.setInsertionPointToStart(entry);

  // A fused producer is recomputed where its consumer reads it, rounded to its
  // own element type as its stored result would be, so fusion never changes a bit.
  bool bodyFailed = false;
  // Inputs the flat kernel loaded up front, by (buffer, index value).
  Preloaded preloaded;
  llvm::DenseMap<Operation *, Value> rowValues;
  std::function<Reader(Value)> readerFor = [&](Value v) -> Reader {
    Operation *def = v.getDefiningOp();
    if (def && fused.contains(def) && def->hasTrait<kir::KilnReduction>())
      // The row kernel reduced it already: every element of the row reads it.
      return [&rowValues, def](OpBuilder &, Location, ValueRange) -> Value {
        return rowValues.lookup(def);
      };
    if (!def || !fused.contains(def)) {
      Value memref = func.getArgument(inputIndex.lookup(v));
      return [&preloaded, memref](OpBuilder &nb, Location l, ValueRange idx) -> Value {
        if (idx.size() == 1)
          if (auto it = preloaded.find({memref, idx[0]}); it != preloaded.end())
            return it->second;
        return nb.create<memref::LoadOp>(l, memref, idx);
      };
    }
    SmallVector<Reader> operands;
    SmallVector<SmallVector<int64_t>> shapes;
    for (Value operand : def->getOperands()) {
      operands.push_back(readerFor(operand));
      shapes.push_back(shapeOf(operand));
    }
    auto element = llvm::cast<RankedTensorType>(v.getType()).getElementType();
    return [&bodyFailed, def, operands, shapes, element, shape = shapeOf(v)](
               OpBuilder &nb, Location l, ValueRange idx) -> Value {
      std::optional<ElementwiseBody> body = elementwiseBody(nb, def);
      SmallVector<Value> scalars =
          readBroadcast(nb, l, operands, shapes, shape, idx, body->compute);
      FailureOr<Value> r = body->fn(nb, l, scalars);
      if (failed(r)) {
        bodyFailed = true;
        return scalars[0];
      }
      return convert(nb, l, *r, element);
    };
  };
  // The body: a row kernel, the flat vector kernel, or the op's own builder.
  absl::Status status;
  if (!reductions.empty()) {
    status = buildRowKernel(b, root, func, reductions, readerFor, shapeOf, rowValues);
  } else if (flat) {
    status = buildFlatVectorKernel(b, root, func, readerFor, shapeOf, count, preloaded);
  } else {
    SmallVector<Reader> readers;
    for (Value operand : root->getOperands())
      readers.push_back(readerFor(operand));
    Builder builder(root, func, b, std::move(readers), inputs.size());
    status = builder.build();
  }
  if (status.ok() && bodyFailed)
    status = unsupported(root, "a fused producer has no scalar lowering for its element type");
  if (!status.ok()) {
    func.erase();
    return status;
  }
  b.create<func::ReturnOp>(root->getLoc());
  return absl::OkStatus();
}

} // namespace kiln::codegen::ptx
