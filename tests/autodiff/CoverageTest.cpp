//===- CoverageTest.cpp - every kiln op declares how it is differentiated ---===//
//
// Walks every op registered by the kiln dialect: each must either implement
// VjpOpInterface (its gradient rule) or carry the NoGradient trait, so adding an
// op without deciding its gradient fails here.
//
//===----------------------------------------------------------------------===//

#include "ir/IrModule.h"
#include "ir/KilnOps.h"

#include "mlir/IR/MLIRContext.h"
#include "gtest/gtest.h"

namespace kiln {
namespace {

TEST(AutodiffCoverage, EveryOpHasARuleOrIsMarkedNonDifferentiable) {
  auto context = createKilnContext();
  int kilnOps = 0, withRule = 0;
  for (mlir::RegisteredOperationName name : context->getRegisteredOperations()) {
    if (name.getDialectNamespace() != "kiln")
      continue;
    ++kilnOps;
    bool rule = name.hasInterface<ir::VjpOpInterface>();
    bool none = name.hasTrait<ir::KilnNoGradient>();
    withRule += rule;
    EXPECT_TRUE(rule || none) << name.getStringRef().str()
                              << " has no gradient rule and is not NoGradient";
    EXPECT_FALSE(rule && none) << name.getStringRef().str() << " claims both";
  }
  EXPECT_GE(kilnOps, 67);
  EXPECT_GE(withRule, 45);
}

} // namespace
} // namespace kiln
