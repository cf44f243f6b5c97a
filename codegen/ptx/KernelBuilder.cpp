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

#include "ir/KilnOps.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/Builders.h"

using namespace mlir;
namespace kir = kiln::ir;

namespace kiln::codegen::ptx {
namespace {

using ScalarFn = std::function<Value(OpBuilder &, Location, ValueRange)>;

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

bool isFloat(Type t) { return llvm::isa<FloatType>(t); }
bool isF8(Type t) { return t.isFloat8E4M3FN() || t.isFloat8E5M2(); }

/// f64 computes in f64, other floats in f32, integers in their own type.
Type computeType(OpBuilder &b, Type element) {
  if (!isFloat(element) || element.isF64())
    return element;
  return b.getF32Type();
}

Value convert(OpBuilder &b, Location loc, Value v, Type to) {
  Type from = v.getType();
  if (from == to)
    return v;
  if (isFloat(from) && isFloat(to)) {
    if (from.getIntOrFloatBitWidth() < to.getIntOrFloatBitWidth())
      return b.create<arith::ExtFOp>(loc, to, v);
    return b.create<arith::TruncFOp>(loc, to, v);
  }
  if (to.isInteger(1)) {
    if (isFloat(from))
      return b.create<arith::CmpFOp>(
          loc, arith::CmpFPredicate::UNE, v,
          b.create<arith::ConstantOp>(loc, b.getFloatAttr(from, 0.0)));
    return b.create<arith::CmpIOp>(
        loc, arith::CmpIPredicate::ne, v,
        b.create<arith::ConstantOp>(loc, b.getIntegerAttr(from, 0)));
  }
  if (from.isInteger(1)) {
    if (isFloat(to))
      return b.create<arith::UIToFPOp>(loc, to, v);
    return b.create<arith::ExtUIOp>(loc, to, v);
  }
  if (isFloat(from))
    return b.create<arith::FPToSIOp>(loc, to, v);
  if (isFloat(to))
    return b.create<arith::SIToFPOp>(loc, to, v);
  if (from.getIntOrFloatBitWidth() < to.getIntOrFloatBitWidth())
    return b.create<arith::ExtSIOp>(loc, to, v);
  return b.create<arith::TruncIOp>(loc, to, v);
}

Value floatConst(OpBuilder &b, Location loc, Type t, double v) {
  return b.create<arith::ConstantOp>(loc, b.getFloatAttr(t, v));
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

/// out[i...] = fn(ins[broadcast(i)]...), computed in the compute type of the
/// first input (or of the output when there is none) and converted to out's type.
void elementwise(OpBuilder &b, Location loc, ValueRange ins, Value out,
                 const ScalarFn &fn, Type compute) {
  MLIRContext *ctx = b.getContext();
  auto outType = llvm::cast<MemRefType>(out.getType());
  unsigned rank = outType.getRank();
  SmallVector<AffineMap> maps;
  for (Value in : ins)
    maps.push_back(broadcastMap(ctx, llvm::cast<MemRefType>(in.getType()).getShape(),
                                outType.getShape(), rank));
  maps.push_back(AffineMap::getMultiDimIdentityMap(rank, ctx));
  SmallVector<utils::IteratorType> iterators(rank, utils::IteratorType::parallel);
  Type outElement = outType.getElementType();
  b.create<linalg::GenericOp>(
      loc, TypeRange{}, ins, ValueRange{out}, maps, iterators,
      [&](OpBuilder &nb, Location l, ValueRange args) {
        SmallVector<Value> scalars;
        for (Value a : args.drop_back())
          scalars.push_back(a.getType().isInteger(1) || !isFloat(a.getType())
                                ? a
                                : convert(nb, l, a, compute));
        Value r = fn(nb, l, scalars);
        nb.create<linalg::YieldOp>(l, convert(nb, l, r, outElement));
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

int64_t normalizeAxis(int64_t axis, int64_t rank) { return axis < 0 ? axis + rank : axis; }

/// Clamps an index value (any integer type) into [0, size) as an `index`.
Value clampIndex(OpBuilder &b, Location l, Value v, int64_t size) {
  Value i64 = convert(b, l, v, b.getI64Type());
  Value lo = b.create<arith::ConstantOp>(l, b.getI64IntegerAttr(0));
  Value hi = b.create<arith::ConstantOp>(l, b.getI64IntegerAttr(size - 1));
  Value c = b.create<arith::MinSIOp>(l, b.create<arith::MaxSIOp>(l, i64, lo), hi);
  return b.create<arith::IndexCastOp>(l, b.getIndexType(), c);
}

class Builder {
public:
  Builder(Operation *op, func::FuncOp func, OpBuilder &b)
      : op(op), func(func), b(b), loc(op->getLoc()), ctx(b.getContext()) {}

  Value arg(unsigned i) { return func.getArgument(i); }
  Value result(unsigned i) { return func.getArgument(op->getNumOperands() + i); }
  RankedTensorType operandType(unsigned i) {
    return llvm::cast<RankedTensorType>(op->getOperand(i).getType());
  }
  RankedTensorType resultType(unsigned i = 0) {
    return llvm::cast<RankedTensorType>(op->getResult(i).getType());
  }

  absl::Status build() {
    for (Type t : op->getOperandTypes())
      if (isF8(llvm::cast<RankedTensorType>(t).getElementType()))
        return unsupported(op, "fp8 operands");
    for (Type t : op->getResultTypes())
      if (isF8(llvm::cast<RankedTensorType>(t).getElementType()))
        return unsupported(op, "fp8 results");

    if (llvm::isa<kir::NegOp, kir::AbsOp, kir::ExpOp, kir::LogOp, kir::SqrtOp,
                  kir::RsqrtOp, kir::TanhOp, kir::SigmoidOp, kir::SiluOp, kir::GeluOp,
                  kir::ErfOp, kir::SinOp, kir::CosOp, kir::LogicalNotOp>(op)) {
      Type compute = computeType(b, operandType(0).getElementType());
      bool ok = true;
      elementwise(b, loc, {arg(0)}, result(0),
                  [&](OpBuilder &nb, Location l, ValueRange s) -> Value {
                    auto v = unaryScalar(nb, l, op, s[0]);
                    if (failed(v)) {
                      ok = false;
                      return s[0];
                    }
                    return *v;
                  },
                  compute);
      if (ok)
        return absl::OkStatus();
      return unsupported(op, "no scalar lowering for this element type");
    }
    if (op->hasTrait<kir::KilnBroadcasting>() && op->getNumOperands() == 2) {
      Type compute = computeType(b, operandType(0).getElementType());
      bool ok = true;
      elementwise(b, loc, {arg(0), arg(1)}, result(0),
                  [&](OpBuilder &nb, Location l, ValueRange s) -> Value {
                    auto v = binaryScalar(nb, l, op, s[0], s[1]);
                    if (failed(v)) {
                      ok = false;
                      return s[0];
                    }
                    return *v;
                  },
                  compute);
      return ok ? absl::OkStatus() : unsupported(op, "no scalar lowering");
    }
    if (auto select = llvm::dyn_cast<kir::SelectOp>(op)) {
      Type compute = computeType(b, operandType(1).getElementType());
      elementwise(b, loc, {arg(0), arg(1), arg(2)}, result(0),
                  [&](OpBuilder &nb, Location l, ValueRange s) -> Value {
                    return nb.create<arith::SelectOp>(l, s[0], s[1], s[2]);
                  },
                  compute);
      return absl::OkStatus();
    }
    if (auto cast = llvm::dyn_cast<kir::CastOp>(op)) {
      // Convert straight from the source type (no f32 detour for f64 -> int).
      elementwise(b, loc, {arg(0)}, result(0),
                  [&](OpBuilder &, Location, ValueRange s) { return s[0]; },
                  operandType(0).getElementType());
      return absl::OkStatus();
    }
    if (llvm::isa<kir::BroadcastToOp>(op)) {
      elementwise(b, loc, {arg(0)}, result(0),
                  [&](OpBuilder &, Location, ValueRange s) { return s[0]; },
                  operandType(0).getElementType());
      return absl::OkStatus();
    }
    if (auto transpose = llvm::dyn_cast<kir::TransposeOp>(op))
      return buildTranspose(transpose.getPerm());
    if (auto slice = llvm::dyn_cast<kir::SliceOp>(op))
      return buildSlice(slice.getStart(), slice.getStride());
    if (auto iota = llvm::dyn_cast<kir::IotaOp>(op))
      return buildIota(iota.getDimensionAttr().getInt());
    if (op->hasTrait<kir::KilnReduction>() && !llvm::isa<kir::LogSumExpOp>(op))
      return buildReduction();
    if (auto matmul = llvm::dyn_cast<kir::MatmulOp>(op))
      return buildMatmul(matmul.getTransposeA(), matmul.getTransposeB());
    if (auto concat = llvm::dyn_cast<kir::ConcatOp>(op))
      return buildConcat(concat.getAxisAttr().getInt());
    if (llvm::isa<kir::SignOp>(op)) {
      elementwise(b, loc, {arg(0)}, result(0),
                  [&](OpBuilder &nb, Location l, ValueRange s) -> Value {
                    Value x = s[0];
                    Type t = x.getType();
                    bool fp = isFloat(t);
                    Value zero = fp ? floatConst(nb, l, t, 0.0)
                                    : Value(nb.create<arith::ConstantOp>(l, nb.getIntegerAttr(t, 0)));
                    Value one = fp ? floatConst(nb, l, t, 1.0)
                                   : Value(nb.create<arith::ConstantOp>(l, nb.getIntegerAttr(t, 1)));
                    Value minusOne = fp ? floatConst(nb, l, t, -1.0)
                                        : Value(nb.create<arith::ConstantOp>(l, nb.getIntegerAttr(t, -1)));
                    Value gt = fp ? Value(nb.create<arith::CmpFOp>(l, arith::CmpFPredicate::OGT, x, zero))
                                  : Value(nb.create<arith::CmpIOp>(l, arith::CmpIPredicate::sgt, x, zero));
                    Value lt = fp ? Value(nb.create<arith::CmpFOp>(l, arith::CmpFPredicate::OLT, x, zero))
                                  : Value(nb.create<arith::CmpIOp>(l, arith::CmpIPredicate::slt, x, zero));
                    // Zero and NaN pass through unchanged.
                    return nb.create<arith::SelectOp>(
                        l, gt, one, nb.create<arith::SelectOp>(l, lt, minusOne, x));
                  },
                  computeType(b, operandType(0).getElementType()));
      return absl::OkStatus();
    }
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
    auto outType = llvm::cast<MemRefType>(result(0).getType());
    unsigned rank = outType.getRank();
    SmallVector<AffineMap> maps{AffineMap::getMultiDimIdentityMap(rank, ctx)};
    SmallVector<utils::IteratorType> iterators(rank, utils::IteratorType::parallel);
    b.create<linalg::GenericOp>(
        loc, TypeRange{}, ValueRange{}, ValueRange{result(0)}, maps, iterators,
        [&](OpBuilder &nb, Location l, ValueRange) {
          SmallVector<Value> idx;
          for (unsigned d = 0; d < rank; ++d)
            idx.push_back(nb.create<linalg::IndexOp>(l, d));
          nb.create<linalg::YieldOp>(l, fn(nb, l, idx));
        });
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
    if (operandType(0).getRank() == 0)
      return unsupported(op, "rank-0 slice");
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

  absl::Status buildReduction() {
    auto xType = operandType(0);
    Type element = xType.getElementType();
    if (isFloat(element) && !element.isF32() && !element.isF64())
      return unsupported(op, "reductions of narrow floats (needs an f32 accumulator)");
    auto axesAttr = op->getAttrOfType<DenseI64ArrayAttr>("axes");
    bool keepdims = op->getAttrOfType<BoolAttr>("keepdims").getValue();
    int64_t rank = xType.getRank();
    SmallVector<bool> reduced(rank, false);
    for (int64_t a : axesAttr.asArrayRef())
      reduced[normalizeAxis(a, rank)] = true;
    auto outType = llvm::cast<MemRefType>(result(0).getType());
    unsigned numParallel = outType.getRank();
    SmallVector<int64_t> reducedDims;
    for (int64_t i = 0; i < rank; ++i)
      if (reduced[i])
        reducedDims.push_back(i);
    unsigned numDims = numParallel + reducedDims.size();

    // Input map: reduced dims read the reduction iterators; kept dims the
    // parallel ones (with keepdims the output keeps every position).
    SmallVector<AffineExpr> inExprs;
    unsigned kept = 0, red = 0;
    for (int64_t i = 0; i < rank; ++i) {
      if (reduced[i]) {
        inExprs.push_back(getAffineDimExpr(numParallel + red++, ctx));
        if (keepdims)
          ++kept;
      } else {
        inExprs.push_back(getAffineDimExpr(keepdims ? i : kept, ctx));
        ++kept;
      }
    }
    if (rank == 0)
      inExprs.push_back(getAffineDimExpr(0, ctx));
    SmallVector<AffineMap> maps{AffineMap::get(numDims, 0, inExprs, ctx),
                                AffineMap::getMultiDimIdentityMap(numDims, ctx)
                                    .getSubMap(llvm::to_vector(
                                        llvm::seq<unsigned>(0, numParallel)))};
    SmallVector<utils::IteratorType> iterators(numParallel, utils::IteratorType::parallel);
    iterators.append(reducedDims.size(), utils::IteratorType::reduction);

    bool fp = isFloat(element);
    bool isMax = llvm::isa<kir::MaxOp>(op), isMin = llvm::isa<kir::MinOp>(op);
    Attribute init;
    if (isMax)
      init = fp ? Attribute(b.getFloatAttr(element, -INFINITY))
                : Attribute(b.getIntegerAttr(element, APInt::getSignedMinValue(
                                                          element.getIntOrFloatBitWidth())));
    else if (isMin)
      init = fp ? Attribute(b.getFloatAttr(element, INFINITY))
                : Attribute(b.getIntegerAttr(element, APInt::getSignedMaxValue(
                                                          element.getIntOrFloatBitWidth())));
    else
      init = fp ? Attribute(b.getFloatAttr(element, 0.0)) : Attribute(b.getIntegerAttr(element, 0));
    Value initValue = b.create<arith::ConstantOp>(loc, cast<TypedAttr>(init));
    b.create<linalg::FillOp>(loc, initValue, result(0));
    b.create<linalg::GenericOp>(
        loc, TypeRange{}, ValueRange{arg(0)}, ValueRange{result(0)}, maps, iterators,
        [&](OpBuilder &nb, Location l, ValueRange args) {
          Value x = args[0], acc = args[1], r;
          if (isMax)
            r = fp ? Value(nb.create<arith::MaximumFOp>(l, acc, x))
                   : Value(nb.create<arith::MaxSIOp>(l, acc, x));
          else if (isMin)
            r = fp ? Value(nb.create<arith::MinimumFOp>(l, acc, x))
                   : Value(nb.create<arith::MinSIOp>(l, acc, x));
          else
            r = fp ? Value(nb.create<arith::AddFOp>(l, acc, x))
                   : Value(nb.create<arith::AddIOp>(l, acc, x));
          nb.create<linalg::YieldOp>(l, r);
        });
    if (llvm::isa<kir::MeanOp>(op)) {
      int64_t count = 1;
      for (int64_t d : reducedDims)
        count *= xType.getDimSize(d);
      // Divide in place by the number of reduced elements.
      SmallVector<AffineMap> idMaps{AffineMap::getMultiDimIdentityMap(numParallel, ctx)};
      SmallVector<utils::IteratorType> par(numParallel, utils::IteratorType::parallel);
      b.create<linalg::GenericOp>(
          loc, TypeRange{}, ValueRange{}, ValueRange{result(0)}, idMaps, par,
          [&](OpBuilder &nb, Location l, ValueRange args) {
            nb.create<linalg::YieldOp>(
                l, Value(nb.create<arith::DivFOp>(
                       l, args[0], floatConst(nb, l, element, static_cast<double>(count)))));
          });
    }
    return absl::OkStatus();
  }

  absl::Status buildMatmul(bool transposeA, bool transposeB) {
    auto aType = operandType(0), bType = operandType(1);
    auto outTensor = resultType();
    Type element = outTensor.getElementType();
    if (isFloat(element) && !element.isF32() && !element.isF64())
      return unsupported(op, "narrow-float matmul (tensor-core kernels come with the "
                             "GEMM work)");
    int64_t outRank = outTensor.getRank(), batch = outRank - 2;
    unsigned numDims = outRank + 1; // batch..., m, n, k
    AffineExpr m = getAffineDimExpr(batch, ctx), n = getAffineDimExpr(batch + 1, ctx),
               k = getAffineDimExpr(batch + 2, ctx);
    auto operandMap = [&](RankedTensorType t, AffineExpr rows, AffineExpr cols,
                          bool transposed) {
      SmallVector<AffineExpr> exprs;
      int64_t lead = batch - (t.getRank() - 2);
      for (int64_t i = 0; i < t.getRank() - 2; ++i)
        exprs.push_back(t.getDimSize(i) == 1 && outTensor.getDimSize(i + lead) != 1
                            ? getAffineConstantExpr(0, ctx)
                            : getAffineDimExpr(i + lead, ctx));
      exprs.push_back(transposed ? cols : rows);
      exprs.push_back(transposed ? rows : cols);
      return AffineMap::get(numDims, 0, exprs, ctx);
    };
    SmallVector<AffineExpr> outExprs;
    for (int64_t i = 0; i < outRank; ++i)
      outExprs.push_back(getAffineDimExpr(i, ctx));
    SmallVector<AffineMap> maps{operandMap(aType, m, k, transposeA),
                                operandMap(bType, k, n, transposeB),
                                AffineMap::get(numDims, 0, outExprs, ctx)};
    SmallVector<utils::IteratorType> iterators(outRank, utils::IteratorType::parallel);
    iterators.push_back(utils::IteratorType::reduction);
    bool fp = isFloat(element);
    Value zero = b.create<arith::ConstantOp>(
        loc, fp ? cast<TypedAttr>(b.getFloatAttr(element, 0.0))
                : cast<TypedAttr>(b.getIntegerAttr(element, 0)));
    b.create<linalg::FillOp>(loc, zero, result(0));
    b.create<linalg::GenericOp>(
        loc, TypeRange{}, ValueRange{arg(0), arg(1)}, ValueRange{result(0)}, maps,
        iterators, [&](OpBuilder &nb, Location l, ValueRange args) {
          Value r = fp ? Value(nb.create<arith::AddFOp>(
                             l, args[2], nb.create<arith::MulFOp>(l, args[0], args[1])))
                       : Value(nb.create<arith::AddIOp>(
                             l, args[2], nb.create<arith::MulIOp>(l, args[0], args[1])));
          nb.create<linalg::YieldOp>(l, r);
        });
    return absl::OkStatus();
  }

  Operation *op;
  func::FuncOp func;
  OpBuilder &b;
  Location loc;
  MLIRContext *ctx;
};

} // namespace

bool isHostHandled(Operation *op) {
  return llvm::isa<kir::ReshapeOp, kir::ConstantOp>(op);
}

absl::Status buildKernelFunction(Operation *op, ModuleOp module, const std::string &name) {
  OpBuilder b(module.getContext());
  b.setInsertionPointToEnd(module.getBody());
  SmallVector<Type> args;
  for (Type t : op->getOperandTypes())
    args.push_back(memrefOf(t));
  for (Type t : op->getResultTypes())
    args.push_back(memrefOf(t));
  auto func = b.create<func::FuncOp>(op->getLoc(), name, b.getFunctionType(args, {}));
  Block *entry = func.addEntryBlock();
  b.setInsertionPointToStart(entry);
  Builder builder(op, func, b);
  if (auto s = builder.build(); !s.ok()) {
    func.erase();
    return s;
  }
  b.create<func::ReturnOp>(op->getLoc());
  return absl::OkStatus();
}

} // namespace kiln::codegen::ptx
