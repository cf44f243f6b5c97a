//===- Device.cpp - defaults shared by devices ----------------------------===//

#include "executor/Device.h"

#include <algorithm>
#include <thread>

namespace kiln {

namespace {

/// Runs fn over [0, n) on a few threads; StateInit's Philox streams are
/// counter-based, so the chunking does not change the values.
void threadParallelFor(int64_t n,
                       const std::function<void(int64_t, int64_t)> &fn) {
  int threads = static_cast<int>(
      std::min<int64_t>(std::max(1u, std::thread::hardware_concurrency()),
                        std::max<int64_t>(1, n / 65536)));
  if (threads <= 1) {
    fn(0, n);
    return;
  }
  std::vector<std::thread> pool;
  int64_t chunk = (n + threads - 1) / threads;
  for (int t = 0; t < threads; ++t) {
    int64_t b = t * chunk, e = std::min(n, b + chunk);
    if (b < e)
      pool.emplace_back([&fn, b, e] { fn(b, e); });
  }
  for (std::thread &t : pool)
    t.join();
}

} // namespace

ParallelFor Device::hostParallelFor() const { return threadParallelFor; }

} // namespace kiln
