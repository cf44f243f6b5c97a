//===- AttrEncoding.h - MLIR types and attributes as proto values -*- C++ -*-===//
//
// The generic mapping from kiln IR types and op attributes to the Executable's
// TensorType and Attr messages (docs/OPS.md, "Attribute kinds").
//
//===----------------------------------------------------------------------===//

#ifndef KILN_CODEGEN_ATTRENCODING_H
#define KILN_CODEGEN_ATTRENCODING_H

#include <string>

#include "absl/status/statusor.h"
#include "executor/executable.pb.h"
#include "mlir/IR/Attributes.h"
#include "mlir/IR/Types.h"

namespace kiln::codegen {

proto::DType toDType(mlir::Type element);
std::string typeString(const proto::TensorType &type);

/// A statically shaped tensor type of a kiln element type, or an error naming it.
absl::StatusOr<proto::TensorType> toTensorType(mlir::Type type);

/// One op attribute; dense literals become host-layout bytes.
absl::StatusOr<proto::Attr> encodeAttr(mlir::Attribute attr);

} // namespace kiln::codegen

#endif // KILN_CODEGEN_ATTRENCODING_H
