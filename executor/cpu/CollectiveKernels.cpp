//===- CollectiveKernels.cpp - the collectives on the host ----------------===//
//
// all_reduce, reduce_scatter, all_gather, all_to_all, send and recv over the
// executor's Communicator. The communicator only moves bytes; sums are taken
// here, over ranks 0, 1, ..., G-1 in that order in the compute type (f32 for
// bf16 and f16) and rounded once, so every rank gets the same bits whatever
// the engine underneath. all_reduce moves the bytes a ring does: an
// all_to_all of 1/G blocks, a local sum, and an all_gather of the sums.
//
//===----------------------------------------------------------------------===//

#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#include "absl/strings/str_cat.h"
#include "executor/comm/AllToAllPlan.h"
#include "executor/comm/Communicator.h"
#include "executor/cpu/Compute.h"
#include "executor/cpu/Kernel.h"

namespace kiln {
namespace {

CollectiveSite siteOf(const KernelContext &ctx) {
  return {ctx.op(), ctx.location()};
}

/// The communicator, checked against the group the op was compiled for.
absl::StatusOr<Communicator *> communicatorFor(const KernelContext &ctx) {
  KILN_ASSIGN_OR_RETURN(int64_t groupSize, ctx.attrInt("group_size"));
  // A context made without a device's communicator runs in a world of one.
  Communicator *comm = ctx.communicator();
  if (!comm)
    comm = singleProcessCommunicator().get();
  if (comm->size() != groupSize)
    return ctx.error(absl::StrCat(
        "was compiled for ", groupSize, " ranks but runs in a world of ",
        comm->size(), " (", comm->describe(),
        "); launch it with mpirun -np ", groupSize,
        " or compile it for this world size"));
  return comm;
}

enum class Reduction { Sum, Max, Min };

absl::StatusOr<Reduction> reductionOf(const KernelContext &ctx) {
  if (!ctx.hasAttr("reduction"))
    return Reduction::Sum;
  KILN_ASSIGN_OR_RETURN(std::string name, ctx.attrString("reduction"));
  if (name == "sum")
    return Reduction::Sum;
  if (name == "max")
    return Reduction::Max;
  if (name == "min")
    return Reduction::Min;
  return ctx.error(absl::StrCat("unknown reduction '", name, "'"));
}

template <typename T> T combine(Reduction r, T acc, T v) {
  if (r == Reduction::Sum)
    return acc + v;
  if constexpr (std::is_floating_point_v<T>)
    if (std::isnan(acc) || std::isnan(v))
      return std::numeric_limits<T>::quiet_NaN();
  if (r == Reduction::Max)
    return v > acc ? v : acc;
  return v < acc ? v : acc;
}

/// out[i] = the reduction of blocks[0][i], ..., blocks[G-1][i] in rank order,
/// where `blocks` is [G, m] of out's dtype.
absl::Status reduceBlocks(const KernelContext &ctx, const HostTensor &blocks,
                          Reduction reduction, HostTensor &out) {
  int64_t groups = blocks.dim(0), m = blocks.dim(1);
  dispatchCompute(out.dtype(), [&](auto zero) {
    using T = decltype(zero);
    ReadView<T> in(blocks);
    WriteView<T> w(out);
    ctx.parallelFor(m, 2.0 * groups, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) {
        T acc = in[i];
        for (int64_t g = 1; g < groups; ++g)
          acc = combine(reduction, acc, in[g * m + i]);
        w[i] = acc;
      }
    });
    w.commit();
  });
  return absl::OkStatus();
}

/// Sends block p of `send` ([G, blockBytes]) to rank p and receives rank s's
/// block into recv's block s: the exchange of equal blocks.
absl::Status exchangeBlocks(const KernelContext &ctx, Communicator &comm,
                            const void *send, void *recv, int64_t blockBytes) {
  int groups = comm.size();
  std::vector<int64_t> bytes(groups, blockBytes), offsets(groups);
  for (int g = 0; g < groups; ++g)
    offsets[g] = g * blockBytes;
  return comm.allToAll(send, bytes, offsets, recv, bytes, offsets,
                       siteOf(ctx));
}

