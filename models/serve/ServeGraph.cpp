//===- ServeGraph.cpp - the compiled entries kiln-serve runs --------------===//

#include "models/serve/ServeGraph.h"

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "codegen/Compile.h"
#include "executor/Executor.h"
#include "executor/StatusMacros.h"
#include "models/deepseek/DeepseekInference.h"
#include "models/deepseek/DeepseekModel.h"
#include "models/serve/ChunkedPrefill.h"

namespace kiln::models {

absl::StatusOr<proto::Executable>
compileServeModel(const DeepseekV3Config &config, const ServeShape &shape,
                  const std::string &target, uint64_t seed) {
  if (shape.slots < 1 || shape.context < 2)
    return absl::InvalidArgumentError(
        absl::StrCat("serving needs at least 1 slot and a context of 2, got ",
                     shape.slots, " slots and ", shape.context));
  if (shape.context > config.maxPositionEmbeddings)
    return absl::InvalidArgumentError(
        absl::StrCat("context ", shape.context, " exceeds the model's ",
                     "max_position_embeddings ", config.maxPositionEmbeddings));
  if (shape.dtype != "f32" && shape.dtype != "bf16")
    return absl::InvalidArgumentError(absl::StrCat(
        "serving dtype is '", shape.dtype, "'; expected f32 or bf16"));
  KILN_RETURN_IF_ERROR(config.validate());
  Graph graph("serve");
  DeepseekV3Model model(graph, config,
                        shape.dtype == "bf16" ? DType::bf16 : DType::f32, seed);
  // Every serving graph takes a logit mask: constrained decoding
  // (serving/TokenMasks.h) applies it where the sampling happens.
  InferenceShape inference{shape.slots, shape.context, shape.context};
  inference.logitMask = true;
  KILN_RETURN_IF_ERROR(addDeepseekInference(graph, model, inference));
  if (shape.prefillChunk > 0)
    KILN_RETURN_IF_ERROR(addChunkedPrefill(graph, model, shape.prefillChunk));
  KILN_ASSIGN_OR_RETURN(IrModule module, graph.build());
  codegen::CompileOptions options;
  options.target = target;
  options.precision = shape.precision;
  return codegen::compile(module, options);
}

absl::StatusOr<std::vector<BundleKey>>
exportServeBundle(const DeepseekV3Config &config, const ServeShape &shape,
                  const std::string &dir,
                  const std::vector<std::string> &targets) {
  std::vector<std::pair<BundleEntry, proto::Executable>> compiled;
  for (const std::string &target : targets) {
    KILN_ASSIGN_OR_RETURN(proto::Executable exe,
                          compileServeModel(config, shape, target));
    BundleKey key = serveBundleKey(config, shape, target);
    if (exe.compiler_version() != key.compilerVersion)
      return absl::InternalError(
          absl::StrCat("the compiler stamped '", exe.compiler_version(),
                       "' but bundle keys say '", key.compilerVersion, "'"));
    compiled.push_back({BundleEntry{key, bundleFileName(key)}, std::move(exe)});
  }
  std::vector<BundleEntry> entries;
  if (std::filesystem::exists(std::filesystem::path(dir) / "manifest.json")) {
    KILN_ASSIGN_OR_RETURN(Bundle existing, openBundle(dir));
    entries = existing.entries();
  }
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec)
    return absl::PermissionDeniedError(absl::StrCat(
        "cannot create bundle folder '", dir, "': ", ec.message()));
  std::vector<BundleKey> keys;
  for (auto &[entry, exe] : compiled) {
    KILN_RETURN_IF_ERROR(
        writeExecutable(exe, dir + "/" + entry.file, /*text=*/false));
    std::erase_if(entries,
                  [&](const BundleEntry &e) { return e.key == entry.key; });
    entries.push_back(entry);
    keys.push_back(entry.key);
  }
  KILN_RETURN_IF_ERROR(writeBundleManifest(dir, entries));
  return keys;
}

} // namespace kiln::models
