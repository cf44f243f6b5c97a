// Stream capture into a CUDA graph, and its replay.
#include "executor/cuda/CudaGraph.h"

#include "executor/StatusMacros.h"

namespace kiln::cuda {

absl::StatusOr<std::unique_ptr<CudaGraph>>
CudaGraph::capture(std::shared_ptr<const CudaDevice> device, CUstream stream,
                   const std::function<absl::Status()> &record) {
  const CudaApi &api = device->api();
  KILN_RETURN_IF_ERROR(device->makeCurrent());
  // Thread-local mode: another thread's unrelated CUDA calls do not break the capture.
  KILN_RETURN_IF_ERROR(api.check(
      api.cuStreamBeginCapture(stream, CU_STREAM_CAPTURE_MODE_THREAD_LOCAL),
      "cuStreamBeginCapture"));
  absl::Status recorded = record();
  CUgraph graph = nullptr;
  // Capture must always end, or the stream stays unusable.
  CUresult ended = api.cuStreamEndCapture(stream, &graph);
  if (!recorded.ok()) {
    if (graph)
      (void)api.cuGraphDestroy(graph);
    return recorded;
  }
  KILN_RETURN_IF_ERROR(api.check(ended, "cuStreamEndCapture"));
  CUgraphExec exec = nullptr;
  CUresult r = api.cuGraphInstantiateWithFlags(&exec, graph, 0);
  if (r != CUDA_SUCCESS) {
    (void)api.cuGraphDestroy(graph);
    return api.check(r, "cuGraphInstantiate");
  }
  return std::unique_ptr<CudaGraph>(new CudaGraph(std::move(device), graph, exec));
}

CudaGraph::~CudaGraph() {
  (void)device_->makeCurrent();
  (void)device_->api().cuGraphExecDestroy(exec_);
  (void)device_->api().cuGraphDestroy(graph_);
}

absl::Status CudaGraph::launch(CUstream stream) const {
  return device_->api().check(device_->api().cuGraphLaunch(exec_, stream), "cuGraphLaunch");
}

} // namespace kiln::cuda
