// The interpreter of ptx Executables: validation, device-resident state, per-entry
// arenas and staging buffers, the step loop (launch/alias/copy/constant), CUDA graph
// capture and replay, and errors that name the entry, step, kernel and location.
#include "executor/cuda/CudaExecutor.h"
#include "executor/ExecutableQueries.h"

#include <algorithm>
#include <cstring>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "executor/StateInit.h"
#include "executor/StatusMacros.h"
#include "executor/cuda/CudaDevice.h"
#include "executor/cuda/CudaGraph.h"
#include "executor/cuda/TensorMap.h"
#include "executor/cuda/CudaModule.h"
#include "executor/cuda/CublasApi.h"

namespace kiln {

using cuda::CUdeviceptr;
using cuda::CUfunction;
using cuda::DeviceBuffer;
using cuda::PinnedBuffer;

namespace {

int64_t byteSize(const proto::TensorType &t) {
  int64_t n = 1;
  for (int64_t d : t.shape())
    n *= d;
  return n * storageBytes(t.dtype());
}

std::string where(const proto::EntryPoint &ep, int i) {
  const proto::Step &s = ep.steps(i);
  std::string what = s.op() == "launch" ? absl::StrCat("kernel '", s.launch().kernel(), "'")
                     : s.op() == "gemm"  ? absl::StrCat("gemm on ", s.gemm().provider())
                                         : absl::StrCat("'", s.op(), "'");
  return absl::StrCat("entry '", ep.name(), "' step ", i, " (", what, " at ",
                      s.location().empty() ? "<unknown location>" : s.location(), ")");
}

// Buffers and arenas are sized from these types: a count that wraps would
// allocate short (the same check as the CPU executor's).
absl::Status checkType(const proto::TensorType &t, absl::string_view what) {
  return checkTensorType(t.dtype(), t.shape(), std::string(what));
}

bool sameType(const proto::TensorType &a, const proto::TensorType &b) {
  return a.dtype() == b.dtype() &&
         std::equal(a.shape().begin(), a.shape().end(), b.shape().begin(), b.shape().end());
}

/// A gemm step's provider, sizes and buffers agree (the library trusts them).
absl::Status validateGemm(const proto::EntryPoint &ep, int i) {
  const proto::Step &s = ep.steps(i);
  const proto::Gemm &g = s.gemm();
  if (g.provider() != "cublas")
    return absl::InvalidArgumentError(absl::StrCat(where(ep, i), ": unknown gemm provider '",
                                                   g.provider(), "' (this build has: cublas)"));
  for (int64_t d : {g.m(), g.n(), g.k(), g.batch()})
    if (d < 1 || d > 0x7fffffff)
      return absl::InvalidArgumentError(absl::StrCat(
          where(ep, i), ": gemm sizes m=", g.m(), " n=", g.n(), " k=", g.k(),
          " batch=", g.batch(), " must lie in [1, 2^31)"));
  const proto::TensorType &a = ep.buffers(s.inputs(0)), &b = ep.buffers(s.inputs(1)),
                          &c = ep.buffers(s.outputs(0));
  if (a.dtype() != b.dtype() || a.dtype() != c.dtype() || cuda::cublasDataType(a.dtype()) < 0)
    return absl::InvalidArgumentError(absl::StrCat(
        where(ep, i), ": gemm needs one dtype among f32, f64, f16, bf16; given ",
        typeString(a), ", ", typeString(b), " -> ", typeString(c)));
  auto elements = [](const proto::TensorType &t) {
    int64_t n = 1;
    for (int64_t d : t.shape())
      n *= d;
    return n;
  };
  int64_t wantA = g.m() * g.k() * (g.broadcast_a() ? 1 : g.batch());
  int64_t wantB = g.k() * g.n() * (g.broadcast_b() ? 1 : g.batch());
  if (elements(a) != wantA || elements(b) != wantB || elements(c) != g.m() * g.n() * g.batch())
    return absl::InvalidArgumentError(absl::StrCat(
        where(ep, i), ": gemm m=", g.m(), " n=", g.n(), " k=", g.k(), " batch=", g.batch(),
        " does not match buffers ", typeString(a), ", ", typeString(b), " -> ", typeString(c)));
  return absl::OkStatus();
}

absl::Status validateEntry(const proto::Executable &exe, const proto::EntryPoint &ep,
                           const absl::flat_hash_map<std::string, const proto::StateEntry *> &state) {
  const std::string entryName = absl::StrCat("entry '", ep.name(), "'");
  int nb = ep.buffers_size();
  for (int b = 0; b < nb; ++b)
    KILN_RETURN_IF_ERROR(checkType(ep.buffers(b), absl::StrCat(entryName, " buffer ", b)));
  if (ep.buffer_offsets_size() != nb)
    return absl::InvalidArgumentError(absl::StrCat(entryName, " has ", ep.buffer_offsets_size(),
                                                   " buffer offsets for ", nb,
                                                   " buffers (buffer planning did not run?)"));
  // Which buffers get their bytes from somewhere other than the arena.
  std::vector<bool> bound(nb, false);
  auto checkUse = [&](absl::string_view kind, const std::string &name,
                      const std::string &stateName, int buffer) -> absl::Status {
    if (buffer < 0 || buffer >= nb)
      return absl::InvalidArgumentError(absl::StrCat(entryName, " ", kind, " '", name,
                                                     "' uses buffer ", buffer, " but there are ",
                                                     nb, " buffers"));
    if (stateName.empty())
      return absl::OkStatus();
    auto it = state.find(stateName);
    if (it == state.end())
      return absl::InvalidArgumentError(absl::StrCat(entryName, " ", kind, " '", name,
                                                     "' names unknown state entry '", stateName,
                                                     "'"));
    if (!sameType(it->second->type(), ep.buffers(buffer)))
      return absl::InvalidArgumentError(absl::StrCat(
          entryName, " ", kind, " '", name, "' has type ", typeString(ep.buffers(buffer)),
          " but state entry '", stateName, "' is ", typeString(it->second->type())));
    return absl::OkStatus();
  };
  absl::flat_hash_map<int, std::string> argState; // buffer -> state name feeding it
  for (const proto::Argument &a : ep.arguments()) {
    KILN_RETURN_IF_ERROR(checkUse("argument", a.name(), a.state(), a.buffer()));
    bound[a.buffer()] = true;
    if (!a.state().empty())
      argState[a.buffer()] = a.state();
  }
  absl::flat_hash_set<std::string> written;
  for (const proto::Result &r : ep.results()) {
    KILN_RETURN_IF_ERROR(checkUse("result", r.name(), r.state(), r.buffer()));
    if (r.aliases_argument() < -1 || r.aliases_argument() >= ep.arguments_size())
      return absl::InvalidArgumentError(absl::StrCat(entryName, " result '", r.name(),
                                                     "' aliases argument ", r.aliases_argument(),
                                                     " of ", ep.arguments_size()));
    if (!r.state().empty() && !written.insert(r.state()).second)
      return absl::InvalidArgumentError(absl::StrCat(entryName, " writes state entry '",
                                                     r.state(), "' twice"));
  }
  // A result that moves one state entry's bytes into another, while that entry is itself
  // overwritten, would need a temporary; the compiler never plans this.
  for (const proto::Result &r : ep.results()) {
    auto it = argState.find(r.buffer());
    if (!r.state().empty() && it != argState.end() && it->second != r.state() &&
        written.contains(it->second))
      return absl::UnimplementedError(absl::StrCat(
          entryName, " result '", r.name(), "' writes state entry '", r.state(),
          "' from the bytes of state entry '", it->second, "', which this entry also overwrites"));
  }
  for (int i = 0; i < ep.steps_size(); ++i) {
    const proto::Step &s = ep.steps(i);
    for (const auto *ids : {&s.inputs(), &s.outputs(), &s.release()})
      for (int b : *ids)
        if (b < 0 || b >= nb)
          return absl::InvalidArgumentError(absl::StrCat(where(ep, i), ": buffer id ", b,
                                                         " is out of range (", nb, " buffers)"));
    auto arity = [&](int ins, int outs) -> absl::Status {
      if (s.inputs_size() != ins || s.outputs_size() != outs)
        return absl::InvalidArgumentError(absl::StrCat(where(ep, i), " takes ", ins,
                                                       " inputs and ", outs, " outputs, given ",
                                                       s.inputs_size(), " and ", s.outputs_size()));
      return absl::OkStatus();
    };
    if (s.op() == "launch") {
      const proto::Launch &l = s.launch();
      if (l.module() < 0 || l.module() >= exe.modules_size())
        return absl::InvalidArgumentError(absl::StrCat(where(ep, i), ": module ", l.module(),
                                                       " is out of range (", exe.modules_size(),
                                                       " modules)"));
      if (l.kernel().empty())
        return absl::InvalidArgumentError(absl::StrCat(where(ep, i), ": no kernel name"));
      for (const auto *dims : {&l.grid(), &l.block()}) {
        if (dims->size() > 3)
          return absl::InvalidArgumentError(
              absl::StrCat(where(ep, i), ": grid and block take at most 3 dimensions"));
        for (int64_t d : *dims)
          if (d < 1 || d > 0x7fffffff)
            return absl::InvalidArgumentError(absl::StrCat(
                where(ep, i), ": grid/block dimension ", d, " is outside [1, 2^31)"));
      }
      if (l.shared_bytes() < 0)
        return absl::InvalidArgumentError(absl::StrCat(where(ep, i), ": negative shared_bytes"));
      for (int b : l.buffers())
        if (b < 0 || b >= nb)
          return absl::InvalidArgumentError(absl::StrCat(
              where(ep, i), ": kernel parameter buffer ", b, " is out of range (", nb, " buffers)"));
      for (const proto::TensorMap &m : l.tensor_maps())
        KILN_RETURN_IF_ERROR(cuda::validateTensorMap(m, ep, l, where(ep, i)));
    } else if (s.op() == "alias" || s.op() == "copy") {
      KILN_RETURN_IF_ERROR(arity(1, 1));
      if (byteSize(ep.buffers(s.inputs(0))) != byteSize(ep.buffers(s.outputs(0))))
        return absl::InvalidArgumentError(absl::StrCat(
            where(ep, i), ": ", typeString(ep.buffers(s.inputs(0))), " and ",
            typeString(ep.buffers(s.outputs(0))), " differ in size"));
      if (s.op() == "alias")
        bound[s.outputs(0)] = true;
    } else if (s.op() == "constant") {
      KILN_RETURN_IF_ERROR(arity(0, 1));
      auto it = s.attrs().find("value");
      if (it == s.attrs().end() || !it->second.has_tensor())
        return absl::InvalidArgumentError(
            absl::StrCat(where(ep, i), ": no tensor attribute 'value'"));
      if (!sameType(it->second.tensor().type(), ep.buffers(s.outputs(0))))
        return absl::InvalidArgumentError(absl::StrCat(
            where(ep, i), ": value is ", typeString(it->second.tensor().type()),
            " but the buffer is ", typeString(ep.buffers(s.outputs(0)))));
      bound[s.outputs(0)] = true;
    } else if (s.op() == "gemm") {
      KILN_RETURN_IF_ERROR(arity(2, 1));
      KILN_RETURN_IF_ERROR(validateGemm(ep, i));
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          where(ep, i), ": unknown op '", s.op(),
          "' for the ptx target (expected launch, alias, copy, constant or gemm)"));
    }
  }
  if (ep.arena_bytes() < 0)
    return absl::InvalidArgumentError(absl::StrCat(entryName, " has a negative arena size"));
  // A buffer nothing reads or writes (an intermediate the compiler fused away)
  // needs no memory.
  std::vector<bool> referenced(nb, false);
  for (const proto::Argument &a : ep.arguments())
    referenced[a.buffer()] = true;
  for (const proto::Result &r : ep.results())
    referenced[r.buffer()] = true;
  for (const proto::Step &s : ep.steps()) {
    for (int id : s.inputs())
      referenced[id] = true;
    for (int id : s.outputs())
      referenced[id] = true;
  }
  for (int b = 0; b < nb; ++b) {
    int64_t off = ep.buffer_offsets(b);
    if (off < 0) {
      if (!bound[b] && referenced[b] && byteSize(ep.buffers(b)) > 0)
        return absl::InvalidArgumentError(absl::StrCat(
            entryName, " buffer ", b, " has no arena offset and no argument, alias or constant "
            "provides it"));
      continue;
    }
    if (off % 256 != 0 || off + byteSize(ep.buffers(b)) > ep.arena_bytes())
      return absl::InvalidArgumentError(absl::StrCat(
          entryName, " buffer ", b, " (", typeString(ep.buffers(b)), ") at arena offset ", off,
          " is misaligned or ends past the arena of ", ep.arena_bytes(), " bytes"));
  }
  return absl::OkStatus();
}

