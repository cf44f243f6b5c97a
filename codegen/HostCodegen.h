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
#include "mlir/IR/BuiltinOps.h"

namespace kiln::codegen {

absl::StatusOr<proto::Executable> lowerToHost(mlir::ModuleOp module);


} // namespace kiln::codegen

#endif // KILN_CODEGEN_HOSTCODEGEN_H
