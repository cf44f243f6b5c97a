//===- OpsSource.cpp - constants, iota and counter-based random ops -------===//
//
// Sources have no operand to say where they go, so they take the Function (or
// the key's); their result types are declared, then checked by the verifier.
//
//===----------------------------------------------------------------------===//

#include "frontend/GraphImpl.h"
#include "frontend/Ops.h"
#include "ir/KilnOps.h"

namespace kiln {

using namespace detail;

Tensor detail::scalarLike(const Tensor &like, double value,
                          const SourceLoc &loc) {
  Function *fn = like.function();
  return fn ? scalar(*fn, value, like.dtype(), loc) : like;
}

Tensor constant(Function &fn, const std::vector<double> &values, Shape shape,
                DType dtype, SourceLoc loc) {
  return GraphImpl::constant(fn, values, shape, dtype, loc);
}

Tensor scalar(Function &fn, double value, DType dtype, SourceLoc loc) {
  return GraphImpl::constant(fn, {value}, {}, dtype, loc);
}

Tensor full(Function &fn, Shape shape, double value, DType dtype,
            SourceLoc loc) {
  return GraphImpl::constant(fn, {value}, shape, dtype, loc);
}

Tensor zeros(Function &fn, Shape shape, DType dtype, SourceLoc loc) {
  return full(fn, std::move(shape), 0.0, dtype, loc);
}

Tensor ones(Function &fn, Shape shape, DType dtype, SourceLoc loc) {
  return full(fn, std::move(shape), 1.0, dtype, loc);
}

Tensor iota(Function &fn, Shape shape, int64_t dim, DType dtype,
            SourceLoc loc) {
  return GraphImpl::buildDeclared(ir::IotaOp::getOperationName().str(), {},
                                  {intAttr("dimension", dim)}, shape, dtype,
                                  loc, &fn);
}

Tensor randomUniform(const Tensor &key, Shape shape, DType dtype,
                     SourceLoc loc) {
  return GraphImpl::buildDeclared(ir::RandomUniformOp::getOperationName().str(),
                                  {&key}, {}, shape, dtype, loc);
}

Tensor randomNormal(const Tensor &key, Shape shape, DType dtype,
                    SourceLoc loc) {
  return GraphImpl::buildDeclared(ir::RandomNormalOp::getOperationName().str(),
                                  {&key}, {}, shape, dtype, loc);
}

Tensor randomCategorical(const Tensor &key, const Tensor &logits,
                         SourceLoc loc) {
  return buildOne<ir::RandomCategoricalOp>({&key, &logits}, {}, loc);
}

} // namespace kiln