absl::Status validate(const proto::Executable &exe) {
  if (exe.target() != "ptx")
    return absl::InvalidArgumentError(absl::StrCat(
        "the Executable targets '", exe.target(), "'; the CUDA executor runs only 'ptx'"));
  absl::flat_hash_map<std::string, const proto::StateEntry *> state;
  for (const proto::StateEntry &s : exe.state()) {
    if (s.name().empty() || !state.emplace(s.name(), &s).second)
      return absl::InvalidArgumentError(
          absl::StrCat("state entry name '", s.name(), "' is empty or repeated"));
    KILN_RETURN_IF_ERROR(checkType(s.type(), absl::StrCat("state entry '", s.name(), "'")));
  }
  absl::flat_hash_set<std::string> entries;
  for (const proto::EntryPoint &ep : exe.entries()) {
    if (!entries.insert(ep.name()).second)
      return absl::InvalidArgumentError(absl::StrCat("entry '", ep.name(), "' is repeated"));
    KILN_RETURN_IF_ERROR(validateEntry(exe, ep, state));
  }
  return absl::OkStatus();
}

/// Runs fn over [0, n) on a few threads; StateInit's Philox streams are counter-based,
/// so the chunking does not change the values.
void parallelFor(int64_t n, const std::function<void(int64_t, int64_t)> &fn) {
  int threads = static_cast<int>(std::min<int64_t>(
      std::max(1u, std::thread::hardware_concurrency()), std::max<int64_t>(1, n / 65536)));
  if (threads <= 1) {
    fn(0, n);
    return;
  }
  std::vector<std::thread> pool;
  int64_t chunk = (n + threads - 1) / threads;
  for (int t = 0; t < threads; ++t) {
    int64_t b = t * chunk, e = std::min(n, b + chunk);
    if (b < e)
      pool.emplace_back([&fn, b, e] { fn(b, e); });
  }
  for (std::thread &t : pool)
    t.join();
}

} // namespace

