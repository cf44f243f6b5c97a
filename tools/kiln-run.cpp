// kiln-run: runs every host/ptx Executable pair of a bundle on seeded random inputs,
// the host one on the CPU executor and the ptx one on the GPU, and compares outputs.
// Runtime-only (no LLVM/MLIR), statically linked so it can be carried to a GPU machine.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "executor/Bundle.h"
#include "executor/ExecutableQueries.h"
#include "executor/Executor.h"
#include "executor/StatusMacros.h"
#include "executor/cuda/CudaExecutor.h"
#include "executor/cuda/NcclCommunicator.h"
#include "tools/FlagParsing.h"

namespace kiln {
namespace {

constexpr const char *kHelp = R"(usage: kiln-run --bundle=DIR [flags]

For every pair of Executables in the bundle whose keys differ only in target (host and
ptx), draws seeded random inputs and the same initial state for both, runs the host one
on the CPU executor and the ptx one on the CUDA executor, and prints per output (and per
state entry an entry writes): name, type, max |delta|, max |ref|, PASS or FAIL.

  --bundle=DIR        bundle folder (with manifest.json)            required
  --entry=NAME        only this entry (bundle key entry or entry point name)
  --seed=N            seed of inputs and uninitialised state        default 0
  --device=N          CUDA device ordinal                           default 0
  --repeat=N          also time N runs per entry and executor       default 1
  --cuda-graph        capture each entry into a CUDA graph and replay it
  --bench=N           benchmark instead of compare: run only the ptx Executables and
                      print each entry's device time per run (CUDA events around N
                      back-to-back runs after a warm-up; transfers not timed)
  --sync-each-launch  synchronise after every kernel (names a faulting kernel exactly)
  --check-determinism run each ptx entry a second time from the same state and inputs
                      and require identical bits in every output and state it writes
  --help              this text

Every entry starts from the same state on both executors: before it runs, the CPU
executor's state is copied to the GPU, so a rounding-level difference in one entry's
state update (an optimizer step) is compared there and does not compound into the
entries after it.

Inputs: floating-point tensors are drawn from N(0, 1) and rounded to their dtype;
integer tensors uniformly from {0, ..., 7} (small and non-negative, so they are valid
indices, counts and token ids for small shapes); i1 from {0, 1}. State with an
initializer is initialised by both executors (same Philox streams); state without one is
drawn like an input.
Tolerance on max |delta|: f32 1e-4 * max|ref|, f64 1e-9 * max|ref|, bf16/f16 2e-2 *
max|ref|, f8 1.25e-1 * max|ref|; integers and i1 exact; NaN must match NaN.
Started with RANK and WORLD_SIZE set (torchrun's variables; executor/comm/README.md), the
GPU side joins its world first: device LOCAL_RANK, collectives over NCCL (KILN_NCCL_LIBRARY
names libnccl.so.2). RANK=0 WORLD_SIZE=1 runs a one-rank program's collectives through NCCL.
Exit status: 0 all PASS, 1 any FAIL, 2 an error (bad flag, bundle, or run failure).
)";

struct Flags {
  std::string bundle;
  std::string entry;
  uint64_t seed = 0;
  int device = 0;
  int repeat = 1;
  int bench = 0;
  bool cudaGraph = false;
  bool syncEachLaunch = false;
  bool checkDeterminism = false;
};

absl::StatusOr<std::optional<Flags>> parseFlags(int argc, char **argv) {
  Flags f;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&](const char *name, std::string *out) {
      return tools::flagValue(arg, absl::StrCat("--", name), *out);
    };
    std::string v;
    if (arg == "--help" || arg == "-h")
      return std::optional<Flags>();
    if (arg == "--cuda-graph") {
      f.cudaGraph = true;
    } else if (arg == "--sync-each-launch") {
      f.syncEachLaunch = true;
    } else if (arg == "--check-determinism") {
      f.checkDeterminism = true;
    } else if (value("bundle", &f.bundle) || value("entry", &f.entry)) {
    } else if (value("seed", &v)) {
      if (!absl::SimpleAtoi(v, &f.seed))
        return absl::InvalidArgumentError(absl::StrCat("--seed: '", v, "' is not a number"));
    } else if (value("device", &v)) {
      if (!absl::SimpleAtoi(v, &f.device) || f.device < 0)
        return absl::InvalidArgumentError(absl::StrCat("--device: '", v, "' is not an ordinal"));
    } else if (value("bench", &v)) {
      if (!absl::SimpleAtoi(v, &f.bench) || f.bench < 1)
        return absl::InvalidArgumentError(absl::StrCat("--bench: '", v, "' is not >= 1"));
    } else if (value("repeat", &v)) {
      if (!absl::SimpleAtoi(v, &f.repeat) || f.repeat < 1)
        return absl::InvalidArgumentError(absl::StrCat("--repeat: '", v, "' is not >= 1"));
    } else {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag '", arg, "' (see --help)"));
    }
  }
  if (f.bundle.empty())
    return absl::InvalidArgumentError("--bundle=DIR is required (see --help)");
  return std::optional<Flags>(f);
}

