// Context, memory and stream ownership for one CUDA device.
#include "executor/cuda/CudaDevice.h"

#include "absl/strings/str_cat.h"
#include "executor/StatusMacros.h"

namespace kiln::cuda {

DeviceBuffer &DeviceBuffer::operator=(DeviceBuffer &&other) noexcept {
  if (this != &other) {
    reset();
    device_ = std::move(other.device_);
    ptr_ = other.ptr_;
    bytes_ = other.bytes_;
    other.ptr_ = 0;
    other.bytes_ = 0;
  }
  return *this;
}

void DeviceBuffer::reset() {
  if (ptr_ && device_) {
    (void)device_->makeCurrent();
    // A failure here (a poisoned context) cannot be reported from a destructor; the
    // run that poisoned it has already returned the error.
    (void)device_->api().cuMemFree(ptr_);
  }
  ptr_ = 0;
  bytes_ = 0;
  device_.reset();
}

PinnedBuffer &PinnedBuffer::operator=(PinnedBuffer &&other) noexcept {
  if (this != &other) {
    reset();
    device_ = std::move(other.device_);
    ptr_ = other.ptr_;
    bytes_ = other.bytes_;
    other.ptr_ = nullptr;
    other.bytes_ = 0;
  }
  return *this;
}

void PinnedBuffer::reset() {
  if (ptr_ && device_) {
    (void)device_->makeCurrent();
    (void)device_->api().cuMemFreeHost(ptr_);
  }
  ptr_ = nullptr;
  bytes_ = 0;
  device_.reset();
}

CudaStream &CudaStream::operator=(CudaStream &&other) noexcept {
  if (this != &other) {
    reset();
    device_ = std::move(other.device_);
    stream_ = other.stream_;
    other.stream_ = nullptr;
  }
  return *this;
}

void CudaStream::reset() {
  if (stream_ && device_) {
    (void)device_->makeCurrent();
    (void)device_->api().cuStreamDestroy(stream_);
  }
  stream_ = nullptr;
  device_.reset();
}

absl::StatusOr<std::shared_ptr<CudaDevice>> CudaDevice::open(int ordinal) {
  KILN_ASSIGN_OR_RETURN(const CudaApi *api, loadCudaApi());
  int count = 0;
  KILN_RETURN_IF_ERROR(api->check(api->cuDeviceGetCount(&count), "cuDeviceGetCount"));
  if (ordinal < 0 || ordinal >= count)
    return absl::InvalidArgumentError(absl::StrCat("no CUDA device ", ordinal, ": the driver sees ",
                                                   count, count == 1 ? " device" : " devices"));
  CUdevice device = 0;
  KILN_RETURN_IF_ERROR(api->check(api->cuDeviceGet(&device, ordinal), "cuDeviceGet"));
  CUcontext context = nullptr;
  KILN_RETURN_IF_ERROR(api->check(api->cuDevicePrimaryCtxRetain(&context, device),
                                  absl::StrCat("retaining the context of CUDA device ", ordinal)));
  std::shared_ptr<CudaDevice> d(new CudaDevice(api, ordinal, device, context));
  char name[256] = {0};
  if (api->cuDeviceGetName(name, sizeof(name) - 1, device) == CUDA_SUCCESS)
    d->name_ = name;
  (void)api->cuDeviceGetAttribute(&d->ccMajor_, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR,
                                  device);
  (void)api->cuDeviceGetAttribute(&d->ccMinor_, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR,
                                  device);
  return d;
}

CudaDevice::~CudaDevice() { (void)api_->cuDevicePrimaryCtxRelease(device_); }

std::string CudaDevice::arch() const { return absl::StrCat("sm_", ccMajor_, ccMinor_); }

std::string CudaDevice::describe() const {
  return absl::StrCat("CUDA device ", ordinal_, " (", name_, ", ", arch(), ")");
}

absl::Status CudaDevice::makeCurrent() const {
  return api_->check(api_->cuCtxSetCurrent(context_), "cuCtxSetCurrent");
}

absl::StatusOr<DeviceBuffer> CudaDevice::allocate(int64_t bytes, absl::string_view what) const {
  if (bytes <= 0)
    return DeviceBuffer();
  KILN_RETURN_IF_ERROR(makeCurrent());
  CUdeviceptr ptr = 0;
  CUresult r = api_->cuMemAlloc(&ptr, static_cast<size_t>(bytes));
  if (r == CUDA_SUCCESS)
    return DeviceBuffer(shared_from_this(), ptr, bytes);
  size_t freeBytes = 0, totalBytes = 0;
  (void)api_->cuMemGetInfo(&freeBytes, &totalBytes);
  std::string message =
      absl::StrCat(what, ": cannot allocate ", bytes, " bytes on ", describe(), " (", freeBytes,
                   " of ", totalBytes, " bytes free): ", api_->errorText(r));
  if (r == CUDA_ERROR_OUT_OF_MEMORY)
    return absl::ResourceExhaustedError(absl::StrCat("out of device memory: ", message));
  return absl::InternalError(message);
}

absl::StatusOr<PinnedBuffer> CudaDevice::allocatePinned(int64_t bytes,
                                                        absl::string_view what) const {
  if (bytes <= 0)
    return PinnedBuffer();
  KILN_RETURN_IF_ERROR(makeCurrent());
  void *ptr = nullptr;
  KILN_RETURN_IF_ERROR(api_->check(
      api_->cuMemHostAlloc(&ptr, static_cast<size_t>(bytes), CU_MEMHOSTALLOC_PORTABLE),
      absl::StrCat(what, ": cannot allocate ", bytes, " bytes of pinned host memory")));
  return PinnedBuffer(shared_from_this(), ptr, bytes);
}

absl::StatusOr<CudaStream> CudaDevice::createStream() const {
  KILN_RETURN_IF_ERROR(makeCurrent());
  CUstream stream = nullptr;
  KILN_RETURN_IF_ERROR(
      api_->check(api_->cuStreamCreate(&stream, CU_STREAM_NON_BLOCKING), "cuStreamCreate"));
  return CudaStream(shared_from_this(), stream);
}

} // namespace kiln::cuda
