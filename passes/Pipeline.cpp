//===- Pipeline.cpp - the kiln pass pipelines ------------------------------===//

#include "passes/Pipeline.h"

#include "passes/Passes.h"

#include "mlir/Transforms/Passes.h"

namespace kiln::passes {

void buildHostPipeline(mlir::OpPassManager &pm, const PipelineOptions &options) {
  // Differentiate first, so the backward ops are optimised with the forward ones.
  pm.addPass(createGrad());
  pm.addPass(mlir::createCanonicalizerPass());
  pm.addPass(mlir::createCSEPass());
  if (options.decompose) {
    pm.addPass(createDecompose());
    pm.addPass(mlir::createCanonicalizerPass());
    pm.addPass(mlir::createCSEPass());
  }
  pm.addPass(mlir::createSymbolDCEPass());
}

void registerAllPasses() {
  registerKilnPasses();
  mlir::registerCanonicalizerPass();
  mlir::registerCSEPass();
  mlir::registerSymbolDCEPass();
  mlir::registerInlinerPass();
}

} // namespace kiln::passes