/// What one entry point needs on the device, made on its first run and kept.
struct CudaExecutor::EntryRuntime {
  const proto::EntryPoint *ep = nullptr;
  bool prepared = false;
  std::vector<CUfunction> kernels;              // per step; null unless "launch"
  absl::flat_hash_map<int, DeviceBuffer> constants; // buffer id -> uploaded value
  DeviceBuffer arena;
  std::vector<const proto::Argument *> fed;     // caller-fed arguments, in order
  std::vector<DeviceBuffer> inputs;             // parallel to fed
  PinnedBuffer inputStaging, outputStaging;
  std::vector<int64_t> inputOffsets, outputOffsets;
  std::vector<CUdeviceptr> ptr;                 // per buffer, for the current run
  std::unique_ptr<cuda::CudaGraph> graph;
  std::vector<CUdeviceptr> graphBindings;       // argument pointers the graph recorded
};

/// The cuBLAS handle of the gemm provider, bound to the executor's stream, with a
/// workspace of its own so that capture into a CUDA graph never allocates.
struct CublasProvider {
  const cuda::CublasApi *api = nullptr;
  cuda::cublasHandle_t handle = nullptr;
  DeviceBuffer workspace;
  ~CublasProvider() {
    if (handle)
      api->cublasDestroy(handle);
  }
};

struct CudaExecutor::Impl {
  std::shared_ptr<cuda::CudaDevice> device;
  cuda::CudaStream stream;
  std::unique_ptr<CublasProvider> cublas; // only when a step asks for it
  std::vector<std::unique_ptr<cuda::CudaModule>> modules;
  std::vector<std::optional<DeviceBuffer>> state; // parallel to exe_.state()
  std::vector<EntryRuntime> entries;              // parallel to exe_.entries()
  absl::Status poisoned;                          // set once a kernel faulted
  bool capturing = false;                         // inside CudaGraph::capture
  // Declared last so it is destroyed first, while the device is still open.
  ~Impl() {
    cublas.reset();
    entries.clear();
    state.clear();
    modules.clear();
    stream.reset();
  }
};

