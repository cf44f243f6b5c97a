//===- PtxDevice.cpp - one GPU as an executor device ----------------------===//
//
// Per-entry arenas and staging buffers, the step loop (launch/alias/copy/
// constant/gemm), CUDA graph capture and replay, and errors that name the
// entry, step, kernel and location.
//
//===----------------------------------------------------------------------===//

#include "executor/cuda/PtxDevice.h"

#include <cstring>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "executor/ExecutableValidation.h"
#include "executor/comm/AllToAllPlan.h"
#include "executor/comm/SingleRank.h"
#include "executor/StatusMacros.h"
#include "executor/cuda/CublasApi.h"
#include "executor/cuda/CudaGraph.h"
#include "executor/cuda/CudaModule.h"
#include "executor/cuda/PtxValidation.h"
#include "executor/cuda/TensorMap.h"

namespace kiln::cuda {

namespace {

/// A state entry's value: a device buffer whose address stays fixed, so that
/// captured graphs stay valid.
struct PtxState final : DeviceState {
  DeviceBuffer buffer;
};

CUdeviceptr statePtr(const DeviceState &s) {
  return static_cast<const PtxState &>(s).buffer.ptr();
}

bool isCollectiveStep(const proto::Step &s) {
  return s.op() == "all_gather" || s.op() == "all_to_all" ||
         s.op() == "send" || s.op() == "recv";
}

/// A world of one GPU: every exchange is a device-to-device copy on the
/// executor's stream (the host's single process copies host memory).
class SingleGpu final : public SingleRankCommunicator {
public:
  SingleGpu(const CudaApi &api, CUstream stream) : api(api), stream(stream) {}
  std::string describe() const override { return "single process (GPU)"; }

protected:
  absl::Status copy(void *to, const void *from, int64_t bytes,
                    const CollectiveSite &site) override {
    return api.check(
        api.cuMemcpyDtoDAsync(reinterpret_cast<CUdeviceptr>(to),
                              reinterpret_cast<CUdeviceptr>(from), bytes,
                              stream),
        site.describe());
  }

private:
  const CudaApi &api;
  CUstream stream;
};

} // namespace

/// What one entry point needs on the device, made on its first run and kept.
struct PtxDevice::EntryRuntime {
  const proto::EntryPoint *ep = nullptr;
  bool prepared = false;
  std::vector<CUfunction> kernels; // per step; null unless "launch"
  absl::flat_hash_map<int, DeviceBuffer>
      constants; // buffer id -> uploaded value
  DeviceBuffer arena;
  std::vector<const proto::Argument *> fed; // caller-fed arguments, in order
  std::vector<DeviceBuffer> inputs;         // parallel to fed
  PinnedBuffer inputStaging, outputStaging;
  std::vector<int64_t> inputOffsets, outputOffsets;
  /// The last launch's EntryCall::wanted: results left on the device.
  std::vector<bool> wanted;
  std::vector<CUdeviceptr> ptr; // per buffer, for the current run
  std::unique_ptr<CudaGraph> graph;
  std::vector<CUdeviceptr>
      graphBindings; // argument pointers the graph recorded
  /// Has a step of the communicator: never captured into a graph
  /// (all_to_all reads its counts on the host).
  bool collectives = false;
};

/// The cuBLAS handle of the gemm provider, bound to the executor's stream, with
/// a workspace of its own so that capture into a CUDA graph never allocates.
struct PtxDevice::CublasProvider {
  const CublasApi *api = nullptr;
  cublasHandle_t handle = nullptr;
  DeviceBuffer workspace;
  ~CublasProvider() {
    if (handle)
      api->cublasDestroy(handle);
  }
};

/// A launched entry: its results are on their way to the output staging.
class PtxDevice::Run final : public EntryRun {
public:
  Run(PtxDevice &device, EntryRuntime &rt, std::vector<std::string> launched,
      int64_t argBytes)
      : device_(device), rt_(rt), launched_(std::move(launched)),
        argBytes_(argBytes) {}

