//===- Pipeline.cpp - the kiln pass pipelines -----------------------------===//

#include "passes/Pipeline.h"

#include "passes/DecomposePatterns.h"
#include "passes/Passes.h"

#include "mlir/Transforms/Passes.h"

namespace kiln::passes {

void buildHostPipeline(mlir::OpPassManager &pm,
                       const PipelineOptions &options) {
  // MoE fusion before autodiff, so the backward comes from the fused ops'
  // gradient rules; differentiate next, so the backward ops are optimised with
  // the forward ones.
  if (options.fuseMoe)
    pm.addPass(createFuseMoe());
  if (options.expertParallel > 1) {
    ExpertParallelOptions ep;
    ep.groupSize = options.expertParallel;
    pm.addPass(createExpertParallel(ep));
  }
  if (options.dataParallel > 1) {
    DataParallelOptions dp;
    dp.groupSize = options.dataParallel;
    pm.addPass(createDataParallel(dp));
  }
  bool narrow = options.precision != "bf16";
  if (options.precision == "instrument") {
    InstrumentPrecisionOptions instrument;
    instrument.keep = options.precisionKeep;
    pm.addPass(createInstrumentPrecision(instrument));
  } else if (narrow) {
    AssignPrecisionOptions assign;
    // A list of WEIGHT=TYPE entries is an explicit assignment over bf16.
    std::vector<std::string> entries;
    if (llvm::StringRef(options.precision).contains('=')) {
      llvm::SmallVector<llvm::StringRef> split;
      llvm::StringRef(options.precision).split(split, ',');
      for (llvm::StringRef entry : split)
        entries.push_back(entry.str());
      assign.assign = entries;
    } else {
      assign.policy = options.precision;
    }
    assign.keep = options.precisionKeep;
    pm.addPass(createAssignPrecision(assign));
  }
  pm.addPass(createGrad());
  if (narrow)
    pm.addPass(createLowerPrecision());
  pm.addPass(mlir::createCanonicalizerPass());
  pm.addPass(mlir::createCSEPass());
  if (options.dataParallel > 1 && options.zero == 1) {
    // On the finished backward, before the remaining gradient all_reduces
    // are bucketed.
    ShardOptimizerStateOptions zero;
    zero.groupSize = options.dataParallel;
    pm.addPass(createShardOptimizerState(zero));
  }
  if (options.dataParallel > 1) {
    BucketGradientsOptions buckets;
    buckets.bucketBytes = options.gradientBucketBytes;
    pm.addPass(createBucketGradients(buckets));
  }
  if (options.decompose) {
    if (options.keepComposites.empty()) {
      pm.addPass(createDecompose());
    } else {
      std::vector<std::string> expand;
      for (llvm::StringRef name : compositeOpNames())
        if (!llvm::is_contained(options.keepComposites, name.str()))
          expand.push_back(name.str());
      DecomposeOptions only;
      only.onlyOps = expand;
      pm.addPass(createDecompose(only));
    }
    pm.addPass(mlir::createCanonicalizerPass());
    pm.addPass(mlir::createCSEPass());
  }
  // Last, so the casts that decomposition writes (a norm's weight to f32)
  // and the quantization of weights are hoisted too.
  if (options.hoistDerivedState) {
    if (options.mergeSiblingMatmuls)
      pm.addPass(createMergeSiblingMatmuls());
    HoistDerivedStateOptions hoist;
    hoist.keepInt4WeightDequantize = options.keepInt4WeightDequantize;
    pm.addPass(createHoistDerivedState(hoist));
  }
  pm.addPass(mlir::createSymbolDCEPass());
  // Last: buffer decisions hold for the graph as it will run.
  pm.addPass(createUpdateInPlace());
}

void registerAllPasses() {
  registerKilnPasses();
  mlir::registerCanonicalizerPass();
  mlir::registerCSEPass();
  mlir::registerSymbolDCEPass();
  mlir::registerInlinerPass();
}

} // namespace kiln::passes
