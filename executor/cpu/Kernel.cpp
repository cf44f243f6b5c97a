// KernelContext accessors, the pool-backed parallelFor, and the op registry.
#define EIGEN_USE_THREADS
#include "executor/cpu/Kernel.h"

#include <unsupported/Eigen/CXX11/Tensor>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace kiln {

const proto::Attr *KernelContext::findAttr(absl::string_view name) const {
  auto it = step_.attrs().find(std::string(name));
  return it == step_.attrs().end() ? nullptr : &it->second;
}

bool KernelContext::hasAttr(absl::string_view name) const { return findAttr(name) != nullptr; }

absl::Status KernelContext::error(absl::string_view message) const {
  std::string loc = step_.location().empty() ? "<unknown location>" : step_.location();
  return absl::InvalidArgumentError(absl::StrCat("kiln.", step_.op(), " at ", loc, ": ", message));
}

absl::Status KernelContext::attrError(absl::string_view name, absl::string_view kind) const {
  const proto::Attr *a = findAttr(name);
  if (!a)
    return error(absl::StrCat("missing attribute '", name, "' (", kind, ")"));
  return error(absl::StrCat("attribute '", name, "' must be ", kind));
}

absl::StatusOr<int64_t> KernelContext::attrInt(absl::string_view name) const {
  const proto::Attr *a = findAttr(name);
  if (!a || a->value_case() != proto::Attr::kI)
    return attrError(name, "an i64");
  return a->i();
}

absl::StatusOr<double> KernelContext::attrFloat(absl::string_view name) const {
  const proto::Attr *a = findAttr(name);
  if (a && a->value_case() == proto::Attr::kF)
    return a->f();
  if (a && a->value_case() == proto::Attr::kI)
    return static_cast<double>(a->i());
  return attrError(name, "an f64");
}

absl::StatusOr<bool> KernelContext::attrBool(absl::string_view name) const {
  const proto::Attr *a = findAttr(name);
  if (!a || a->value_case() != proto::Attr::kB)
    return attrError(name, "a bool");
  return a->b();
}

absl::StatusOr<bool> KernelContext::attrBoolOr(absl::string_view name, bool dflt) const {
  if (!findAttr(name))
    return dflt;
  return attrBool(name);
}

absl::StatusOr<std::string> KernelContext::attrString(absl::string_view name) const {
  const proto::Attr *a = findAttr(name);
  if (!a || a->value_case() != proto::Attr::kS)
    return attrError(name, "a str");
  return a->s();
}

absl::StatusOr<std::vector<int64_t>> KernelContext::attrInts(absl::string_view name) const {
  const proto::Attr *a = findAttr(name);
  if (!a || a->value_case() != proto::Attr::kInts)
    return attrError(name, "an i64[]");
  return std::vector<int64_t>(a->ints().values().begin(), a->ints().values().end());
}

absl::StatusOr<proto::DType> KernelContext::attrType(absl::string_view name) const {
  const proto::Attr *a = findAttr(name);
  if (!a || a->value_case() != proto::Attr::kType || storageBytes(a->type()) == 0)
    return attrError(name, "a type");
  return a->type();
}

absl::StatusOr<HostTensor> KernelContext::attrTensor(absl::string_view name) const {
  const proto::Attr *a = findAttr(name);
  if (!a || a->value_case() != proto::Attr::kTensor)
    return attrError(name, "a dense tensor");
  auto t = HostTensor::fromLiteral(a->tensor());
  if (!t.ok())
    return error(absl::StrCat("attribute '", name, "': ", t.status().message()));
  return t;
}

absl::Status KernelContext::expectInputs(int lo, int hi) const {
  if (hi < 0)
    hi = lo;
  if (numInputs() < lo || numInputs() > hi)
    return error(lo == hi ? absl::StrCat("expects ", lo, " operands, got ", numInputs())
                          : absl::StrCat("expects ", lo, " to ", hi, " operands, got ",
                                         numInputs()));
  return absl::OkStatus();
}

absl::Status KernelContext::expectOutputs(int n) const {
  if (numOutputs() != n)
    return error(absl::StrCat("expects ", n, " results, got ", numOutputs()));
  return absl::OkStatus();
}

absl::Status KernelContext::expectOutput(int i, const std::vector<int64_t> &shape,
                                         proto::DType dtype) const {
  const HostTensor &out = output(i);
  if (out.shape() != shape || (dtype != proto::DTYPE_INVALID && out.dtype() != dtype))
    return error(absl::StrCat("result ", i, " is declared ", out.typeString(),
                              " but the op computes ",
                              dtype == proto::DTYPE_INVALID ? dtypeName(out.dtype())
                                                            : dtypeName(dtype),
                              "[", absl::StrJoin(shape, ","), "]"));
  return absl::OkStatus();
}

absl::StatusOr<int64_t> KernelContext::axis(int64_t axis, int64_t rank) const {
  int64_t a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank)
    return error(absl::StrCat("axis ", axis, " is out of range for rank ", rank));
  return a;
}

void KernelContext::parallelFor(int64_t n, double cyclesPerItem,
                                const std::function<void(int64_t, int64_t)> &fn) const {
  if (n <= 0)
    return;
  // Below ~100k cycles the pool's hand-off costs more than it saves.
  if (!device_ || device_->numThreads() <= 1 || n * cyclesPerItem < 1e5) {
    fn(0, n);
    return;
  }
  device_->parallelFor(n, Eigen::TensorOpCost(0, 0, cyclesPerItem),
                       [&fn](Eigen::Index b, Eigen::Index e) { fn(b, e); });
}

const KernelRegistry &kernelRegistry() {
  static const KernelRegistry *registry = [] {
    auto *r = new KernelRegistry();
    registerSourceKernels(*r);
    registerElementwiseKernels(*r);
    registerShapeKernels(*r);
    registerReductionKernels(*r);
    registerLinalgKernels(*r);
    registerSelectionKernels(*r);
    registerModelKernels(*r);
    registerMoeKernels(*r);
    registerQuantKernels(*r);
    registerCollectiveKernels(*r);
    return r;
  }();
  return *registry;
}

KernelFn findKernel(absl::string_view op) {
  const KernelRegistry &r = kernelRegistry();
  auto it = r.find(op);
  return it == r.end() ? nullptr : it->second;
}

} // namespace kiln
