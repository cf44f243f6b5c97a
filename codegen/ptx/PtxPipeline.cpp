//===- PtxPipeline.cpp - the ptx target's pass pipelines ------------------===//

#include "codegen/ptx/PtxPipeline.h"

#include "codegen/ptx/DirectKernel.h"
#include "codegen/ptx/PtxPasses.h"
#include "passes/Passes.h"
#include "passes/Pipeline.h"

#include "mlir/Conversion/AffineToStandard/AffineToStandard.h"
#include "mlir/Conversion/Passes.h"
#include "mlir/Conversion/ReconcileUnrealizedCasts/ReconcileUnrealizedCasts.h"
#include "mlir/Conversion/SCFToControlFlow/SCFToControlFlow.h"
#include "mlir/Conversion/SCFToGPU/SCFToGPUPass.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/SCF/Transforms/Passes.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;

namespace kiln::codegen::ptx {

void buildPtxGraphPipeline(OpPassManager &pm, const PtxGraphOptions &options) {
  passes::PipelineOptions graph;
  // The ptx target has kernels for primitives and the composites of
  // directComposites() (attention where its fused kernel takes it, the MoE
  // route and combine, the MoE plan with moePlanKernel): every other
  // composite is expanded.
  graph.decompose = true;
  graph.fuseMoe = options.fuseMoe;
  if (!options.decomposeAll) {
    for (StringRef name : directComposites())
      if (name != "moe_plan" || options.moePlanKernel)
        graph.keepComposites.push_back(name.str());
    // int4 weights stay packed in derived state: the GEMM that reads one
    // dequantizes it as it loads it (mma_int4_matmul), and
    // kiln-expand-unfused-composites expands every other dequantize.
    graph.keepComposites.push_back("dequantize");
    graph.keepInt4WeightDequantize = true;
  }
  graph.dataParallel = options.dataParallel;
  graph.gradientBucketBytes = options.gradientBucketBytes;
  graph.expertParallel = options.expertParallel;
  graph.precision = options.precision;
  graph.precisionKeep = options.precisionKeep;
  graph.hoistDerivedState = options.hoistDerivedState;
  // One GEMM launch for the projections that share an input (each launch
  // of a small GEMM costs about its fixed few microseconds).
  graph.mergeSiblingMatmuls = options.fuseGemms;
  passes::buildHostPipeline(pm, graph);
  // NCCL moves bytes; the reductions of the collectives become kernels.
  pm.addPass(passes::createExpandCollectives());
  pm.addPass(mlir::createCanonicalizerPass());
  ExpandUnfusedCompositesOptions expand;
  expand.wgmma = options.target.wgmma && (options.target.chip == "sm_90" ||
                                          options.target.chip == "sm_90a");
  expand.gateUpKernel = options.fuseGemms && options.gateUpKernel;
  pm.addPass(createExpandUnfusedComposites(expand));
  pm.addPass(passes::createFormFusions());
  SelectKernelsOptions select;
  select.chip = options.target.chip;
  select.wgmma = options.target.wgmma;
  select.fuseGemms = options.fuseGemms;
  std::vector<std::string> providers;
  if (options.target.cublasMatmul)
    providers.push_back("matmul=cublas");
  select.providers = providers;
  pm.addPass(createSelectKernels(select));
}

void buildKernelMappingPipeline(OpPassManager &pm) {
  // Loop-nest kernels are one flat parallel loop: tiles of 256 become blocks
  // of 256 threads along x (gpu-map-parallel-loops maps dim 0 to x).
  OpPassManager &func = pm.nest<func::FuncOp>();
  func.addPass(createConvertLinalgToParallelLoopsPass());
  func.addPass(createParallelLoopTilingPass({256}, /*noMinMaxBounds=*/true));
  func.addPass(createGpuMapParallelLoopsPass());
  func.addPass(createParallelLoopToGpuPass());
  func.addPass(createLowerAffinePass());
  func.addPass(createCanonicalizerPass());
  pm.addPass(createGpuKernelOutliningPass());
  pm.addPass(createConvertSCFToCFPass());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createSinkLaunchConstants());
}

void buildNvvmLoweringPipeline(OpPassManager &pm, const std::string &chip,
                               const std::string &features) {
  GpuNVVMAttachTargetOptions target;
  target.chip = chip;
  target.features = features;
  pm.addPass(createGpuNVVMAttachTarget(target));
  OpPassManager &gpuModule = pm.nest<gpu::GPUModuleOp>();
  // i4 buffers are packed two to a byte (executor/DType.h).
  gpuModule.addPass(createEmulatePackedI4());
  gpuModule.addPass(createConvertNVGPUToNVVMPass());
  gpuModule.addPass(createConvertVectorToLLVMPass());
  ConvertGpuOpsToNVVMOpsOptions toNvvm;
  // Kernels take bare pointers: one parameter per buffer.
  toNvvm.useBarePtrCallConv = true;
  gpuModule.addPass(createConvertGpuOpsToNVVMOps(toNvvm));
  gpuModule.addPass(createConvertNVVMToLLVMPass());
  pm.addPass(createReconcileUnrealizedCastsPass());
}

void buildPtxEmissionPipeline(OpPassManager &pm) {
  GpuModuleToBinaryPassOptions binary;
  binary.compilationTarget = "isa";
  pm.addPass(createGpuModuleToBinaryPass(binary));
}

} // namespace kiln::codegen::ptx
