//===- ServeGraph.h - the compiled entries kiln-serve runs      -*- C++ -*-===//
//
// The graph side of serving (needs the frontend and codegen): a DeepSeek-V3
// model with only its inference entries, compiled for a number of sequence
// slots and a context length. The server (serving/, no MLIR) sees the result
// as an Executable.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_MODELS_SERVE_SERVEGRAPH_H
#define KILN_MODELS_SERVE_SERVEGRAPH_H

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "executor/executable.pb.h"
#include "models/deepseek/DeepseekConfig.h"
#include "models/serve/ServeBundle.h"

namespace kiln::models {

/// "prefill" and "decode" (DeepseekInference.h), and "prefill_chunk"
/// (ChunkedPrefill.h) when shape.prefillChunk > 0, at [slots] rows and
/// `context` positions, state of shape.dtype initialised from `seed` (loading a
/// checkpoint replaces it). prefill takes prompts up to the whole context, so
/// offline generate() runs on the same Executable.
absl::StatusOr<proto::Executable>
compileServeModel(const DeepseekV3Config &config, const ServeShape &shape,
                  const std::string &target = "host", uint64_t seed = 0);

/// Compiles for every target and adds the Executables to the bundle in `dir`
/// under serveBundleKey, keeping its other entries. Nothing is written unless
/// every target compiled. Returns the keys written.
absl::StatusOr<std::vector<BundleKey>>
exportServeBundle(const DeepseekV3Config &config, const ServeShape &shape,
                  const std::string &dir,
                  const std::vector<std::string> &targets = {"host", "ptx"});

} // namespace kiln::models

#endif // KILN_MODELS_SERVE_SERVEGRAPH_H
