//===- PtxCodegen.cpp - kiln IR to a ptx-target Executable -----------------===//
//
// The host lowering already decides buffers, arguments, results, donation and
// the release schedule; this file keeps all of that and replaces each step with
// what the GPU runs: kernel launches (one kiln op may need several, e.g. a fill
// then a reduction), aliases for reshapes, and constants uploaded at load time.
// Each op's kernels go through a private module and the stock MLIR GPU path;
// constant kernel arguments are sunk into the kernels so every launch passes
// exactly its buffers.
//
//===----------------------------------------------------------------------===//

#include "codegen/ptx/PtxCodegen.h"

#include <fstream>

#include "codegen/HostCodegen.h"
#include "codegen/ptx/DirectKernel.h"
#include "codegen/ptx/Fusion.h"
#include "codegen/ptx/KernelBuilder.h"
#include "codegen/ptx/MatmulTiling.h"
#include "codegen/ptx/MmaMatmul.h"
#include "codegen/ptx/WgmmaMatmul.h"
#include "ir/Diagnostics.h"
#include "ir/KilnOps.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Target/LLVM/NVVM/Target.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"
#include "llvm/Support/raw_ostream.h"

extern "C" {
void LLVMInitializeNVPTXTargetInfo();
void LLVMInitializeNVPTXTarget();
void LLVMInitializeNVPTXTargetMC();
void LLVMInitializeNVPTXAsmPrinter();
}

using namespace mlir;

