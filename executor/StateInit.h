// Builds a state tensor from its Initializer (zeros, ones, constant, normal, uniform,
// truncated_normal) with the Philox streams of docs/OPS.md, so a seed means one tensor.
#ifndef KILN_EXECUTOR_STATEINIT_H
#define KILN_EXECUTOR_STATEINIT_H

#include <functional>

#include "absl/status/statusor.h"
#include "executor/HostTensor.h"
#include "executor/executable.pb.h"

namespace kiln {

/// `parallelFor(n, fn)` runs fn over chunks of [0, n); the executor passes its pool.
using ParallelFor = std::function<void(int64_t, const std::function<void(int64_t, int64_t)> &)>;

/// normal: N(0, a); uniform: U[a, b); truncated_normal: N(0, a) redrawn (Philox counter
/// word 2 = attempt) until within two standard deviations; constant: a.
absl::StatusOr<HostTensor> initializeTensor(const proto::TensorType &type,
                                            const proto::Initializer &init,
                                            const ParallelFor &parallelFor);

} // namespace kiln

#endif // KILN_EXECUTOR_STATEINIT_H