CudaExecutor::CudaExecutor(proto::Executable exe, CudaExecutorOptions opts)
    : exe_(std::move(exe)), opts_(opts), impl_(std::make_unique<Impl>()) {}

CudaExecutor::~CudaExecutor() = default;

absl::StatusOr<std::unique_ptr<CudaExecutor>> CudaExecutor::create(proto::Executable exe,
                                                                   CudaExecutorOptions opts) {
  KILN_RETURN_IF_ERROR(validate(exe));
  std::unique_ptr<CudaExecutor> x(new CudaExecutor(std::move(exe), opts));
  Impl &impl = *x->impl_;
  KILN_ASSIGN_OR_RETURN(impl.device, cuda::CudaDevice::open(opts.deviceOrdinal));
  KILN_ASSIGN_OR_RETURN(impl.stream, impl.device->createStream());
  for (const proto::PtxModule &m : x->exe_.modules()) {
    KILN_ASSIGN_OR_RETURN(std::unique_ptr<cuda::CudaModule> loaded,
                          cuda::CudaModule::load(impl.device, m));
    impl.modules.push_back(std::move(loaded));
  }
  for (const proto::EntryPoint &ep : x->exe_.entries())
    for (const proto::Step &s : ep.steps())
      if (s.op() == "gemm" && !impl.cublas) {
        auto api = cuda::loadCublas();
        if (!api.ok())
          return absl::Status(api.status().code(),
                              absl::StrCat("entry '", ep.name(), "' routes '", s.location(),
                                           "' to cuBLAS: ", api.status().message()));
        auto provider = std::make_unique<CublasProvider>();
        provider->api = *api;
        KILN_RETURN_IF_ERROR(impl.device->makeCurrent());
        KILN_RETURN_IF_ERROR(provider->api->check(provider->api->cublasCreate(&provider->handle),
                                                  "creating a cuBLAS handle"));
        KILN_RETURN_IF_ERROR(provider->api->check(
            provider->api->cublasSetStream(provider->handle, impl.stream.get()),
            "binding cuBLAS to the executor's stream"));
        constexpr int64_t kWorkspaceBytes = 32 << 20;
        KILN_ASSIGN_OR_RETURN(provider->workspace,
                              impl.device->allocate(kWorkspaceBytes, "the cuBLAS workspace"));
        KILN_RETURN_IF_ERROR(provider->api->check(
            provider->api->cublasSetWorkspace(
                provider->handle, reinterpret_cast<void *>(provider->workspace.ptr()),
                kWorkspaceBytes),
            "giving cuBLAS its workspace"));
        impl.cublas = std::move(provider);
      }
  impl.state.resize(x->exe_.state_size());
  impl.entries.resize(x->exe_.entries_size());
  for (int e = 0; e < x->exe_.entries_size(); ++e) {
    EntryRuntime &rt = impl.entries[e];
    const proto::EntryPoint &ep = x->exe_.entries(e);
    rt.ep = &ep;
    rt.kernels.assign(ep.steps_size(), nullptr);
    for (int i = 0; i < ep.steps_size(); ++i) {
      const proto::Step &s = ep.steps(i);
      if (s.op() == "launch") {
        auto fn = impl.modules[s.launch().module()]->function(s.launch().kernel());
        if (!fn.ok())
          return absl::InvalidArgumentError(
              absl::StrCat(where(ep, i), ": ", fn.status().message()));
        rt.kernels[i] = *fn;
        // Past 48 KiB a kernel must opt in to its dynamic shared memory.
        if (int64_t bytes = s.launch().shared_bytes(); bytes > 48 * 1024)
          KILN_RETURN_IF_ERROR(impl.device->api().check(
              impl.device->api().cuFuncSetAttribute(
                  *fn, cuda::CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                  static_cast<int>(bytes)),
              absl::StrCat(where(ep, i), ": allowing ", bytes, " bytes of shared memory")));
      } else if (s.op() == "constant") {
        // Constants get their own buffers, not arena bytes: the arena is reused within
        // a run, and a constant is uploaded once, at load.
        KILN_ASSIGN_OR_RETURN(HostTensor value,
                              HostTensor::fromLiteral(s.attrs().at("value").tensor()));
        KILN_ASSIGN_OR_RETURN(DeviceBuffer buf,
                              impl.device->allocate(value.byteSize(),
                                                    absl::StrCat(where(ep, i), " constant")));
        if (value.byteSize() > 0) {
          const cuda::CudaApi &api = impl.device->api();
          KILN_RETURN_IF_ERROR(api.check(api.cuMemcpyHtoDAsync(buf.ptr(), value.data(),
                                                               value.byteSize(),
                                                               impl.stream.get()),
                                         absl::StrCat(where(ep, i), ": uploading the constant")));
          KILN_RETURN_IF_ERROR(api.check(api.cuStreamSynchronize(impl.stream.get()),
                                         absl::StrCat(where(ep, i), ": uploading the constant")));
        }
        rt.constants[s.outputs(0)] = std::move(buf);
      }
    }
  }
  return x;
}

std::string CudaExecutor::deviceDescription() const { return impl_->device->describe(); }

int CudaExecutor::stateIndex(std::string_view name) const {
  for (int i = 0; i < exe_.state_size(); ++i)
    if (exe_.state(i).name() == name)
      return i;
  return -1;
}

