//===- HostStagedCommunicator.cpp - host buffers over NCCL ----------------===//

#include "executor/cuda/HostStagedCommunicator.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "executor/StatusMacros.h"

namespace kiln::cuda {

HostStagedCommunicator::HostStagedCommunicator(
    std::shared_ptr<const CudaDevice> device,
    std::shared_ptr<Communicator> inner)
    : device(std::move(device)), inner(std::move(inner)) {}

std::string HostStagedCommunicator::describe() const {
  return absl::StrCat(inner->describe(), ", host buffers staged on the GPU");
}

absl::StatusOr<DeviceBuffer>
HostStagedCommunicator::upload(const void *host, int64_t bytes,
                               const CollectiveSite &site) {
  KILN_RETURN_IF_ERROR(device->makeCurrent());
  KILN_ASSIGN_OR_RETURN(
      DeviceBuffer buffer,
      device->allocate(std::max<int64_t>(bytes, 1),
                       absl::StrCat(site.describe(), ": staging buffer")));
  if (host && bytes > 0) {
    const CudaApi &api = device->api();
    KILN_RETURN_IF_ERROR(
        api.check(api.cuMemcpyHtoDAsync(buffer.ptr(), host, bytes, nullptr),
                  absl::StrCat(site.describe(), ": staging the send bytes")));
    KILN_RETURN_IF_ERROR(
        api.check(api.cuStreamSynchronize(nullptr), site.describe()));
  }
  return buffer;
}

absl::Status HostStagedCommunicator::download(const DeviceBuffer &buffer,
                                              void *host, int64_t bytes,
                                              const CollectiveSite &site) {
  if (bytes == 0)
    return absl::OkStatus();
  const CudaApi &api = device->api();
  KILN_RETURN_IF_ERROR(
      api.check(api.cuMemcpyDtoHAsync(host, buffer.ptr(), bytes, nullptr),
                absl::StrCat(site.describe(), ": reading the received bytes")));
  return api.check(api.cuStreamSynchronize(nullptr), site.describe());
}

namespace {
void *devicePointer(const DeviceBuffer &buffer) {
  return reinterpret_cast<void *>(buffer.ptr());
}

/// The end of the furthest span: the bytes a staging buffer must cover.
int64_t extent(absl::Span<const int64_t> bytes,
               absl::Span<const int64_t> offsets) {
  int64_t end = 0;
  for (size_t p = 0; p < bytes.size() && p < offsets.size(); ++p)
    if (bytes[p] > 0)
      end = std::max(end, offsets[p] + bytes[p]);
  return end;
}
} // namespace

absl::Status HostStagedCommunicator::allGather(const void *send, void *recv,
                                               int64_t bytes,
                                               const CollectiveSite &site) {
  KILN_ASSIGN_OR_RETURN(DeviceBuffer in, upload(send, bytes, site));
  KILN_ASSIGN_OR_RETURN(DeviceBuffer out,
                        upload(nullptr, bytes * size(), site));
  KILN_RETURN_IF_ERROR(
      inner->allGather(devicePointer(in), devicePointer(out), bytes, site));
  return download(out, recv, bytes * size(), site);
}

absl::Status HostStagedCommunicator::allToAll(
    const void *send, absl::Span<const int64_t> sendBytes,
    absl::Span<const int64_t> sendOffsets, void *recv,
    absl::Span<const int64_t> recvBytes, absl::Span<const int64_t> recvOffsets,
    const CollectiveSite &site) {
  int64_t sendEnd = extent(sendBytes, sendOffsets);
  int64_t recvEnd = extent(recvBytes, recvOffsets);
  KILN_ASSIGN_OR_RETURN(DeviceBuffer in, upload(send, sendEnd, site));
  // Bytes of `recv` between the spans keep their values: stage them too.
  KILN_ASSIGN_OR_RETURN(DeviceBuffer out, upload(recv, recvEnd, site));
  KILN_RETURN_IF_ERROR(inner->allToAll(devicePointer(in), sendBytes,
                                       sendOffsets, devicePointer(out),
                                       recvBytes, recvOffsets, site));
  return download(out, recv, recvEnd, site);
}

absl::Status HostStagedCommunicator::send(const void *data, int64_t bytes,
                                          int peer,
                                          const CollectiveSite &site) {
  KILN_ASSIGN_OR_RETURN(DeviceBuffer in, upload(data, bytes, site));
  return inner->send(devicePointer(in), bytes, peer, site);
}

absl::Status HostStagedCommunicator::recv(void *data, int64_t bytes, int peer,
                                          const CollectiveSite &site) {
  KILN_ASSIGN_OR_RETURN(DeviceBuffer out, upload(nullptr, bytes, site));
  KILN_RETURN_IF_ERROR(inner->recv(devicePointer(out), bytes, peer, site));
  return download(out, data, bytes, site);
}

} // namespace kiln::cuda
