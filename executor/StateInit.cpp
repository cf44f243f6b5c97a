// Initializer kinds for state entries, drawn from Philox so they match on every
// machine.
#include "executor/StateInit.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "executor/cpu/Philox.h"

namespace kiln {

absl::StatusOr<HostTensor> initializeTensor(const proto::TensorType &type,
                                            const proto::Initializer &init,
                                            const ParallelFor &parallelFor) {
  absl::StatusOr<HostTensor> made = HostTensor::create(
      type.dtype(), {type.shape().begin(), type.shape().end()}, "state");
  if (!made.ok())
    return made.status();
  HostTensor t = *std::move(made);
  const std::string &kind = init.kind();
  double a = init.a(), b = init.b();
  int64_t seed = init.seed();
  std::function<double(int64_t)> value;
  if (kind == "zeros")
    return t;
  if (kind == "ones")
    value = [](int64_t) { return 1.0; };
  else if (kind == "constant")
    value = [a](int64_t) { return a; };
  else if (kind == "normal")
    value = [a, seed](int64_t i) { return a * philox::normalAt(seed, i); };
  else if (kind == "uniform")
    value = [a, b, seed](int64_t i) {
      return a + (b - a) * philox::uniformAt(seed, i);
    };
  else if (kind == "truncated_normal")
    value = [a, seed](int64_t i) {
      double z = 0;
      for (uint32_t attempt = 0; attempt < 64; ++attempt) {
        z = philox::normalAt(seed, i, attempt);
        if (std::fabs(z) <= 2.0)
          return a * z;
      }
      return a *
             std::clamp(z, -2.0, 2.0); // unreachable in practice (p < 1e-80)
    };
  else
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown initializer kind '", kind,
        "' (zeros, ones, constant, normal, uniform, truncated_normal)"));
  parallelFor(t.numElements(), [&](int64_t s, int64_t e) {
    for (int64_t i = s; i < e; ++i)
      t.setDouble(i, value(i));
  });
  return t;
}

} // namespace kiln