// splitmix64: a portable generator, so a seed means the same inputs on every machine.
struct Rng {
  uint64_t s;
  uint64_t next() {
    uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  double uniform() { return (next() >> 11) * 0x1p-53; }
  double normal() { // Box-Muller
    double u = std::max(uniform(), 0x1p-53), v = uniform();
    return std::sqrt(-2 * std::log(u)) * std::cos(2 * M_PI * v);
  }
};

uint64_t hashName(const std::string &s) {
  uint64_t h = 1469598103934665603ull; // FNV-1a
  for (unsigned char c : s)
    h = (h ^ c) * 1099511628211ull;
  return h;
}

HostTensor randomTensor(const proto::TensorType &type, uint64_t seed) {
  HostTensor t(type.dtype(), std::vector<int64_t>(type.shape().begin(), type.shape().end()));
  Rng rng{seed};
  for (int64_t i = 0; i < t.numElements(); ++i) {
    if (isFloat(type.dtype()))
      t.setDouble(i, rng.normal());
    else if (type.dtype() == proto::I1)
      t.setInt(i, rng.next() & 1);
    else
      t.setInt(i, rng.next() % 8);
  }
  return t;
}

double tolerance(proto::DType d) {
  switch (d) {
  case proto::F32: return 1e-4;
  case proto::F64: return 1e-9;
  case proto::BF16:
  case proto::F16: return 2e-2;
  case proto::F8E4M3FN:
  case proto::F8E5M2: return 1.25e-1;
  default: return 0; // integers and i1: exact
  }
}

struct Comparison {
  double maxDelta = 0, maxRef = 0, tol = 0;
  bool pass = true;
  int64_t outside = 0; // elements past the tolerance (counted on FAIL)
};

/// f32 results of an entry whose ptx side multiplies on the fp8 tensor
/// cores: wgmma sums a 128-long K block of float8 products with fewer
/// mantissa bits than f32 before the f32 promotion (the reason DeepSeek-V3
/// promotes every 128), so such outputs differ from the CPU emulation's exact
/// f32 sums by about 2^-12 of their magnitude (2.7e-4 measured on an H100),
/// where f32 kernels match within 1e-4.
constexpr double kFp8TensorCoreTolerance = 1e-3;

Comparison compare(const HostTensor &ref, const HostTensor &got,
                   double floatTolerance) {
  Comparison c;
  if (!got.hasType(ref.type())) {
    c.pass = false;
    c.maxDelta = INFINITY;
    return c;
  }
  bool exact = !isFloat(ref.dtype());
  for (int64_t i = 0; i < ref.numElements(); ++i) {
    if (exact) {
      int64_t a = ref.getInt(i), b = got.getInt(i);
      c.maxRef = std::max(c.maxRef, std::abs(static_cast<double>(a)));
      c.maxDelta = std::max(c.maxDelta, std::abs(static_cast<double>(a) - static_cast<double>(b)));
      continue;
    }
    double a = ref.getDouble(i), b = got.getDouble(i);
    if (std::isnan(a) || std::isnan(b)) {
      if (std::isnan(a) != std::isnan(b))
        c.maxDelta = INFINITY;
      continue;
    }
    c.maxRef = std::max(c.maxRef, std::abs(a));
    double d = a == b ? 0 : std::abs(a - b); // equal infinities differ by 0
    c.maxDelta = std::max(c.maxDelta, std::isnan(d) ? INFINITY : d);
  }
  c.tol = std::max(tolerance(ref.dtype()),
                   ref.dtype() == proto::F32 ? floatTolerance : 0.0) *
          c.maxRef;
  c.pass = c.maxDelta <= c.tol;
  if (!c.pass)
    for (int64_t i = 0; i < ref.numElements(); ++i) {
      double a = exact ? static_cast<double>(ref.getInt(i)) : ref.getDouble(i);
      double b = exact ? static_cast<double>(got.getInt(i)) : got.getDouble(i);
      c.outside += !(std::isnan(a) && std::isnan(b)) && !(std::abs(a - b) <= c.tol) && a != b;
    }
  return c;
}

/// The caller-fed inputs of `ep`, drawn from `seed` and each argument's name, so
/// every mode of kiln-run (and every machine) sees the same values.
std::vector<HostTensor> drawInputs(const proto::EntryPoint &ep, uint64_t seed) {
  std::vector<HostTensor> inputs;
  int k = 0;
  for (const proto::Argument &a : ep.arguments())
    if (a.state().empty())
      inputs.push_back(
          randomTensor(ep.buffers(a.buffer()), seed ^ hashName(ep.name() + ":" + a.name()) ^ k++));
  return inputs;
}

struct Counts {
  int outputs = 0, failures = 0;
};

void printRow(const std::string &name, const HostTensor &ref,
              const HostTensor &got, Counts &counts, double floatTolerance) {
  Comparison c = compare(ref, got, floatTolerance);
  ++counts.outputs;
  counts.failures += !c.pass;
  std::string result = c.pass ? "PASS"
                              : absl::StrCat("FAIL (", c.outside, " of ", ref.numElements(),
                                             " elements)");
  std::printf("    %-24s %-18s %-12.4g %-12.4g %-12.4g %s\n", name.c_str(),
              ref.typeString().c_str(), c.maxDelta, c.maxRef, c.tol, result.c_str());
}

double medianMs(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

template <typename Run> absl::StatusOr<double> timeRuns(int n, Run run) {
  std::vector<double> ms;
  for (int i = 0; i < n; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    KILN_RETURN_IF_ERROR(run());
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                     .count());
  }
  return medianMs(ms);
}

bool sameBits(const HostTensor &a, const HostTensor &b) {
  return a.typeString() == b.typeString() &&
         std::memcmp(a.data(), b.data(), a.byteSize()) == 0;
}

/// --check-determinism: the entry again from the state it started from; every
/// output and state entry must come out bit for bit as the first run's.
absl::Status checkRerun(CudaExecutor &gpu, const std::string &entry,
                        const std::vector<HostTensor> &inputs,
                        const std::vector<HostTensor> &first,
                        const std::map<std::string, HostTensor> &before,
                        Counts &counts) {
  std::map<std::string, HostTensor> after;
  for (const auto &[name, value] : before) {
    KILN_ASSIGN_OR_RETURN(HostTensor now, gpu.getState(name));
    after[name] = now.clone();
  }
  for (const auto &[name, value] : before)
    KILN_RETURN_IF_ERROR(gpu.setState(name, value));
  KILN_ASSIGN_OR_RETURN(std::vector<HostTensor> again, gpu.run(entry, inputs));
  std::vector<std::string> differ;
  for (size_t i = 0; i < first.size() && i < again.size(); ++i)
    if (!sameBits(first[i], again[i]))
      differ.push_back(absl::StrCat("output ", i));
  for (const auto &[name, value] : after) {
    KILN_ASSIGN_OR_RETURN(HostTensor now, gpu.getState(name));
    if (!sameBits(value, now))
      differ.push_back("state:" + name);
  }
  ++counts.outputs;
  if (differ.empty()) {
    std::printf("    determinism: a second ptx run gives identical bits (%zu "
                "outputs, %zu state entries)  PASS\n",
                first.size(), after.size());
  } else {
    ++counts.failures;
    std::printf("    determinism: a second ptx run differs in %s  FAIL\n",
                absl::StrJoin(differ, ", ").c_str());
  }
  return absl::OkStatus();
}

/// The CUDA executor's options from the flags. Started with RANK and
/// WORLD_SIZE (torchrun's variables), the process joins its GPU world once:
/// device LOCAL_RANK, collectives over NCCL (RANK=0 WORLD_SIZE=1 runs the
/// NCCL path on one GPU).
absl::StatusOr<CudaExecutorOptions> gpuOptions(const Flags &flags) {
  CudaExecutorOptions opts;
  opts.deviceOrdinal = flags.device;
  opts.useCudaGraph = flags.cudaGraph;
  opts.syncAfterEachLaunch = flags.syncEachLaunch;
  if (!std::getenv("RANK") || !std::getenv("WORLD_SIZE"))
    return opts;
  static const absl::StatusOr<cuda::DeviceWorld> world =
      cuda::joinDeviceWorld(flags.device);
  if (!world.ok())
    return world.status();
  opts.deviceOrdinal = world->device->ordinal();
  opts.communicator = world->communicator;
  return opts;
}

absl::Status runPair(const Flags &flags, const Bundle &bundle, const BundleKey &hostKey,
                     const BundleKey &ptxKey, Counts &counts) {
  KILN_ASSIGN_OR_RETURN(proto::Executable hostExe, bundle.load(hostKey));
  KILN_ASSIGN_OR_RETURN(proto::Executable ptxExe, bundle.load(ptxKey));
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<Executor> cpu, Executor::create(hostExe));
  KILN_ASSIGN_OR_RETURN(CudaExecutorOptions opts, gpuOptions(flags));
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<CudaExecutor> gpu, CudaExecutor::create(ptxExe, opts));
  std::printf("== %s (host vs ptx on %s)\n",
              absl::StrCat("model_hash=", hostKey.modelHash, " entry=", hostKey.entry,
                           " bucket=", hostKey.bucket, " compiler_version=",
                           hostKey.compilerVersion)
                  .c_str(),
              gpu->deviceDescription().c_str());

  // Same state on both: initializers run on both (identical Philox values); the rest
  // is drawn once here and set on both.
  KILN_RETURN_IF_ERROR(cpu->initializeState());
  KILN_RETURN_IF_ERROR(gpu->initializeState());
  for (const proto::StateEntry &s : hostExe.state()) {
    // Derived state each executor computes from the parameters itself.
    if (!s.init().kind().empty() || isDerivedState(s))
      continue;
    HostTensor v = randomTensor(s.type(), flags.seed ^ hashName("state:" + s.name()));
    KILN_RETURN_IF_ERROR(cpu->setState(s.name(), v));
    KILN_RETURN_IF_ERROR(gpu->setState(s.name(), v));
  }

  // fp8 tensor-core kernels (kiln.scaled_matmul) sum in reduced precision
  // inside a K block: their entries' f32 results get kFp8TensorCoreTolerance.
  double floatTolerance = 0;
  // Kernels are named after their region's root (k12_scaled_matmul...);
  // modules only by number.
  for (const proto::EntryPoint &ep : ptxExe.entries())
    for (const proto::Step &step : ep.steps())
      if (step.has_launch() &&
          absl::StrContains(step.launch().kernel(), "scaled_matmul"))
        floatTolerance = kFp8TensorCoreTolerance;
  if (floatTolerance > 0)
    std::printf(
        "  (fp8 tensor-core kernels: f32 outputs within %g of max|ref|)\n",
        floatTolerance);
  absl::flat_hash_set<std::string> derivedNames;
  for (const proto::StateEntry &s : hostExe.state())
    if (isDerivedState(s))
      derivedNames.insert(s.name());
  for (const proto::EntryPoint &ep : hostExe.entries()) {
    if (!flags.entry.empty() && flags.entry != hostKey.entry && flags.entry != ep.name())
      continue;
    if (!gpu->entry(ep.name()))
      return absl::InvalidArgumentError(absl::StrCat("the ptx Executable of ",
                                                     bundleKeyString(ptxKey),
                                                     " has no entry '", ep.name(), "'"));
    std::vector<HostTensor> inputs = drawInputs(ep, flags.seed);
    std::map<std::string, HostTensor> before;
    for (const proto::StateEntry &s : hostExe.state()) {
      if (isDerivedState(s))
        continue;
      const std::string &name = s.name();
      absl::StatusOr<HostTensor> value = cpu->getState(name);
      if (!value.ok()) // state no entry has written yet has no value on either side
        continue;
      if (flags.checkDeterminism)
        before[name] = value->clone();
      KILN_RETURN_IF_ERROR(gpu->setState(name, *std::move(value)));
    }
    KILN_ASSIGN_OR_RETURN(std::vector<HostTensor> ref, cpu->run(ep.name(), inputs));
    KILN_ASSIGN_OR_RETURN(std::vector<HostTensor> got, gpu->run(ep.name(), inputs));
    std::printf("  entry '%s'\n    %-24s %-18s %-12s %-12s %-12s %s\n", ep.name().c_str(),
                "output", "type", "max|delta|", "max|ref|", "tolerance", "result");
    size_t r = 0;
    for (const proto::Result &res : ep.results()) {
      if (!res.state().empty()) {
        KILN_ASSIGN_OR_RETURN(HostTensor sRef, cpu->getState(res.state()));
        absl::StatusOr<HostTensor> sGot = gpu->getState(res.state());
        // Derived state is each target's cache of work on the parameters:
        // the ptx target keeps an int4 weight packed for its GEMM where the
        // host keeps it dequantized. Where the two differ, the entries that
        // read it compare the effect.
        if (derivedNames.contains(res.state()) &&
            (!sGot.ok() || sGot->typeString() != sRef.typeString())) {
          std::printf("    %-24s host %s, ptx %s: each target's own derived "
                      "state, not compared\n",
                      ("state:" + res.state()).c_str(),
                      sRef.typeString().c_str(),
                      sGot.ok() ? sGot->typeString().c_str() : "none");
          continue;
        }
        if (!sGot.ok())
          return sGot.status();
        printRow("state:" + res.state(), sRef, *sGot, counts, floatTolerance);
        continue;
      }
      printRow(res.name(), ref[r], got[r], counts, floatTolerance);
      ++r;
    }
    if (flags.checkDeterminism)
      KILN_RETURN_IF_ERROR(checkRerun(*gpu, ep.name(), inputs, got, before, counts));
    if (flags.repeat > 1) {
      KILN_ASSIGN_OR_RETURN(double hostMs, timeRuns(flags.repeat, [&]() -> absl::Status {
                              return cpu->run(ep.name(), inputs).status();
                            }));
      KILN_ASSIGN_OR_RETURN(double ptxMs, timeRuns(flags.repeat, [&]() -> absl::Status {
                              return gpu->run(ep.name(), inputs).status();
                            }));
      std::printf("    timing, median of %d calls (inputs in, results out): host %.4f ms, "
                  "ptx%s %.4f ms\n",
                  flags.repeat, hostMs, flags.cudaGraph ? " (CUDA graph)" : "", ptxMs);
    }
  }
  return absl::OkStatus();
}

