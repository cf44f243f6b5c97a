//===- NcclCommunicator.h - ranks of GPUs through NCCL ----------*- C++ -*-===//
//
// The GPU's communicator: NCCL (loaded at run time, executor/cuda/NcclApi.h)
// between one process per GPU. Buffers are device pointers; transfers queue
// on the stream the executor runs its steps on. Each transfer is watched to
// its end with a deadline and NCCL's asynchronous error: a peer that stopped
// or died makes the others fail within the deadline and abort the NCCL
// communicator (ncclCommAbort) instead of hanging.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_EXECUTOR_CUDA_NCCLCOMMUNICATOR_H
#define KILN_EXECUTOR_CUDA_NCCLCOMMUNICATOR_H

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "executor/comm/Communicator.h"
#include "executor/comm/World.h"
#include "executor/cuda/CudaDevice.h"

namespace kiln::cuda {

class NcclCommunicator;

/// This process's GPU and the communicator that joins it to its peers.
struct DeviceWorld {
  std::shared_ptr<CudaDevice> device;
  /// A single process when no launcher started this one; NCCL otherwise.
  std::shared_ptr<Communicator> communicator;
  /// The NCCL communicator (null for a single process), to point its
  /// transfers at the executor's stream.
  std::shared_ptr<NcclCommunicator> nccl;
};

/// Joins the GPU world this process was started into. Given `hostWorld` of
/// more than one rank (MPI, when mpirun started the ranks), its ranks are the
/// GPU ranks: the device is the node-local rank (localRank()) and NCCL's id
/// travels over `hostWorld`. Otherwise, with torchrun's variables (RANK,
/// WORLD_SIZE, LOCAL_RANK, MASTER_ADDR; see executor/comm/EnvRendezvous.h)
/// the device is LOCAL_RANK and NCCL's id travels through the environment
/// rendezvous; with none, device `fallbackOrdinal` and a single process.
/// mpirun-started ranks without a host world are refused (the static
/// runtime binaries link no MPI): use torchrun --no-python or set the
/// variables.
absl::StatusOr<DeviceWorld>
joinDeviceWorld(int fallbackOrdinal, const WorldOptions &options = {},
                std::shared_ptr<Communicator> hostWorld = nullptr);

class NcclCommunicator final : public Communicator {
public:
  /// NCCL's unique id for a new world, made on rank 0.
  static absl::StatusOr<std::string> newUniqueId();
  /// Joins rank `rank` of `size` on `device` with rank 0's `uniqueId`.
  static absl::StatusOr<std::shared_ptr<NcclCommunicator>>
  create(std::shared_ptr<const CudaDevice> device, int rank, int size,
         const std::string &uniqueId, double timeoutSeconds);
  ~NcclCommunicator() override;

  /// Transfers queue on `stream` (the executor's CUstream) from now on;
  /// until set, on a stream of the communicator's own.
  void setStream(void *stream) override {
    current = static_cast<CUstream>(stream);
  }

  int rank() const override { return rankIndex; }
  int size() const override { return worldSize; }
  std::string describe() const override;

  absl::Status allGather(const void *send, void *recv, int64_t bytes,
                         const CollectiveSite &site) override;
  absl::Status allToAll(const void *send, absl::Span<const int64_t> sendBytes,
                        absl::Span<const int64_t> sendOffsets, void *recv,
                        absl::Span<const int64_t> recvBytes,
                        absl::Span<const int64_t> recvOffsets,
                        const CollectiveSite &site) override;
  absl::Status send(const void *data, int64_t bytes, int peer,
                    const CollectiveSite &site) override;
  absl::Status recv(void *data, int64_t bytes, int peer,
                    const CollectiveSite &site) override;

private:
  NcclCommunicator() = default;
  absl::Status usable(const CollectiveSite &site) const;
  /// Waits for the queued transfer until the deadline, watching NCCL's
  /// asynchronous error; on either, aborts the communicator.
  absl::Status await(const CollectiveSite &site);
  absl::Status fail(const CollectiveSite &site, const std::string &why);

  std::shared_ptr<const CudaDevice> device;
  const struct NcclApi *nccl = nullptr;
  struct ncclComm *comm = nullptr;
  CudaStream own;
  CUstream current = nullptr;
  int rankIndex = 0, worldSize = 1;
  double timeout = 300;
  bool broken = false;
  std::string brokenBy;
};

} // namespace kiln::cuda

#endif // KILN_EXECUTOR_CUDA_NCCLCOMMUNICATOR_H
