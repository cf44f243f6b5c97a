//===- Infer.h - the checks behind every kiln op's type inference -*- C++
//-*-===//
//
// What a result-type inference routine of ir/KilnOps.cpp and its siblings
// (ir/QuantOps.cpp) sees: the operands and attributes, and a way to fail with
// a message that names the op. Internal to ir/.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_IR_INFER_H
#define KILN_IR_INFER_H

#include "ir/KilnOps.h"
#include "ir/ShapeUtils.h"

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Diagnostics.h"
#include "llvm/ADT/STLExtras.h"

#include <string>

namespace kiln::ir::infer {

using namespace mlir;

/// Success when the element count of `type`, and its bytes at up to 8 per
/// element, fit int64.
inline LogicalResult verifyTensorSize(RankedTensorType type) {
  int64_t n = 1, bytes;
  for (int64_t d : type.getShape())
    if (d < 0 || __builtin_mul_overflow(n, d, &n))
      return failure();
  return failure(__builtin_mul_overflow(n, int64_t{8}, &bytes));
}

inline std::string str(Type type) {
  std::string out;
  llvm::raw_string_ostream os(out);
  type.print(os);
  return out;
}

inline std::string str(Attribute attr) {
  std::string out;
  llvm::raw_string_ostream os(out);
  attr.print(os);
  return out;
}

inline std::string str(ArrayRef<int64_t> values) {
  std::string out = "[";
  llvm::interleave(
      values, [&](int64_t v) { out += std::to_string(v); },
      [&] { out += ", "; });
  return out + "]";
}

inline bool isFloat(Type t) { return llvm::isa<FloatType>(t); }
inline bool isBool(Type t) { return t.isInteger(1); }
inline bool isInt(Type t) { return llvm::isa<IntegerType>(t) && !isBool(t); }

/// What an inference routine sees: the op's operands and attributes, and a way
/// to fail with a message that names the op.
class Infer {
public:
  Infer(MLIRContext *ctx, std::optional<Location> loc, ValueRange operands,
        DictionaryAttr attrs, StringRef opName)
      : ctx(ctx), loc(loc), operands(operands), attrs(attrs), opName(opName) {}

  template <typename... Args> LogicalResult fail(Args &&...args) {
    return emitOptionalError(loc, "'", opName, "' ",
                             std::forward<Args>(args)...);
  }

  /// Operand `i` as a statically shaped kiln tensor, or null after an error.
  RankedTensorType tensor(unsigned i, StringRef role) {
    if (i >= operands.size()) {
      (void)fail("is missing operand '", role, "'");
      return {};
    }
    auto type = llvm::dyn_cast<RankedTensorType>(operands[i].getType());
    if (!type || !type.hasStaticShape() ||
        !isKilnElementType(type.getElementType())) {
      (void)fail("operand '", role,
                 "' must be a statically shaped tensor of a kiln "
                 "element type, got ",
                 str(operands[i].getType()));
      return {};
    }
    if (failed(checkSize(type, ("operand '" + role + "'").str())))
      return {};
    return type;
  }

  /// Fails unless the byte size of `type` fits int64: the executor sizes
  /// buffers from it, and a wrapped count allocates short.
  LogicalResult checkSize(RankedTensorType type, StringRef what) {
    if (failed(verifyTensorSize(type)))
      return fail(what, " ", str(type),
                  " has more elements or bytes than a 64-bit size holds");
    return success();
  }

  /// checkSize of every inferred result.
  LogicalResult checkResults(ArrayRef<Type> results) {
    for (Type t : results)
      if (auto type = llvm::dyn_cast<RankedTensorType>(t))
        if (failed(checkSize(type, "result")))
          return failure();
    return success();
  }

  template <typename AttrT> AttrT attr(StringRef name) {
    Attribute present = attrs ? attrs.get(name) : Attribute();
    auto value = llvm::dyn_cast_or_null<AttrT>(present);
    if (!present)
      (void)fail("requires attribute '", name, "'");
    else if (!value)
      (void)fail("attribute '", name, "' has the wrong kind: ", str(present));
    return value;
  }

  /// Normalises `axis` against the rank of `type`, or fails naming both.
  FailureOr<int64_t> axis(int64_t value, RankedTensorType type) {
    int64_t rank = type.getRank();
    if (value < -rank || value >= std::max<int64_t>(rank, 1)) {
      (void)fail("axis ", value, " is out of range for ", str(type));
      return failure();
    }
    return normalizeAxis(value, rank);
  }

  RankedTensorType make(ArrayRef<int64_t> shape, Type element) {
    return RankedTensorType::get(shape, element);
  }

  MLIRContext *ctx;
  std::optional<Location> loc;
  ValueRange operands;
  DictionaryAttr attrs;
  StringRef opName;
};

} // namespace kiln::ir::infer

/// Declares OP's InferTypeOpInterface hook and forwards to `body`, which sees
/// `in` (an infer::Infer) and `out`.
#define KILN_INFER(OP, ...)                                                    \
  LogicalResult OP::inferReturnTypes(                                          \
      MLIRContext *ctx, std::optional<Location> loc, ValueRange operands,      \
      DictionaryAttr attrs, OpaqueProperties, RegionRange,                     \
      SmallVectorImpl<Type> &out) {                                            \
    ::kiln::ir::infer::Infer in(ctx, loc, operands, attrs,                     \
                                OP::getOperationName());                       \
    if (failed([&]() -> LogicalResult __VA_ARGS__()))                          \
      return failure();                                                        \
    return in.checkResults(out);                                               \
  }

#endif // KILN_IR_INFER_H
