//===- NcclCommunicator.cpp - ranks of GPUs through NCCL ------------------===//

#include "executor/cuda/NcclCommunicator.h"

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "executor/StatusMacros.h"
#include "executor/comm/AllToAllPlan.h"
#include "executor/comm/EnvRendezvous.h"
#include "executor/cuda/NcclApi.h"

namespace kiln::cuda {

namespace {
using Clock = std::chrono::steady_clock;
} // namespace

absl::StatusOr<std::string> NcclCommunicator::newUniqueId() {
  KILN_ASSIGN_OR_RETURN(const NcclApi *nccl, loadNcclApi());
  ncclUniqueId id;
  KILN_RETURN_IF_ERROR(
      nccl->check(nccl->ncclGetUniqueId(&id), "ncclGetUniqueId"));
  return std::string(id.internal, sizeof id.internal);
}

absl::StatusOr<std::shared_ptr<NcclCommunicator>>
NcclCommunicator::create(std::shared_ptr<const CudaDevice> device, int rank,
                         int size, const std::string &uniqueId,
                         double timeoutSeconds) {
  KILN_ASSIGN_OR_RETURN(const NcclApi *nccl, loadNcclApi());
  if (uniqueId.size() != sizeof(ncclUniqueId))
    return absl::InvalidArgumentError(absl::StrCat(
        "an NCCL unique id has ", sizeof(ncclUniqueId), " bytes, got ",
        uniqueId.size()));
  if (rank < 0 || rank >= size)
    return absl::InvalidArgumentError(
        absl::StrCat("rank ", rank, " is outside a world of ", size));
  KILN_RETURN_IF_ERROR(device->makeCurrent());
  std::shared_ptr<NcclCommunicator> c(new NcclCommunicator());
  c->device = std::move(device);
  c->nccl = nccl;
  c->rankIndex = rank;
  c->worldSize = size;
  c->timeout = timeoutSeconds;
  KILN_ASSIGN_OR_RETURN(c->own, c->device->createStream());
  c->current = c->own.get();
  ncclUniqueId id;
  std::memcpy(id.internal, uniqueId.data(), sizeof id.internal);
  KILN_RETURN_IF_ERROR(nccl->check(
      nccl->ncclCommInitRank(&c->comm, size, id, rank),
      absl::StrCat("ncclCommInitRank (rank ", rank, " of ", size, ")")));
  return c;
}

NcclCommunicator::~NcclCommunicator() {
  if (!comm)
    return;
  (void)device->makeCurrent();
  // A broken communicator may have transfers that never end: abort them.
  if (broken)
    nccl->ncclCommAbort(comm);
  else
    nccl->ncclCommDestroy(comm);
}

std::string NcclCommunicator::describe() const {
  return absl::StrCat("NCCL ", nccl->version, " rank ", rankIndex, " of ",
                      worldSize, " on CUDA device ", device->ordinal());
}

absl::Status NcclCommunicator::usable(const CollectiveSite &site) const {
  if (!broken)
    return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      site.describe(), ": the NCCL communicator failed earlier: ", brokenBy));
}

absl::Status NcclCommunicator::fail(const CollectiveSite &site,
                                    const std::string &why) {
  broken = true;
  brokenBy = absl::StrCat(describe(), ", ", site.describe(), ": ", why);
  nccl->ncclCommAbort(comm);
  comm = nullptr;
  return absl::UnavailableError(brokenBy);
}

absl::Status NcclCommunicator::await(const CollectiveSite &site) {
  const CudaApi &cuda = device->api();
  auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                     std::chrono::duration<double>(timeout));
  int spins = 0;
  while (true) {
    CUresult state = cuda.cuStreamQuery(current);
    if (state == CUDA_SUCCESS)
      return absl::OkStatus();
    if (state != CUDA_ERROR_NOT_READY)
      return fail(site, cuda.errorText(state));
    ncclResult_t async = ncclSuccess;
    if (nccl->ncclCommGetAsyncError(comm, &async) == ncclSuccess &&
        async != ncclSuccess && async != ncclInProgress)
      return fail(site, nccl->check(async, "NCCL").ToString());
    if (Clock::now() > deadline)
      return fail(site, absl::StrCat(
                            "no answer within ", timeout,
                            " s: a peer rank stopped, hung or died; the "
                            "NCCL communicator is aborted and the job must "
                            "end"));
    if (++spins > 1000)
      std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
}

absl::Status NcclCommunicator::allGather(const void *send, void *recv,
                                         int64_t bytes,
                                         const CollectiveSite &site) {
  KILN_RETURN_IF_ERROR(usable(site));
  KILN_RETURN_IF_ERROR(nccl->check(
      nccl->ncclAllGather(send, recv, static_cast<size_t>(bytes), ncclInt8,
                          comm, current),
      site.describe() + ": ncclAllGather"));
  return await(site);
}