absl::Status CudaExecutor::uploadState(int index, const HostTensor &value) {
  Impl &impl = *impl_;
  KILN_RETURN_IF_ERROR(impl.poisoned);
  const proto::StateEntry &s = exe_.state(index);
  const cuda::CudaApi &api = impl.device->api();
  KILN_RETURN_IF_ERROR(impl.device->makeCurrent());
  // Reusing the resident buffer keeps device addresses fixed, so captured graphs stay
  // valid after setState.
  if (!impl.state[index]) {
    KILN_ASSIGN_OR_RETURN(DeviceBuffer buf,
                          impl.device->allocate(value.byteSize(),
                                                absl::StrCat("state entry '", s.name(), "'")));
    impl.state[index] = std::move(buf);
  }
  if (value.byteSize() == 0)
    return absl::OkStatus();
  KILN_RETURN_IF_ERROR(api.check(
      api.cuMemcpyHtoDAsync(impl.state[index]->ptr(), value.data(), value.byteSize(),
                            impl.stream.get()),
      absl::StrCat("uploading state entry '", s.name(), "'")));
  return api.check(api.cuStreamSynchronize(impl.stream.get()),
                   absl::StrCat("uploading state entry '", s.name(), "'"));
}

absl::Status CudaExecutor::materialize(int index) {
  const proto::StateEntry &s = exe_.state(index);
  auto t = initializeTensor(s.type(), s.init(), parallelFor);
  if (!t.ok())
    return absl::InvalidArgumentError(
        absl::StrCat("state entry '", s.name(), "': ", t.status().message()));
  return uploadState(index, *t);
}

absl::Status CudaExecutor::initializeState() {
  for (int i = 0; i < exe_.state_size(); ++i)
    if (!impl_->state[i] && !exe_.state(i).init().kind().empty())
      KILN_RETURN_IF_ERROR(materialize(i));
  return absl::OkStatus();
}

absl::Status CudaExecutor::setState(std::string_view name, HostTensor value) {
  int i = stateIndex(name);
  if (i < 0)
    return absl::NotFoundError(absl::StrCat("unknown state entry '", std::string(name), "'"));
  if (!value.hasType(exe_.state(i).type()))
    return absl::InvalidArgumentError(absl::StrCat("state entry '", std::string(name),
                                                   "' expects ", typeString(exe_.state(i).type()),
                                                   ", given ", value.typeString()));
  return uploadState(i, value);
}

absl::StatusOr<HostTensor> CudaExecutor::getState(std::string_view name) const {
  int i = stateIndex(name);
  if (i < 0)
    return absl::NotFoundError(absl::StrCat("unknown state entry '", std::string(name), "'"));
  if (!impl_->state[i])
    return absl::FailedPreconditionError(
        absl::StrCat("state entry '", std::string(name),
                     "' has no value yet (setState or initializeState first)"));
  KILN_RETURN_IF_ERROR(impl_->poisoned);
  const proto::TensorType &t = exe_.state(i).type();
  HostTensor out(t.dtype(), std::vector<int64_t>(t.shape().begin(), t.shape().end()));
  if (out.byteSize() == 0)
    return out;
  const cuda::CudaApi &api = impl_->device->api();
  KILN_RETURN_IF_ERROR(impl_->device->makeCurrent());
  std::string what = absl::StrCat("downloading state entry '", std::string(name), "'");
  KILN_RETURN_IF_ERROR(api.check(api.cuMemcpyDtoHAsync(out.data(), impl_->state[i]->ptr(),
                                                       out.byteSize(), impl_->stream.get()),
                                 what));
  KILN_RETURN_IF_ERROR(api.check(api.cuStreamSynchronize(impl_->stream.get()), what));
  return out;
}

std::vector<std::string> CudaExecutor::stateNames() const { return stateNamesOf(exe_); }

std::vector<std::string> CudaExecutor::entryNames() const { return entryNamesOf(exe_); }

const proto::EntryPoint *CudaExecutor::entry(std::string_view name) const {
  return findEntry(exe_, name);
}

absl::Status CudaExecutor::prepare(EntryRuntime &rt) {
  if (rt.prepared)
    return absl::OkStatus();
  const proto::EntryPoint &ep = *rt.ep;
  const cuda::CudaDevice &dev = *impl_->device;
  std::string entryName = absl::StrCat("entry '", ep.name(), "'");
  KILN_ASSIGN_OR_RETURN(rt.arena, dev.allocate(ep.arena_bytes(),
                                               absl::StrCat(entryName, " arena")));
  rt.fed.clear();
  rt.inputs.clear();
  rt.inputOffsets.clear();
  int64_t inBytes = 0;
  for (const proto::Argument &a : ep.arguments()) {
    if (!a.state().empty())
      continue;
    int64_t bytes = byteSize(ep.buffers(a.buffer()));
    rt.fed.push_back(&a);
    KILN_ASSIGN_OR_RETURN(DeviceBuffer buf,
                          dev.allocate(bytes, absl::StrCat(entryName, " input '", a.name(), "'")));
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
    outBytes += (byteSize(ep.buffers(r.buffer())) + 255) / 256 * 256;
  }
  KILN_ASSIGN_OR_RETURN(rt.inputStaging,
                        dev.allocatePinned(inBytes, absl::StrCat(entryName, " input staging")));
  KILN_ASSIGN_OR_RETURN(rt.outputStaging,
                        dev.allocatePinned(outBytes, absl::StrCat(entryName, " output staging")));
  // State written by a result but never read gets its resident buffer now, before any
  // graph records its address.
  for (const proto::Result &r : ep.results()) {
    if (r.state().empty())
      continue;
    int si = stateIndex(r.state());
    if (!impl_->state[si]) {
      KILN_ASSIGN_OR_RETURN(
          DeviceBuffer buf,
          dev.allocate(byteSize(exe_.state(si).type()),
                       absl::StrCat(entryName, " state entry '", r.state(), "'")));
      impl_->state[si] = std::move(buf);
    }
  }
  rt.prepared = true;
  return absl::OkStatus();
}