/// --bench: device time per run of every entry of one ptx Executable.
absl::Status benchPtx(const Flags &flags, const Bundle &bundle, const BundleKey &key) {
  KILN_ASSIGN_OR_RETURN(proto::Executable exe, bundle.load(key));
  KILN_ASSIGN_OR_RETURN(CudaExecutorOptions opts, gpuOptions(flags));
  opts.syncAfterEachLaunch = false;
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<CudaExecutor> gpu, CudaExecutor::create(exe, opts));
  KILN_RETURN_IF_ERROR(gpu->initializeState());
  for (const proto::StateEntry &s : exe.state())
    if (s.init().kind().empty() && !isDerivedState(s))
      KILN_RETURN_IF_ERROR(
          gpu->setState(s.name(), randomTensor(s.type(), flags.seed ^ hashName("state:" + s.name()))));
  for (const proto::EntryPoint &ep : exe.entries()) {
    if (!flags.entry.empty() && flags.entry != key.entry && flags.entry != ep.name())
      continue;
    std::vector<HostTensor> inputs = drawInputs(ep, flags.seed);
    KILN_ASSIGN_OR_RETURN(double ms, gpu->timeEntry(ep.name(), inputs, flags.bench));
    int launches = 0;
    for (const proto::Step &s : ep.steps())
      launches += s.op() == "launch";
    // One machine-readable line per entry: bench/ scripts parse it.
    std::printf("bench model_hash=%s entry=%s bucket=%s ms=%.6f launches=%d%s\n",
                key.modelHash.c_str(), ep.name().c_str(), key.bucket.c_str(), ms, launches,
                flags.cudaGraph ? " cuda_graph=1" : "");
  }
  return absl::OkStatus();
}