  /// Donation: where the kernel wrote the state's own bytes there is nothing to
  /// do; otherwise the result moves into the resident buffer device-to-device.
  absl::Status writeBack(int result,
                         std::unique_ptr<DeviceState> &slot) override {
    const proto::EntryPoint &ep = *rt_.ep;
    const proto::Result &r = ep.results(result);
    const CudaApi &api = device_.device_->api();
    CUdeviceptr dst = statePtr(*slot);
    int64_t bytes = bufferBytes(ep.buffers(r.buffer()));
    if (bytes > 0 && dst != rt_.ptr[r.buffer()])
      return device_.afterLaunches(
          rt_, launched_,
          api.check(api.cuMemcpyDtoDAsync(dst, rt_.ptr[r.buffer()], bytes,
                                          device_.stream_.get()),
                    absl::StrCat("entry '", ep.name(), "' writing result '",
                                 r.name(), "' to state")));
    return absl::OkStatus();
  }

  absl::Status synchronize() override {
    KILN_RETURN_IF_ERROR(device_.syncOrExplain(rt_, launched_));
    device_.lastPeakBytes_ = rt_.ep->arena_bytes() + argBytes_;
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<HostTensor>> takeResults() override {
    std::vector<HostTensor> results;
    size_t out = 0;
    for (int k = 0; k < rt_.ep->results_size(); ++k) {
      const proto::Result &r = rt_.ep->results(k);
      if (!r.state().empty())
        continue;
      if (!rt_.wanted.empty() && !rt_.wanted[k]) {
        ++out;
        results.emplace_back(); // not copied off the device
        continue;
      }
      const proto::TensorType &t = rt_.ep->buffers(r.buffer());
      HostTensor h(t.dtype(),
                   std::vector<int64_t>(t.shape().begin(), t.shape().end()));
      if (h.byteSize() > 0)
        std::memcpy(h.data(), rt_.outputStaging.data() + rt_.outputOffsets[out],
                    h.byteSize());
      ++out;
      results.push_back(std::move(h));
    }
    return results;
  }

private:
  PtxDevice &device_;
  EntryRuntime &rt_;
  std::vector<std::string> launched_;
  int64_t argBytes_;
};

PtxDevice::~PtxDevice() {
  // Everything made in the device's context goes before the device itself.
  cublas_.reset();
  entries_.clear();
  modules_.clear();
  stream_.reset();
}

absl::StatusOr<std::unique_ptr<PtxDevice>>
PtxDevice::open(const proto::Executable &exe, const CudaExecutorOptions &opts) {
  std::unique_ptr<PtxDevice> dev(new PtxDevice());
  dev->opts_ = opts;
  KILN_ASSIGN_OR_RETURN(dev->device_, CudaDevice::open(opts.deviceOrdinal));
  KILN_ASSIGN_OR_RETURN(dev->stream_, dev->device_->createStream());
  if (opts.communicator) {
    dev->comm_ = opts.communicator;
    dev->comm_->setStream(dev->stream_.get());
  } else {
    dev->comm_ = std::make_shared<SingleGpu>(dev->device_->api(),
                                             dev->stream_.get());
  }
  for (const proto::PtxModule &m : exe.modules()) {
    KILN_ASSIGN_OR_RETURN(std::unique_ptr<CudaModule> loaded,
                          CudaModule::load(dev->device_, m));
    dev->modules_.push_back(std::move(loaded));
  }
  for (const proto::EntryPoint &ep : exe.entries())
    for (const proto::Step &s : ep.steps())
      if (s.op() == "gemm" && !dev->cublas_) {
        auto api = loadCublas();
        if (!api.ok())
          return absl::Status(
              api.status().code(),
              absl::StrCat("entry '", ep.name(), "' routes '", s.location(),
                           "' to cuBLAS: ", api.status().message()));
        auto provider = std::make_unique<CublasProvider>();
        provider->api = *api;
        KILN_RETURN_IF_ERROR(dev->device_->makeCurrent());
        KILN_RETURN_IF_ERROR(
            provider->api->check(provider->api->cublasCreate(&provider->handle),
                                 "creating a cuBLAS handle"));
        KILN_RETURN_IF_ERROR(
            provider->api->check(provider->api->cublasSetStream(
                                     provider->handle, dev->stream_.get()),
                                 "binding cuBLAS to the executor's stream"));
        constexpr int64_t kWorkspaceBytes = 32 << 20;
        KILN_ASSIGN_OR_RETURN(
            provider->workspace,
            dev->device_->allocate(kWorkspaceBytes, "the cuBLAS workspace"));
        KILN_RETURN_IF_ERROR(provider->api->check(
            provider->api->cublasSetWorkspace(
                provider->handle,
                reinterpret_cast<void *>(provider->workspace.ptr()),
                kWorkspaceBytes),
            "giving cuBLAS its workspace"));
        dev->cublas_ = std::move(provider);
      }
  dev->entries_.resize(exe.entries_size());
  for (int e = 0; e < exe.entries_size(); ++e) {
    EntryRuntime &rt = dev->entries_[e];
    const proto::EntryPoint &ep = exe.entries(e);
    rt.ep = &ep;
    rt.kernels.assign(ep.steps_size(), nullptr);
    for (int i = 0; i < ep.steps_size(); ++i) {
      const proto::Step &s = ep.steps(i);
      if (isCollectiveStep(s)) {
        rt.collectives = true;
        if (!dev->flags_.ptr()) {
          KILN_ASSIGN_OR_RETURN(
              dev->flags_,
              dev->device_->allocate(2 * dev->comm_->size(),
                                     "the all_to_all agreement flags"));
        }
      } else if (s.op() == "launch") {
        auto fn =
            dev->modules_[s.launch().module()]->function(s.launch().kernel());
        if (!fn.ok())
          return absl::InvalidArgumentError(absl::StrCat(
              describePtxStep(ep, i), ": ", fn.status().message()));
        rt.kernels[i] = *fn;
        // Past 48 KiB a kernel must opt in to its dynamic shared memory.
        if (int64_t bytes = s.launch().shared_bytes(); bytes > 48 * 1024)
          KILN_RETURN_IF_ERROR(dev->device_->api().check(
              dev->device_->api().cuFuncSetAttribute(
                  *fn, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                  static_cast<int>(bytes)),
              absl::StrCat(describePtxStep(ep, i), ": allowing ", bytes,
                           " bytes of shared memory")));
      } else if (s.op() == "constant") {
        // Constants get their own buffers, not arena bytes: the arena is reused
        // within a run, and a constant is uploaded once, at load.
        KILN_ASSIGN_OR_RETURN(
            HostTensor value,
            HostTensor::fromLiteral(s.attrs().at("value").tensor()));
        KILN_ASSIGN_OR_RETURN(
            DeviceBuffer buf,
            dev->device_->allocate(
                value.byteSize(),
                absl::StrCat(describePtxStep(ep, i), " constant")));
        if (value.byteSize() > 0) {
          const CudaApi &api = dev->device_->api();
          KILN_RETURN_IF_ERROR(api.check(
              api.cuMemcpyHtoDAsync(buf.ptr(), value.data(), value.byteSize(),
                                    dev->stream_.get()),
              absl::StrCat(describePtxStep(ep, i),
                           ": uploading the constant")));
          KILN_RETURN_IF_ERROR(
              api.check(api.cuStreamSynchronize(dev->stream_.get()),
                        absl::StrCat(describePtxStep(ep, i),
                                     ": uploading the constant")));
        }
        rt.constants[s.outputs(0)] = std::move(buf);
      }
    }
  }
  return dev;
}

absl::Status PtxDevice::ready() {
  KILN_RETURN_IF_ERROR(poisoned_);
  return device_->makeCurrent();
}

absl::StatusOr<std::unique_ptr<DeviceState>>
PtxDevice::allocate(const proto::TensorType &type, absl::string_view what) {
  KILN_RETURN_IF_ERROR(ready());
  auto state = std::make_unique<PtxState>();
  KILN_ASSIGN_OR_RETURN(state->buffer,
                        device_->allocate(bufferBytes(type), what));
  return state;
}

absl::Status PtxDevice::copyIn(DeviceState &state, HostTensor value,
                               absl::string_view what) {
  KILN_RETURN_IF_ERROR(ready());
  if (value.byteSize() == 0)
    return absl::OkStatus();
  const CudaApi &api = device_->api();
  KILN_RETURN_IF_ERROR(
      api.check(api.cuMemcpyHtoDAsync(statePtr(state), value.data(),
                                      value.byteSize(), stream_.get()),
                what));
  return api.check(api.cuStreamSynchronize(stream_.get()), what);
}

absl::StatusOr<HostTensor> PtxDevice::copyOut(const DeviceState &state,
                                              const proto::TensorType &type,
                                              absl::string_view what) {
  KILN_RETURN_IF_ERROR(poisoned_);
  HostTensor out(type.dtype(), std::vector<int64_t>(type.shape().begin(),
                                                    type.shape().end()));
  if (out.byteSize() == 0)
    return out;
  const CudaApi &api = device_->api();
  KILN_RETURN_IF_ERROR(device_->makeCurrent());
  KILN_RETURN_IF_ERROR(
      api.check(api.cuMemcpyDtoHAsync(out.data(), statePtr(state),
                                      out.byteSize(), stream_.get()),
                what));
  KILN_RETURN_IF_ERROR(api.check(api.cuStreamSynchronize(stream_.get()), what));
  return out;
}

absl::Status PtxDevice::prepare(EntryRuntime &rt, const EntryCall &call) {
  if (rt.prepared)
    return absl::OkStatus();
  const proto::EntryPoint &ep = *rt.ep;
  const CudaDevice &dev = *device_;
  std::string entryName = absl::StrCat("entry '", ep.name(), "'");
  KILN_ASSIGN_OR_RETURN(
      rt.arena,
      dev.allocate(ep.arena_bytes(), absl::StrCat(entryName, " arena")));
  rt.fed.clear();
  rt.inputs.clear();
  rt.inputOffsets.clear();
  int64_t inBytes = 0;
  for (const proto::Argument &a : ep.arguments()) {
    if (!a.state().empty())
      continue;
    int64_t bytes = bufferBytes(ep.buffers(a.buffer()));
    rt.fed.push_back(&a);
    KILN_ASSIGN_OR_RETURN(
        DeviceBuffer buf,
        dev.allocate(bytes,
                     absl::StrCat(entryName, " input '", a.name(), "'")));
    rt.inputs.push_back(std::move(buf));
    rt.inputOffsets.push_back(inBytes);
    inBytes += (bytes + 255) / 256 * 256;
  }
  int64_t outBytes = 0;
  rt.outputOffsets.clear();
  for (const proto::Result &r : ep.results()) {
    if (!r.state().empty())
      continue;
    rt.outputOffsets.push_back(outBytes);
    outBytes += (bufferBytes(ep.buffers(r.buffer())) + 255) / 256 * 256;
  }
  KILN_ASSIGN_OR_RETURN(
      rt.inputStaging,
      dev.allocatePinned(inBytes, absl::StrCat(entryName, " input staging")));
  KILN_ASSIGN_OR_RETURN(
      rt.outputStaging,
      dev.allocatePinned(outBytes, absl::StrCat(entryName, " output staging")));
  // State written by a result but never read gets its resident buffer now,
  // before any graph records its address.
  for (int k = 0; k < ep.results_size(); ++k) {
    const proto::Result &r = ep.results(k);
    std::unique_ptr<DeviceState> *slot = call.resultState[k];
    if (!slot || *slot)
      continue;
    auto state = std::make_unique<PtxState>();
    KILN_ASSIGN_OR_RETURN(state->buffer,
                          dev.allocate(bufferBytes(ep.buffers(r.buffer())),
                                       absl::StrCat(entryName, " state entry '",
                                                    r.state(), "'")));
    *slot = std::move(state);
  }
  rt.prepared = true;
  return absl::OkStatus();
}

absl::Status PtxDevice::enqueueCollective(EntryRuntime &rt, int i) {
  const proto::EntryPoint &ep = *rt.ep;
  const proto::Step &s = ep.steps(i);
  const CudaApi &api = device_->api();
  CUstream stream = stream_.get();
  CollectiveSite site{s.op(), s.location()};
  auto attr = [&](const char *name) -> int64_t {
    auto it = s.attrs().find(name);
    return it == s.attrs().end() ? -1 : it->second.i();
  };
  int64_t groupSize = attr("group_size");
  if (groupSize != comm_->size())
    return absl::FailedPreconditionError(absl::StrCat(
        describePtxStep(ep, i), ": was compiled for ", groupSize,
        " ranks but runs in a world of ", comm_->size(), " (",
        comm_->describe(), ")"));
  auto pointer = [&](int buffer) {
    return reinterpret_cast<void *>(rt.ptr[buffer]);
  };
  if (s.op() == "all_gather")
    return comm_->allGather(pointer(s.inputs(0)), pointer(s.outputs(0)),
                            bufferBytes(ep.buffers(s.inputs(0))), site);
  if (s.op() == "send")
    return comm_->send(pointer(s.inputs(0)),
                       bufferBytes(ep.buffers(s.inputs(0))),
                       static_cast<int>(attr("peer")), site);
  if (s.op() == "recv")
    return comm_->recv(pointer(s.outputs(0)),
                       bufferBytes(ep.buffers(s.outputs(0))),
                       static_cast<int>(attr("peer")), site);

  // all_to_all: the counts cross to the peers on the device, into the
  // recv_counts result, then both come to the host (the op's one copy).
  int groups = comm_->size();
  const proto::TensorType &xType = ep.buffers(s.inputs(0));
  int64_t rows = xType.shape(0), capacity = attr("capacity");
  int64_t rowBytes = rows > 0 ? bufferBytes(xType) / rows : 0;
  void *sendCounts = pointer(s.inputs(1));
  void *recvCounts = pointer(s.outputs(1));
  std::vector<int64_t> eight(groups, 8), offsets(groups);
  for (int p = 0; p < groups; ++p)
    offsets[p] = 8 * p;
  KILN_RETURN_IF_ERROR(comm_->allToAll(sendCounts, eight, offsets, recvCounts,
                                       eight, offsets, site));
  std::vector<int64_t> sent(groups), received(groups);
  KILN_RETURN_IF_ERROR(api.check(
      api.cuMemcpyDtoHAsync(sent.data(), rt.ptr[s.inputs(1)], 8 * groups,
                            stream),
      site.describe()));
  KILN_RETURN_IF_ERROR(api.check(
      api.cuMemcpyDtoHAsync(received.data(), rt.ptr[s.outputs(1)],
                            8 * groups, stream),
      site.describe()));
  KILN_RETURN_IF_ERROR(
      api.check(api.cuStreamSynchronize(stream), site.describe()));
  auto writeFlag = [&](void *dst, char value) {
    return api.check(api.cuMemsetD8Async(reinterpret_cast<CUdeviceptr>(dst),
                                         static_cast<unsigned char>(value), 1,
                                         stream),
                     "the all_to_all agreement flag");
  };
  auto readFlags = [&](std::vector<char> &out, const void *src) {
    KILN_RETURN_IF_ERROR(api.check(
        api.cuMemcpyDtoHAsync(out.data(), reinterpret_cast<CUdeviceptr>(src),
                              out.size(), stream),
        "the all_to_all agreement flags"));
    return api.check(api.cuStreamSynchronize(stream),
                     "the all_to_all agreement flags");
  };
  void *flags = reinterpret_cast<void *>(flags_.ptr());
  KILN_ASSIGN_OR_RETURN(
      AllToAllPlan plan,
      planAllToAll(*comm_, sent, received, rows, capacity, rowBytes, site,
                   static_cast<char *>(flags) + groups, flags, writeFlag,
                   readFlags));
  KILN_RETURN_IF_ERROR(api.check(
      api.cuMemsetD8Async(rt.ptr[s.outputs(0)], 0,
                          bufferBytes(ep.buffers(s.outputs(0))), stream),
      site.describe()));
  return comm_->allToAll(pointer(s.inputs(0)), plan.sendBytes,
                         plan.sendOffsets, pointer(s.outputs(0)),
                         plan.recvBytes, plan.recvOffsets, site);
}

absl::Status PtxDevice::enqueueSteps(EntryRuntime &rt,
                                     std::vector<std::string> *launched) {
  const proto::EntryPoint &ep = *rt.ep;
  const CudaApi &api = device_->api();
  CUstream stream = stream_.get();
  std::vector<uint64_t> values;
  std::vector<CUtensorMap> maps;
  std::vector<void *> params;
  for (int i = 0; i < ep.steps_size(); ++i) {
    const proto::Step &s = ep.steps(i);
    if (s.op() == "alias") {
      rt.ptr[s.outputs(0)] = rt.ptr[s.inputs(0)];
    } else if (s.op() == "copy") {
      int64_t bytes = bufferBytes(ep.buffers(s.outputs(0)));
      if (bytes > 0 && rt.ptr[s.outputs(0)] != rt.ptr[s.inputs(0)])
        KILN_RETURN_IF_ERROR(
            api.check(api.cuMemcpyDtoDAsync(rt.ptr[s.outputs(0)],
                                            rt.ptr[s.inputs(0)], bytes, stream),
                      describePtxStep(ep, i)));
    } else if (s.op() == "launch") {
      const proto::Launch &l = s.launch();
      values.clear();
      for (int b : l.buffers())
        values.push_back(rt.ptr[b]);
      for (int64_t v : l.scalars())
        values.push_back(static_cast<uint64_t>(v));
      // Tensor maps are encoded here, from this run's addresses; the launch (or
      // the graph node it is captured into) copies their bytes.
      maps.resize(l.tensor_maps_size());
      for (int m = 0; m < l.tensor_maps_size(); ++m)
        KILN_RETURN_IF_ERROR(encodeTensorMap(api, l.tensor_maps(m),
                                             rt.ptr[l.tensor_maps(m).buffer()],
                                             &maps[m], describePtxStep(ep, i)));
      params.clear();
      for (uint64_t &v : values)
        params.push_back(&v);
      for (CUtensorMap &m : maps)
        params.push_back(&m);
      auto dim = [](const google::protobuf::RepeatedField<int64_t> &d, int k) {
        return k < d.size() ? static_cast<unsigned>(d[k]) : 1u;
      };
      CUresult r;
      if (l.cluster().empty()) {
        r = api.cuLaunchKernel(
            rt.kernels[i], dim(l.grid(), 0), dim(l.grid(), 1), dim(l.grid(), 2),
            dim(l.block(), 0), dim(l.block(), 1), dim(l.block(), 2),
            static_cast<unsigned>(l.shared_bytes()), stream,
            params.empty() ? nullptr : params.data(), nullptr);
      } else {
        CUlaunchAttribute cluster{};
        cluster.id = CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION;
        cluster.value.clusterDim = {dim(l.cluster(), 0), dim(l.cluster(), 1),
                                    dim(l.cluster(), 2)};
        CUlaunchConfig config{dim(l.grid(), 0),
                              dim(l.grid(), 1),
                              dim(l.grid(), 2),
                              dim(l.block(), 0),
                              dim(l.block(), 1),
                              dim(l.block(), 2),
                              static_cast<unsigned>(l.shared_bytes()),
                              stream,
                              &cluster,
                              1};
        r = api.cuLaunchKernelEx(&config, rt.kernels[i],
                                 params.empty() ? nullptr : params.data(),
                                 nullptr);
      }
      if (r != CUDA_SUCCESS) {
        // A sticky fault of an earlier kernel of this run also surfaces here.
        if (!launched->empty() && !capturing_)
          KILN_RETURN_IF_ERROR(syncOrExplain(rt, *launched));
        return absl::InternalError(
            absl::StrCat(describePtxStep(ep, i),
                         ": the kernel launch failed: ", api.errorText(r)));
      }
      launched->push_back(describePtxStep(ep, i));
      if (opts_.syncAfterEachLaunch && !opts_.useCudaGraph) {
        KILN_RETURN_IF_ERROR(syncOrExplain(rt, *launched));
        launched->clear();
      }
    } else if (s.op() == "gemm") {
      KILN_RETURN_IF_ERROR(enqueueGemm(ep, i, rt.ptr));
      launched->push_back(describePtxStep(ep, i));
    } else if (isCollectiveStep(s)) {
      KILN_RETURN_IF_ERROR(enqueueCollective(rt, i));
    }
    // "constant": bound at load time, nothing to do per run.
  }
  return absl::OkStatus();
}

/// Row-major out = a @ b is column-major out^T = b^T a^T: cuBLAS gets b as its
/// first operand and a as its second, with the sizes swapped.
absl::Status PtxDevice::enqueueGemm(const proto::EntryPoint &ep, int i,
                                    const std::vector<CUdeviceptr> &ptr) {
  const proto::Step &s = ep.steps(i);
  const proto::Gemm &g = s.gemm();
  const CublasProvider &cublas = *cublas_;
  proto::DType dtype = ep.buffers(s.outputs(0)).dtype();
  int type = cublasDataType(dtype);
  bool f64 = dtype == proto::F64;
  double alpha64 = 1, beta64 = 0;
  float alpha32 = 1, beta32 = 0;
  const void *alpha = f64 ? static_cast<const void *>(&alpha64) : &alpha32;
  const void *beta = f64 ? static_cast<const void *>(&beta64) : &beta32;
  int ldb = g.transpose_b() ? g.k() : g.n();
  int lda = g.transpose_a() ? g.m() : g.k();
  auto asPtr = [](CUdeviceptr p) { return reinterpret_cast<void *>(p); };
  return cublas.api->check(
      cublas.api->cublasGemmStridedBatchedEx(
          cublas.handle, g.transpose_b() ? CUBLAS_OP_T : CUBLAS_OP_N,
          g.transpose_a() ? CUBLAS_OP_T : CUBLAS_OP_N, g.n(), g.m(), g.k(),
          alpha, asPtr(ptr[s.inputs(1)]), type, ldb,
          g.broadcast_b() ? 0 : g.k() * g.n(), asPtr(ptr[s.inputs(0)]), type,
          lda, g.broadcast_a() ? 0 : g.m() * g.k(), beta,
          asPtr(ptr[s.outputs(0)]), type, g.n(), g.m() * g.n(), g.batch(),
          f64 ? CUBLAS_COMPUTE_64F : CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
      describePtxStep(ep, i));
}

absl::Status
PtxDevice::syncOrExplain(const EntryRuntime &rt,
                         const std::vector<std::string> &launched) {
  const CudaApi &api = device_->api();
  CUresult r = api.cuStreamSynchronize(stream_.get());
  if (r == CUDA_SUCCESS)
    return absl::OkStatus();
  std::string culprit;
  if (launched.size() == 1)
    culprit = absl::StrCat("in ", launched[0]);
  else if (!launched.empty())
    culprit = absl::StrCat("in one of the ", launched.size(),
                           " kernels launched since the last synchronisation: ",
                           absl::StrJoin(launched, "; "),
                           " (CudaExecutorOptions::syncAfterEachLaunch, or "
                           "kiln-run --sync-each-launch, names the "
                           "one)");
  else
    culprit = absl::StrCat("in entry '", rt.ep->name(), "'");
  // Kernel faults are sticky: the context cannot run anything again in this
  // process.
  poisoned_ = absl::InternalError(absl::StrCat(
      "a kernel failed ", culprit, ": ", api.errorText(r),
      "; the CUDA context is unusable from here on (recreate the process)"));
  return poisoned_;
}

absl::Status PtxDevice::afterLaunches(const EntryRuntime &rt,
                                      const std::vector<std::string> &launched,
                                      absl::Status status) {
  if (status.ok() || launched.empty())
    return status;
  absl::Status fault = syncOrExplain(rt, launched);
  return fault.ok() ? status : fault;
}

absl::StatusOr<std::unique_ptr<EntryRun>>
PtxDevice::launch(const EntryCall &call) {
  EntryRuntime &rt = entries_[call.entryIndex];
  const proto::EntryPoint &ep = *rt.ep;
  const std::vector<HostTensor> &inputs = *call.inputs;
  const CudaApi &api = device_->api();
  CUstream stream = stream_.get();
  KILN_RETURN_IF_ERROR(prepare(rt, call));

  // Bind buffers: arena offsets, constants, caller inputs, resident state.
  int nb = ep.buffers_size();
  rt.ptr.assign(nb, 0);
  for (int b = 0; b < nb; ++b)
    if (ep.buffer_offsets(b) >= 0)
      rt.ptr[b] = rt.arena.ptr() + ep.buffer_offsets(b);
  for (const auto &[b, buf] : rt.constants)
    rt.ptr[b] = buf.ptr();
  std::vector<CUdeviceptr> bindings;
  int64_t argBytes = 0;
  size_t next = 0;
  for (int k = 0; k < ep.arguments_size(); ++k) {
    const proto::Argument &a = ep.arguments(k);
    CUdeviceptr p = call.argumentState[k] ? statePtr(*call.argumentState[k])
                                          : rt.inputs[next++].ptr();
    rt.ptr[a.buffer()] = p;
    bindings.push_back(p);
    argBytes += bufferBytes(ep.buffers(a.buffer()));
  }
  for (std::unique_ptr<DeviceState> *slot : call.resultState)
    if (slot)
      bindings.push_back(statePtr(**slot));

  // Inputs: host tensor -> pinned staging -> device, asynchronously on the
  // stream.
  for (size_t k = 0; k < rt.fed.size(); ++k) {
    int64_t bytes = inputs[k].byteSize();
    if (bytes == 0)
      continue;
    uint8_t *stage = rt.inputStaging.data() + rt.inputOffsets[k];
    std::memcpy(stage, inputs[k].data(), bytes);
    KILN_RETURN_IF_ERROR(api.check(
        api.cuMemcpyHtoDAsync(rt.inputs[k].ptr(), stage, bytes, stream),
        absl::StrCat("entry '", ep.name(), "' uploading input '",
                     rt.fed[k]->name(), "'")));
  }

  std::vector<std::string> launched;
  if (opts_.useCudaGraph && !rt.collectives) {
    if (!rt.graph || rt.graphBindings != bindings) {
      rt.graph.reset();
      std::vector<std::string> recorded;
      capturing_ = true;
      auto graph = CudaGraph::capture(
          device_, stream, [&] { return enqueueSteps(rt, &recorded); });
      capturing_ = false;
      if (!graph.ok())
        return graph.status();
      rt.graph = std::move(*graph);
      rt.graphBindings = bindings;
    } else {
      // Alias steps set pointers on the host; replay them so results read right
      // bytes.
      for (const proto::Step &s : ep.steps())
        if (s.op() == "alias")
          rt.ptr[s.outputs(0)] = rt.ptr[s.inputs(0)];
    }
    for (int i = 0; i < ep.steps_size(); ++i)
      if (ep.steps(i).op() == "launch")
        launched.push_back(describePtxStep(ep, i));
    KILN_RETURN_IF_ERROR(afterLaunches(rt, launched, rt.graph->launch(stream)));
  } else {
    KILN_RETURN_IF_ERROR(enqueueSteps(rt, &launched));
  }

  // Results to the host first: a returned buffer may be the old bytes of a
  // state entry that the write-back replaces.
  size_t out = 0;
  rt.wanted = call.wanted;
  for (int k = 0; k < ep.results_size(); ++k) {
    const proto::Result &r = ep.results(k);
    if (!r.state().empty())
      continue;
    int64_t bytes = bufferBytes(ep.buffers(r.buffer()));
    if (bytes > 0 && (call.wanted.empty() || call.wanted[k]))
      KILN_RETURN_IF_ERROR(afterLaunches(
          rt, launched,
          api.check(api.cuMemcpyDtoHAsync(rt.outputStaging.data() +
                                              rt.outputOffsets[out],
                                          rt.ptr[r.buffer()], bytes, stream),
                    absl::StrCat("entry '", ep.name(), "' downloading result '",
                                 r.name(), "'"))));
    ++out;
  }
  return std::make_unique<Run>(*this, rt, std::move(launched), argBytes);
}

absl::StatusOr<double> PtxDevice::timeEntry(int entryIndex, int iterations) {
  EntryRuntime *rt = &entries_[entryIndex];
  const CudaApi &api = device_->api();
  CUstream stream = stream_.get();
  CUevent start = nullptr, end = nullptr;
  auto destroy = [&] {
    if (start)
      api.cuEventDestroy(start);
    if (end)
      api.cuEventDestroy(end);
  };
  std::vector<std::string> launched;
  absl::Status st =
      api.check(api.cuEventCreate(&start, 0), "creating a timing event");
  if (st.ok())
    st = api.check(api.cuEventCreate(&end, 0), "creating a timing event");
  if (st.ok())
    st =
        api.check(api.cuEventRecord(start, stream), "recording a timing event");
  for (int i = 0; st.ok() && i < iterations; ++i)
    st = rt->graph ? rt->graph->launch(stream) : enqueueSteps(*rt, &launched);
  if (st.ok())
    st = api.check(api.cuEventRecord(end, stream), "recording a timing event");
  if (st.ok())
    st = syncOrExplain(*rt, launched);
  float ms = 0;
  if (st.ok())
    st = api.check(api.cuEventElapsedTime(&ms, start, end),
                   "reading a timing event");
  destroy();
  if (!st.ok())
    return st;
  return static_cast<double>(ms) / iterations;
}

} // namespace kiln::cuda
