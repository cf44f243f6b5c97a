//===- KilnOps.cpp - kiln type inference, verifiers and folders ----------===//
//
// Every kiln op checks its operands here, once: result-type inference both verifies
// parsed IR and lets the frontend reject a bad call before the op exists. Messages
// name the op and the offending types.
//
//===----------------------------------------------------------------------===//

#include "ir/Infer.h"
#include "ir/KilnOps.h"
#include "ir/ShapeUtils.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/PatternMatch.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SmallSet.h"
#include "llvm/Support/MathExtras.h"

using namespace mlir;

namespace kiln::ir {
using namespace infer;
namespace {

/// numpy broadcast of two shapes, or failure.
FailureOr<SmallVector<int64_t>> broadcastShapes(ArrayRef<int64_t> a,
                                                ArrayRef<int64_t> b) {
  size_t rank = std::max(a.size(), b.size());
  SmallVector<int64_t> out(rank);
  for (size_t i = 0; i < rank; ++i) {
    int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (da != db && da != 1 && db != 1)
      return failure();
    out[i] = da == 1 ? db : da;
  }
  return out;
}

enum class Domain { Float, Numeric, Bool, Any };

bool inDomain(Type element, Domain domain) {
  switch (domain) {
  case Domain::Float:
    return isFloat(element);
  case Domain::Numeric:
    return isFloat(element) || isInt(element);
  case Domain::Bool:
    return isBool(element);
  case Domain::Any:
    return true;
  }
  return false;
}

const char *domainName(Domain domain) {
  switch (domain) {
  case Domain::Float:
    return "a float";
  case Domain::Numeric:
    return "a float or integer (not i1)";
  case Domain::Bool:
    return "an i1";
  case Domain::Any:
    return "any";
  }
  return "";
}

LogicalResult inferUnary(Infer &in, SmallVectorImpl<Type> &out, Domain domain) {
  auto x = in.tensor(0, "x");
  if (!x)
    return failure();
  if (!inDomain(x.getElementType(), domain))
    return in.fail("needs ", domainName(domain), " element type, got ", str(x));
  out.push_back(x);
  return success();
}

LogicalResult inferBinary(Infer &in, SmallVectorImpl<Type> &out, Domain domain,
                          bool boolResult) {
  auto lhs = in.tensor(0, "lhs"), rhs = in.tensor(1, "rhs");
  if (!lhs || !rhs)
    return failure();
  if (lhs.getElementType() != rhs.getElementType())
    return in.fail("operands have different element types: ", str(lhs), " and ",
                   str(rhs));
  if (!inDomain(lhs.getElementType(), domain))
    return in.fail("needs ", domainName(domain), " element type, got ", str(lhs));
  auto shape = broadcastShapes(lhs.getShape(), rhs.getShape());
  if (failed(shape))
    return in.fail("operand shapes do not broadcast: ", str(lhs), " and ", str(rhs));
  Type element = boolResult ? IntegerType::get(in.ctx, 1) : lhs.getElementType();
  out.push_back(in.make(*shape, element));
  return success();
}

/// The shape of `type` reduced over `axes`.
FailureOr<SmallVector<int64_t>> reduceShape(Infer &in, RankedTensorType type,
                                            ArrayRef<int64_t> axes, bool keepdims) {
  ArrayRef<int64_t> shape = type.getShape();
  int64_t rank = shape.size();
  SmallVector<bool> reduced(rank, false);
  for (int64_t a : axes) {
    if (a < -rank || a >= rank) {
      (void)in.fail("axis ", a, " is out of range for ", str(type));
      return failure();
    }
    int64_t n = normalizeAxis(a, rank);
    if (reduced[n]) {
      (void)in.fail("axis ", a, " is listed twice in ", str(axes), " for ",
                    str(type));
      return failure();
    }
    reduced[n] = true;
  }
  SmallVector<int64_t> result;
  for (int64_t i = 0; i < rank; ++i) {
    if (!reduced[i])
      result.push_back(shape[i]);
    else if (keepdims)
      result.push_back(1);
  }
  return result;
}

LogicalResult inferReduce(Infer &in, SmallVectorImpl<Type> &out, Domain domain) {
  auto x = in.tensor(0, "x");
  auto axes = in.attr<DenseI64ArrayAttr>("axes");
  auto keepdims = in.attr<BoolAttr>("keepdims");
  if (!x || !axes || !keepdims)
    return failure();
  if (!inDomain(x.getElementType(), domain))
    return in.fail("needs ", domainName(domain), " element type, got ", str(x));
  auto shape = reduceShape(in, x, axes.asArrayRef(), keepdims.getValue());
  if (failed(shape))
    return failure();
  out.push_back(in.make(*shape, x.getElementType()));
  return success();
}

/// Softmax-like ops: float x, one axis, same type out.
LogicalResult inferAlongAxis(Infer &in, SmallVectorImpl<Type> &out, Domain domain) {
  auto x = in.tensor(0, "x");
  auto axis = in.attr<IntegerAttr>("axis");
  if (!x || !axis)
    return failure();
  if (!inDomain(x.getElementType(), domain))
    return in.fail("needs ", domainName(domain), " element type, got ", str(x));
  if (x.getRank() == 0)
    return in.fail("needs a tensor of rank >= 1, got ", str(x));
  if (failed(in.axis(axis.getInt(), x)))
    return failure();
  out.push_back(x);
  return success();
}

/// cross_entropy / token_logprobs: logits [..., V] float, labels [...] int.
LogicalResult inferTokenLoss(Infer &in, SmallVectorImpl<Type> &out) {
  auto logits = in.tensor(0, "logits"), labels = in.tensor(1, "labels");
  if (!logits || !labels)
    return failure();
  if (!isFloat(logits.getElementType()) || logits.getRank() < 1)
    return in.fail("needs float logits of rank >= 1, got ", str(logits));
  if (!isInt(labels.getElementType()))
    return in.fail("needs integer labels, got ", str(labels));
  if (labels.getShape() != logits.getShape().drop_back())
    return in.fail("labels ", str(labels), " must have the shape of logits ",
                   str(logits), " without its last dimension");
  out.push_back(in.make(labels.getShape(), logits.getElementType()));
  return success();
}

} // namespace

//===----------------------------------------------------------------------===//
// Per-op inference (KILN_INFER: ir/Infer.h). The quantization ops infer in
// ir/QuantOps.cpp.
//===----------------------------------------------------------------------===//

KILN_INFER(ConstantOp, {
  auto value = in.attr<ElementsAttr>("value");
  if (!value)
    return failure();
  auto type = llvm::dyn_cast<RankedTensorType>(value.getType());
  if (!type || !type.hasStaticShape() || !isKilnElementType(type.getElementType()))
    return in.fail("value must be a statically shaped tensor of a kiln element "
                   "type, got ",
                   str(value.getType()));
  out.push_back(type);
  return success();
})

KILN_INFER(RandomCategoricalOp, {
  auto key = in.tensor(0, "key"), logits = in.tensor(1, "logits");
  if (!key || !logits)
    return failure();
  if (!isFloat(logits.getElementType()) || logits.getRank() < 1)
    return in.fail("needs float logits of rank >= 1, got ", str(logits));
  auto rows = logits.getShape().drop_back();
  bool perRow = key.getRank() > 0 && key.getShape() == rows;
  if ((key.getRank() != 0 && !perRow) || !key.getElementType().isInteger(64))
    return in.fail("key must be tensor<i64> or one i64 per row ",
                   str(RankedTensorType::get(rows, IntegerType::get(ctx, 64))), ", got ",
                   str(key));
  out.push_back(
      in.make(logits.getShape().drop_back(), IntegerType::get(ctx, 64)));
  return success();
})

#define KILN_UNARY(OP, DOMAIN)                                                 \
  KILN_INFER(OP, { return inferUnary(in, out, Domain::DOMAIN); })
KILN_UNARY(NegOp, Numeric)
KILN_UNARY(AbsOp, Numeric)
KILN_UNARY(SignOp, Numeric)
KILN_UNARY(ExpOp, Float)
KILN_UNARY(LogOp, Float)
KILN_UNARY(SqrtOp, Float)
KILN_UNARY(RsqrtOp, Float)
KILN_UNARY(TanhOp, Float)
KILN_UNARY(SigmoidOp, Float)
KILN_UNARY(SiluOp, Float)
KILN_UNARY(GeluOp, Float)
KILN_UNARY(ErfOp, Float)
KILN_UNARY(SinOp, Float)
KILN_UNARY(CosOp, Float)
KILN_UNARY(LogicalNotOp, Bool)
#undef KILN_UNARY

#define KILN_BINARY(OP, DOMAIN, BOOL_RESULT)                                   \
  KILN_INFER(OP, { return inferBinary(in, out, Domain::DOMAIN, BOOL_RESULT); })
KILN_BINARY(AddOp, Numeric, false)
KILN_BINARY(SubOp, Numeric, false)
KILN_BINARY(MulOp, Numeric, false)
KILN_BINARY(DivOp, Numeric, false)
KILN_BINARY(PowOp, Float, false)
KILN_BINARY(MaximumOp, Numeric, false)
KILN_BINARY(MinimumOp, Numeric, false)
KILN_BINARY(LogicalAndOp, Bool, false)
KILN_BINARY(LogicalOrOp, Bool, false)
KILN_BINARY(EqualOp, Any, true)
KILN_BINARY(NotEqualOp, Any, true)
KILN_BINARY(LessOp, Numeric, true)
KILN_BINARY(LessEqualOp, Numeric, true)
KILN_BINARY(GreaterOp, Numeric, true)
KILN_BINARY(GreaterEqualOp, Numeric, true)
#undef KILN_BINARY

KILN_INFER(SelectOp, {
  auto cond = in.tensor(0, "cond"), a = in.tensor(1, "a"), b = in.tensor(2, "b");
  if (!cond || !a || !b)
    return failure();
  if (!isBool(cond.getElementType()))
    return in.fail("condition must be i1, got ", str(cond));
  if (a.getElementType() != b.getElementType())
    return in.fail("branches have different element types: ", str(a), " and ",
                   str(b));
  auto ab = broadcastShapes(a.getShape(), b.getShape());
  FailureOr<SmallVector<int64_t>> all = failure();
  if (succeeded(ab))
    all = broadcastShapes(cond.getShape(), *ab);
  if (failed(all))
    return in.fail("shapes do not broadcast: ", str(cond), ", ", str(a), " and ",
                   str(b));
  out.push_back(in.make(*all, a.getElementType()));
  return success();
})

KILN_INFER(CastOp, {
  auto x = in.tensor(0, "x");
  auto to = in.attr<TypeAttr>("to");
  if (!x || !to)
    return failure();
  if (!isKilnElementType(to.getValue()))
    return in.fail("cannot cast to ", str(to.getValue()),
                   ": not a kiln element type");
  out.push_back(in.make(x.getShape(), to.getValue()));
  return success();
})

KILN_INFER(ReshapeOp, {
  auto x = in.tensor(0, "x");
  auto shape = in.attr<DenseI64ArrayAttr>("shape");
  if (!x || !shape)
    return failure();
  int64_t count = 1;
  for (int64_t d : shape.asArrayRef()) {
    if (d < 0)
      return in.fail("shape ", str(shape.asArrayRef()), " has a negative dimension");
    count *= d;
  }
  if (count != x.getNumElements())
    return in.fail("cannot reshape ", str(x), " (", x.getNumElements(),
                   " elements) to ", str(shape.asArrayRef()), " (", count,
                   " elements)");
  out.push_back(in.make(shape.asArrayRef(), x.getElementType()));
  return success();
})

KILN_INFER(TransposeOp, {
  auto x = in.tensor(0, "x");
  auto perm = in.attr<DenseI64ArrayAttr>("perm");
  if (!x || !perm)
    return failure();
  ArrayRef<int64_t> p = perm.asArrayRef();
  if ((int64_t)p.size() != x.getRank())
    return in.fail("perm ", str(p), " does not match the rank of ", str(x));
  SmallVector<bool> seen(p.size(), false);
  SmallVector<int64_t> shape;
  for (int64_t d : p) {
    if (d < 0 || d >= x.getRank() || seen[d])
      return in.fail("perm ", str(p), " is not a permutation of 0..", x.getRank() - 1,
                     " for ", str(x));
    seen[d] = true;
    shape.push_back(x.getDimSize(d));
  }
  out.push_back(in.make(shape, x.getElementType()));
  return success();
})

KILN_INFER(BroadcastToOp, {
  auto x = in.tensor(0, "x");
  auto shape = in.attr<DenseI64ArrayAttr>("shape");
  if (!x || !shape)
    return failure();
  auto target = shape.asArrayRef();
  auto joined = broadcastShapes(x.getShape(), target);
  if (x.getRank() > (int64_t)target.size() || failed(joined) ||
      ArrayRef<int64_t>(*joined) != target)
    return in.fail("cannot broadcast ", str(x), " to ", str(target));
  out.push_back(in.make(target, x.getElementType()));
  return success();
})

KILN_INFER(SliceOp, {
  auto x = in.tensor(0, "x");
  auto start = in.attr<DenseI64ArrayAttr>("start");
  auto limit = in.attr<DenseI64ArrayAttr>("limit");
  auto stride = in.attr<DenseI64ArrayAttr>("stride");
  if (!x || !start || !limit || !stride)
    return failure();
  int64_t rank = x.getRank();
  if ((int64_t)start.size() != rank || (int64_t)limit.size() != rank ||
      (int64_t)stride.size() != rank)
    return in.fail("start, limit and stride need ", rank, " entries for ", str(x));
  SmallVector<int64_t> shape;
  for (int64_t i = 0; i < rank; ++i) {
    int64_t s = start[i], l = limit[i], st = stride[i];
    if (s < 0 || s > l || l > x.getDimSize(i) || st < 1)
      return in.fail("window start ", str(start.asArrayRef()), " limit ",
                     str(limit.asArrayRef()), " stride ", str(stride.asArrayRef()),
                     " is invalid for ", str(x), " at dimension ", i);
    shape.push_back((l - s + st - 1) / st);
  }
  out.push_back(in.make(shape, x.getElementType()));
  return success();
})

KILN_INFER(DynamicUpdateSliceOp, {
  auto x = in.tensor(0, "x"), update = in.tensor(1, "update");
  auto start = in.tensor(2, "start");
  if (!x || !update || !start)
    return failure();
  if (x.getElementType() != update.getElementType() ||
      x.getRank() != update.getRank())
    return in.fail("update ", str(update), " must match the rank and element type "
                   "of ", str(x));
  for (int64_t i = 0; i < x.getRank(); ++i)
    if (update.getDimSize(i) > x.getDimSize(i))
      return in.fail("update ", str(update), " does not fit in ", str(x));
  if (!isInt(start.getElementType()) || start.getRank() != 1 ||
      start.getDimSize(0) != x.getRank())
    return in.fail("start must be an integer vector of ", x.getRank(),
                   " entries, got ", str(start));
  out.push_back(x);
  return success();
})

KILN_INFER(ConcatOp, {
  auto axisAttr = in.attr<IntegerAttr>("axis");
  if (!axisAttr)
    return failure();
  if (operands.empty())
    return in.fail("needs at least one input");
  auto first = in.tensor(0, "inputs[0]");
  if (!first)
    return failure();
  auto axis = in.axis(axisAttr.getInt(), first);
  if (failed(axis) || first.getRank() == 0)
    return failed(axis) ? failure() : in.fail("cannot concatenate rank-0 tensors");
  SmallVector<int64_t> shape(first.getShape());
  for (unsigned i = 1; i < operands.size(); ++i) {
    auto t = in.tensor(i, "inputs");
    if (!t)
      return failure();
    bool ok = t.getElementType() == first.getElementType() &&
              t.getRank() == first.getRank();
    for (int64_t d = 0; ok && d < t.getRank(); ++d)
      ok = d == *axis || t.getDimSize(d) == first.getDimSize(d);
    if (!ok)
      return in.fail("input ", i, " ", str(t), " does not match input 0 ",
                     str(first), " outside axis ", *axis);
    shape[*axis] += t.getDimSize(*axis);
  }
  out.push_back(in.make(shape, first.getElementType()));
  return success();
})

KILN_INFER(GatherOp, {
  auto x = in.tensor(0, "x"), indices = in.tensor(1, "indices");
  auto axisAttr = in.attr<IntegerAttr>("axis");
  if (!x || !indices || !axisAttr)
    return failure();
  if (!isInt(indices.getElementType()))
    return in.fail("indices must be integers, got ", str(indices));
  if (x.getRank() == 0)
    return in.fail("cannot gather from a rank-0 tensor");
  auto axis = in.axis(axisAttr.getInt(), x);
  if (failed(axis))
    return failure();
  SmallVector<int64_t> shape(x.getShape().take_front(*axis));
  llvm::append_range(shape, indices.getShape());
  llvm::append_range(shape, x.getShape().drop_front(*axis + 1));
  out.push_back(in.make(shape, x.getElementType()));
  return success();
})

namespace {

/// take_along_axis' and put_along_axis' indices: integers of x's rank whose
/// dims outside the axis are x's (or 1 where `broadcast`). The axis, counted
/// from the front.
FailureOr<int64_t> alongAxisIndices(Infer &in, RankedTensorType x,
                                    RankedTensorType indices, bool broadcast) {
  auto axisAttr = in.attr<IntegerAttr>("axis");
  if (!axisAttr)
    return failure();
  if (!isInt(indices.getElementType()))
    return in.fail("indices must be integers, got ", str(indices));
  if (x.getRank() == 0 || indices.getRank() != x.getRank())
    return in.fail("indices ", str(indices), " must have the rank of ", str(x));
  auto axis = in.axis(axisAttr.getInt(), x);
  if (failed(axis))
    return failure();
  for (int64_t d = 0; d < x.getRank(); ++d)
    if (d != *axis && indices.getDimSize(d) != x.getDimSize(d) &&
        !(broadcast && indices.getDimSize(d) == 1))
      return in.fail("indices ", str(indices), " must match ", str(x),
                     broadcast ? " (or be 1)" : "", " outside axis ", *axis);
  return *axis;
}

} // namespace

KILN_INFER(TakeAlongAxisOp, {
  auto x = in.tensor(0, "x"), indices = in.tensor(1, "indices");
  if (!x || !indices ||
      failed(alongAxisIndices(in, x, indices, /*broadcast=*/false)))
    return failure();
  out.push_back(in.make(indices.getShape(), x.getElementType()));
  return success();
})

KILN_INFER(PutAlongAxisOp, {
  auto x = in.tensor(0, "x"), indices = in.tensor(1, "indices");
  auto values = in.tensor(2, "values");
  if (!x || !indices || !values)
    return failure();
  auto axis = alongAxisIndices(in, x, indices, /*broadcast=*/true);
  if (failed(axis))
    return failure();
  SmallVector<int64_t> shape(x.getShape());
  shape[*axis] = indices.getDimSize(*axis);
  if (values.getShape() != ArrayRef<int64_t>(shape) ||
      values.getElementType() != x.getElementType())
    return in.fail("values ", str(values), " must be ",
                   str(in.make(shape, x.getElementType())), " for x ", str(x),
                   " and indices ", str(indices));
  out.push_back(x);
  return success();
})

KILN_INFER(ScatterAddOp, {
  auto x = in.tensor(0, "x"), indices = in.tensor(1, "indices");
  auto updates = in.tensor(2, "updates");
  auto axisAttr = in.attr<IntegerAttr>("axis");
  if (!x || !indices || !updates || !axisAttr)
    return failure();
  if (!isInt(indices.getElementType()))
    return in.fail("indices must be integers, got ", str(indices));
  if (x.getRank() == 0)
    return in.fail("cannot scatter into a rank-0 tensor");
  auto axis = in.axis(axisAttr.getInt(), x);
  if (failed(axis))
    return failure();
  SmallVector<int64_t> shape(x.getShape().take_front(*axis));
  llvm::append_range(shape, indices.getShape());
  llvm::append_range(shape, x.getShape().drop_front(*axis + 1));
  if (updates.getShape() != ArrayRef<int64_t>(shape) ||
      updates.getElementType() != x.getElementType())
    return in.fail("updates ", str(updates), " must be ",
                   str(in.make(shape, x.getElementType())), " for x ", str(x),
                   " and indices ", str(indices));
  out.push_back(x);
  return success();
})

KILN_INFER(OneHotOp, {
  auto indices = in.tensor(0, "indices");
  auto depth = in.attr<IntegerAttr>("depth");
  auto dtype = in.attr<TypeAttr>("dtype");
  if (!indices || !depth || !dtype)
    return failure();
  if (!isInt(indices.getElementType()))
    return in.fail("indices must be integers, got ", str(indices));
  if (depth.getInt() < 1 || !isKilnElementType(dtype.getValue()))
    return in.fail("needs depth >= 1 and a kiln dtype, got depth ", depth.getInt(),
                   " and ", str(dtype.getValue()));
  SmallVector<int64_t> shape(indices.getShape());
  shape.push_back(depth.getInt());
  out.push_back(in.make(shape, dtype.getValue()));
  return success();
})

KILN_INFER(BincountOp, {
  auto x = in.tensor(0, "x");
  auto length = in.attr<IntegerAttr>("length");
  if (!x || !length)
    return failure();
  if (!isInt(x.getElementType()) || x.getRank() != 1)
    return in.fail("needs a rank-1 integer tensor, got ", str(x));
  if (length.getInt() < 0)
    return in.fail("length must be >= 0, got ", length.getInt());
  out.push_back(in.make({length.getInt()}, IntegerType::get(ctx, 64)));
  return success();
})

KILN_INFER(SumOp, { return inferReduce(in, out, Domain::Numeric); })
KILN_INFER(MeanOp, { return inferReduce(in, out, Domain::Float); })
KILN_INFER(MaxOp, { return inferReduce(in, out, Domain::Numeric); })
KILN_INFER(MinOp, { return inferReduce(in, out, Domain::Numeric); })
KILN_INFER(LogSumExpOp, { return inferReduce(in, out, Domain::Float); })

KILN_INFER(ArgmaxOp, {
  auto x = in.tensor(0, "x");
  auto axisAttr = in.attr<IntegerAttr>("axis");
  auto keepdims = in.attr<BoolAttr>("keepdims");
  if (!x || !axisAttr || !keepdims)
    return failure();
  if (!inDomain(x.getElementType(), Domain::Numeric) || x.getRank() == 0)
    return in.fail("needs a numeric tensor of rank >= 1, got ", str(x));
  auto axis = in.axis(axisAttr.getInt(), x);
  if (failed(axis))
    return failure();
  auto shape = reduceShape(in, x, {*axis}, keepdims.getValue());
  out.push_back(in.make(*shape, IntegerType::get(ctx, 64)));
  return success();
})

KILN_INFER(SoftmaxOp, { return inferAlongAxis(in, out, Domain::Float); })
KILN_INFER(LogSoftmaxOp, { return inferAlongAxis(in, out, Domain::Float); })
KILN_INFER(CumsumOp, {
  if (!in.attr<BoolAttr>("exclusive") || !in.attr<BoolAttr>("reverse"))
    return failure();
  return inferAlongAxis(in, out, Domain::Numeric);
})
KILN_INFER(SortOp, {
  if (!in.attr<BoolAttr>("descending"))
    return failure();
  return inferAlongAxis(in, out, Domain::Numeric);
})
KILN_INFER(ArgsortOp, {
  if (!in.attr<BoolAttr>("descending") ||
      failed(inferAlongAxis(in, out, Domain::Numeric)))
    return failure();
  out[0] = in.make(llvm::cast<RankedTensorType>(out[0]).getShape(),
                   IntegerType::get(ctx, 64));
  return success();
})

KILN_INFER(RmsNormOp, {
  auto x = in.tensor(0, "x"), weight = in.tensor(1, "weight");
  auto eps = in.attr<FloatAttr>("eps");
  if (!x || !weight || !eps)
    return failure();
  if (!isFloat(x.getElementType()) || x.getRank() < 1)
    return in.fail("needs a float tensor of rank >= 1, got ", str(x));
  if (weight.getRank() != 1 || weight.getDimSize(0) != x.getShape().back() ||
      weight.getElementType() != x.getElementType())
    return in.fail("weight ", str(weight), " must be [", x.getShape().back(),
                   "] of x's element type for x ", str(x));
  if (eps.getValueAsDouble() < 0)
    return in.fail("eps must be >= 0, got ", eps.getValueAsDouble());
  out.push_back(x);
  return success();
})

KILN_INFER(MatmulOp, {
  auto a = in.tensor(0, "a"), b = in.tensor(1, "b");
  auto ta = in.attr<BoolAttr>("transpose_a"), tb = in.attr<BoolAttr>("transpose_b");
  if (!a || !b || !ta || !tb)
    return failure();
  if (a.getRank() < 2 || b.getRank() < 2)
    return in.fail("operands must have rank >= 2, got ", str(a), " and ", str(b));
  if (a.getElementType() != b.getElementType() ||
      !inDomain(a.getElementType(), Domain::Numeric))
    return in.fail("operands must share a numeric element type, got ", str(a),
                   " and ", str(b));
  int64_t ra = a.getRank(), rb = b.getRank();
  int64_t m = a.getDimSize(ra - (ta.getValue() ? 1 : 2));
  int64_t ka = a.getDimSize(ra - (ta.getValue() ? 2 : 1));
  int64_t kb = b.getDimSize(rb - (tb.getValue() ? 1 : 2));
  int64_t n = b.getDimSize(rb - (tb.getValue() ? 2 : 1));
  if (ka != kb)
    return in.fail("contraction sizes differ: ", str(a),
                   ta.getValue() ? " (transposed)" : "", " has K = ", ka, ", ",
                   str(b), tb.getValue() ? " (transposed)" : "", " has K = ", kb);
  auto batch = broadcastShapes(a.getShape().drop_back(2), b.getShape().drop_back(2));
  if (failed(batch))
    return in.fail("batch dimensions do not broadcast: ", str(a), " and ", str(b));
  SmallVector<int64_t> shape = *batch;
  shape.push_back(m);
  shape.push_back(n);
  out.push_back(in.make(shape, a.getElementType()));
  return success();
})

KILN_INFER(GroupedMatmulOp, {
  auto x = in.tensor(0, "x"), w = in.tensor(1, "w"), offsets = in.tensor(2, "offsets");
  auto mode = in.attr<GroupedMatmulModeAttr>("mode");
  auto tw = in.attr<BoolAttr>("transpose_w");
  if (!x || !w || !offsets || !mode || !tw)
    return failure();
  if (!isInt(offsets.getElementType()) || offsets.getRank() != 1)
    return in.fail("offsets must be a rank-1 integer tensor, got ", str(offsets));
  if (x.getElementType() != w.getElementType() || !isFloat(x.getElementType()))
    return in.fail("x and w must share a float element type, got ", str(x), " and ",
                   str(w));
  int64_t e = offsets.getDimSize(0);
  if (x.getRank() != 2)
    return in.fail("x must be [T, K], got ", str(x));
  if (mode.getValue() == GroupedMatmulMode::rows) {
    if (w.getRank() != 3 || w.getDimSize(0) != e)
      return in.fail("mode rows needs w [E, K, N] with E = ", e, ", got ", str(w));
    int64_t k = w.getDimSize(tw.getValue() ? 2 : 1);
    int64_t n = w.getDimSize(tw.getValue() ? 1 : 2);
    if (k != x.getDimSize(1))
      return in.fail("x ", str(x), " and w ", str(w),
                     tw.getValue() ? " (transposed)" : "",
                     " disagree on K: ", x.getDimSize(1), " vs ", k);
    out.push_back(in.make({x.getDimSize(0), n}, x.getElementType()));
    return success();
  }
  // contract
  if (tw.getValue())
    return in.fail("mode contract does not take transpose_w");
  if (w.getRank() != 2 || w.getDimSize(0) != x.getDimSize(0))
    return in.fail("mode contract needs dy [T, N] with T = ", x.getDimSize(0),
                   ", got ", str(w));
  out.push_back(
      in.make({e, x.getDimSize(1), w.getDimSize(1)}, x.getElementType()));
  return success();
})

//===----------------------------------------------------------------------===//
// Mixture of experts
//===----------------------------------------------------------------------===//

namespace {

/// Checks the plan operands shared by the fused MoE ops: order [P] and, when
/// given, offsets [E] and slot [T, k] with T * k = P, all integers. Returns P.
FailureOr<int64_t> checkMoePlan(Infer &in, RankedTensorType order,
                                RankedTensorType offsets, RankedTensorType slot) {
  if (!isInt(order.getElementType()) || order.getRank() != 1)
    return in.fail("order must be a rank-1 integer tensor, got ", str(order));
  if (offsets &&
      (!isInt(offsets.getElementType()) || offsets.getRank() != 1 ||
       offsets.getDimSize(0) < 1))
    return in.fail("offsets must be a non-empty rank-1 integer tensor, got ",
                   str(offsets));
  if (slot && (!isInt(slot.getElementType()) || slot.getRank() != 2 ||
               slot.getNumElements() != order.getDimSize(0)))
    return in.fail("slot must be an integer [T, k] with T * k = ",
                   order.getDimSize(0), " (order's size), got ", str(slot));
  return order.getDimSize(0);
}

/// The top-k of a plan over `tokens` rows: P / T, or failure when T does not
/// divide P.
FailureOr<int64_t> moeTopK(Infer &in, int64_t pairs, int64_t tokens) {
  if (tokens < 1 || pairs % tokens != 0)
    return in.fail("order's size ", pairs, " must be a multiple of the ",
                   tokens, " tokens (T * k)");
  return pairs / tokens;
}

} // namespace

KILN_INFER(MoeRouteOp, {
  auto scores = in.tensor(0, "scores"), bias = in.tensor(1, "bias");
  auto groups = in.attr<IntegerAttr>("num_groups");
  auto keptGroups = in.attr<IntegerAttr>("topk_group");
  auto topK = in.attr<IntegerAttr>("top_k");
  if (!scores || !bias || !groups || !keptGroups || !topK)
    return failure();
  if (!(scores.getElementType().isF32() || scores.getElementType().isF64()) ||
      scores.getRank() != 2)
    return in.fail("scores must be an f32 or f64 [T, E], got ", str(scores));
  int64_t e = scores.getDimSize(1), g = groups.getInt();
  if (bias.getRank() != 1 || bias.getDimSize(0) != e ||
      bias.getElementType() != scores.getElementType())
    return in.fail("bias must be [", e, "] of the scores' type, got ",
                   str(bias));
  if (g < 1 || e % g != 0 || e / g < 2)
    return in.fail("num_groups = ", g, " must split the ", e,
                   " experts into groups of at least 2");
  if (keptGroups.getInt() < 1 || keptGroups.getInt() > g)
    return in.fail("topk_group = ", keptGroups.getInt(), " must be in [1, ",
                   g, "]");
  if (topK.getInt() < 1 || topK.getInt() > e)
    return in.fail("top_k = ", topK.getInt(), " must be in [1, ", e, "]");
  out.push_back(in.make({scores.getDimSize(0), topK.getInt()},
                        IntegerType::get(ctx, 64)));
  out.push_back(in.make({scores.getDimSize(0), topK.getInt()},
                        scores.getElementType()));
  return success();
})

KILN_INFER(MoePlanOp, {
  auto experts = in.tensor(0, "experts");
  auto numExperts = in.attr<IntegerAttr>("num_experts");
  if (!experts || !numExperts)
    return failure();
  if (!isInt(experts.getElementType()) || experts.getRank() != 2)
    return in.fail("experts must be an integer [T, k], got ", str(experts));
  if (numExperts.getInt() < 1)
    return in.fail("num_experts must be >= 1, got ", numExperts.getInt());
  Type i64 = IntegerType::get(ctx, 64);
  out.push_back(in.make({experts.getNumElements()}, i64));
  out.push_back(in.make(experts.getShape(), i64));
  out.push_back(in.make({numExperts.getInt()}, i64));
  return success();
})

KILN_INFER(MoeGateUpOp, {
  auto tokens = in.tensor(0, "tokens"), wGate = in.tensor(1, "w_gate");
  auto wUp = in.tensor(2, "w_up"), order = in.tensor(3, "order");
  auto offsets = in.tensor(4, "offsets");
  if (!tokens || !wGate || !wUp || !order || !offsets)
    return failure();
  auto pairs = checkMoePlan(in, order, offsets, {});
  if (failed(pairs))
    return failure();
  if (!isFloat(tokens.getElementType()) || tokens.getRank() != 2)
    return in.fail("tokens must be a float [T, H], got ", str(tokens));
  if (failed(moeTopK(in, *pairs, tokens.getDimSize(0))))
    return failure();
  int64_t e = offsets.getDimSize(0), h = tokens.getDimSize(1);
  if (wGate.getRank() != 3 || wGate.getDimSize(0) != e ||
      wGate.getDimSize(2) != h ||
      wGate.getElementType() != tokens.getElementType() || wUp != wGate)
    return in.fail("w_gate and w_up must both be [", e, ", I, ", h,
                   "] of the tokens' type, got ", str(wGate), " and ",
                   str(wUp));
  auto rows = in.make({*pairs, wGate.getDimSize(1)}, tokens.getElementType());
  out.append({rows, rows, rows});
  return success();
})

KILN_INFER(MoeDownOp, {
  auto act = in.tensor(0, "act"), wDown = in.tensor(1, "w_down");
  auto weights = in.tensor(2, "weights"), order = in.tensor(3, "order");
  auto slot = in.tensor(4, "slot"), offsets = in.tensor(5, "offsets");
  if (!act || !wDown || !weights || !order || !slot || !offsets)
    return failure();
  auto pairs = checkMoePlan(in, order, offsets, slot);
  if (failed(pairs))
    return failure();
  int64_t e = offsets.getDimSize(0);
  if (!isFloat(act.getElementType()) || act.getRank() != 2 ||
      act.getDimSize(0) != *pairs)
    return in.fail("act must be a float [", *pairs, ", I], got ", str(act));
  if (wDown.getRank() != 3 || wDown.getDimSize(0) != e ||
      wDown.getDimSize(2) != act.getDimSize(1) ||
      wDown.getElementType() != act.getElementType())
    return in.fail("w_down must be [", e, ", H, ", act.getDimSize(1),
                   "] of act's type, got ", str(wDown));
  if (!isFloat(weights.getElementType()) ||
      weights.getShape() != slot.getShape())
    return in.fail("weights must be a float tensor shaped like slot ",
                   str(slot), ", got ", str(weights));
  out.push_back(in.make({slot.getDimSize(0), wDown.getDimSize(1)},
                        act.getElementType()));
  return success();
})

KILN_INFER(MoeCombineOp, {
  auto rows = in.tensor(0, "rows"), order = in.tensor(1, "order");
  auto slot = in.tensor(2, "slot");
  if (!rows || !order || !slot)
    return failure();
  auto pairs = checkMoePlan(in, order, {}, slot);
  if (failed(pairs))
    return failure();
  if (!isFloat(rows.getElementType()) || rows.getRank() != 2 ||
      rows.getDimSize(0) != *pairs)
    return in.fail("rows must be a float [", *pairs, ", H], got ", str(rows));
  out.push_back(in.make({slot.getDimSize(0), rows.getDimSize(1)},
                        rows.getElementType()));
  return success();
})

//===----------------------------------------------------------------------===//
// Collectives
//===----------------------------------------------------------------------===//

namespace {

/// group_size >= 1, or a failure naming it.
FailureOr<int64_t> groupSize(Infer &in) {
  auto size = in.attr<IntegerAttr>("group_size");
  if (!size)
    return failure();
  if (size.getInt() < 1) {
    (void)in.fail("group_size must be at least 1, got ", size.getInt());
    return failure();
  }
  return size.getInt();
}

/// A peer rank in [0, group_size).
LogicalResult checkPeer(Infer &in, int64_t size) {
  auto peer = in.attr<IntegerAttr>("peer");
  if (!peer)
    return failure();
  if (peer.getInt() < 0 || peer.getInt() >= size)
    return in.fail("peer ", peer.getInt(), " is not a rank of a group of ",
                   size);
  return success();
}

/// all_gather (scale up) and reduce_scatter (scale down) along `axis`.
LogicalResult inferGatherScatter(Infer &in, SmallVectorImpl<Type> &out,
                                 bool gather) {
  auto x = in.tensor(0, "x");
  auto axisAttr = in.attr<IntegerAttr>("axis");
  auto size = groupSize(in);
  if (!x || !axisAttr || failed(size))
    return failure();
  if (!inDomain(x.getElementType(), Domain::Numeric) || x.getRank() == 0)
    return in.fail("needs a numeric tensor of rank >= 1, got ", str(x));
  auto axis = in.axis(axisAttr.getInt(), x);
  if (failed(axis))
    return failure();
  SmallVector<int64_t> shape(x.getShape());
  if (gather) {
    if (llvm::MulOverflow(shape[*axis], *size, shape[*axis]))
      return in.fail("gathering ", str(x), " from ", *size,
                     " ranks overflows dimension ", *axis);
  } else {
    if (shape[*axis] % *size != 0)
      return in.fail("dimension ", *axis, " of ", str(x),
                     " does not split evenly over ", *size, " ranks");
    shape[*axis] /= *size;
  }
  out.push_back(in.make(shape, x.getElementType()));
  return success();
}

} // namespace

KILN_INFER(AllReduceOp, {
  auto x = in.tensor(0, "x");
  auto reduction = in.attr<StringAttr>("reduction");
  if (!x || !reduction || failed(groupSize(in)))
    return failure();
  if (!inDomain(x.getElementType(), Domain::Numeric))
    return in.fail("needs a numeric tensor, got ", str(x));
  if (!llvm::is_contained({"sum", "max", "min"}, reduction.getValue()))
    return in.fail("reduction must be \"sum\", \"max\" or \"min\", got \"",
                   reduction.getValue(), "\"");
  out.push_back(x);
  return success();
})
KILN_INFER(AllGatherOp, { return inferGatherScatter(in, out, true); })
KILN_INFER(ReduceScatterOp, { return inferGatherScatter(in, out, false); })

KILN_INFER(AllToAllOp, {
  auto x = in.tensor(0, "x"), counts = in.tensor(1, "send_counts");
  auto capacity = in.attr<IntegerAttr>("capacity");
  auto size = groupSize(in);
  if (!x || !counts || !capacity || failed(size))
    return failure();
  if (!inDomain(x.getElementType(), Domain::Numeric) || x.getRank() == 0)
    return in.fail("needs a numeric tensor of rank >= 1, got ", str(x));
  if (counts.getRank() != 1 || counts.getDimSize(0) != *size ||
      !counts.getElementType().isInteger(64))
    return in.fail("send_counts must be i64 [", *size, "] (one per rank), got ",
                   str(counts));
  if (capacity.getInt() < 0)
    return in.fail("capacity must be >= 0, got ", capacity.getInt());
  SmallVector<int64_t> shape(x.getShape());
  shape[0] = capacity.getInt();
  out.push_back(in.make(shape, x.getElementType()));
  out.push_back(counts);
  return success();
})

KILN_INFER(SendOp, {
  auto x = in.tensor(0, "x");
  auto size = groupSize(in);
  if (!x || failed(size) || failed(checkPeer(in, *size)))
    return failure();
  return success();
})

KILN_INFER(RecvOp, {
  auto type = in.attr<TypeAttr>("type");
  auto size = groupSize(in);
  if (!type || failed(size) || failed(checkPeer(in, *size)))
    return failure();
  auto tensor = llvm::dyn_cast<RankedTensorType>(type.getValue());
  if (!tensor || !tensor.hasStaticShape() ||
      !isKilnElementType(tensor.getElementType()))
    return in.fail("type must be a statically shaped tensor of a kiln element "
                   "type, got ",
                   str(type.getValue()));
  out.push_back(tensor);
  return success();
})

KILN_INFER(TopkOp, {
  auto x = in.tensor(0, "x");
  auto k = in.attr<IntegerAttr>("k");
  if (!x || !k)
    return failure();
  if (!inDomain(x.getElementType(), Domain::Numeric) || x.getRank() < 1)
    return in.fail("needs a numeric tensor of rank >= 1, got ", str(x));
  if (k.getInt() < 1 || k.getInt() > x.getShape().back())
    return in.fail("k = ", k.getInt(), " must be in [1, ", x.getShape().back(),
                   "] for ", str(x));
  SmallVector<int64_t> shape(x.getShape());
  shape.back() = k.getInt();
  out.push_back(in.make(shape, x.getElementType()));
  out.push_back(in.make(shape, IntegerType::get(ctx, 64)));
  return success();
})

KILN_INFER(RotaryOp, {
  auto x = in.tensor(0, "x"), cos = in.tensor(1, "cos"), sin = in.tensor(2, "sin");
  if (!x || !cos || !sin || !in.attr<BoolAttr>("interleaved"))
    return failure();
  if (!isFloat(x.getElementType()) || x.getRank() < 2 || x.getShape().back() % 2)
    return in.fail("needs a float x [..., S, D] with even D, got ", str(x));
  SmallVector<int64_t> half(x.getShape());
  half.back() /= 2;
  for (auto table : {cos, sin}) {
    auto joined = broadcastShapes(half, table.getShape());
    if (table.getElementType() != x.getElementType() || failed(joined) ||
        ArrayRef<int64_t>(*joined) != ArrayRef<int64_t>(half))
      return in.fail("cos/sin ", str(table), " must broadcast to ",
                     str(in.make(half, x.getElementType())), " for x ", str(x));
  }
  out.push_back(x);
  return success();
})

KILN_INFER(AttentionOp, {
  auto segments = in.attr<DenseI32ArrayAttr>("operandSegmentSizes");
  auto scale = in.attr<FloatAttr>("scale");
  if (!segments || !scale || !in.attr<BoolAttr>("causal"))
    return failure();
  if (segments.size() != 5)
    return in.fail("operandSegmentSizes must have 5 entries");
  auto q = in.tensor(0, "q"), k = in.tensor(1, "k"), v = in.tensor(2, "v");
  if (!q || !k || !v)
    return failure();
  if (q.getRank() != 4 || k.getRank() != 4 || v.getRank() != 4)
    return in.fail("q, k, v must be [B, H, S, D], got ", str(q), ", ", str(k),
                   ", ", str(v));
  if (!isFloat(q.getElementType()) || q.getElementType() != k.getElementType() ||
      q.getElementType() != v.getElementType())
    return in.fail("q, k, v must share a float element type, got ", str(q), ", ",
                   str(k), ", ", str(v));
  int64_t b = q.getDimSize(0), hq = q.getDimSize(1), hkv = k.getDimSize(1);
  if (k.getDimSize(0) != b || v.getDimSize(0) != b || v.getDimSize(1) != hkv ||
      k.getDimSize(2) != v.getDimSize(2) || k.getDimSize(3) != q.getDimSize(3) ||
      hkv == 0 || hq % hkv != 0)
    return in.fail("incompatible q ", str(q), ", k ", str(k), ", v ", str(v),
                   ": need equal batch, k/v heads dividing q heads, equal key "
                   "lengths and q/k widths");
  unsigned next = 3;
  for (unsigned seg = 3; seg < 5; ++seg) {
    if (segments[seg] == 0)
      continue;
    auto t = in.tensor(next++, seg == 3 ? "valid_len" : "q_offset");
    if (!t)
      return failure();
    if (!isInt(t.getElementType()) || t.getRank() != 1 || t.getDimSize(0) != b)
      return in.fail(seg == 3 ? "valid_len" : "q_offset", " must be an integer [",
                     b, "], got ", str(t));
  }
  out.push_back(in.make({b, hq, q.getDimSize(2), v.getDimSize(3)},
                        q.getElementType()));
  return success();
})

KILN_INFER(GradOp, {
  auto loss = in.tensor(0, "loss");
  if (!loss)
    return failure();
  if (loss.getRank() != 0 || !isFloat(loss.getElementType()))
    return in.fail("loss must be a float scalar (rank 0), got ", str(loss));
  for (unsigned i = 1; i < operands.size(); ++i) {
    auto wrt = in.tensor(i, "wrt");
    if (!wrt)
      return failure();
    if (!isFloat(wrt.getElementType()))
      return in.fail("can only differentiate with respect to float tensors, got ",
                     str(wrt));
    out.push_back(wrt);
  }
  return success();
})

KILN_INFER(CrossEntropyOp, { return inferTokenLoss(in, out); })
KILN_INFER(TokenLogprobsOp, { return inferTokenLoss(in, out); })

#undef KILN_INFER

//===----------------------------------------------------------------------===//
// Verifiers of ops whose result type is declared, not inferred.
//===----------------------------------------------------------------------===//

static LogicalResult verifyDeclaredResult(Operation *op, bool floatOnly) {
  auto type = llvm::dyn_cast<RankedTensorType>(op->getResult(0).getType());
  if (!type || !type.hasStaticShape() || !isKilnElementType(type.getElementType()))
    return op->emitOpError("result must be a statically shaped tensor of a kiln "
                           "element type, got ")
           << op->getResult(0).getType();
  if (floatOnly && !isFloat(type.getElementType()))
    return op->emitOpError("result must be a float tensor, got ") << type;
  if (type.getElementType().isInteger(1))
    return op->emitOpError("result cannot be i1");
  if (failed(verifyTensorSize(type)))
    return op->emitOpError("result ")
           << type << " has more elements or bytes than a 64-bit size holds";
  return success();
}

static LogicalResult verifyKey(Operation *op) {
  auto key = llvm::dyn_cast<RankedTensorType>(op->getOperand(0).getType());
  if (!key || key.getRank() != 0 || !key.getElementType().isInteger(64))
    return op->emitOpError("key must be tensor<i64>, got ")
           << op->getOperand(0).getType();
  return success();
}

LogicalResult IotaOp::verify() {
  if (failed(verifyDeclaredResult(*this, false)))
    return failure();
  // The generated getter returns uint64_t; read the signed value so that a
  // negative dimension is reported as written.
  int64_t rank = getType().getRank(), dimension = getDimensionAttr().getInt();
  if (dimension < 0 || dimension >= std::max<int64_t>(rank, 1))
    return emitOpError("dimension ") << dimension << " is out of range for "
                                     << getType();
  return success();
}

LogicalResult RandomUniformOp::verify() {
  return failure(failed(verifyKey(*this)) ||
                 failed(verifyDeclaredResult(*this, true)));
}

LogicalResult RandomNormalOp::verify() {
  return failure(failed(verifyKey(*this)) ||
                 failed(verifyDeclaredResult(*this, true)));
}

//===----------------------------------------------------------------------===//
// Folders and canonicalization patterns.
//===----------------------------------------------------------------------===//

OpFoldResult ConstantOp::fold(FoldAdaptor) { return getValue(); }

OpFoldResult CastOp::fold(FoldAdaptor) {
  if (getX().getType() == getType())
    return getX();
  return {};
}

OpFoldResult ReshapeOp::fold(FoldAdaptor adaptor) {
  if (getX().getType() == getType())
    return getX();
  if (auto dense = llvm::dyn_cast_or_null<DenseElementsAttr>(adaptor.getX()))
    return dense.reshape(getType());
  return {};
}

void ReshapeOp::getCanonicalizationPatterns(RewritePatternSet &patterns,
                                            MLIRContext *) {
  // reshape(reshape(x)) -> reshape(x): only the final shape matters.
  patterns.add(+[](ReshapeOp op, PatternRewriter &rewriter) -> LogicalResult {
    auto inner = op.getX().getDefiningOp<ReshapeOp>();
    if (!inner)
      return failure();
    rewriter.replaceOpWithNewOp<ReshapeOp>(op, op.getType(), inner.getX(),
                                           op.getShapeAttr());
    return success();
  });
}

OpFoldResult TransposeOp::fold(FoldAdaptor) {
  for (auto [i, p] : llvm::enumerate(getPerm()))
    if ((int64_t)i != p)
      return {};
  return getX();
}

void TransposeOp::getCanonicalizationPatterns(RewritePatternSet &patterns,
                                              MLIRContext *) {
  // transpose(transpose(x, p1), p2) -> transpose(x, p1 o p2).
  patterns.add(+[](TransposeOp op, PatternRewriter &rewriter) -> LogicalResult {
    auto inner = op.getX().getDefiningOp<TransposeOp>();
    if (!inner)
      return failure();
    SmallVector<int64_t> perm;
    for (int64_t p : op.getPerm())
      perm.push_back(inner.getPerm()[p]);
    rewriter.replaceOpWithNewOp<TransposeOp>(op, op.getType(), inner.getX(),
                                             rewriter.getDenseI64ArrayAttr(perm));
    return success();
  });
}

OpFoldResult BroadcastToOp::fold(FoldAdaptor adaptor) {
  if (getX().getType() == getType())
    return getX();
  if (auto dense = llvm::dyn_cast_or_null<SplatElementsAttr>(adaptor.getX()))
    return SplatElementsAttr::get(getType(), dense.getSplatValue<Attribute>());
  return {};
}

OpFoldResult SliceOp::fold(FoldAdaptor) {
  if (getX().getType() == getType())
    return getX();
  return {};
}

OpFoldResult ConcatOp::fold(FoldAdaptor) {
  if (getInputs().size() == 1)
    return getInputs().front();
  return {};
}

} // namespace kiln::ir

#define GET_OP_CLASSES
#include "ir/KilnOps.cpp.inc"