absl::Status CudaExecutor::enqueueSteps(EntryRuntime &rt, std::vector<std::string> *launched) {
  const proto::EntryPoint &ep = *rt.ep;
  const cuda::CudaApi &api = impl_->device->api();
  cuda::CUstream stream = impl_->stream.get();
  std::vector<uint64_t> values;
  std::vector<cuda::CUtensorMap> maps;
  std::vector<void *> params;
  for (int i = 0; i < ep.steps_size(); ++i) {
    const proto::Step &s = ep.steps(i);
    if (s.op() == "alias") {
      rt.ptr[s.outputs(0)] = rt.ptr[s.inputs(0)];
    } else if (s.op() == "copy") {
      int64_t bytes = byteSize(ep.buffers(s.outputs(0)));
      if (bytes > 0 && rt.ptr[s.outputs(0)] != rt.ptr[s.inputs(0)])
        KILN_RETURN_IF_ERROR(api.check(
            api.cuMemcpyDtoDAsync(rt.ptr[s.outputs(0)], rt.ptr[s.inputs(0)], bytes, stream),
            where(ep, i)));
    } else if (s.op() == "launch") {
      const proto::Launch &l = s.launch();
      values.clear();
      for (int b : l.buffers())
        values.push_back(rt.ptr[b]);
      for (int64_t v : l.scalars())
        values.push_back(static_cast<uint64_t>(v));
      // Tensor maps are encoded here, from this run's addresses; the launch (or the
      // graph node it is captured into) copies their bytes.
      maps.resize(l.tensor_maps_size());
      for (int m = 0; m < l.tensor_maps_size(); ++m)
        KILN_RETURN_IF_ERROR(cuda::encodeTensorMap(api, l.tensor_maps(m),
                                                   rt.ptr[l.tensor_maps(m).buffer()], &maps[m],
                                                   where(ep, i)));
      params.clear();
      for (uint64_t &v : values)
        params.push_back(&v);
      for (cuda::CUtensorMap &m : maps)
        params.push_back(&m);
      auto dim = [](const google::protobuf::RepeatedField<int64_t> &d, int k) {
        return k < d.size() ? static_cast<unsigned>(d[k]) : 1u;
      };
      cuda::CUresult r = api.cuLaunchKernel(
          rt.kernels[i], dim(l.grid(), 0), dim(l.grid(), 1), dim(l.grid(), 2), dim(l.block(), 0),
          dim(l.block(), 1), dim(l.block(), 2), static_cast<unsigned>(l.shared_bytes()), stream,
          params.empty() ? nullptr : params.data(), nullptr);
      if (r != cuda::CUDA_SUCCESS) {
        // A sticky fault of an earlier kernel of this run also surfaces here.
        if (!launched->empty() && !impl_->capturing)
          KILN_RETURN_IF_ERROR(syncOrExplain(rt, *launched));
        return absl::InternalError(absl::StrCat(where(ep, i), ": cuLaunchKernel failed: ",
                                                api.errorText(r)));
      }
      launched->push_back(where(ep, i));
      if (opts_.syncAfterEachLaunch && !opts_.useCudaGraph) {
        KILN_RETURN_IF_ERROR(syncOrExplain(rt, *launched));
        launched->clear();
      }
    } else if (s.op() == "gemm") {
      KILN_RETURN_IF_ERROR(enqueueGemm(ep, i, rt.ptr));
      launched->push_back(where(ep, i));
    }
    // "constant": bound at load time, nothing to do per run.
  }
  return absl::OkStatus();
}

/// Row-major out = a @ b is column-major out^T = b^T a^T: cuBLAS gets b as its
/// first operand and a as its second, with the sizes swapped.
absl::Status CudaExecutor::enqueueGemm(const proto::EntryPoint &ep, int i,
                                       const std::vector<CUdeviceptr> &ptr) {
  const proto::Step &s = ep.steps(i);
  const proto::Gemm &g = s.gemm();
  const CublasProvider &cublas = *impl_->cublas;
  proto::DType dtype = ep.buffers(s.outputs(0)).dtype();
  int type = cuda::cublasDataType(dtype);
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
          cublas.handle, g.transpose_b() ? cuda::CUBLAS_OP_T : cuda::CUBLAS_OP_N,
          g.transpose_a() ? cuda::CUBLAS_OP_T : cuda::CUBLAS_OP_N, g.n(), g.m(), g.k(), alpha,
          asPtr(ptr[s.inputs(1)]), type, ldb, g.broadcast_b() ? 0 : g.k() * g.n(),
          asPtr(ptr[s.inputs(0)]), type, lda, g.broadcast_a() ? 0 : g.m() * g.k(), beta,
          asPtr(ptr[s.outputs(0)]), type, g.n(), g.m() * g.n(), g.batch(),
          f64 ? cuda::CUBLAS_COMPUTE_64F : cuda::CUBLAS_COMPUTE_32F, cuda::CUBLAS_GEMM_DEFAULT),
      where(ep, i));
}

absl::Status CudaExecutor::syncOrExplain(const EntryRuntime &rt,
                                         const std::vector<std::string> &launched) {
  const cuda::CudaApi &api = impl_->device->api();
  cuda::CUresult r = api.cuStreamSynchronize(impl_->stream.get());
  if (r == cuda::CUDA_SUCCESS)
    return absl::OkStatus();
  std::string culprit;
  if (launched.size() == 1)
    culprit = absl::StrCat("in ", launched[0]);
  else if (!launched.empty())
    culprit = absl::StrCat(
        "in one of the ", launched.size(), " kernels launched since the last synchronisation: ",
        absl::StrJoin(launched, "; "),
        " (CudaExecutorOptions::syncAfterEachLaunch, or kiln-run --sync-each-launch, names the "
        "one)");
  else
    culprit = absl::StrCat("in entry '", rt.ep->name(), "'");
  // Kernel faults are sticky: the context cannot run anything again in this process.
  impl_->poisoned = absl::InternalError(absl::StrCat(
      "a kernel failed ", culprit, ": ", api.errorText(r),
      "; the CUDA context is unusable from here on (recreate the process)"));
  return impl_->poisoned;
}

