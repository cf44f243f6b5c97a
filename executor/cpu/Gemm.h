//===- Gemm.h - the CPU executor's matrix products ---------------*- C++
//-*-===//
//
// One Eigen GEMM for every kernel that multiplies matrices (matmul,
// grouped_matmul, the fused MoE ops), threaded through the executor's pool,
// and its batch-invariant form for grouped rows.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_EXECUTOR_CPU_GEMM_H
#define KILN_EXECUTOR_CPU_GEMM_H

#ifndef EIGEN_USE_THREADS
#define EIGEN_USE_THREADS
#endif
#include <Eigen/Dense>
#include <unsupported/Eigen/CXX11/Tensor>

#include <algorithm>
#include <vector>

namespace kiln {

// Below this many multiply-adds a product runs on one thread: the pool hand-off
// would dominate.
constexpr double kThreadedGemmFlops = 1 << 18;

/// c[M,N] = op(a) * op(b), op = transpose when the flag is set (row-major
/// storage). a is [M,K] (or [K,M] with ta), b is [K,N] (or [N,K] with tb).
template <typename T>
inline void gemm(const Eigen::ThreadPoolDevice *dev, const T *a, bool ta,
                 const T *b, bool tb, T *c, int64_t m, int64_t n, int64_t k) {
  if (m == 0 || n == 0)
    return;
  if (k == 0) {
    std::fill(c, c + m * n, T(0));
    return;
  }
  using Tensor2 = Eigen::TensorMap<
      Eigen::Tensor<const T, 2, Eigen::RowMajor, Eigen::Index>>;
  using OutTensor =
      Eigen::TensorMap<Eigen::Tensor<T, 2, Eigen::RowMajor, Eigen::Index>>;
  double flops = static_cast<double>(m) * n * k;
  if (dev && dev->numThreads() > 1 && flops >= kThreadedGemmFlops) {
    Tensor2 at(a, ta ? k : m, ta ? m : k);
    Tensor2 bt(b, tb ? n : k, tb ? k : n);
    OutTensor ct(c, m, n);
    Eigen::array<Eigen::IndexPair<int>, 1> dims = {
        Eigen::IndexPair<int>(ta ? 0 : 1, tb ? 1 : 0)};
    ct.device(*dev) = at.contract(bt, dims);
    return;
  }
  using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  Eigen::Map<const Mat> am(a, ta ? k : m, ta ? m : k);
  Eigen::Map<const Mat> bm(b, tb ? n : k, tb ? k : n);
  Eigen::Map<Mat> cm(c, m, n);
  if (ta && tb)
    cm.noalias() = am.transpose() * bm.transpose();
  else if (ta)
    cm.noalias() = am.transpose() * bm;
  else if (tb)
    cm.noalias() = am * bm.transpose();
  else
    cm.noalias() = am * bm;
}

/// Rows per product of grouped rows (grouped_matmul, the fused MoE ops) under
/// ExecutorOptions::batchInvariant. Eigen's GEMM computes a row with a
/// micro-kernel chosen by where the row falls in the product, so the bits of a
/// token's output would depend on how many other tokens chose its expert;
/// products of always this many rows (a short tail zero-padded) keep every
/// token's result independent of the batch it came in (DESIGN: a served
/// request's tokens do not depend on its neighbours).
constexpr int64_t kGroupRowBlock = 8;

template <typename T>
inline void gemmRowBlocks(const Eigen::ThreadPoolDevice *dev, const T *x,
                          const T *w, bool tw, T *out, int64_t len, int64_t n,
                          int64_t k) {
  std::vector<T> inPad, outPad;
  for (int64_t r = 0; r < len; r += kGroupRowBlock) {
    int64_t rows = std::min(kGroupRowBlock, len - r);
    if (rows == kGroupRowBlock) {
      gemm<T>(dev, x + r * k, false, w, tw, out + r * n, rows, n, k);
      continue;
    }
    inPad.assign(kGroupRowBlock * k, T(0));
    outPad.resize(kGroupRowBlock * n);
    std::copy(x + r * k, x + (r + rows) * k, inPad.begin());
    gemm<T>(dev, inPad.data(), false, w, tw, outPad.data(), kGroupRowBlock, n,
            k);
    std::copy(outPad.begin(), outPad.begin() + rows * n, out + r * n);
  }
}

} // namespace kiln

#endif // KILN_EXECUTOR_CPU_GEMM_H
