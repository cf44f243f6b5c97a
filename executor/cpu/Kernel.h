// The interface between the interpreter and the CPU kernels: what one step sees
// (typed attributes, inputs, preallocated outputs, the thread pool) and the op registry.
#ifndef KILN_EXECUTOR_CPU_KERNEL_H
#define KILN_EXECUTOR_CPU_KERNEL_H

#include <functional>
#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "executor/HostTensor.h"
#include "executor/StatusMacros.h"
#include "executor/executable.pb.h"

namespace Eigen {
struct ThreadPoolDevice;
} // namespace Eigen

namespace kiln {

class Communicator;

class KernelContext {
public:
  KernelContext(const proto::Step &step, std::vector<const HostTensor *> inputs,
                std::vector<HostTensor> *outputs, const Eigen::ThreadPoolDevice *device)
      : step_(step), inputs_(std::move(inputs)), outputs_(outputs), device_(device) {}

  const std::string &op() const { return step_.op(); }
  /// file:line:col of the op, or empty.
  const std::string &location() const { return step_.location(); }
  int numInputs() const { return static_cast<int>(inputs_.size()); }
  int numOutputs() const { return static_cast<int>(outputs_->size()); }
  const HostTensor &input(int i) const { return *inputs_[i]; }
  /// Outputs come zero-filled with the buffer's type; a kernel may also replace one
  /// with a tensor of the same type (reshape shares its input's storage).
  HostTensor &output(int i) const { return (*outputs_)[i]; }
  const Eigen::ThreadPoolDevice &device() const { return *device_; }
  /// ExecutorOptions::batchInvariant of the running executor.
  bool batchInvariant() const { return batchInvariant_; }
  void setBatchInvariant(bool on) { batchInvariant_ = on; }
  /// The ranks the collective kernels talk to (a single process unless the
  /// executor was given a communicator); null means a single process.
  Communicator *communicator() const { return communicator_; }
  void setCommunicator(Communicator *comm) { communicator_ = comm; }

  bool hasAttr(absl::string_view name) const;
  absl::StatusOr<int64_t> attrInt(absl::string_view name) const;
  absl::StatusOr<double> attrFloat(absl::string_view name) const;
  absl::StatusOr<bool> attrBool(absl::string_view name) const;
  absl::StatusOr<std::string> attrString(absl::string_view name) const;
  absl::StatusOr<std::vector<int64_t>> attrInts(absl::string_view name) const;
  absl::StatusOr<proto::DType> attrType(absl::string_view name) const;
  absl::StatusOr<HostTensor> attrTensor(absl::string_view name) const;
  /// Optional flags default when absent (a missing `keepdims` means false).
  absl::StatusOr<bool> attrBoolOr(absl::string_view name, bool dflt) const;

  /// An InvalidArgument error naming the op and its source location.
  absl::Status error(absl::string_view message) const;
  /// Checks the operand count (exact, or a range).
  absl::Status expectInputs(int lo, int hi = -1) const;
  absl::Status expectOutputs(int n) const;
  /// Checks that output i has the shape (and, unless INVALID, the dtype) the op computes.
  absl::Status expectOutput(int i, const std::vector<int64_t> &shape,
                            proto::DType dtype = proto::DTYPE_INVALID) const;
  /// Normalises a possibly negative axis against a rank.
  absl::StatusOr<int64_t> axis(int64_t axis, int64_t rank) const;

  /// Runs fn over [0, n) split in chunks on the pool; inline when the work is small.
  void parallelFor(int64_t n, double cyclesPerItem,
                   const std::function<void(int64_t, int64_t)> &fn) const;

private:
  const proto::Attr *findAttr(absl::string_view name) const;
  absl::Status attrError(absl::string_view name, absl::string_view kind) const;

  const proto::Step &step_;
  std::vector<const HostTensor *> inputs_;
  std::vector<HostTensor> *outputs_;
  const Eigen::ThreadPoolDevice *device_;
  bool batchInvariant_ = false;
  Communicator *communicator_ = nullptr;
};

using KernelFn = absl::Status (*)(const KernelContext &);
using KernelRegistry = absl::flat_hash_map<std::string, KernelFn>;

/// Every op of docs/OPS.md, by name without the `kiln.` prefix.
const KernelRegistry &kernelRegistry();
/// nullptr when the op has no kernel.
KernelFn findKernel(absl::string_view op);

// One registration function per kernel family.
void registerSourceKernels(KernelRegistry &r);
void registerElementwiseKernels(KernelRegistry &r);
void registerShapeKernels(KernelRegistry &r);
void registerReductionKernels(KernelRegistry &r);
void registerLinalgKernels(KernelRegistry &r);
void registerSelectionKernels(KernelRegistry &r);
void registerModelKernels(KernelRegistry &r);
void registerMoeKernels(KernelRegistry &r);
void registerQuantKernels(KernelRegistry &r);
void registerCollectiveKernels(KernelRegistry &r);
/// True for the ops registerCollectiveKernels registers: the steps that talk
/// to other ranks (run off the step loop, in order: CollectiveThread.h).
bool isCollectiveKernel(absl::string_view op);

} // namespace kiln

#endif // KILN_EXECUTOR_CPU_KERNEL_H