absl::StatusOr<std::vector<HostTensor>>
CudaExecutor::runEntry(EntryRuntime &rt, const std::vector<HostTensor> &inputs) {
  Impl &impl = *impl_;
  KILN_RETURN_IF_ERROR(impl.poisoned);
  const proto::EntryPoint &ep = *rt.ep;
  const cuda::CudaApi &api = impl.device->api();
  cuda::CUstream stream = impl.stream.get();
  KILN_RETURN_IF_ERROR(impl.device->makeCurrent());
  // State read by this entry must exist before prepare() allocates write-only state.
  for (const proto::Argument &a : ep.arguments()) {
    if (a.state().empty())
      continue;
    int si = stateIndex(a.state());
    if (!impl.state[si]) {
      if (exe_.state(si).init().kind().empty())
        return absl::FailedPreconditionError(absl::StrCat(
            "entry '", ep.name(), "' argument '", a.name(), "' reads state entry '", a.state(),
            "', which has no value and no initializer"));
      KILN_RETURN_IF_ERROR(materialize(si));
    }
  }
  KILN_RETURN_IF_ERROR(prepare(rt));

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
  for (const proto::Argument &a : ep.arguments()) {
    CUdeviceptr p = a.state().empty() ? rt.inputs[next++].ptr()
                                      : impl.state[stateIndex(a.state())]->ptr();
    rt.ptr[a.buffer()] = p;
    bindings.push_back(p);
    argBytes += byteSize(ep.buffers(a.buffer()));
  }
  for (const proto::Result &r : ep.results())
    if (!r.state().empty())
      bindings.push_back(impl.state[stateIndex(r.state())]->ptr());

  // Inputs: host tensor -> pinned staging -> device, asynchronously on the stream.
  for (size_t k = 0; k < rt.fed.size(); ++k) {
    int64_t bytes = inputs[k].byteSize();
    if (bytes == 0)
      continue;
    uint8_t *stage = rt.inputStaging.data() + rt.inputOffsets[k];
    std::memcpy(stage, inputs[k].data(), bytes);
    KILN_RETURN_IF_ERROR(api.check(api.cuMemcpyHtoDAsync(rt.inputs[k].ptr(), stage, bytes, stream),
                                   absl::StrCat("entry '", ep.name(), "' uploading input '",
                                                rt.fed[k]->name(), "'")));
  }

  std::vector<std::string> launched;
  // After a launch, any failing call may be reporting a kernel's asynchronous fault:
  // synchronise so the error names the kernels rather than the innocent copy.
  auto afterLaunches = [&](absl::Status st) -> absl::Status {
    if (st.ok() || launched.empty())
      return st;
    absl::Status fault = syncOrExplain(rt, launched);
    return fault.ok() ? st : fault;
  };
  if (opts_.useCudaGraph) {
    if (!rt.graph || rt.graphBindings != bindings) {
      rt.graph.reset();
      std::vector<std::string> recorded;
      impl.capturing = true;
      auto graph = cuda::CudaGraph::capture(impl.device, stream,
                                            [&] { return enqueueSteps(rt, &recorded); });
      impl.capturing = false;
      if (!graph.ok())
        return graph.status();
      rt.graph = std::move(*graph);
      rt.graphBindings = bindings;
    } else {
      // Alias steps set pointers on the host; replay them so results read right bytes.
      for (const proto::Step &s : ep.steps())
        if (s.op() == "alias")
          rt.ptr[s.outputs(0)] = rt.ptr[s.inputs(0)];
    }
    for (int i = 0; i < ep.steps_size(); ++i)
      if (ep.steps(i).op() == "launch")
        launched.push_back(where(ep, i));
    KILN_RETURN_IF_ERROR(afterLaunches(rt.graph->launch(stream)));
  } else {
    KILN_RETURN_IF_ERROR(enqueueSteps(rt, &launched));
  }

  // Results to the host first: a returned buffer may be the old bytes of a state entry
  // that the write-back below replaces.
  size_t out = 0;
  for (const proto::Result &r : ep.results()) {
    if (!r.state().empty())
      continue;
    int64_t bytes = byteSize(ep.buffers(r.buffer()));
    if (bytes > 0)
      KILN_RETURN_IF_ERROR(afterLaunches(api.check(
          api.cuMemcpyDtoHAsync(rt.outputStaging.data() + rt.outputOffsets[out],
                                rt.ptr[r.buffer()], bytes, stream),
          absl::StrCat("entry '", ep.name(), "' downloading result '", r.name(), "'"))));
    ++out;
  }
  // Donation: where the kernel wrote the state's own bytes there is nothing to do;
  // otherwise the result moves into the resident buffer device-to-device.
  for (const proto::Result &r : ep.results()) {
    if (r.state().empty())
      continue;
    CUdeviceptr dst = impl.state[stateIndex(r.state())]->ptr();
    int64_t bytes = byteSize(ep.buffers(r.buffer()));
    if (bytes > 0 && dst != rt.ptr[r.buffer()])
      KILN_RETURN_IF_ERROR(afterLaunches(api.check(
          api.cuMemcpyDtoDAsync(dst, rt.ptr[r.buffer()], bytes, stream),
          absl::StrCat("entry '", ep.name(), "' writing result '", r.name(), "' to state"))));
  }
  KILN_RETURN_IF_ERROR(syncOrExplain(rt, launched));
  lastPeakBytes_ = ep.arena_bytes() + argBytes;

  std::vector<HostTensor> results;
  out = 0;
  for (const proto::Result &r : ep.results()) {
    if (!r.state().empty())
      continue;
    const proto::TensorType &t = ep.buffers(r.buffer());
    HostTensor h(t.dtype(), std::vector<int64_t>(t.shape().begin(), t.shape().end()));
    if (h.byteSize() > 0)
      std::memcpy(h.data(), rt.outputStaging.data() + rt.outputOffsets[out], h.byteSize());
    ++out;
    results.push_back(std::move(h));
  }
  return results;
}

