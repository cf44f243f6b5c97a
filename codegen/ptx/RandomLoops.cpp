//===- RandomLoops.cpp - counter-based random numbers ---------------------===//
//
// Loop-nest kernels of random_uniform and random_normal (Philox4x32-10).
//
//===----------------------------------------------------------------------===//

#include "codegen/ptx/LoopNestBuilder.h"

#include "absl/strings/str_cat.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

using namespace mlir;
namespace kir = kiln::ir;

namespace kiln::codegen::ptx::loopnest {

Value LoopNestBuilder::flatIndex(OpBuilder &nb, Location l, ValueRange idx,
                                 ArrayRef<int64_t> shape) {
  Value flat = i64Const(nb, l, 0);
  for (size_t d = 0; d < shape.size(); ++d)
    flat = nb.create<arith::AddIOp>(
        l, nb.create<arith::MulIOp>(l, flat, i64Const(nb, l, shape[d])),
        toI64(nb, l, idx[d]));
  return flat;
}

absl::Status LoopNestBuilder::buildRandom(bool normal) {
  ArrayRef<int64_t> shape = resultType().getShape();
  indexed([&](OpBuilder &nb, Location l, ValueRange out) -> Value {
    Value key = loadAs(nb, l, 0, {}, nb.getI64Type());
    Value flat =
        shape.empty() ? i64Const(nb, l, 0) : flatIndex(nb, l, out, shape);
    SmallVector<Value> w = philox(nb, l, flat, key);
    Type f64 = nb.getF64Type();
    if (!normal)
      return unitFromWord(nb, l, w[0], false);
    // Box-Muller in f64, as the CPU executor computes it.
    Value u1 = unitFromWord(nb, l, w[0], true),
          u2 = unitFromWord(nb, l, w[1], false);
    Value radius = nb.create<math::SqrtOp>(
        l, nb.create<arith::MulFOp>(l, floatConst(nb, l, f64, -2.0),
                                    nb.create<math::LogOp>(l, u1)));
    Value angle =
        nb.create<arith::MulFOp>(l, floatConst(nb, l, f64, 2.0 * M_PI), u2);
    return nb.create<arith::MulFOp>(l, radius,
                                    nb.create<math::CosOp>(l, angle));
  });
  return absl::OkStatus();
}

} // namespace kiln::codegen::ptx::loopnest
