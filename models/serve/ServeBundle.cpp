//===- ServeBundle.cpp - where kiln-serve's Executables live in a bundle --===//

#include "models/serve/ServeBundle.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "executor/CompilerVersion.h"
#include "executor/StatusMacros.h"

namespace kiln::models {

std::string serveModelHash(const DeepseekV3Config &config) {
  // Bump the version when the serving graph changes what a field means or
  // what its entries take (v2: the logit mask).
  std::string text = "kiln.serve.ServeGraph v2\n" + config.toJson();
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : text)
    h = (h ^ c) * 1099511628211ull;
  return absl::StrFormat("%016x", h);
}

/// "_<precision>" for a policy; an explicit assignment (WEIGHT=TYPE,...,
/// what --precision=auto chose) is too long and too free for a file name,
/// so it enters as "_mixed" and its 64-bit FNV-1a.
static std::string precisionSuffix(const std::string &precision) {
  if (precision == "bf16")
    return "";
  if (precision.find('=') == std::string::npos)
    return "_" + precision;
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : precision)
    h = (h ^ c) * 1099511628211ull;
  return absl::StrFormat("_mixed%016x", h);
}

std::string serveBucket(const ServeShape &shape) {
  return absl::StrCat("b", shape.slots, "_c", shape.context,
                      shape.prefillChunk > 0
                          ? absl::StrCat("_k", shape.prefillChunk)
                          : std::string(),
                      shape.dtype != "f32" ? "_" + shape.dtype : std::string(),
                      precisionSuffix(shape.precision));
}

BundleKey serveBundleKey(const DeepseekV3Config &config,
                         const ServeShape &shape, const std::string &target) {
  return BundleKey{serveModelHash(config), kServeBundleEntry,
                   serveBucket(shape), target, kKilnCompilerVersion};
}

absl::StatusOr<proto::Executable>
loadServeExecutable(const std::string &dir, const DeepseekV3Config &config,
                    const ServeShape &shape, const std::string &target,
                    const std::string &fillCommand) {
  KILN_ASSIGN_OR_RETURN(Bundle bundle, openBundle(dir));
  return bundle.load(serveBundleKey(config, shape, target), fillCommand);
}

} // namespace kiln::models