int runMain(int argc, char **argv) {
  auto parsed = parseFlags(argc, argv);
  if (!parsed.ok()) {
    std::fprintf(stderr, "kiln-run: %s\n", std::string(parsed.status().message()).c_str());
    return 2;
  }
  if (!*parsed) {
    std::fputs(kHelp, stdout);
    return 0;
  }
  const Flags &flags = **parsed;
  auto bundle = openBundle(flags.bundle);
  if (!bundle.ok()) {
    std::fprintf(stderr, "kiln-run: %s\n", std::string(bundle.status().message()).c_str());
    return 2;
  }
  if (flags.bench > 0) {
    int ran = 0;
    for (const BundleEntry &e : bundle->entries()) {
      if (e.key.target != "ptx")
        continue;
      ++ran;
      if (absl::Status st = benchPtx(flags, *bundle, e.key); !st.ok()) {
        std::fprintf(stderr, "kiln-run: %s\n", std::string(st.message()).c_str());
        return 2;
      }
    }
    if (ran == 0) {
      std::fprintf(stderr, "kiln-run: bundle '%s' has no ptx Executable\n", flags.bundle.c_str());
      return 2;
    }
    return 0;
  }
  // Pair keys that differ only in target.
  std::map<BundleKey, std::pair<const BundleKey *, const BundleKey *>> pairs;
  for (const BundleEntry &e : bundle->entries()) {
    BundleKey k = e.key;
    k.target.clear();
    if (e.key.target == "host")
      pairs[k].first = &e.key;
    else if (e.key.target == "ptx")
      pairs[k].second = &e.key;
  }
  Counts counts;
  int ran = 0;
  for (const auto &[k, pair] : pairs) {
    if (!pair.first || !pair.second) {
      std::printf("-- skipping %s: no %s twin\n", bundleKeyString(*(pair.first ? pair.first : pair.second)).c_str(),
                  pair.first ? "ptx" : "host");
      continue;
    }
    ++ran;
    absl::Status st = runPair(flags, *bundle, *pair.first, *pair.second, counts);
    if (!st.ok()) {
      std::fprintf(stderr, "kiln-run: %s\n", std::string(st.message()).c_str());
      return 2;
    }
  }
  if (ran == 0) {
    std::fprintf(stderr, "kiln-run: bundle '%s' has no host/ptx pair to compare\n",
                 flags.bundle.c_str());
    return 2;
  }
  std::printf("%d outputs compared, %d FAIL\n", counts.outputs, counts.failures);
  return counts.failures ? 1 : 0;
}

} // namespace
} // namespace kiln

int main(int argc, char **argv) {
  // An error is a message and exit status 2, never an abort.
  try {
    return kiln::runMain(argc, argv);
  } catch (const std::bad_alloc &) {
    std::fprintf(stderr, "kiln-run: out of memory\n");
  } catch (const std::exception &e) {
    std::fprintf(stderr, "kiln-run: internal error: %s\n", e.what());
  }
  return 2;
}
