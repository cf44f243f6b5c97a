//===- ElementwiseLoops.cpp - scalar bodies of elementwise ops ------------===//
//
// Loop-nest kernels: the scalar body of each elementwise op, broadcasting
// reads and the flat loop every loop-nest kernel is.
//
//===----------------------------------------------------------------------===//

#include "codegen/ptx/LoopNestBuilder.h"

#include "absl/strings/str_cat.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

using namespace mlir;
namespace kir = kiln::ir;

namespace kiln::codegen::ptx::loopnest {

bool isElementwise(Operation *op) {
  return op->hasTrait<kir::KilnElementwise>();
}

absl::Status unsupported(Operation *op, const std::string &why) {
  return absl::UnimplementedError(
      absl::StrCat("'", op->getName().getStringRef().str(),
                   "' is not supported by the ptx target yet: ", why));
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
SmallVector<Value> delinearize(OpBuilder &b, Location l, Value flat,
                               ArrayRef<int64_t> shape) {
  SmallVector<Value> idx(shape.size());
  Value rest = flat;
  for (int64_t d = static_cast<int64_t>(shape.size()) - 1; d >= 0; --d) {
    Value size = b.create<arith::ConstantIndexOp>(l, shape[d]);
    idx[d] =
        d == 0 ? rest : b.create<arith::RemUIOp>(l, rest, size).getResult();
    rest = b.create<arith::DivUIOp>(l, rest, size);
  }
  return idx;
}

/// The operands at output index `idx` under numpy broadcasting, converted to
/// `compute` (integer and i1 operands stay as they are).
SmallVector<Value> readBroadcast(OpBuilder &nb, Location l,
                                 ArrayRef<Reader> ins,
                                 ArrayRef<SmallVector<int64_t>> inShapes,
                                 ArrayRef<int64_t> outShape, ValueRange idx,
                                 Type compute) {
  SmallVector<Value> scalars;
  for (auto [in, inShape] : llvm::zip(ins, inShapes)) {
    size_t lead = outShape.size() - inShape.size();
    SmallVector<Value> src;
    for (size_t i = 0; i < inShape.size(); ++i)
      src.push_back(inShape[i] == 1 && outShape[i + lead] != 1
                        ? nb.create<arith::ConstantIndexOp>(l, 0).getResult()
                        : idx[i + lead]);
    Value a = in(nb, l, src);
    scalars.push_back(a.getType().isInteger(1) ||
                              (!isFloat(a.getType()) && !isF8(a.getType()))
                          ? a
                          : convert(nb, l, a, compute));
  }
  return scalars;
}

/// Every kernel is one flat loop over its output's elements: the loop maps to
/// blocks of 256 consecutive elements (coalesced, no grid-dimension limits) and
/// the body recovers the element's index. `fn` computes the value at `idx` of
/// the logical (row-major) `shape`; the result is converted to out's type.
void flatIndexed(
    OpBuilder &b, Location loc, Value out, ArrayRef<int64_t> shape,
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
        nb.create<linalg::YieldOp>(
            l, convert(nb, l, fn(nb, l, idx), outType.getElementType()));
      });
}

/// out[i...] = fn(ins[broadcast(i)]...), computed in `compute` (integer and i1
/// operands stay as they are) and converted to out's type; numpy broadcasting.
/// Each operand is read through its Reader (a load, or a fused producer).
void elementwise(OpBuilder &b, Location loc, ArrayRef<Reader> ins,
                 ArrayRef<SmallVector<int64_t>> inShapes, Value out,
                 ArrayRef<int64_t> outShape, const ScalarFn &fn, Type compute) {
  flatIndexed(
      b, loc, out, outShape, [&](OpBuilder &nb, Location l, ValueRange idx) {
        return fn(nb, l,
                  readBroadcast(nb, l, ins, inShapes, outShape, idx, compute));
      });
}

/// The scalar body of a unary elementwise op on `x` (already in compute type).
FailureOr<Value> unaryScalar(OpBuilder &b, Location l, Operation *op, Value x) {
  Type t = x.getType();
  bool fp = isFloat(t);
  if (llvm::isa<kir::NegOp>(op))
    return fp ? Value(b.create<arith::NegFOp>(l, x))
              : Value(b.create<arith::SubIOp>(
                    l, b.create<arith::ConstantOp>(l, b.getIntegerAttr(t, 0)),
                    x));
  if (llvm::isa<kir::AbsOp>(op))
    return fp ? Value(b.create<math::AbsFOp>(l, x))
              : Value(b.create<math::AbsIOp>(l, x));
  if (llvm::isa<kir::LogicalNotOp>(op))
    return Value(b.create<arith::XOrIOp>(
        l, x, b.create<arith::ConstantOp>(l, b.getIntegerAttr(t, 1))));
  if (!fp)
    return failure();
  auto one = [&] { return floatConst(b, l, t, 1.0); };
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
    return sigmoid(b, l, x);
  if (llvm::isa<kir::SiluOp>(op))
    return silu(b, l, x);
  if (llvm::isa<kir::GeluOp>(op)) {
    Value scaled =
        b.create<arith::MulFOp>(l, x, floatConst(b, l, t, M_SQRT1_2));
    Value cdf = b.create<arith::MulFOp>(
        l, floatConst(b, l, t, 0.5),
        b.create<arith::AddFOp>(l, one(), b.create<math::ErfOp>(l, scaled)));
    return Value(b.create<arith::MulFOp>(l, x, cdf));
  }
  return failure();
}