absl::StatusOr<double> CudaExecutor::timeEntry(std::string_view name,
                                               const std::vector<HostTensor> &inputs,
                                               int iterations) {
  if (iterations < 1)
    return absl::InvalidArgumentError(
        absl::StrCat("timeEntry needs at least one iteration, given ", iterations));
  KILN_RETURN_IF_ERROR(run(name, inputs).status());
  EntryRuntime *rt = nullptr;
  for (int e = 0; e < exe_.entries_size(); ++e)
    if (exe_.entries(e).name() == name)
      rt = &impl_->entries[e];
  const cuda::CudaApi &api = impl_->device->api();
  cuda::CUstream stream = impl_->stream.get();
  cuda::CUevent start = nullptr, end = nullptr;
  auto destroy = [&] {
    if (start)
      api.cuEventDestroy(start);
    if (end)
      api.cuEventDestroy(end);
  };
  std::vector<std::string> launched;
  absl::Status st = api.check(api.cuEventCreate(&start, 0), "creating a timing event");
  if (st.ok())
    st = api.check(api.cuEventCreate(&end, 0), "creating a timing event");
  if (st.ok())
    st = api.check(api.cuEventRecord(start, stream), "recording a timing event");
  for (int i = 0; st.ok() && i < iterations; ++i)
    st = rt->graph ? rt->graph->launch(stream) : enqueueSteps(*rt, &launched);
  if (st.ok())
    st = api.check(api.cuEventRecord(end, stream), "recording a timing event");
  if (st.ok())
    st = syncOrExplain(*rt, launched);
  float ms = 0;
  if (st.ok())
    st = api.check(api.cuEventElapsedTime(&ms, start, end), "reading a timing event");
  destroy();
  if (!st.ok())
    return st;
  return static_cast<double>(ms) / iterations;
}

absl::StatusOr<std::vector<HostTensor>> CudaExecutor::run(std::string_view name,
                                                          const std::vector<HostTensor> &inputs) {
  int index = -1;
  for (int e = 0; e < exe_.entries_size(); ++e)
    if (exe_.entries(e).name() == name)
      index = e;
  if (index < 0)
    return absl::NotFoundError(absl::StrCat("no entry point '", std::string(name),
                                            "'; entries are: ", absl::StrJoin(entryNames(), ", ")));
  const proto::EntryPoint &ep = exe_.entries(index);
  std::vector<const proto::Argument *> fed;
  for (const proto::Argument &a : ep.arguments())
    if (a.state().empty())
      fed.push_back(&a);
  if (inputs.size() != fed.size()) {
    std::vector<std::string> names;
    for (const proto::Argument *a : fed)
      names.push_back(a->name());
    return absl::InvalidArgumentError(absl::StrCat("entry '", std::string(name), "' takes ",
                                                   fed.size(), " inputs (",
                                                   absl::StrJoin(names, ", "), "), given ",
                                                   inputs.size()));
  }
  for (size_t i = 0; i < fed.size(); ++i) {
    const proto::TensorType &t = ep.buffers(fed[i]->buffer());
    if (!inputs[i].hasType(t))
      return absl::InvalidArgumentError(absl::StrCat("entry '", std::string(name), "' argument '",
                                                     fed[i]->name(), "': expected ",
                                                     typeString(t), ", given ",
                                                     inputs[i].typeString()));
  }
  return runEntry(impl_->entries[index], inputs);
}

absl::StatusOr<std::map<std::string, HostTensor>>
CudaExecutor::runNamed(std::string_view name, const std::map<std::string, HostTensor> &inputs) {
  const proto::EntryPoint *ep = entry(name);
  if (!ep)
    return absl::NotFoundError(absl::StrCat("no entry point '", std::string(name),
                                            "'; entries are: ", absl::StrJoin(entryNames(), ", ")));
  std::vector<HostTensor> ordered;
  for (const proto::Argument &a : ep->arguments()) {
    if (!a.state().empty())
      continue;
    auto it = inputs.find(a.name());
    if (it == inputs.end())
      return absl::InvalidArgumentError(absl::StrCat("entry '", std::string(name), "' argument '",
                                                     a.name(), "' is not given"));
    ordered.push_back(it->second);
  }
  for (const auto &[key, value] : inputs) {
    bool known = false;
    for (const proto::Argument &a : ep->arguments())
      known |= a.state().empty() && a.name() == key;
    if (!known)
      return absl::InvalidArgumentError(absl::StrCat("entry '", std::string(name),
                                                     "' has no caller-fed argument '", key, "'"));
  }
  KILN_ASSIGN_OR_RETURN(std::vector<HostTensor> outs, run(name, ordered));
  std::map<std::string, HostTensor> byName;
  size_t k = 0;
  for (const proto::Result &r : ep->results())
    if (r.state().empty())
      byName[r.name()] = outs[k++];
  return byName;
}

} // namespace kiln
