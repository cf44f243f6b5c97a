//===- Init.h - how named state is initialised ------------------*- C++ -*-===//
//
// The recipe the executor follows to fill a state buffer before the first call;
// it lands in the module's `kiln.state` table, never as data in the graph.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_FRONTEND_INIT_H
#define KILN_FRONTEND_INIT_H

#include <cstdint>

namespace kiln {

struct Init {
  enum class Kind {
    zeros,
    ones,
    constant,
    normal,
    uniform,
    truncatedNormal,
    none
  };
  Kind kind = Kind::zeros;
  double a = 0; // constant value, stddev, or low bound
  double b = 0; // high bound (uniform)
  int64_t seed = 0;
};

/// The IR spelling: "zeros", "ones", "constant", "normal", "uniform",
/// "truncated_normal", "none".
const char *initKindName(Init::Kind kind);

namespace init {
inline Init zeros() { return {Init::Kind::zeros}; }
inline Init ones() { return {Init::Kind::ones}; }
inline Init constant(double value) { return {Init::Kind::constant, value}; }
inline Init normal(double stddev, int64_t seed = 0) {
  return {Init::Kind::normal, stddev, 0, seed};
}
inline Init uniform(double low, double high, int64_t seed = 0) {
  return {Init::Kind::uniform, low, high, seed};
}
/// Normal(0, stddev) redrawn outside two standard deviations (PyTorch's
/// trunc_normal_ with a = -2 stddev, b = 2 stddev).
inline Init truncatedNormal(double stddev, int64_t seed = 0) {
  return {Init::Kind::truncatedNormal, stddev, 0, seed};
}
/// No initialiser: the user must set the state (load a checkpoint) before a
/// call.
inline Init none() { return {Init::Kind::none}; }
} // namespace init

} // namespace kiln

#endif // KILN_FRONTEND_INIT_H