absl::Status allReduceKernel(const KernelContext &ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(1));
  KILN_RETURN_IF_ERROR(ctx.expectOutputs(1));
  KILN_ASSIGN_OR_RETURN(Communicator * comm, communicatorFor(ctx));
  KILN_ASSIGN_OR_RETURN(Reduction reduction, reductionOf(ctx));
  const HostTensor &x = ctx.input(0);
  KILN_RETURN_IF_ERROR(ctx.expectOutput(0, x.shape(), x.dtype()));
  int64_t groups = comm->size(), n = x.numElements();
  int64_t elementBytes = storageBytes(x.dtype());
  // Rank r reduces elements [r * block, (r + 1) * block) of the padded array.
  int64_t block = (n + groups - 1) / groups;
  HostTensor padded(x.dtype(), {groups, block}, x.layout());
  std::memcpy(padded.data(), x.data(), x.byteSize());
  HostTensor received(x.dtype(), {groups, block}, x.layout());
  KILN_RETURN_IF_ERROR(exchangeBlocks(ctx, *comm, padded.data(),
                                      received.data(), block * elementBytes));
  HostTensor mine(x.dtype(), {block}, x.layout());
  KILN_RETURN_IF_ERROR(reduceBlocks(ctx, received, reduction, mine));
  KILN_RETURN_IF_ERROR(comm->allGather(mine.data(), padded.data(),
                                       block * elementBytes, siteOf(ctx)));
  std::memcpy(ctx.output(0).data(), padded.data(), x.byteSize());
  return absl::OkStatus();
}

absl::Status reduceScatterKernel(const KernelContext &ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(1));
  KILN_RETURN_IF_ERROR(ctx.expectOutputs(1));
  KILN_ASSIGN_OR_RETURN(Communicator * comm, communicatorFor(ctx));
  const HostTensor &x = ctx.input(0);
  KILN_ASSIGN_OR_RETURN(int64_t axisAttr, ctx.attrInt("axis"));
  KILN_ASSIGN_OR_RETURN(int64_t axis, ctx.axis(axisAttr, x.rank()));
  int64_t groups = comm->size();
  AxisSplit split = splitAt(x.shape(), axis);
  if (split.n % groups != 0)
    return ctx.error(absl::StrCat("dimension ", axis, " of ", x.typeString(),
                                  " does not split over ", groups, " ranks"));
  std::vector<int64_t> shape = x.shape();
  shape[axis] /= groups;
  KILN_RETURN_IF_ERROR(ctx.expectOutput(0, shape, x.dtype()));
  // Pack block p of every outer row together: [G, outer, n/G, inner].
  int64_t rowBytes = split.n / groups * split.inner * storageBytes(x.dtype());
  int64_t blockBytes = split.outer * rowBytes;
  HostTensor packed(x.dtype(), {groups, blockBytes / storageBytes(x.dtype())}, x.layout());
  const char *src = static_cast<const char *>(x.data());
  char *dst = static_cast<char *>(packed.data());
  for (int64_t p = 0; p < groups; ++p)
    for (int64_t o = 0; o < split.outer; ++o)
      std::memcpy(dst + p * blockBytes + o * rowBytes,
                  src + (o * groups + p) * rowBytes, rowBytes);
  HostTensor received(x.dtype(), packed.shape(), x.layout());
  KILN_RETURN_IF_ERROR(exchangeBlocks(ctx, *comm, packed.data(),
                                      received.data(), blockBytes));
  HostTensor flat = ctx.output(0).reshaped({received.dim(1)});
  KILN_RETURN_IF_ERROR(reduceBlocks(ctx, received, Reduction::Sum, flat));
  return absl::OkStatus();
}

absl::Status allGatherKernel(const KernelContext &ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(1));
  KILN_RETURN_IF_ERROR(ctx.expectOutputs(1));
  KILN_ASSIGN_OR_RETURN(Communicator * comm, communicatorFor(ctx));
  const HostTensor &x = ctx.input(0);
  KILN_ASSIGN_OR_RETURN(int64_t axisAttr, ctx.attrInt("axis"));
  KILN_ASSIGN_OR_RETURN(int64_t axis, ctx.axis(axisAttr, x.rank()));
  int64_t groups = comm->size();
  std::vector<int64_t> shape = x.shape();
  shape[axis] *= groups;
  KILN_RETURN_IF_ERROR(ctx.expectOutput(0, shape, x.dtype()));
  HostTensor gathered(x.dtype(), {groups, x.numElements()}, x.layout());
  KILN_RETURN_IF_ERROR(
      comm->allGather(x.data(), gathered.data(), x.byteSize(), siteOf(ctx)));
  // [G, outer, n, inner] -> [outer, G * n, inner].
  AxisSplit split = splitAt(x.shape(), axis);
  int64_t rowBytes = split.n * split.inner * storageBytes(x.dtype());
  const char *src = static_cast<const char *>(gathered.data());
  char *dst = static_cast<char *>(ctx.output(0).data());
  for (int64_t o = 0; o < split.outer; ++o)
    for (int64_t g = 0; g < groups; ++g)
      std::memcpy(dst + (o * groups + g) * rowBytes,
                  src + g * x.byteSize() + o * rowBytes, rowBytes);
  return absl::OkStatus();
}

