// One CUDA device as the executor holds it: its primary context, and RAII owners of
// device memory, pinned host memory and streams in that context.
#ifndef KILN_EXECUTOR_CUDA_CUDADEVICE_H
#define KILN_EXECUTOR_CUDA_CUDADEVICE_H

#include <cstdint>
#include <memory>
#include <string>
#include "absl/strings/string_view.h"

#include "executor/cuda/CudaApi.h"

namespace kiln::cuda {

class CudaDevice;

/// Device memory; freed on destruction. Zero bytes is a valid, null buffer.
class DeviceBuffer {
public:
  DeviceBuffer() = default;
  DeviceBuffer(std::shared_ptr<const CudaDevice> device, CUdeviceptr ptr, int64_t bytes)
      : device_(std::move(device)), ptr_(ptr), bytes_(bytes) {}
  DeviceBuffer(DeviceBuffer &&other) noexcept { *this = std::move(other); }
  DeviceBuffer &operator=(DeviceBuffer &&other) noexcept;
  DeviceBuffer(const DeviceBuffer &) = delete;
  DeviceBuffer &operator=(const DeviceBuffer &) = delete;
  ~DeviceBuffer() { reset(); }

  CUdeviceptr ptr() const { return ptr_; }
  int64_t bytes() const { return bytes_; }
  void reset();

private:
  std::shared_ptr<const CudaDevice> device_;
  CUdeviceptr ptr_ = 0;
  int64_t bytes_ = 0;
};

/// Page-locked host memory: the staging area that lets H2D/D2H copies run async.
class PinnedBuffer {
public:
  PinnedBuffer() = default;
  PinnedBuffer(std::shared_ptr<const CudaDevice> device, void *ptr, int64_t bytes)
      : device_(std::move(device)), ptr_(ptr), bytes_(bytes) {}
  PinnedBuffer(PinnedBuffer &&other) noexcept { *this = std::move(other); }
  PinnedBuffer &operator=(PinnedBuffer &&other) noexcept;
  PinnedBuffer(const PinnedBuffer &) = delete;
  PinnedBuffer &operator=(const PinnedBuffer &) = delete;
  ~PinnedBuffer() { reset(); }

  uint8_t *data() const { return static_cast<uint8_t *>(ptr_); }
  int64_t bytes() const { return bytes_; }
  void reset();

private:
  std::shared_ptr<const CudaDevice> device_;
  void *ptr_ = nullptr;
  int64_t bytes_ = 0;
};

/// A non-blocking stream (never synchronises with the legacy default stream, and can
/// be captured into a CUDA graph).
class CudaStream {
public:
  CudaStream() = default;
  CudaStream(std::shared_ptr<const CudaDevice> device, CUstream stream)
      : device_(std::move(device)), stream_(stream) {}
  CudaStream(CudaStream &&other) noexcept { *this = std::move(other); }
  CudaStream &operator=(CudaStream &&other) noexcept;
  ~CudaStream() { reset(); }
  CUstream get() const { return stream_; }
  void reset();

private:
  std::shared_ptr<const CudaDevice> device_;
  CUstream stream_ = nullptr;
};

class CudaDevice : public std::enable_shared_from_this<CudaDevice> {
public:
  /// Loads the driver and retains device `ordinal`'s primary context (shared with any
  /// other CUDA user in the process, as the runtime API does).
  static absl::StatusOr<std::shared_ptr<CudaDevice>> open(int ordinal);
  ~CudaDevice();

  const CudaApi &api() const { return *api_; }
  int ordinal() const { return ordinal_; }
  const std::string &name() const { return name_; }
  /// "sm_90" for compute capability 9.0.
  std::string arch() const;
  /// "CUDA device 0 (NVIDIA H200, sm_90)".
  std::string describe() const;

  /// Binds the context to the calling thread; every public executor call starts here
  /// because the driver's current context is per thread.
  absl::Status makeCurrent() const;
  /// Allocation failures say what the bytes were for, how many, and what was free.
  absl::StatusOr<DeviceBuffer> allocate(int64_t bytes, absl::string_view what) const;
  absl::StatusOr<PinnedBuffer> allocatePinned(int64_t bytes, absl::string_view what) const;
  absl::StatusOr<CudaStream> createStream() const;

private:
  CudaDevice(const CudaApi *api, int ordinal, CUdevice device, CUcontext context)
      : api_(api), ordinal_(ordinal), device_(device), context_(context) {}

  const CudaApi *api_;
  int ordinal_;
  CUdevice device_;
  CUcontext context_;
  std::string name_;
  int ccMajor_ = 0, ccMinor_ = 0;
};

} // namespace kiln::cuda

#endif // KILN_EXECUTOR_CUDA_CUDADEVICE_H
