//===- PtxValidation.cpp - what the CUDA executor checks on load ----------===//
//
// The rules of ptx Executables beyond the shared structure: the step ops the
// CUDA device runs, and the arena plan that buffer planning wrote.
//
//===----------------------------------------------------------------------===//

#include "executor/cuda/PtxValidation.h"

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "executor/HostTensor.h"
#include "executor/StatusMacros.h"
#include "executor/cuda/CublasApi.h"
#include "executor/cuda/TensorMap.h"

namespace kiln::cuda {

std::string describePtxStep(const proto::EntryPoint &ep, int i) {
  const proto::Step &s = ep.steps(i);
  std::string what =
      s.op() == "launch" ? absl::StrCat("kernel '", s.launch().kernel(), "'")
      : s.op() == "gemm" ? absl::StrCat("gemm on ", s.gemm().provider())
                         : absl::StrCat("'", s.op(), "'");
  return absl::StrCat(
      "entry '", ep.name(), "' step ", i, " (", what, " at ",
      s.location().empty() ? "<unknown location>" : s.location(), ")");
}

namespace {

/// A gemm step's provider, sizes and buffers agree (the library trusts them).
absl::Status validateGemm(const proto::EntryPoint &ep, int i) {
  const proto::Step &s = ep.steps(i);
  const proto::Gemm &g = s.gemm();
  if (g.provider() != "cublas")
    return absl::InvalidArgumentError(
        absl::StrCat(describePtxStep(ep, i), ": unknown gemm provider '",
                     g.provider(), "' (this build has: cublas)"));
  for (int64_t d : {g.m(), g.n(), g.k(), g.batch()})
    if (d < 1 || d > 0x7fffffff)
      return absl::InvalidArgumentError(absl::StrCat(
          describePtxStep(ep, i), ": gemm sizes m=", g.m(), " n=", g.n(),
          " k=", g.k(), " batch=", g.batch(), " must lie in [1, 2^31)"));
  const proto::TensorType &a = ep.buffers(s.inputs(0)),
                          &b = ep.buffers(s.inputs(1)),
                          &c = ep.buffers(s.outputs(0));
  if (a.dtype() != b.dtype() || a.dtype() != c.dtype() ||
      cublasDataType(a.dtype()) < 0)
    return absl::InvalidArgumentError(absl::StrCat(
        describePtxStep(ep, i),
        ": gemm needs one dtype among f32, f64, f16, bf16; given ",
        typeString(a), ", ", typeString(b), " -> ", typeString(c)));
  auto elements = [](const proto::TensorType &t) {
    int64_t n = 1;
    for (int64_t d : t.shape())
      n *= d;
    return n;
  };
  int64_t wantA = g.m() * g.k() * (g.broadcast_a() ? 1 : g.batch());
  int64_t wantB = g.k() * g.n() * (g.broadcast_b() ? 1 : g.batch());
  if (elements(a) != wantA || elements(b) != wantB ||
      elements(c) != g.m() * g.n() * g.batch())
    return absl::InvalidArgumentError(absl::StrCat(
        describePtxStep(ep, i), ": gemm m=", g.m(), " n=", g.n(), " k=", g.k(),
        " batch=", g.batch(), " does not match buffers ", typeString(a), ", ",
        typeString(b), " -> ", typeString(c)));
  return absl::OkStatus();
}

/// The ops the CUDA device runs, with their operands.
absl::Status checkStep(const proto::Executable &exe,
                       const proto::EntryPoint &ep, int i) {
  const proto::Step &s = ep.steps(i);
  int nb = ep.buffers_size();
  auto arity = [&](int ins, int outs) -> absl::Status {
    if (s.inputs_size() != ins || s.outputs_size() != outs)
      return absl::InvalidArgumentError(absl::StrCat(
          describePtxStep(ep, i), " takes ", ins, " inputs and ", outs,
          " outputs, given ", s.inputs_size(), " and ", s.outputs_size()));
    return absl::OkStatus();
  };
  if (s.op() == "launch") {
    const proto::Launch &l = s.launch();
    if (l.module() < 0 || l.module() >= exe.modules_size())
      return absl::InvalidArgumentError(
          absl::StrCat(describePtxStep(ep, i), ": module ", l.module(),
                       " is out of range (", exe.modules_size(), " modules)"));
    if (l.kernel().empty())
      return absl::InvalidArgumentError(
          absl::StrCat(describePtxStep(ep, i), ": no kernel name"));
    for (const auto *dims : {&l.grid(), &l.block()}) {
      if (dims->size() > 3)
        return absl::InvalidArgumentError(
            absl::StrCat(describePtxStep(ep, i),
                         ": grid and block take at most 3 dimensions"));
      for (int64_t d : *dims)
        if (d < 1 || d > 0x7fffffff)
          return absl::InvalidArgumentError(
              absl::StrCat(describePtxStep(ep, i), ": grid/block dimension ", d,
                           " is outside [1, 2^31)"));
    }
    if (!l.cluster().empty()) {
      int64_t blocks = 1;
      for (int k = 0; k < l.cluster_size(); ++k) {
        int64_t d = l.cluster(k);
        int64_t grid = k < l.grid_size() ? l.grid(k) : 1;
        if (d < 1 || grid % d != 0)
          return absl::InvalidArgumentError(
              absl::StrCat(describePtxStep(ep, i), ": cluster dimension ", d,
                           " does not divide grid dimension ", grid));
        blocks *= d;
      }
      // Eight is the portable bound (more needs a per-kernel opt-in).
      if (l.cluster_size() > 3 || blocks > 8)
        return absl::InvalidArgumentError(absl::StrCat(
            describePtxStep(ep, i), ": a cluster of ", blocks, " blocks in ",
            l.cluster_size(), " dimensions (at most 8 blocks in 3)"));
    }
    if (l.shared_bytes() < 0)
      return absl::InvalidArgumentError(
          absl::StrCat(describePtxStep(ep, i), ": negative shared_bytes"));
    for (int b : l.buffers())
      if (b < 0 || b >= nb)
        return absl::InvalidArgumentError(
            absl::StrCat(describePtxStep(ep, i), ": kernel parameter buffer ",
                         b, " is out of range (", nb, " buffers)"));
    for (const proto::TensorMap &m : l.tensor_maps())
      KILN_RETURN_IF_ERROR(validateTensorMap(m, ep, l, describePtxStep(ep, i)));
  } else if (s.op() == "alias" || s.op() == "copy") {
    KILN_RETURN_IF_ERROR(arity(1, 1));
    if (bufferBytes(ep.buffers(s.inputs(0))) !=
        bufferBytes(ep.buffers(s.outputs(0))))
      return absl::InvalidArgumentError(absl::StrCat(
          describePtxStep(ep, i), ": ", typeString(ep.buffers(s.inputs(0))),
          " and ", typeString(ep.buffers(s.outputs(0))), " differ in size"));
  } else if (s.op() == "constant") {
    KILN_RETURN_IF_ERROR(arity(0, 1));
    auto it = s.attrs().find("value");
    if (it == s.attrs().end() || !it->second.has_tensor())
      return absl::InvalidArgumentError(absl::StrCat(
          describePtxStep(ep, i), ": no tensor attribute 'value'"));
    if (!sameTensorType(it->second.tensor().type(), ep.buffers(s.outputs(0))))
      return absl::InvalidArgumentError(absl::StrCat(
          describePtxStep(ep, i), ": value is ",
          typeString(it->second.tensor().type()), " but the buffer is ",
          typeString(ep.buffers(s.outputs(0)))));
  } else if (s.op() == "gemm") {
    KILN_RETURN_IF_ERROR(arity(2, 1));
    KILN_RETURN_IF_ERROR(validateGemm(ep, i));
  } else if (s.op() == "all_gather") {
    KILN_RETURN_IF_ERROR(arity(1, 1));
  } else if (s.op() == "all_to_all") {
    KILN_RETURN_IF_ERROR(arity(2, 2));
  } else if (s.op() == "send") {
    KILN_RETURN_IF_ERROR(arity(1, 0));
  } else if (s.op() == "recv") {
    KILN_RETURN_IF_ERROR(arity(0, 1));
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat(describePtxStep(ep, i), ": unknown op '", s.op(),
                     "' for the ptx target (expected launch, alias, copy, "
                     "constant, gemm, all_gather, all_to_all, send or recv)"));
  }
  return absl::OkStatus();
}

/// The memory plan: every buffer an offset in the arena, or bytes from an
/// argument, alias or constant; donated state moved without a temporary.
absl::Status checkEntry(const proto::Executable &,
                        const proto::EntryPoint &ep) {
  const std::string entryName = absl::StrCat("entry '", ep.name(), "'");
  int nb = ep.buffers_size();
  if (ep.buffer_offsets_size() != nb)
    return absl::InvalidArgumentError(absl::StrCat(
        entryName, " has ", ep.buffer_offsets_size(), " buffer offsets for ",
        nb, " buffers (buffer planning did not run?)"));
  // Which buffers get their bytes from somewhere other than the arena.
  std::vector<bool> bound(nb, false);
  absl::flat_hash_map<int, std::string>
      argState; // buffer -> state name feeding it
  for (const proto::Argument &a : ep.arguments()) {
    bound[a.buffer()] = true;
    if (!a.state().empty())
      argState[a.buffer()] = a.state();
  }
  for (const proto::Step &s : ep.steps())
    if (s.op() == "alias" || s.op() == "constant")
      bound[s.outputs(0)] = true;
  absl::flat_hash_set<std::string> written;
  for (const proto::Result &r : ep.results())
    if (!r.state().empty() && !written.insert(r.state()).second)
      return absl::InvalidArgumentError(absl::StrCat(
          entryName, " writes state entry '", r.state(), "' twice"));
  // A result that moves one state entry's bytes into another, while that entry
  // is itself overwritten, would need a temporary; the compiler never plans
  // this.
  for (const proto::Result &r : ep.results()) {
    auto it = argState.find(r.buffer());
    if (!r.state().empty() && it != argState.end() && it->second != r.state() &&
        written.contains(it->second))
      return absl::UnimplementedError(absl::StrCat(
          entryName, " result '", r.name(), "' writes state entry '", r.state(),
          "' from the bytes of state entry '", it->second,
          "', which this entry also overwrites"));
  }
  if (ep.arena_bytes() < 0)
    return absl::InvalidArgumentError(
        absl::StrCat(entryName, " has a negative arena size"));
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
      if (!bound[b] && referenced[b] && bufferBytes(ep.buffers(b)) > 0)
        return absl::InvalidArgumentError(absl::StrCat(
            entryName, " buffer ", b,
            " has no arena offset and no argument, alias or constant "
            "provides it"));
      continue;
    }
    if (off % 256 != 0 || off + bufferBytes(ep.buffers(b)) > ep.arena_bytes())
      return absl::InvalidArgumentError(
          absl::StrCat(entryName, " buffer ", b, " (",
                       typeString(ep.buffers(b)), ") at arena offset ", off,
                       " is misaligned or ends past the arena of ",
                       ep.arena_bytes(), " bytes"));
  }
  return absl::OkStatus();
}

} // namespace

kiln::ExecutableRules ptxExecutableRules() {
  kiln::ExecutableRules rules;
  rules.target = "ptx";
  rules.executorName = "the CUDA executor";
  rules.describeStep = describePtxStep;
  rules.checkStep = checkStep;
  rules.checkEntry = checkEntry;
  return rules;
}

} // namespace kiln::cuda
