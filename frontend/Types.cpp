//===- Types.cpp - DType, StateKind and Init spellings, and MLIR types ----===//
//
// The single place where the public enums meet MLIR types and IR strings.
//
//===----------------------------------------------------------------------===//

#include "frontend/GraphImpl.h"

#include "mlir/IR/Builders.h"

namespace kiln {

const char *dtypeName(DType dtype) {
  switch (dtype) {
  case DType::f64:
    return "f64";
  case DType::f32:
    return "f32";
  case DType::f16:
    return "f16";
  case DType::bf16:
    return "bf16";
  case DType::f8e4m3fn:
    return "f8E4M3FN";
  case DType::f8e5m2:
    return "f8E5M2";
  case DType::i64:
    return "i64";
  case DType::i32:
    return "i32";
  case DType::i8:
    return "i8";
  case DType::i4:
    return "i4";
  case DType::i1:
    return "i1";
  }
  return "?";
}

bool isFloat(DType dtype) {
  switch (dtype) {
  case DType::f64:
  case DType::f32:
  case DType::f16:
  case DType::bf16:
  case DType::f8e4m3fn:
  case DType::f8e5m2:
    return true;
  default:
    return false;
  }
}

bool isInteger(DType dtype) { return !isFloat(dtype) && dtype != DType::i1; }

const char *stateKindName(StateKind kind) {
  switch (kind) {
  case StateKind::parameter:
    return "parameter";
  case StateKind::optimizer:
    return "optimizer";
  case StateKind::cache:
    return "cache";
  case StateKind::other:
    return "other";
  }
  return "?";
}

const char *initKindName(Init::Kind kind) {
  switch (kind) {
  case Init::Kind::zeros:
    return "zeros";
  case Init::Kind::ones:
    return "ones";
  case Init::Kind::constant:
    return "constant";
  case Init::Kind::normal:
    return "normal";
  case Init::Kind::uniform:
    return "uniform";
  case Init::Kind::truncatedNormal:
    return "truncated_normal";
  case Init::Kind::none:
    return "none";
  }
  return "?";
}

namespace detail {

mlir::Type toMlir(mlir::MLIRContext &ctx, DType dtype) {
  mlir::Builder b(&ctx);
  switch (dtype) {
  case DType::f64:
    return b.getF64Type();
  case DType::f32:
    return b.getF32Type();
  case DType::f16:
    return b.getF16Type();
  case DType::bf16:
    return b.getBF16Type();
  case DType::f8e4m3fn:
    return b.getFloat8E4M3FNType();
  case DType::f8e5m2:
    return b.getFloat8E5M2Type();
  case DType::i64:
    return b.getI64Type();
  case DType::i32:
    return b.getI32Type();
  case DType::i8:
    return b.getI8Type();
  case DType::i4:
    return b.getIntegerType(4);
  case DType::i1:
    return b.getI1Type();
  }
  return {};
}

std::optional<DType> fromMlir(mlir::Type type) {
  if (type.isF64())
    return DType::f64;
  if (type.isF32())
    return DType::f32;
  if (type.isF16())
    return DType::f16;
  if (type.isBF16())
    return DType::bf16;
  if (type.isFloat8E4M3FN())
    return DType::f8e4m3fn;
  if (type.isFloat8E5M2())
    return DType::f8e5m2;
  if (auto integer = llvm::dyn_cast<mlir::IntegerType>(type)) {
    if (!integer.isSignless())
      return std::nullopt;
    switch (integer.getWidth()) {
    case 64:
      return DType::i64;
    case 32:
      return DType::i32;
    case 8:
      return DType::i8;
    case 4:
      return DType::i4;
    case 1:
      return DType::i1;
    }
  }
  return std::nullopt;
}

std::string typeString(const Shape &shape, DType dtype) {
  std::string out = "tensor<";
  for (int64_t d : shape)
    out += std::to_string(d) + "x";
  return out + dtypeName(dtype) + ">";
}

} // namespace detail
} // namespace kiln