absl::Status allToAllKernel(const KernelContext &ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(2));
  KILN_RETURN_IF_ERROR(ctx.expectOutputs(2));
  KILN_ASSIGN_OR_RETURN(Communicator * comm, communicatorFor(ctx));
  KILN_ASSIGN_OR_RETURN(int64_t capacity, ctx.attrInt("capacity"));
  const HostTensor &x = ctx.input(0), &sendCounts = ctx.input(1);
  int64_t groups = comm->size();
  if (x.rank() < 1 || sendCounts.numElements() != groups)
    return ctx.error(absl::StrCat("needs x of rank >= 1 and ", groups,
                                  " send counts, got ", x.typeString(), " and ",
                                  sendCounts.typeString()));
  std::vector<int64_t> shape = x.shape();
  shape[0] = capacity;
  KILN_RETURN_IF_ERROR(ctx.expectOutput(0, shape, x.dtype()));
  KILN_RETURN_IF_ERROR(ctx.expectOutput(1, {groups}, proto::I64));

  // The counts go to the host here (the op's one copy), then every rank learns
  // how many rows each peer sends it.
  std::vector<int64_t> send(groups), recv(groups);
  for (int64_t p = 0; p < groups; ++p)
    send[p] = sendCounts.getInt(p);
  std::vector<int64_t> eight(groups, 8), offsets(groups);
  for (int64_t p = 0; p < groups; ++p)
    offsets[p] = 8 * p;
  KILN_RETURN_IF_ERROR(comm->allToAll(send.data(), eight, offsets, recv.data(),
                                      eight, offsets, siteOf(ctx)));

  char flag = 0;
  std::vector<char> flags(groups);
  auto writeFlag = [](void *dst, char value) {
    *static_cast<char *>(dst) = value;
    return absl::OkStatus();
  };
  auto readFlags = [groups](std::vector<char> &out, const void *src) {
    std::memcpy(out.data(), src, groups);
    return absl::OkStatus();
  };
  int64_t rowBytes = x.numElements() / std::max<int64_t>(x.dim(0), 1) *
                     storageBytes(x.dtype());
  absl::StatusOr<AllToAllPlan> plan =
      planAllToAll(*comm, send, recv, x.dim(0), capacity, rowBytes,
                   siteOf(ctx), &flag, flags.data(), writeFlag, readFlags);
  if (!plan.ok())
    return plan.status();
  KILN_RETURN_IF_ERROR(comm->allToAll(
      x.data(), plan->sendBytes, plan->sendOffsets, ctx.output(0).data(),
      plan->recvBytes, plan->recvOffsets, siteOf(ctx)));
  for (int64_t p = 0; p < groups; ++p)
    ctx.output(1).setInt(p, recv[p]);
  return absl::OkStatus();
}

absl::Status sendKernel(const KernelContext &ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(1));
  KILN_RETURN_IF_ERROR(ctx.expectOutputs(0));
  KILN_ASSIGN_OR_RETURN(Communicator * comm, communicatorFor(ctx));
  KILN_ASSIGN_OR_RETURN(int64_t peer, ctx.attrInt("peer"));
  const HostTensor &x = ctx.input(0);
  return comm->send(x.data(), x.byteSize(), static_cast<int>(peer),
                    siteOf(ctx));
}

absl::Status recvKernel(const KernelContext &ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(0));
  KILN_RETURN_IF_ERROR(ctx.expectOutputs(1));
  KILN_ASSIGN_OR_RETURN(Communicator * comm, communicatorFor(ctx));
  KILN_ASSIGN_OR_RETURN(int64_t peer, ctx.attrInt("peer"));
  HostTensor &y = ctx.output(0);
  return comm->recv(y.data(), y.byteSize(), static_cast<int>(peer),
                    siteOf(ctx));
}

} // namespace

void registerCollectiveKernels(KernelRegistry &r) {
  r["all_reduce"] = allReduceKernel;
  r["reduce_scatter"] = reduceScatterKernel;
  r["all_gather"] = allGatherKernel;
  r["all_to_all"] = allToAllKernel;
  r["send"] = sendKernel;
  r["recv"] = recvKernel;
}

bool isCollectiveKernel(absl::string_view op) {
  static const KernelRegistry *collectives = [] {
    auto *r = new KernelRegistry;
    registerCollectiveKernels(*r);
    return r;
  }();
  return collectives->contains(op);
}

} // namespace kiln
