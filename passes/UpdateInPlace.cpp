//===- UpdateInPlace.cpp - kiln-update-in-place ---------------------------===//
//
// A put_along_axis whose x dies at it may write into x's buffer: the lowering
// (codegen/HostCodegen.cpp) gives the result x's buffer when the op carries
// `kiln.in_place`, and the ptx kernel then touches only the written slots.
// x must be the put's only reader (nothing reads the old bytes afterwards),
// and its buffer must be one the entry may write: a state argument that the
// entry also returns (donated), or a kernel's own output. Caller inputs,
// read-only state, reshapes (another value's buffer) and constants (uploaded
// once per load) are never written.
//
//===----------------------------------------------------------------------===//

#include "ir/KilnOps.h"
#include "passes/Passes.h"
#include "passes/StateArguments.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "llvm/ADT/StringSet.h"

namespace kiln::passes {
#define GEN_PASS_DEF_UPDATEINPLACE
#include "passes/Passes.h.inc"
} // namespace kiln::passes

using namespace mlir;

namespace kiln::passes {
namespace {

constexpr llvm::StringLiteral kStateAttr = "kiln.state";

/// The state names `func` returns.
llvm::StringSet<> returnedState(func::FuncOp func) {
  llvm::StringSet<> names;
  for (unsigned i = 0; i < func.getNumResults(); ++i)
    if (auto name = func.getResultAttrOfType<StringAttr>(i, kStateAttr))
      names.insert(name.getValue());
  return names;
}

/// Whether the entry may overwrite `x`'s buffer once its last reader ran.
bool writable(Value x, const llvm::StringSet<> &donated) {
  if (llvm::isa<BlockArgument>(x)) {
    StringAttr state = stateOf(x);
    return state && donated.contains(state.getValue());
  }
  Operation *def = x.getDefiningOp();
  return def && llvm::isa<ir::KilnDialect>(def->getDialect()) &&
         !llvm::isa<ir::ReshapeOp, ir::ConstantOp>(def);
}

struct UpdateInPlacePass : impl::UpdateInPlaceBase<UpdateInPlacePass> {
  void runOnOperation() override {
    getOperation().walk([&](func::FuncOp func) {
      if (func.isExternal())
        return;
      llvm::StringSet<> donated = returnedState(func);
      func.walk([&](ir::PutAlongAxisOp put) {
        Value x = put.getX();
        if (x.hasOneUse() && writable(x, donated))
          put->setAttr("kiln.in_place", UnitAttr::get(&getContext()));
      });
    });
  }
};

} // namespace
} // namespace kiln::passes
