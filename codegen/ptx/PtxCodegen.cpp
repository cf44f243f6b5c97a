//===- PtxCodegen.cpp - kiln IR to a ptx-target Executable -----------------===//
//
// Lowers what the ptx graph pipeline decided: every kiln.dispatch region is
// built by the provider its `kernel` attribute names (KernelTable.h), run
// through the stock MLIR GPU pipelines (PtxPipeline.h) and recorded as one
// launch step per kernel. The host lowering already decides buffers,
// arguments, results, donation and the release schedule; this file keeps
// them, turns reshapes into aliases, keeps constants (uploaded at load time),
// and plans the device arena.
//
//===----------------------------------------------------------------------===//

#include "codegen/ptx/PtxCodegen.h"

#include <fstream>

#include "codegen/HostCodegen.h"
#include "codegen/ptx/KernelTable.h"
#include "codegen/ptx/PtxPipeline.h"
#include "executor/DType.h"
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

absl::Status runPipeline(ModuleOp module,
                         llvm::function_ref<void(OpPassManager &)> build,
                         const std::string &stage) {
  DiagnosticCollector diagnostics(*module.getContext());
  PassManager pm(module.getContext());
  build(pm);
  if (failed(pm.run(module)))
    return absl::InternalError(
        diagnostics.message("kernel lowering failed at " + stage));
  return absl::OkStatus();
}

int64_t constantIndex(Value v) {
  if (auto c = v.getDefiningOp<arith::ConstantIndexOp>())
    return c.value();
  if (auto c = v.getDefiningOp<arith::ConstantOp>())
    if (auto i = llvm::dyn_cast<IntegerAttr>(c.getValue()))
      return i.getInt();
  return -1;
}

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

class PtxLowering {
public:
  PtxLowering(proto::Executable &exe, const PtxOptions &options)
      : exe(exe), options(options) {}

  absl::Status lowerEntry(func::FuncOp func, proto::EntryPoint &entry) {
    std::vector<proto::Step> steps(entry.steps().begin(), entry.steps().end());
    entry.clear_steps();
    // Which buffer holds each value: arguments, then every op's operands and
    // results as the host lowering assigned them (one step per op, regions
    // looked through).
    valueBuffer.clear();
    for (BlockArgument arg : func.getArguments())
      valueBuffer[arg] = entry.arguments(arg.getArgNumber()).buffer();
    llvm::DenseMap<Operation *, const proto::Step *> stepOf;
    int index = 0;
    forEachStepOp(func, [&](Operation &op) {
      const proto::Step &step = steps[index++];
      stepOf[&op] = &step;
      for (auto [k, v] : llvm::enumerate(op.getOperands()))
        valueBuffer[v] = step.inputs(k);
      for (auto [k, v] : llvm::enumerate(op.getResults()))
        valueBuffer[v] = step.outputs(k);
    });
    for (Operation &op : func.getBody().front().without_terminator()) {
      auto dispatch = llvm::dyn_cast<ir::DispatchOp>(op);
      proto::Step step = *stepOf.lookup(dispatch ? dispatch.getRoot() : &op);
      if (dispatch) {
        // One kernel computes the whole region: it releases what every op
        // of the region would have.
        step.clear_release();
        for (Operation &inner : dispatch.getBody().front().without_terminator())
          for (int id : stepOf.lookup(&inner)->release())
            step.add_release(id);
      }
      absl::Status s = dispatch ? lowerDispatch(dispatch, step, entry)
                                : lowerHostHandled(&op, step, entry);
      if (!s.ok())
        return absl::Status(s.code(),
                            absl::StrCat(step.location(),
                                         step.location().empty() ? "" : ": ",
                                         s.message()));
    }
    planBuffers(entry);
    return absl::OkStatus();
  }

private:
  /// The ops outside regions: reshapes alias their operand's buffer and
  /// constants are uploaded when the Executable loads.
  absl::Status lowerHostHandled(Operation *op, proto::Step step,
                                proto::EntryPoint &entry) {
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
    // Steps of the executor's communicator (NCCL), named as the op, with
    // its attributes: kiln-expand-collectives left only these.
    if (llvm::isa<ir::AllGatherOp, ir::AllToAllOp, ir::SendOp, ir::RecvOp>(
            op)) {
      *entry.add_steps() = step;
      return absl::OkStatus();
    }
    return absl::InternalError(
        absl::StrCat("'", op->getName().getStringRef().str(),
                     "' is outside every kiln.dispatch region: the ptx "
                     "pipeline runs kiln-form-fusions before lowering"));
  }

  absl::Status lowerDispatch(ir::DispatchOp dispatch, proto::Step step,
                             proto::EntryPoint &entry) {
    std::optional<StringRef> kernel = dispatch.getKernel();
    const KernelProvider *provider =
        kernel ? findKernelProvider(*kernel) : nullptr;
    if (!provider)
      return absl::InternalError(
          kernel ? absl::StrCat("unknown kernel provider '", kernel->str(), "'")
                 : std::string("a kiln.dispatch has no kernel: the ptx "
                               "pipeline runs kiln-select-kernels first"));
    MLIRContext *ctx = dispatch->getContext();
    OwningOpRef<ModuleOp> module = ModuleOp::create(dispatch->getLoc());
    (*module)->setAttr("gpu.container_module", UnitAttr::get(ctx));
    KernelBuild build;
    build.root = dispatch.getRoot();
    for (Operation &inner : dispatch.getBody().front().without_terminator())
      if (&inner != build.root)
        build.fused.insert(&inner);
    build.module = *module;
    // Kernels are numbered in program order (library calls take no number).
    build.name = absl::StrCat("k", kernelCounter, "_", step.op());
    if (auto s = provider->build(build); !s.ok())
      return s;
    if (build.gemm) {
      step.set_op("gemm");
      step.clear_attrs();
      *step.mutable_gemm() = *build.gemm;
      *entry.add_steps() = step;
      return absl::OkStatus();
    }
    ++kernelCounter;
    const std::string &name = build.name;
    const std::vector<KernelTensorMap> &tensorMaps = build.tensorMaps;
    std::string chip = provider->arch ? provider->arch : options.chip;
    dump(name + ".0-linalg.mlir", *module);
    if (auto s = runPipeline(*module, buildKernelMappingPipeline, "gpu mapping");
        !s.ok())
      return s;
    dump(name + ".1-gpu.mlir", *module);
    if (auto s = runPipeline(
            *module,
            [&](OpPassManager &pm) {
              buildNvvmLoweringPipeline(pm, chip, options.features);
            },
            "NVVM");
        !s.ok())
      return s;
    declareTensorMapParams(*module, tensorMaps);
    if (auto s = runPipeline(*module, buildPtxEmissionPipeline, "PTX"); !s.ok())
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
    for (Value v : build.inputs)
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
      if (launch.hasClusterSize())
        for (Value v : {launch.getClusterSizeX(), launch.getClusterSizeY(),
                        launch.getClusterSizeZ()})
          l->add_cluster(constantIndex(v));
      if (Value shared = launch.getDynamicSharedMemorySize())
        l->set_shared_bytes(constantIndex(shared));
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
  llvm::DenseMap<Value, int> valueBuffer; // of the entry being lowered
};

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
    int64_t size = (std::max<int64_t>(bufferBytes(entry.buffers(id)), 1) + 255) / 256 * 256;
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
