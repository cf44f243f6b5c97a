// A CUDA graph captured from a stream: a recorded sequence of launches and copies that
// replays with one cuGraphLaunch, removing per-launch CPU overhead.
#ifndef KILN_EXECUTOR_CUDA_CUDAGRAPH_H
#define KILN_EXECUTOR_CUDA_CUDAGRAPH_H

#include <functional>
#include <memory>

#include "executor/cuda/CudaDevice.h"

namespace kiln::cuda {

class CudaGraph {
public:
  /// Records what `record` enqueues on `stream` (nothing runs while capturing) and
  /// instantiates it. The pointers and scalars recorded are fixed: replays read and
  /// write the same device addresses.
  static absl::StatusOr<std::unique_ptr<CudaGraph>>
  capture(std::shared_ptr<const CudaDevice> device, CUstream stream,
          const std::function<absl::Status()> &record);
  ~CudaGraph();

  absl::Status launch(CUstream stream) const;

private:
  CudaGraph(std::shared_ptr<const CudaDevice> device, CUgraph graph, CUgraphExec exec)
      : device_(std::move(device)), graph_(graph), exec_(exec) {}
  std::shared_ptr<const CudaDevice> device_;
  CUgraph graph_;
  CUgraphExec exec_;
};

} // namespace kiln::cuda

#endif // KILN_EXECUTOR_CUDA_CUDAGRAPH_H
