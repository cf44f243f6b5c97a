//===- HostStagedCommunicator.h - host buffers over NCCL --------*- C++ -*-===//
//
// NCCL moves device memory only. GPU ranks started without MPI (torchrun or
// the environment variables) have no host transport, yet the training loop
// exchanges host values between ranks: metrics it checks agree, rewards for
// whole-group advantages, state compared at checkpoints. This communicator
// stages each such transfer through buffers on this process's GPU and runs it
// on the device communicator, so the host side needs no transport of its own.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_EXECUTOR_CUDA_HOSTSTAGEDCOMMUNICATOR_H
#define KILN_EXECUTOR_CUDA_HOSTSTAGEDCOMMUNICATOR_H

#include <memory>

#include "executor/comm/Communicator.h"
#include "executor/cuda/CudaDevice.h"

namespace kiln::cuda {

class HostStagedCommunicator final : public Communicator {
public:
  /// Host transfers through `device`'s memory over `inner`, a communicator of
  /// device buffers on that GPU (NCCL).
  HostStagedCommunicator(std::shared_ptr<const CudaDevice> device,
                         std::shared_ptr<Communicator> inner);

  int rank() const override { return inner->rank(); }
  int size() const override { return inner->size(); }
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
  /// A device buffer of `bytes` holding `host`'s bytes (none copied when
  /// `host` is null).
  absl::StatusOr<DeviceBuffer> upload(const void *host, int64_t bytes,
                                      const CollectiveSite &site);
  absl::Status download(const DeviceBuffer &buffer, void *host, int64_t bytes,
                        const CollectiveSite &site);

  std::shared_ptr<const CudaDevice> device;
  std::shared_ptr<Communicator> inner;
};

} // namespace kiln::cuda

#endif // KILN_EXECUTOR_CUDA_HOSTSTAGEDCOMMUNICATOR_H
