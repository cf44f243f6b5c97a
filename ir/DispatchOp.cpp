//===- DispatchOp.cpp - the fusion-region op ------------------------------===//
//
// kiln.dispatch groups the ops of one kernel (see its ODS description). Its
// verifier keeps the shape passes rely on: a body ending in kiln.yield whose
// values are the region's results, yielded by one root op.
//
//===----------------------------------------------------------------------===//

#include "ir/KilnOps.h"

using namespace mlir;

namespace kiln::ir {

Operation *DispatchOp::getRoot() {
  Block &body = getBody().front();
  if (body.getOperations().size() < 2)
    return nullptr;
  return &*std::prev(body.end(), 2);
}

LogicalResult DispatchOp::verify() {
  Block &body = getBody().front();
  auto yield =
      llvm::dyn_cast_or_null<YieldOp>(body.empty() ? nullptr : &body.back());
  if (!yield)
    return emitOpError("body must end in kiln.yield");
  if (yield.getValues().getTypes() != getResultTypes())
    return emitOpError("yields ")
           << yield.getValues().getTypes() << " but its results are "
           << getResultTypes();
  // The root is the body's last op: its producers come before it.
  Operation *root = getRoot();
  if (!root)
    return emitOpError("body holds no op to yield");
  if (yield.getValues() != ValueRange(root->getResults()))
    return emitOpError("must yield exactly the results of its root op, '")
           << root->getName() << "'";
  return success();
}

} // namespace kiln::ir