/// The scalar body of a binary elementwise op (operands in compute type).
FailureOr<Value> binaryScalar(OpBuilder &b, Location l, Operation *op, Value x,
                              Value y) {
  Type t = x.getType();
  bool fp = isFloat(t);
  if (llvm::isa<kir::AddOp>(op))
    return fp ? Value(b.create<arith::AddFOp>(l, x, y))
              : Value(b.create<arith::AddIOp>(l, x, y));
  if (llvm::isa<kir::SubOp>(op))
    return fp ? Value(b.create<arith::SubFOp>(l, x, y))
              : Value(b.create<arith::SubIOp>(l, x, y));
  if (llvm::isa<kir::MulOp>(op))
    return fp ? Value(b.create<arith::MulFOp>(l, x, y))
              : Value(b.create<arith::MulIOp>(l, x, y));
  if (llvm::isa<kir::DivOp>(op)) {
    if (fp)
      return Value(b.create<arith::DivFOp>(l, x, y));
    // Integer x / 0 = 0 (docs/OPS.md); divide by 1 there to stay defined.
    Value zero = b.create<arith::ConstantOp>(l, b.getIntegerAttr(t, 0));
    Value isZero =
        b.create<arith::CmpIOp>(l, arith::CmpIPredicate::eq, y, zero);
    Value safe = b.create<arith::SelectOp>(
        l, isZero, b.create<arith::ConstantOp>(l, b.getIntegerAttr(t, 1)), y);
    return Value(b.create<arith::SelectOp>(
        l, isZero, zero, b.create<arith::DivSIOp>(l, x, safe)));
  }
  if (llvm::isa<kir::PowOp>(op))
    return Value(b.create<math::PowFOp>(l, x, y));
  if (llvm::isa<kir::MaximumOp>(op))
    return fp ? Value(b.create<arith::MaximumFOp>(l, x, y))
              : Value(b.create<arith::MaxSIOp>(l, x, y));
  if (llvm::isa<kir::MinimumOp>(op))
    return fp ? Value(b.create<arith::MinimumFOp>(l, x, y))
              : Value(b.create<arith::MinSIOp>(l, x, y));
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

Value signOf(OpBuilder &nb, Location l, Value x) {
  Type t = x.getType();
  bool fp = isFloat(t);
  auto constant = [&](double v) -> Value {
    return fp ? floatConst(nb, l, t, v)
              : Value(nb.create<arith::ConstantOp>(
                    l, nb.getIntegerAttr(t, static_cast<int64_t>(v))));
  };
  Value zero = constant(0.0);
  Value gt = fp ? Value(nb.create<arith::CmpFOp>(l, arith::CmpFPredicate::OGT,
                                                 x, zero))
                : Value(nb.create<arith::CmpIOp>(l, arith::CmpIPredicate::sgt,
                                                 x, zero));
  Value lt = fp ? Value(nb.create<arith::CmpFOp>(l, arith::CmpFPredicate::OLT,
                                                 x, zero))
                : Value(nb.create<arith::CmpIOp>(l, arith::CmpIPredicate::slt,
                                                 x, zero));
  // Zero and NaN pass through unchanged.
  return nb.create<arith::SelectOp>(
      l, gt, constant(1.0),
      nb.create<arith::SelectOp>(l, lt, constant(-1.0), x));
}

std::optional<ElementwiseBody> elementwiseBody(OpBuilder &b, Operation *op) {
  auto elementOf = [&](unsigned i) {
    return llvm::cast<RankedTensorType>(op->getOperand(i).getType())
        .getElementType();
  };
  if (!isElementwise(op))
    return std::nullopt;
  if (llvm::isa<kir::CastOp, kir::BroadcastToOp>(op))
    // Convert straight from the source type (no f32 detour for f64 -> int).
    return ElementwiseBody{elementOf(0),
                           [](OpBuilder &, Location, ValueRange s) {
                             return FailureOr<Value>(s[0]);
                           }};
  if (llvm::isa<kir::SelectOp>(op))
    return ElementwiseBody{
        computeType(b, elementOf(1)),
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

/// Clamps an index value (any integer type) into [0, size) as an `index`.
Value clampIndex(OpBuilder &b, Location l, Value v, int64_t size) {
  Value i64 = convert(b, l, v, b.getI64Type());
  Value lo = b.create<arith::ConstantOp>(l, b.getI64IntegerAttr(0));
  Value hi = b.create<arith::ConstantOp>(l, b.getI64IntegerAttr(size - 1));
  Value c =
      b.create<arith::MinSIOp>(l, b.create<arith::MaxSIOp>(l, i64, lo), hi);
  return b.create<arith::IndexCastOp>(l, b.getIndexType(), c);
}

} // namespace kiln::codegen::ptx::loopnest