absl::Status NcclCommunicator::allToAll(
    const void *send, absl::Span<const int64_t> sendBytes,
    absl::Span<const int64_t> sendOffsets, void *recv,
    absl::Span<const int64_t> recvBytes, absl::Span<const int64_t> recvOffsets,
    const CollectiveSite &site) {
  KILN_RETURN_IF_ERROR(usable(site));
  KILN_RETURN_IF_ERROR(checkAllToAllSpans(worldSize, sendBytes, sendOffsets,
                                          recvBytes, recvOffsets, site));
  // NCCL's all-to-all is a group of point-to-point transfers.
  KILN_RETURN_IF_ERROR(nccl->check(nccl->ncclGroupStart(), "ncclGroupStart"));
  for (int p = 0; p < worldSize; ++p) {
    if (sendBytes[p] > 0)
      nccl->ncclSend(static_cast<const char *>(send) + sendOffsets[p],
                     static_cast<size_t>(sendBytes[p]), ncclInt8, p, comm,
                     current);
    if (recvBytes[p] > 0)
      nccl->ncclRecv(static_cast<char *>(recv) + recvOffsets[p],
                     static_cast<size_t>(recvBytes[p]), ncclInt8, p, comm,
                     current);
  }
  KILN_RETURN_IF_ERROR(nccl->check(nccl->ncclGroupEnd(),
                                   site.describe() + ": all_to_all"));
  return await(site);
}

absl::Status NcclCommunicator::send(const void *data, int64_t bytes, int peer,
                                    const CollectiveSite &site) {
  KILN_RETURN_IF_ERROR(usable(site));
  KILN_RETURN_IF_ERROR(nccl->check(
      nccl->ncclSend(data, static_cast<size_t>(bytes), ncclInt8, peer, comm,
                     current),
      site.describe() + ": ncclSend"));
  return await(site);
}

absl::Status NcclCommunicator::recv(void *data, int64_t bytes, int peer,
                                    const CollectiveSite &site) {
  KILN_RETURN_IF_ERROR(usable(site));
  KILN_RETURN_IF_ERROR(nccl->check(
      nccl->ncclRecv(data, static_cast<size_t>(bytes), ncclInt8, peer, comm,
                     current),
      site.describe() + ": ncclRecv"));
  return await(site);
}

namespace {

/// Rank 0's NCCL id, handed to every rank over the host world.
absl::StatusOr<std::string> shareOverHostWorld(Communicator &host,
                                               const std::string &mine) {
  // Every rank sends a slot of the id's size; only rank 0's holds one.
  int64_t bytes = 0;
  if (host.rank() == 0)
    bytes = static_cast<int64_t>(mine.size());
  std::vector<int64_t> sizes(host.size());
  CollectiveSite site{"the NCCL id exchange", "joinDeviceWorld"};
  KILN_RETURN_IF_ERROR(host.allGather(&bytes, sizes.data(), sizeof(bytes),
                                      site));
  int64_t idBytes = sizes[0];
  std::string slot(static_cast<size_t>(idBytes), '\0');
  if (host.rank() == 0)
    slot = mine;
  std::string all(static_cast<size_t>(idBytes * host.size()), '\0');
  KILN_RETURN_IF_ERROR(host.allGather(slot.data(), all.data(), idBytes, site));
  return all.substr(0, static_cast<size_t>(idBytes));
}

} // namespace

absl::StatusOr<DeviceWorld>
joinDeviceWorld(int fallbackOrdinal, const WorldOptions &options,
                std::shared_ptr<Communicator> hostWorld) {
  DeviceWorld world;
  KILN_ASSIGN_OR_RETURN(double timeout, collectiveTimeout(options));
  if (hostWorld && hostWorld->size() > 1) {
    KILN_RETURN_IF_ERROR(loadNcclApi().status());
    KILN_ASSIGN_OR_RETURN(world.device, CudaDevice::open(localRank()));
    std::string id;
    if (hostWorld->rank() == 0) {
      KILN_ASSIGN_OR_RETURN(id, NcclCommunicator::newUniqueId());
    }
    KILN_ASSIGN_OR_RETURN(id, shareOverHostWorld(*hostWorld, id));
    KILN_ASSIGN_OR_RETURN(world.nccl, NcclCommunicator::create(
                                          world.device, hostWorld->rank(),
                                          hostWorld->size(), id, timeout));
    world.communicator = world.nccl;
    return world;
  }
  // RANK and WORLD_SIZE, even a world of one, mean the NCCL path: the code a
  // multi-GPU run takes, exercised on one GPU.
  bool env = std::getenv("RANK") && std::getenv("WORLD_SIZE");
  if (!env && detectLauncher() == Launcher::Mpi)
    return absl::FailedPreconditionError(
        "GPU ranks started by mpirun need an MPI build (kiln-train; the "
        "static -rt binaries link no MPI, as the GPU machines have no MPI "
        "runtime): start them with torchrun --no-python or set RANK, "
        "WORLD_SIZE, LOCAL_RANK and MASTER_ADDR (executor/comm/README.md)");
  if (!env) {
    KILN_ASSIGN_OR_RETURN(world.device, CudaDevice::open(fallbackOrdinal));
    world.communicator = singleProcessCommunicator();
    return world;
  }
  KILN_ASSIGN_OR_RETURN(EnvWorld ranks, readEnvWorld());
  // Every rank loads NCCL before the rendezvous, so a missing library stops
  // each rank with its own message instead of leaving rank 0 waiting.
  KILN_RETURN_IF_ERROR(loadNcclApi().status());
  KILN_ASSIGN_OR_RETURN(world.device, CudaDevice::open(ranks.localRank));
  std::string id;
  if (ranks.rank == 0) {
    KILN_ASSIGN_OR_RETURN(id, NcclCommunicator::newUniqueId());
  }
  KILN_ASSIGN_OR_RETURN(id, shareFromRankZero(ranks, id, timeout));
  KILN_ASSIGN_OR_RETURN(world.nccl,
                        NcclCommunicator::create(world.device, ranks.rank,
                                                 ranks.size, id, timeout));
  world.communicator = world.nccl;
  return world;
}

} // namespace kiln::cuda
