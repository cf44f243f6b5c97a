//===- KernelTable.cpp - the ptx target's kernel providers ----------------===//
//
// The order is the preference: a library call where the user opted in, then
// tensor cores, then the hand-built kernels for ops that are not loop nests,
// then the loop nest, which runs anything the others refuse.
//
//===----------------------------------------------------------------------===//

#include "codegen/ptx/KernelTable.h"

#include "codegen/ptx/DirectKernel.h"
#include "codegen/ptx/LoopNestKernel.h"
#include "codegen/ptx/MatmulTiling.h"
#include "codegen/ptx/MmaMatmul.h"
#include "codegen/ptx/WgmmaMatmul.h"
#include "ir/KilnOps.h"
#include "passes/DecodeAttention.h"
#include "passes/GatedMatmuls.h"
#include "passes/WeightedCombine.h"

using namespace mlir;
namespace kir = kiln::ir;

namespace kiln::codegen::ptx {
namespace {

bool isHopper(const std::string &chip) {
  return chip == "sm_90" || chip == "sm_90a";
}

/// Hand-built kernels index their buffers from one flat launch: no empty ones.
bool hasNoEmptyTensor(Operation *op) {
  auto empty = [](Type t) {
    return llvm::cast<RankedTensorType>(t).getNumElements() == 0;
  };
  return llvm::none_of(op->getOperandTypes(), empty) &&
         llvm::none_of(op->getResultTypes(), empty);
}

/// The cuBLAS GEMM of a matmul, when cuBLAS can run it: f32/f64/f16/bf16, and
/// each operand's batch dims either absent (broadcast) or the result's.
std::optional<proto::Gemm> cublasGemm(Operation *op) {
  auto matmul = llvm::dyn_cast<kir::MatmulOp>(op);
  if (!matmul)
    return std::nullopt;
  Type element = llvm::cast<RankedTensorType>(matmul.getResult().getType())
                     .getElementType();
  std::optional<MatmulShape> s = matmulShape(matmul);
  if (!s || (!element.isF32() && !element.isF64() && !element.isF16() &&
             !element.isBF16()))
    return std::nullopt;
  proto::Gemm g;
  g.set_provider("cublas");
  g.set_m(s->m);
  g.set_n(s->n);
  g.set_k(s->k);
  g.set_batch(s->batch);
  g.set_transpose_a(matmul.getTransposeA());
  g.set_transpose_b(matmul.getTransposeB());
  g.set_broadcast_a(!s->aBatched && s->batch > 1);
  g.set_broadcast_b(!s->bBatched && s->batch > 1);
  return g;
}

void readOperands(KernelBuild &build) {
  build.inputs.assign(build.root->getOperands().begin(),
                      build.root->getOperands().end());
}

/// A provider of kernels written in the gpu dialect (DirectKernel.h).
template <absl::Status (*Body)(Operation *, DirectKernels &)>
absl::Status buildDirect(KernelBuild &build) {
  DirectKernels kernels(build.root, build.module, build.name);
  readOperands(build);
  return Body(build.root, kernels);
}

template <typename... Ops> bool directOf(Operation *op, const KernelTarget &) {
  return llvm::isa<Ops...>(op) && hasNoEmptyTensor(op);
}

const KernelProvider providers[] = {
    {"cublas_gemm", false, nullptr,
     [](Operation *op, const KernelTarget &t) {
       return t.cublasMatmul && cublasGemm(op).has_value();
     },
     [](KernelBuild &build) {
       build.gemm = cublasGemm(build.root);
       readOperands(build);
       return absl::OkStatus();
     }},
    // A GEMM with its int4 weight's dequantize fused: the only region of a
    // tensor-core GEMM with a fused producer (kiln-form-fusions).
    {"mma_int4_matmul", true, nullptr,
     [](Operation *op, const KernelTarget &) {
       return isTensorCoreInt4Matmul(op);
     },
     [](KernelBuild &build) {
       auto dequantize =
           build.root->getOperand(1).getDefiningOp<kir::DequantizeOp>();
       build.inputs = {build.root->getOperand(0), dequantize.getQ(),
                       dequantize.getScale()};
       if (build.root->getNumOperands() > 2)
         build.inputs.push_back(build.root->getOperand(2));
       return buildMmaInt4Matmul(build.root, build.module, build.name);
     }},
    // Takes a region whose other ops are exactly A's strided view (the
    // remaps kiln-select-kernels absorbs: the tensor map reads A in place,
    // fusedViewOfA), and whose root may be the transpose its output is
    // stored through (transposedStoreOf).
    {"wgmma_matmul", true, "sm_90a",
     [](Operation *op, const KernelTarget &t) {
       kir::MatmulOp stored = transposedStoreOf(op);
       Operation *gemm = stored ? stored.getOperation() : op;
       if (!(isTensorCoreMatmul(gemm) || isTensorCoreContract(gemm)) ||
           !t.wgmma || !isHopper(t.chip))
         return false;
       auto dispatch =
           llvm::dyn_cast_or_null<kir::DispatchOp>(op->getParentOp());
       if (!dispatch || dispatch.getBody().front().getOperations().size() ==
                            (stored ? 3u : 2u))
         return true;
       auto matmul = llvm::dyn_cast<kir::MatmulOp>(gemm);
       return matmul && fusedViewOfA(matmul).has_value();
     },
     [](KernelBuild &build) {
       kir::MatmulOp stored = transposedStoreOf(build.root);
       Operation *gemm = stored ? stored.getOperation() : build.root;
       build.inputs.assign(gemm->getOperands().begin(),
                           gemm->getOperands().end());
       if (auto matmul = llvm::dyn_cast<kir::MatmulOp>(gemm))
         if (auto fused = fusedViewOfA(matmul))
           build.inputs[0] = fused->view.base;
       return buildWgmmaMatmul(build.root, build.module, build.name,
                               build.tensorMaps);
     }},
    // The experts' gate and up projections in one launch: the token gather
    // in the A load, both weights through tensor maps, SwiGLU in the
    // epilogue.
    {"wgmma_moe_gate_up", false, "sm_90a",
     [](Operation *op, const KernelTarget &t) {
       return isTensorCoreGateUp(op) && t.wgmma && isHopper(t.chip);
     },
     [](KernelBuild &build) {
       readOperands(build);
       return buildWgmmaMatmul(build.root, build.module, build.name,
                               build.tensorMaps);
     }},
    // A SwiGLU MLP's two projections and gated product in one launch (the
    // region kiln-select-kernels forms: passes/GatedMatmuls.h).
    {"wgmma_gated_matmul", true, "sm_90a",
     [](Operation *op, const KernelTarget &t) {
       auto mul = llvm::dyn_cast<kir::MulOp>(op);
       if (!mul || !t.wgmma || !isHopper(t.chip))
         return false;
       auto chain = passes::gatedMatmuls(mul);
       auto dispatch =
           llvm::dyn_cast_or_null<kir::DispatchOp>(op->getParentOp());
       return chain && dispatch && isTensorCoreMatmul(chain->gate) &&
              dispatch.getBody().front().getOperations().size() - 2 ==
                  chain->ops.size() &&
              llvm::all_of(chain->ops, [&](Operation *member) {
                return member->getBlock() == op->getBlock();
              });
     },
     [](KernelBuild &build) {
       auto chain = passes::gatedMatmuls(llvm::cast<kir::MulOp>(build.root));
       build.inputs = {chain->gate.getA(), chain->gate.getB(),
                       chain->up.getB()};
       return buildWgmmaMatmul(build.root, build.module, build.name,
                               build.tensorMaps);
     }},
    {"wgmma_scaled_matmul", false, "sm_90a",
     [](Operation *op, const KernelTarget &t) {
       return isTensorCoreScaledMatmul(op) && t.wgmma && isHopper(t.chip);
     },
     [](KernelBuild &build) {
       readOperands(build);
       return buildWgmmaMatmul(build.root, build.module, build.name,
                               build.tensorMaps);
     }},
    {"mma_matmul", false, nullptr,
     [](Operation *op, const KernelTarget &) { return isTensorCoreMatmul(op); },
     [](KernelBuild &build) {
       readOperands(build);
       return buildMmaMatmul(build.root, build.module, build.name);
     }},
    {"sort", false, nullptr, directOf<kir::SortOp, kir::ArgsortOp, kir::TopkOp>,
     buildDirect<buildSortKernels>},
    {"scan", false, nullptr, directOf<kir::CumsumOp>,
     buildDirect<buildScanKernels>},
    {"scatter_add", false, nullptr,
     [](Operation *op, const KernelTarget &t) {
       return directOf<kir::ScatterAddOp>(op, t) && scatterAddUsesAtomics(op);
     },
     buildDirect<buildScatterAddKernels>},
    {"categorical", false, nullptr, directOf<kir::RandomCategoricalOp>,
     buildDirect<buildCategoricalKernels>},
    {"argmax", false, nullptr,
     [](Operation *op, const KernelTarget &) { return isDirectArgmax(op); },
     buildDirect<buildArgmaxKernels>},
    // A decode step's attention (one query a head, one kv head), its key
    // read through the concat kiln-form-fusions fused into its region.
    {"decode_attention", true, nullptr,
     [](Operation *op, const KernelTarget &) {
       auto attention = llvm::dyn_cast<kir::AttentionOp>(op);
       return attention && hasNoEmptyTensor(op) &&
              passes::isDecodeAttention(attention);
     },
     [](KernelBuild &build) {
       auto attention = llvm::cast<kir::AttentionOp>(build.root);
       build.inputs = {attention.getQ()};
       if (kir::ConcatOp concat = passes::fusedKeyConcat(attention))
         build.inputs.append(concat.getInputs().begin(),
                             concat.getInputs().end());
       else
         build.inputs.push_back(attention.getK());
       build.inputs.push_back(attention.getV());
       if (Value validLen = attention.getValidLen())
         build.inputs.push_back(validLen);
       if (Value qOffset = attention.getQOffset())
         build.inputs.push_back(qOffset);
       return buildDecodeAttentionKernels(build.root, build.inputs,
                                          build.module, build.name);
     }},
    {"attention", false, nullptr,
     [](Operation *op, const KernelTarget &) {
       return hasNoEmptyTensor(op) && isDirectAttention(op);
     },
     buildDirect<buildAttentionKernels>},
    // Takes a fused widening cast of an operand (kiln-form-fusions): it
    // reads the cast's source and converts as it loads. The root may be a
    // sigmoid of its f32 result, applied as stored (simtMatmulOf).
    {"simt_matmul", true, nullptr,
     [](Operation *op, const KernelTarget &) {
       kir::MatmulOp matmul = simtMatmulOf(op);
       return matmul && hasNoEmptyTensor(matmul) && isSimtMatmul(matmul);
     },
     [](KernelBuild &build) {
       SmallVector<Type> types;
       for (Value operand : simtMatmulOf(build.root)->getOperands()) {
         auto cast = operand.getDefiningOp<kir::CastOp>();
         build.inputs.push_back(cast && build.fused.contains(cast) ? cast.getX()
                                                                   : operand);
         types.push_back(build.inputs.back().getType());
       }
       DirectKernels kernels(build.root, types, build.module, build.name);
       return buildSimtMatmulKernels(build.root, kernels);
     }},
    {"bincount", false, nullptr, directOf<kir::BincountOp>,
     buildDirect<buildBincountKernels>},
    // Element writes from many threads: not for i4, packed two to a byte.
    {"put_along_axis", false, nullptr,
     [](Operation *op, const KernelTarget &t) {
       return directOf<kir::PutAlongAxisOp>(op, t) &&
              !llvm::cast<RankedTensorType>(op->getResult(0).getType())
                   .getElementType()
                   .isInteger(4);
     },
     buildDirect<buildPutAlongAxisKernels>},
    // Applies the routing weights where kiln-form-fusions fused their gather
    // and the scaled rows into its region (passes/WeightedCombine.h).
    {"moe_combine", true, nullptr,
     [](Operation *op, const KernelTarget &t) {
       if (!directOf<kir::MoeCombineOp>(op, t))
         return false;
       auto dispatch =
           llvm::dyn_cast_or_null<kir::DispatchOp>(op->getParentOp());
       size_t members =
           dispatch ? dispatch.getBody().front().getOperations().size() - 2 : 0;
       if (members == 0)
         return true;
       auto chain =
           passes::weightedCombineRows(llvm::cast<kir::MoeCombineOp>(op));
       return chain && chain->ops.size() == members &&
              llvm::all_of(chain->ops, [&](Operation *member) {
                return member->getBlock() == op->getBlock();
              });
     },
     [](KernelBuild &build) {
       auto combine = llvm::cast<kir::MoeCombineOp>(build.root);
       std::optional<passes::WeightedCombineRows> weighted;
       if (!build.fused.empty())
         weighted = passes::weightedCombineRows(combine);
       if (weighted)
         build.inputs = {weighted->rows, combine.getOrder(), combine.getSlot(),
                         weighted->weights};
       else
         readOperands(build);
       SmallVector<Type> types;
       for (Value input : build.inputs)
         types.push_back(input.getType());
       DirectKernels kernels(build.root, types, build.module, build.name);
       return buildMoeCombineKernels(build.root,
                                     weighted ? &*weighted : nullptr, kernels);
     }},
    {"moe_route", false, nullptr,
     [](Operation *op, const KernelTarget &) { return isDirectMoeRoute(op); },
     buildDirect<buildMoeRouteKernels>},
    {"moe_plan", false, nullptr,
     [](Operation *op, const KernelTarget &) { return isDirectMoePlan(op); },
     buildDirect<buildMoePlanKernels>},
    {"quantize", false, nullptr,
     [](Operation *op, const KernelTarget &) { return isDirectQuantize(op); },
     buildDirect<buildQuantizeKernels>},
    {"loop_nest", true, nullptr,
     [](Operation *, const KernelTarget &) { return true; },
     [](KernelBuild &build) {
       return buildLoopNestKernel(build.root, build.fused, build.module,
                                  build.name, build.inputs);
     }},
};

} // namespace

ArrayRef<KernelProvider> kernelProviders() { return providers; }

ArrayRef<StringLiteral> directComposites() {
  static constexpr StringLiteral names[] = {
      "attention", "moe_combine", "moe_gate_up",  "moe_route",
      "moe_plan",  "quantize",    "scaled_matmul"};
  return names;
}

const KernelProvider *findKernelProvider(StringRef name) {
  for (const KernelProvider &p : providers)
    if (name == p.name)
      return &p;
  return nullptr;
}

const KernelProvider &selectKernelProvider(Operation *root,
                                           bool hasFusedProducers,
                                           const KernelTarget &target) {
  for (const KernelProvider &p : providers)
    if ((p.takesFusedProducers || !hasFusedProducers) &&
        p.matches(root, target))
      return p;
  return providers[std::size(providers) - 1];
}

} // namespace kiln::codegen::ptx
