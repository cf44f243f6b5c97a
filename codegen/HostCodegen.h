//===- HostCodegen.h - kiln IR to host-target steps -------------*- C++ -*-===//
//
// Lowers an optimised kiln module to an Executable for the CPU executor: one
// buffer per value, one step per op, a release schedule from liveness, and the
// state table with argument-result aliasing.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_CODEGEN_HOSTCODEGEN_H
#define KILN_CODEGEN_HOSTCODEGEN_H

#include "absl/status/statusor.h"
#include "executor/executable.pb.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"

namespace kiln::codegen {

/// Lowers every public function of `module` to an entry. kiln.dispatch
/// regions (made for kernel targets) are looked through: each op of a body is
/// a step, and a region's results share its root's buffers.
absl::StatusOr<proto::Executable> lowerToHost(mlir::ModuleOp module);

/// The ops that become steps of `func`, in order: its ops, each kiln.dispatch
/// replaced by the ops of its body.
void forEachStepOp(mlir::func::FuncOp func,
                   llvm::function_ref<void(mlir::Operation &)> fn);


} // namespace kiln::codegen

#endif // KILN_CODEGEN_HOSTCODEGEN_H
