//===- AttrEncoding.cpp - MLIR types and attributes as proto values --------===//

#include "codegen/AttrEncoding.h"

#include "executor/DType.h"
#include "ir/KilnOps.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"

using namespace mlir;

namespace kiln::codegen {

proto::DType toDType(Type t) {
  if (t.isF32())
    return proto::F32;
  if (t.isF64())
    return proto::F64;
  if (t.isF16())
    return proto::F16;
  if (t.isBF16())
    return proto::BF16;
  if (t.isFloat8E4M3FN())
    return proto::F8E4M3FN;
  if (t.isFloat8E5M2())
    return proto::F8E5M2;
  if (t.isSignlessInteger(64))
    return proto::I64;
  if (t.isSignlessInteger(32))
    return proto::I32;
  if (t.isSignlessInteger(8))
    return proto::I8;
  if (t.isSignlessInteger(4))
    return proto::I4;
  if (t.isSignlessInteger(1))
    return proto::I1;
  return proto::DTYPE_INVALID;
}

std::string typeString(const proto::TensorType &type) {
  std::string name = proto::DType_Name(type.dtype());
  for (char &c : name)
    c = std::tolower(c);
  return absl::StrCat(name, "[", absl::StrJoin(type.shape(), ","), "]");
}

absl::StatusOr<proto::TensorType> toTensorType(Type type) {
  auto tensor = llvm::dyn_cast<RankedTensorType>(type);
  std::string text;
  llvm::raw_string_ostream os(text);
  type.print(os);
  if (!tensor || !tensor.hasStaticShape())
    return absl::InvalidArgumentError(
        absl::StrCat("expected a statically shaped tensor, got ", text));
  proto::TensorType out;
  out.set_dtype(toDType(tensor.getElementType()));
  if (out.dtype() == proto::DTYPE_INVALID)
    return absl::InvalidArgumentError(
        absl::StrCat("unsupported element type in ", text));
  for (int64_t d : tensor.getShape())
    out.add_shape(d);
  return out;
}

/// Appends `bits` (the low `bytes` bytes, little-endian) to `out`.
static void appendBits(std::string &out, uint64_t bits, int64_t bytes) {
  for (int64_t i = 0; i < bytes; ++i)
    out.push_back(static_cast<char>((bits >> (8 * i)) & 0xff));
}

static absl::StatusOr<proto::TensorLiteral> encodeLiteral(DenseElementsAttr dense) {
  proto::TensorLiteral literal;
  auto type = toTensorType(dense.getType());
  if (!type.ok())
    return type.status();
  *literal.mutable_type() = *type;
  int64_t bytes = storageBytes(type->dtype());
  // A splat (zeros, ones, a fill value) is stored as its one element.
  bool splat = dense.isSplat() && dense.getNumElements() > 1;
  int64_t count = splat ? 1 : dense.getNumElements();
  std::string data;
  data.reserve(count * bytes);
  if (llvm::isa<FloatType>(dense.getElementType())) {
    for (const APFloat &value : llvm::make_range(dense.value_begin<APFloat>(),
                                                 dense.value_begin<APFloat>() + count))
      appendBits(data, value.bitcastToAPInt().getZExtValue(), bytes);
  } else {
    // Integers are sign-extended into their storage width (i4 into a byte, i1 as 0/1).
    bool isBool = dense.getElementType().isInteger(1);
    for (const APInt &value : llvm::make_range(dense.value_begin<APInt>(),
                                               dense.value_begin<APInt>() + count))
      appendBits(data, isBool ? value.getZExtValue() : value.getSExtValue(), bytes);
  }
  // A non-splat i4 literal has the buffer layout, two to a byte
  // (executor/DType.h); a splat's one element stays a sign-extended byte.
  if (!splat && storageBits(type->dtype()) == 4) {
    std::string packed((count + 1) / 2, '\0');
    for (int64_t i = 0; i < count; ++i)
      packed[i / 2] |= static_cast<char>((data[i] & 0xF) << (4 * (i % 2)));
    data = std::move(packed);
  }
  literal.set_data(std::move(data));
  literal.set_splat(splat);
  return literal;
}

absl::StatusOr<proto::Attr> encodeAttr(Attribute attr) {
  proto::Attr out;
  if (auto b = llvm::dyn_cast<BoolAttr>(attr)) {
    out.set_b(b.getValue());
  } else if (auto i = llvm::dyn_cast<IntegerAttr>(attr)) {
    out.set_i(i.getValue().getSExtValue());
  } else if (auto f = llvm::dyn_cast<FloatAttr>(attr)) {
    out.set_f(f.getValueAsDouble());
  } else if (auto s = llvm::dyn_cast<StringAttr>(attr)) {
    out.set_s(s.str());
  } else if (auto mode = llvm::dyn_cast<ir::GroupedMatmulModeAttr>(attr)) {
    // Enums travel as their spelling: the executor links no MLIR.
    out.set_s(ir::stringifyGroupedMatmulMode(mode.getValue()).str());
  } else if (auto ints = llvm::dyn_cast<DenseI64ArrayAttr>(attr)) {
    out.mutable_ints();
    for (int64_t v : ints.asArrayRef())
      out.mutable_ints()->add_values(v);
  } else if (auto ints32 = llvm::dyn_cast<DenseI32ArrayAttr>(attr)) {
    out.mutable_ints();
    for (int32_t v : ints32.asArrayRef())
      out.mutable_ints()->add_values(v);
  } else if (auto floats = llvm::dyn_cast<DenseF64ArrayAttr>(attr)) {
    out.mutable_floats();
    for (double v : floats.asArrayRef())
      out.mutable_floats()->add_values(v);
  } else if (auto type = llvm::dyn_cast<TypeAttr>(attr)) {
    // A tensor type (kiln.recv's) travels as its element type: the step's
    // output buffer carries the shape.
    Type value = type.getValue();
    if (auto tensor = llvm::dyn_cast<RankedTensorType>(value))
      value = tensor.getElementType();
    proto::DType dtype = toDType(value);
    if (dtype == proto::DTYPE_INVALID)
      return absl::InvalidArgumentError("unsupported element type");
    out.set_type(dtype);
  } else if (auto dense = llvm::dyn_cast<DenseElementsAttr>(attr)) {
    auto literal = encodeLiteral(dense);
    if (!literal.ok())
      return literal.status();
    *out.mutable_tensor() = *literal;
  } else {
    return absl::InvalidArgumentError("has no host encoding");
  }
  return out;
}

} // namespace kiln::codegen
