//===- ServeBundle.h - where kiln-serve's Executables live in a bundle -*- C++
//-*-===//
//
// The shape kiln-serve compiles its entries for and their bundle key, computed
// from the model's config.json alone, so the runtime-only kiln-serve-rt (no
// compiler) finds what `kiln-serve --export-bundle` wrote for the same model,
// slots and context.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_MODELS_SERVE_SERVEBUNDLE_H
#define KILN_MODELS_SERVE_SERVEBUNDLE_H

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "executor/Bundle.h"
#include "executor/executable.pb.h"
#include "models/deepseek/DeepseekConfig.h"

namespace kiln::models {

struct ServeShape {
  /// Sequence slots: the decode batch.
  int64_t slots = 16;
  /// Cache positions per slot (prompt plus generated tokens).
  int64_t context = 256;
  /// Prompt tokens per row of the chunked prefill entry (ChunkedPrefill.h);
  /// 0: none, prompts go through the decode entry a token at a time.
  int64_t prefillChunk = 0;
  /// The parameters' and activations' dtype: "f32" or "bf16".
  std::string dtype = "f32";
  /// The compiler's precision policy (kiln-assign-precision): "bf16" keeps
  /// `dtype`; "fp8" runs the weight GEMMs in block-scaled E4M3; "int4"
  /// quantizes the weights group-wise along K; "WEIGHT=TYPE,..." is an
  /// explicit per-weight assignment (what --precision=auto chose).
  std::string precision = "bf16";
};

inline constexpr const char *kServeBundleEntry = "serve";

/// 64-bit FNV-1a of a version line and the config's JSON (every field the
/// graph reads), as 16 hex digits.
std::string serveModelHash(const DeepseekV3Config &config);
/// "b<slots>_c<context>", then "_k<prefillChunk>" when there is one,
/// "_<dtype>" when it is not f32 and "_<precision>" when it is not bf16
/// ("_mixed<hash>" for an explicit assignment).
std::string serveBucket(const ServeShape &shape);
BundleKey serveBundleKey(const DeepseekV3Config &config,
                         const ServeShape &shape, const std::string &target);

/// The Executable for `target` from the bundle in `dir`; a missing key is
/// NotFound naming it and `fillCommand`.
absl::StatusOr<proto::Executable>
loadServeExecutable(const std::string &dir, const DeepseekV3Config &config,
                    const ServeShape &shape, const std::string &target,
                    const std::string &fillCommand);

} // namespace kiln::models

#endif // KILN_MODELS_SERVE_SERVEBUNDLE_H
