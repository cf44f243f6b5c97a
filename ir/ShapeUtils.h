//===- ShapeUtils.h - shape facts shared by the compiler --------*- C++ -*-===//
//
// One definition of the small shape rules every compiler layer applies (ir's
// inference and VJPs, passes, codegen), so they cannot drift apart. The
// executor, which links no compiler code, checks axes against ranks itself.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_IR_SHAPEUTILS_H
#define KILN_IR_SHAPEUTILS_H

#include <cstdint>

namespace kiln::ir {

/// A signed axis (-rank <= axis < rank, already verified) counted from the
/// front.
constexpr int64_t normalizeAxis(int64_t axis, int64_t rank) {
  return axis < 0 ? axis + rank : axis;
}

} // namespace kiln::ir

#endif // KILN_IR_SHAPEUTILS_H