namespace kiln::codegen::ptx {
namespace {

void registerEverythingOnce(MLIRContext &context) {
  static const bool passes = [] {
    registerAllPasses();
    LLVMInitializeNVPTXTargetInfo();
    LLVMInitializeNVPTXTarget();
    LLVMInitializeNVPTXTargetMC();
    LLVMInitializeNVPTXAsmPrinter();
    return true;
  }();
  (void)passes;
  DialectRegistry registry;
  registerAllDialects(registry);
  registerAllExtensions(registry);
  registerAllToLLVMIRTranslations(registry);
  NVVM::registerNVVMTargetInterfaceExternalModels(registry);
  context.appendDialectRegistry(registry);
  context.loadAllAvailableDialects();
}

absl::Status runPipeline(ModuleOp module, const std::string &pipeline,
                         const std::string &stage) {
  DiagnosticCollector diagnostics(*module.getContext());
  PassManager pm(module.getContext());
  std::string errors;
  llvm::raw_string_ostream os(errors);
  if (failed(parsePassPipeline(pipeline, pm, os)))
    return absl::InternalError("bad kernel pipeline: " + errors);
  if (failed(pm.run(module)))
    return absl::InternalError(diagnostics.message("kernel lowering failed at " + stage));
  return absl::OkStatus();
}

/// Moves constant operands of every launch into its kernel, so launches pass
/// buffers only (the Launch message's bare-pointer parameter list).
void sinkConstantArguments(ModuleOp module) {
  module.walk([&](gpu::LaunchFuncOp launch) {
    auto kernel = SymbolTable::lookupNearestSymbolFrom<gpu::GPUFuncOp>(
        launch, launch.getKernel());
    if (!kernel)
      return;
    llvm::BitVector erase(kernel.getNumArguments());
    SmallVector<Value> kept;
    for (auto [i, operand] : llvm::enumerate(launch.getKernelOperands())) {
      auto constant = operand.getDefiningOp<arith::ConstantOp>();
      if (!constant) {
        kept.push_back(operand);
        continue;
      }
      OpBuilder b(kernel.getBody());
      Value sunk = b.clone(*constant)->getResult(0);
      kernel.getArgument(i).replaceAllUsesWith(sunk);
      erase.set(i);
    }
    kernel.eraseArguments(erase);
    launch.getKernelOperandsMutable().assign(kept);
  });
}

int64_t constantIndex(Value v) {
  if (auto c = v.getDefiningOp<arith::ConstantIndexOp>())
    return c.value();
  if (auto c = v.getDefiningOp<arith::ConstantOp>())
    if (auto i = llvm::dyn_cast<IntegerAttr>(c.getValue()))
      return i.getInt();
  return -1;
}

/// KernelBuilder emits one flat parallel loop per kernel: tiles of 256 become
/// blocks of 256 threads along x (gpu-map-parallel-loops maps dim 0 to x).
std::string phase1() {
  // Pipelines are parsed into a module-anchored PassManager: no outer anchor.
  return "func.func(convert-linalg-to-parallel-loops,"
         "scf-parallel-loop-tiling{parallel-loop-tile-sizes=256 no-min-max-bounds=true},gpu-map-parallel-loops,convert-parallel-loops-to-gpu,"
         "lower-affine,canonicalize),gpu-kernel-outlining,convert-scf-to-cf,canonicalize";
}

/// To the LLVM dialect; then declareTensorMapParams, then phase3.
std::string phase2(const std::string &chip, const PtxOptions &options) {
  return absl::StrFormat(
      "nvvm-attach-target{chip=%s features=%s},"
      "gpu.module(convert-nvgpu-to-nvvm,convert-vector-to-llvm,"
      "convert-gpu-to-nvvm{use-bare-ptr-memref-call-conv=1},convert-nvvm-to-llvm),"
      "reconcile-unrealized-casts",
      chip, options.features);
}

std::string phase3() { return "gpu-module-to-binary{format=isa}"; }

/// Appends each kernel's tensor-map parameters to its LLVM function: 128 bytes
/// by value, 64-byte aligned, which NVPTX declares as `.param .align 64 .b8
/// <kernel>_param_<i>[128]`. The kernel body reaches them by that name (see
/// hopper::kernelParamAddress), so LLVM never copies them to local memory.
void declareTensorMapParams(ModuleOp module, const std::vector<KernelTensorMap> &maps) {
  MLIRContext *ctx = module.getContext();
  auto ptr = LLVM::LLVMPointerType::get(ctx);
  Builder b(ctx);
  NamedAttrList attrs;
  attrs.append(LLVM::LLVMDialect::getByValAttrName(),
               TypeAttr::get(LLVM::LLVMArrayType::get(IntegerType::get(ctx, 8), 128)));
  attrs.append(LLVM::LLVMDialect::getAlignAttrName(), b.getI64IntegerAttr(64));
  DictionaryAttr dict = attrs.getDictionary(ctx);
  module.walk([&](LLVM::LLVMFuncOp func) {
    for (const KernelTensorMap &m : maps) {
      if (m.kernel != func.getName())
        continue;
      // (LLVMFunctionType::clone cannot rebuild a void function's type.)
      LLVM::LLVMFunctionType type = func.getFunctionType();
      SmallVector<Type> params(type.getParams());
      SmallVector<DictionaryAttr> argAttrs;
      for (unsigned i = 0; i < params.size(); ++i) {
        DictionaryAttr d = func.getArgAttrDict(i);
        argAttrs.push_back(d ? d : DictionaryAttr::get(ctx));
      }
      params.push_back(ptr);
      argAttrs.push_back(dict);
      func.setFunctionTypeAttr(TypeAttr::get(
          LLVM::LLVMFunctionType::get(type.getReturnType(), params, type.isVarArg())));
      func.getBody().front().addArgument(ptr, func.getLoc());
      func.setAllArgAttrs(argAttrs);
    }
  });
}

bool isHopper(const std::string &chip) { return chip == "sm_90" || chip == "sm_90a"; }

/// The cuBLAS GEMM of a matmul, when cuBLAS can run it: f32/f64/f16/bf16, and
/// each operand's batch dims either absent (broadcast) or the result's.
std::optional<proto::Gemm> cublasGemm(ir::MatmulOp matmul) {
  Type element =
      llvm::cast<RankedTensorType>(matmul.getResult().getType()).getElementType();
  std::optional<MatmulShape> s = matmulShape(matmul);
  if (!s || (!element.isF32() && !element.isF64() && !element.isF16() && !element.isBF16()))
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

class PtxLowering {
public:
  PtxLowering(proto::Executable &exe, const PtxOptions &options)
      : exe(exe), options(options) {}

  absl::Status lowerEntry(func::FuncOp func, proto::EntryPoint &entry) {
    std::vector<proto::Step> steps(entry.steps().begin(), entry.steps().end());
    entry.clear_steps();
    // Which buffer holds each value: arguments, then every op's operands and
    // results as the host lowering assigned them.
    valueBuffer.clear();
    for (BlockArgument arg : func.getArguments())
      valueBuffer[arg] = entry.arguments(arg.getArgNumber()).buffer();
    int index = 0;
    for (Operation &op : func.getBody().front().without_terminator()) {
      const proto::Step &step = steps[index++];
      for (auto [k, v] : llvm::enumerate(op.getOperands()))
        valueBuffer[v] = step.inputs(k);
      for (auto [k, v] : llvm::enumerate(op.getResults()))
        valueBuffer[v] = step.outputs(k);
    }
    fused = planFusion(func);
    // Buffers a fused op would have released are released by its region's kernel.
    std::vector<int> pendingRelease;
    index = 0;
    for (Operation &op : func.getBody().front().without_terminator()) {
      proto::Step step = steps[index++];
      if (fused.contains(&op)) {
        pendingRelease.insert(pendingRelease.end(), step.release().begin(), step.release().end());
        continue;
      }
      for (int id : pendingRelease)
        step.add_release(id);
      pendingRelease.clear();
      if (auto s = lowerStep(&op, step, entry); !s.ok())
        return absl::Status(s.code(), absl::StrCat(step.location(),
                                                   step.location().empty() ? "" : ": ",
                                                   s.message()));
    }
    planBuffers(entry);
    return absl::OkStatus();
  }

private:
  absl::Status lowerStep(Operation *op, proto::Step step, proto::EntryPoint &entry) {
    if (llvm::isa<ir::ReshapeOp>(op)) {
      step.set_op("alias");
      step.clear_attrs();
      *entry.add_steps() = step;
      return absl::OkStatus();
    }
    if (llvm::isa<ir::ConstantOp>(op)) {
      *entry.add_steps() = step;
      return absl::OkStatus();
    }
    if (auto matmul = llvm::dyn_cast<ir::MatmulOp>(op); matmul && options.cublasMatmul)
      if (std::optional<proto::Gemm> gemm = cublasGemm(matmul)) {
        step.set_op("gemm");
        step.clear_attrs();
        *step.mutable_gemm() = *gemm;
        *entry.add_steps() = step;
        return absl::OkStatus();
      }
    MLIRContext *ctx = op->getContext();
    OwningOpRef<ModuleOp> module = ModuleOp::create(op->getLoc());
    (*module)->setAttr("gpu.container_module", UnitAttr::get(ctx));
    std::string name = absl::StrCat("k", kernelCounter++, "_", step.op());
    // Tensor-core matmuls and the ops that are not loop nests are built as
    // gpu kernels directly; everything else as a linalg function the stock
    // path maps onto the GPU.
    SmallVector<Value> inputs;
    std::string chip = options.chip;
    std::vector<KernelTensorMap> tensorMaps;
    if ((isTensorCoreMatmul(op) || isTensorCoreContract(op)) && options.wgmmaMatmul &&
        isHopper(options.chip)) {
      // wgmma and setmaxnreg exist only on the arch-specific target.
      chip = "sm_90a";
      if (auto s = buildWgmmaMatmul(op, *module, name, tensorMaps); !s.ok())
        return s;
      inputs.assign(op->getOperands().begin(), op->getOperands().end());
    } else if (isTensorCoreMatmul(op)) {
      if (auto s = buildMmaMatmul(op, *module, name); !s.ok())
        return s;
      inputs.assign(op->getOperands().begin(), op->getOperands().end());
    } else if (isDirectKernel(op)) {
      if (auto s = buildDirectKernel(op, *module, name); !s.ok())
        return s;
      inputs.assign(op->getOperands().begin(), op->getOperands().end());
    } else if (auto s = buildKernelFunction(op, fused, *module, name, inputs); !s.ok()) {
      return s;
    }
    dump(name + ".0-linalg.mlir", *module);
    if (auto s = runPipeline(*module, phase1(), "gpu mapping"); !s.ok())
      return s;
    sinkConstantArguments(*module);
    dump(name + ".1-gpu.mlir", *module);
    if (auto s = runPipeline(*module, phase2(chip, options), "NVVM"); !s.ok())
      return s;
    declareTensorMapParams(*module, tensorMaps);
    if (auto s = runPipeline(*module, phase3(), "PTX"); !s.ok())
      return s;
    dump(name + ".2-binary.mlir", *module);

    // Record each gpu.binary as a PTX module, then each launch as a step.
    std::map<std::string, int> moduleIndex;
    for (auto binary : module->getOps<gpu::BinaryOp>()) {
      auto object = llvm::cast<gpu::ObjectAttr>(binary.getObjectsAttr()[0]);
      std::string ptx = object.getObject().str();
      while (!ptx.empty() && ptx.back() == '\0')
        ptx.pop_back();
      moduleIndex[binary.getSymName().str()] = internModule(ptx, chip);
      if (!options.dumpDir.empty())
        std::ofstream(options.dumpDir + "/" + binary.getSymName().str() + ".ptx") << ptx;
    }
    auto func = module->lookupSymbol<func::FuncOp>(name);
    std::vector<int> buffers;
    for (Value v : inputs)
      buffers.push_back(valueBuffer.at(v));
    int numInputs = buffers.size();
    buffers.insert(buffers.end(), step.outputs().begin(), step.outputs().end());
    std::vector<proto::Step> launches;
    absl::Status status;
    func.walk([&](gpu::LaunchFuncOp launch) {
      proto::Step out;
      out.set_op("launch");
      out.set_location(step.location());
      proto::Launch *l = out.mutable_launch();
      l->set_module(moduleIndex.at(launch.getKernelModuleName().str()));
      l->set_kernel(launch.getKernelName().str());
      for (Value v : {launch.getGridSizeX(), launch.getGridSizeY(), launch.getGridSizeZ()})
        l->add_grid(constantIndex(v));
      for (Value v : {launch.getBlockSizeX(), launch.getBlockSizeY(), launch.getBlockSizeZ()})
        l->add_block(constantIndex(v));
      if (Value shared = launch.getDynamicSharedMemorySize())
        l->set_shared_bytes(constantIndex(shared));
      std::set<int> written;
      for (Value operand : launch.getKernelOperands()) {
        auto arg = llvm::dyn_cast<BlockArgument>(operand);
        if (!arg || arg.getOwner()->getParentOp() != func) {
          status = absl::InternalError("a kernel argument is not one of the op's buffers");
          return;
        }
        int buffer = buffers[arg.getArgNumber()];
        l->add_buffers(buffer);
        if (arg.getArgNumber() >= static_cast<unsigned>(numInputs))
          out.add_outputs(buffer);
        else
          out.add_inputs(buffer);
      }
      for (const KernelTensorMap &m : tensorMaps)
        if (m.kernel == l->kernel()) {
          proto::TensorMap *map = l->add_tensor_maps();
          *map = m.map;
          map->set_buffer(buffers[m.argument]);
        }
      for (int64_t d : l->grid())
        if (d < 1)
          status = absl::InternalError("a launch has a non-constant grid");
      launches.push_back(out);
    });
    if (!status.ok())
      return status;
    if (launches.empty())
      return absl::InternalError("the op lowered to no kernel launch");
    // The op's buffers are released after its last launch.
    for (int id : step.release())
      launches.back().add_release(id);
    for (proto::Step &l : launches)
      *entry.add_steps() = l;
    return absl::OkStatus();
  }

  int internModule(const std::string &ptx, const std::string &arch) {
    auto it = modulesByText.find(ptx);
    if (it != modulesByText.end())
      return it->second;
    proto::PtxModule *m = exe.add_modules();
    m->set_name(absl::StrCat("m", exe.modules_size() - 1));
    m->set_ptx(ptx);
    m->set_arch(arch);
    return modulesByText[ptx] = exe.modules_size() - 1;
  }

  void dump(const std::string &file, ModuleOp module) {
    if (options.dumpDir.empty())
      return;
    std::error_code ec;
    llvm::raw_fd_ostream os(options.dumpDir + "/" + file, ec);
    if (!ec)
      module.print(os);
  }

  proto::Executable &exe;
  const PtxOptions &options;
  int kernelCounter = 0;
  std::map<std::string, int> modulesByText;
  llvm::DenseMap<Value, int> valueBuffer;  // of the entry being lowered
  llvm::DenseSet<Operation *> fused;       // ops recomputed inside their consumer
};

int64_t byteSize(const proto::TensorType &type) {
  int64_t n = 1;
  for (int64_t d : type.shape())
    n *= d;
  switch (type.dtype()) {
  case proto::F64:
  case proto::I64:
    return n * 8;
  case proto::F32:
  case proto::I32:
    return n * 4;
  case proto::F16:
  case proto::BF16:
    return n * 2;
  default:
    return n;
  }
}

} // namespace

void planBuffers(proto::EntryPoint &entry) {
  int n = entry.buffers_size();
  std::vector<int> first(n, INT_MAX), last(n, -1), root(n);
  for (int i = 0; i < n; ++i)
    root[i] = i;
  std::vector<bool> isArgument(n, false);
  for (const auto &arg : entry.arguments())
    isArgument[arg.buffer()] = true;
  for (int s = 0; s < entry.steps_size(); ++s) {
    const proto::Step &step = entry.steps(s);
    if (step.op() == "alias" && step.inputs_size() == 1 && step.outputs_size() == 1)
      root[step.outputs(0)] = root[step.inputs(0)];
    for (int id : step.inputs())
      last[root[id]] = std::max(last[root[id]], s);
    for (int id : step.outputs()) {
      first[root[id]] = std::min(first[root[id]], s);
      last[root[id]] = std::max(last[root[id]], s);
    }
  }
  // Results stay alive to the end of the entry.
  for (const auto &result : entry.results())
    last[root[result.buffer()]] = entry.steps_size();

  struct Block {
    int64_t offset, size;
    int lastUse;
  };
  std::vector<Block> placed;
  std::vector<int64_t> offsets(n, -1);
  int64_t arena = 0;
  std::vector<int> order;
  for (int i = 0; i < n; ++i)
    if (root[i] == i && !isArgument[i] && first[i] != INT_MAX)
      order.push_back(i);
  std::sort(order.begin(), order.end(), [&](int a, int b) { return first[a] < first[b]; });
  for (int id : order) {
    int64_t size = (std::max<int64_t>(byteSize(entry.buffers(id)), 1) + 255) / 256 * 256;
    // First fit among gaps left by blocks that are dead before this one starts.
    std::vector<std::pair<int64_t, int64_t>> busy;
    for (const Block &b : placed)
      if (b.lastUse >= first[id])
        busy.push_back({b.offset, b.offset + b.size});
    std::sort(busy.begin(), busy.end());
    int64_t offset = 0;
    for (auto [lo, hi] : busy) {
      if (offset + size <= lo)
        break;
      offset = std::max(offset, hi);
    }
    placed.push_back({offset, size, last[id]});
    offsets[id] = offset;
    arena = std::max(arena, offset + size);
  }
  entry.clear_buffer_offsets();
  for (int i = 0; i < n; ++i)
    entry.add_buffer_offsets(isArgument[root[i]] ? -1 : offsets[root[i]]);
  entry.set_arena_bytes(arena);
}

absl::StatusOr<proto::Executable> lowerToPtx(ModuleOp module, const PtxOptions &options) {
  registerEverythingOnce(*module.getContext());
  auto exe = lowerToHost(module);
  if (!exe.ok())
    return exe.status();
  exe->set_target("ptx");
  PtxLowering lowering(*exe, options);
  int entryIndex = 0;
  for (auto func : module.getOps<func::FuncOp>()) {
    if (func.isPrivate() || func.isExternal())
      continue;
    if (auto s = lowering.lowerEntry(func, *exe->mutable_entries(entryIndex++)); !s.ok())
      return s;
  }
  return exe;
}

} // namespace kiln::codegen::ptx
