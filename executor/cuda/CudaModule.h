// A PTX module loaded into a device context (the driver JIT-compiles it), and the
// kernels looked up in it. Load failures carry the JIT's error log.
#ifndef KILN_EXECUTOR_CUDA_CUDAMODULE_H
#define KILN_EXECUTOR_CUDA_CUDAMODULE_H

#include <memory>
#include <string>

#include "executor/cuda/CudaDevice.h"
#include "executor/executable.pb.h"

namespace kiln::cuda {

class CudaModule {
public:
  /// JIT-compiles `module.ptx` for the device. An error names the module and quotes
  /// the JIT log (ptxas's message with the offending line).
  static absl::StatusOr<std::unique_ptr<CudaModule>>
  load(std::shared_ptr<const CudaDevice> device, const proto::PtxModule &module);
  ~CudaModule();

  const std::string &name() const { return name_; }
  absl::StatusOr<CUfunction> function(const std::string &kernel) const;

private:
  CudaModule(std::shared_ptr<const CudaDevice> device, CUmodule module, std::string name)
      : device_(std::move(device)), module_(module), name_(std::move(name)) {}
  std::shared_ptr<const CudaDevice> device_;
  CUmodule module_;
  std::string name_;
};

} // namespace kiln::cuda

#endif // KILN_EXECUTOR_CUDA_CUDAMODULE_H
