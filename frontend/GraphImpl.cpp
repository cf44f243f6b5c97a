//===- GraphImpl.cpp - sticky errors and the one path every op takes
//-------===//
//
// An op is checked by its ODS type inference before it exists, so a bad call
// never reaches an MLIR assertion: it becomes the graph's first error instead,
// naming the op, the operand types and the caller's file and line.
//
//===----------------------------------------------------------------------===//

#include "frontend/GraphImpl.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/Verifier.h"

namespace kiln::detail {

GraphImpl::GraphImpl(std::string name) : graphName(std::move(name)) {
  module.emplace();
  ctx = &module->context();
}

void GraphImpl::fail(const SourceLoc &loc, const std::string &what,
                     const std::string &message) {
  if (failed())
    return;
  error = absl::InvalidArgumentError(absl::StrCat(
      loc.file_name(), ":", loc.line(), ": ", what, ": ", message));
}

bool GraphImpl::open(const SourceLoc &loc, const std::string &what) {
  if (module)
    return true;
  fail(loc, what,
       absl::StrCat("graph '", graphName,
                    "' was already built; build() hands its module out once"));
  return false;
}

mlir::Location GraphImpl::location(const SourceLoc &loc) {
  return mlir::FileLineColLoc::get(ctx, loc.file_name(), loc.line(),
                                   loc.column());
}

mlir::OpBuilder GraphImpl::builderAt(int function) {
  return mlir::OpBuilder::atBlockEnd(
      &functions[function]->func.getBody().front());
}

Tensor GraphImpl::addValue(mlir::Value value, int function) {
  auto type = llvm::cast<mlir::RankedTensorType>(value.getType());
  values.push_back({value, function, Shape(type.getShape()),
                    fromMlir(type.getElementType()).value_or(DType::f32)});
  return Tensor(this, static_cast<int64_t>(values.size()) - 1);
}

mlir::Attribute GraphImpl::toMlir(const Attr::Value &value) {
  mlir::Builder b(ctx);
  struct Visitor {
    mlir::Builder &b;
    mlir::MLIRContext &ctx;
    mlir::Attribute operator()(int64_t v) { return b.getI64IntegerAttr(v); }
    mlir::Attribute operator()(double v) { return b.getF64FloatAttr(v); }
    mlir::Attribute operator()(bool v) { return b.getBoolAttr(v); }
    mlir::Attribute operator()(const std::string &v) {
      return b.getStringAttr(v);
    }
    mlir::Attribute operator()(const std::vector<int64_t> &v) {
      return b.getDenseI64ArrayAttr(v);
    }
    mlir::Attribute operator()(DType v) {
      return mlir::TypeAttr::get(detail::toMlir(ctx, v));
    }
    mlir::Attribute operator()(const std::vector<int32_t> &v) {
      return b.getDenseI32ArrayAttr(v);
    }
    mlir::Attribute operator()(const Attr::Maker &make) { return make(ctx); }
  };
  return std::visit(Visitor{b, *ctx}, value);
}

GraphImpl *GraphImpl::resolve(const std::string &op, const SourceLoc &loc,
                              llvm::ArrayRef<const Tensor *> operands,
                              Function *fn, int &function) {
  GraphImpl *graph = fn ? fn->graph : nullptr;
  function = fn ? fn->index : -1;
  for (const Tensor *t : operands)
    if (!graph)
      graph = t->graph;
  // Only default-constructed tensors: there is no graph to hold an error.
  if (!graph || graph->failed() || !graph->open(loc, op))
    return nullptr;
  for (auto [i, t] : llvm::enumerate(operands)) {
    if (t->graph && t->graph != graph) {
      std::string message = absl::StrCat(
          "operand ", i, " belongs to graph '", t->graph->graphName,
          "', the others to graph '", graph->graphName,
          "'; tensors of two graphs cannot be mixed");
      graph->fail(loc, op, message);
      t->graph->fail(loc, op, message);
      return nullptr;
    }
  }
  for (auto [i, t] : llvm::enumerate(operands)) {
    if (!t->valid()) {
      // A graph-less (default-constructed) tensor: an invalid one that names
      // this graph only comes from a failed op, and then the graph has failed
      // already.
      graph->fail(loc, op,
                  absl::StrCat("operand ", i,
                               " is an invalid (default-constructed) Tensor"));
      return nullptr;
    }
    int f = graph->values[t->id].function;
    if (function < 0) {
      function = f;
    } else if (f != function) {
      graph->fail(loc, op,
                  absl::StrCat("operand ", i, " belongs to function '",
                               graph->functions[f]->name, "', not '",
                               graph->functions[function]->name,
                               "'; pass values between entry points as state"));
      return nullptr;
    }
  }
  if (function < 0) {
    graph->fail(loc, op, "cannot tell which function the op belongs to");
    return nullptr;
  }
  return graph;
}

namespace {

GraphImpl *anyGraph(llvm::ArrayRef<const Tensor *> operands, Function *fn) {
  if (fn)
    return &GraphImpl::of(*fn);
  for (const Tensor *t : operands)
    if (GraphImpl *graph = GraphImpl::of(*t))
      return graph;
  return nullptr;
}

/// The inference message without the "'kiln.op' " that the error already says,
/// plus the operand types where the message leaves some out.
std::string explain(const std::string &diagnostic, const std::string &op,
                    const std::vector<std::string> &operandTypes) {
  std::string message =
      diagnostic.empty() ? "type inference failed" : diagnostic;
  std::string prefix = "'" + op + "' ";
  if (message.rfind(prefix, 0) == 0)
    message = message.substr(prefix.size());
  // Verifier messages (emitOpError) say "op ..." after the name.
  if (message.rfind("op ", 0) == 0)
    message = message.substr(3);
  bool allNamed = llvm::all_of(operandTypes, [&](const std::string &type) {
    return message.find(type) != std::string::npos;
  });
  if (!allNamed)
    absl::StrAppend(&message, " (operands: ", absl::StrJoin(operandTypes, ", "),
                    ")");
  return message;
}

} // namespace

std::vector<Tensor> GraphImpl::build(const std::string &name, InferFn infer,
                                     llvm::ArrayRef<const Tensor *> operands,
                                     const std::vector<Attr> &attrs,
                                     const SourceLoc &loc, size_t numResults,
                                     Function *fn) {
  int function;
  GraphImpl *graph = resolve(name, loc, operands, fn, function);
  if (!graph)
    return std::vector<Tensor>(numResults, invalid(anyGraph(operands, fn)));
  mlir::MLIRContext *ctx = graph->ctx;
  mlir::Location where = graph->location(loc);

  llvm::SmallVector<mlir::Value> values;
  std::vector<std::string> operandTypes;
  for (const Tensor *t : operands) {
    const ValueInfo &info = graph->values[t->id];
    values.push_back(info.value);
    operandTypes.push_back(typeString(info.shape, info.dtype));
  }
  mlir::NamedAttrList attrList;
  for (const Attr &attr : attrs)
    attrList.append(attr.name, graph->toMlir(attr.value));

  llvm::SmallVector<mlir::Type> types;
  std::string diagnostic;
  {
    mlir::ScopedDiagnosticHandler handler(ctx, [&](mlir::Diagnostic &diag) {
      if (diagnostic.empty())
        diagnostic = diag.str();
      return mlir::success();
    });
    if (mlir::failed(infer(ctx, where, values, attrList.getDictionary(ctx),
                           mlir::OpaqueProperties(nullptr), mlir::RegionRange(),
                           types))) {
      graph->fail(loc, name, explain(diagnostic, name, operandTypes));
      return std::vector<Tensor>(numResults, invalid(graph));
    }
  }
  if (types.size() != numResults) {
    graph->fail(loc, name, "internal error: unexpected number of results");
    return std::vector<Tensor>(numResults, invalid(graph));
  }
  mlir::OperationState state(where, name);
  state.addOperands(values);
  state.addAttributes(attrList);
  state.addTypes(types);
  if (graph->rematGroup >= 0)
    state.addAttribute("kiln.remat", mlir::IntegerAttr::get(
                                         mlir::IntegerType::get(ctx, 64),
                                         graph->rematGroup));
  mlir::Operation *op = graph->builderAt(function).create(state);
  std::vector<Tensor> results;
  for (mlir::Value result : op->getResults())
    results.push_back(graph->addValue(result, function));
  return results;
}

std::string checkShape(const Shape &shape) {
  for (int64_t d : shape)
    if (d < 0)
      return absl::StrCat("shape [", absl::StrJoin(shape, ", "),
                          "] has a negative dimension");
  // The executor sizes buffers from the element count (up to 8 bytes each);
  // a count that wraps would allocate short.
  int64_t n = 1, bytes;
  for (int64_t d : shape)
    if (__builtin_mul_overflow(n, d, &n) ||
        __builtin_mul_overflow(n, int64_t{8}, &bytes))
      return absl::StrCat("shape [", absl::StrJoin(shape, ", "),
                          "] has more elements than a 64-bit size holds");
  return "";
}

Tensor GraphImpl::buildDeclared(const std::string &name,
                                llvm::ArrayRef<const Tensor *> operands,
                                const std::vector<Attr> &attrs,
                                const Shape &shape, DType dtype,
                                const SourceLoc &loc, Function *fn) {
  int function;
  GraphImpl *graph = resolve(name, loc, operands, fn, function);
  if (!graph)
    return invalid(anyGraph(operands, fn));
  if (std::string bad = checkShape(shape); !bad.empty()) {
    graph->fail(loc, name, bad);
    return invalid(graph);
  }
  mlir::MLIRContext *ctx = graph->ctx;
  mlir::OperationState state(graph->location(loc), name);
  for (const Tensor *t : operands)
    state.addOperands(graph->values[t->id].value);
  for (const Attr &attr : attrs)
    state.addAttribute(attr.name, graph->toMlir(attr.value));
  state.addTypes(
      mlir::RankedTensorType::get(shape, detail::toMlir(*ctx, dtype)));
  mlir::Operation *op = graph->builderAt(function).create(state);

  std::string diagnostic;
  mlir::ScopedDiagnosticHandler handler(ctx, [&](mlir::Diagnostic &diag) {
    if (diagnostic.empty())
      diagnostic = diag.str();
    return mlir::success();
  });
  if (mlir::failed(mlir::verify(op, /*verifyRecursively=*/false))) {
    op->erase();
    std::vector<std::string> operandTypes;
    for (const Tensor *t : operands)
      operandTypes.push_back(
          typeString(graph->values[t->id].shape, graph->values[t->id].dtype));
    graph->fail(loc, name, explain(diagnostic, name, operandTypes));
    return invalid(graph);
  }
  return graph->addValue(op->getResult(0), function);
}

Tensor GraphImpl::constant(Function &fn, const std::vector<double> &values,
                           const Shape &shape, DType dtype,
                           const SourceLoc &loc) {
  const std::string name = "kiln.constant";
  int function;
  GraphImpl *graph = resolve(name, loc, {}, &fn, function);
  if (!graph)
    return invalid(&of(fn));
  if (std::string bad = checkShape(shape); !bad.empty()) {
    graph->fail(loc, name, bad);
    return invalid(graph);
  }
  int64_t count = 1;
  for (int64_t d : shape)
    count *= d;
  if ((int64_t)values.size() != count && values.size() != 1) {
    graph->fail(loc, name,
                absl::StrCat("got ", values.size(), " values for ",
                             typeString(shape, dtype), " (", count,
                             " elements)"));
    return invalid(graph);
  }
  mlir::Type element = detail::toMlir(*graph->ctx, dtype);
  auto type = mlir::RankedTensorType::get(shape, element);
  mlir::DenseElementsAttr attr;
  if (auto floatType = llvm::dyn_cast<mlir::FloatType>(element)) {
    const llvm::fltSemantics &semantics = floatType.getFloatSemantics();
    bool saturate = dtype == DType::f8e4m3fn || dtype == DType::f8e5m2;
    llvm::SmallVector<llvm::APFloat> floats;
    for (double v : values) {
      llvm::APFloat f(v);
      bool losesInfo;
      f.convert(semantics, llvm::APFloat::rmNearestTiesToEven, &losesInfo);
      // docs/OPS.md: conversion to f8 saturates instead of overflowing.
      if (saturate && !std::isnan(v) && (f.isInfinity() || f.isNaN()))
        f = llvm::APFloat::getLargest(semantics, v < 0);
      floats.push_back(f);
    }
    attr = mlir::DenseElementsAttr::get(type, floats);
  } else {
    unsigned width = element.getIntOrFloatBitWidth();
    llvm::SmallVector<llvm::APInt> ints;
    for (double v : values) {
      if (width == 1)
        ints.push_back(llvm::APInt(1, v != 0));
      else
        ints.push_back(
            llvm::APInt(64, static_cast<uint64_t>(static_cast<int64_t>(v)),
                        true)
                .trunc(width));
    }
    attr = mlir::DenseElementsAttr::get(type, ints);
  }
  mlir::OperationState state(graph->location(loc), name);
  state.addAttribute("value", attr);
  state.addTypes(type);
  mlir::Operation *op = graph->builderAt(function).create(state);
  return graph->addValue(op->getResult(0), function);
}

void failAt(const Tensor &anchor, const SourceLoc &loc, const std::string &what,
            const std::string &message) {
  if (anchor.valid())
    GraphImpl::of(anchor)->fail(loc, what, message);
}

} // namespace kiln::detail
