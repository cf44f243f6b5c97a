//===- ReasonerCompile.cpp - compiling kiln-train's entries and exporting them ===//

#include "models/train/ReasonerCompile.h"

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "codegen/Compile.h"
#include "executor/Executor.h"
#include "executor/StatusMacros.h"
#include "models/train/ReasonerBundle.h"
#include "models/train/ReasonerGraph.h"

namespace kiln::train {

absl::StatusOr<proto::Executable>
compileReasoner(const TrainConfig &config, const ReasonerShapes &shapes,
                const std::string &target, const std::string &dumpIrDir,
                int64_t gradientBucketBytes) {
  KILN_ASSIGN_OR_RETURN(Graph graph, buildReasonerGraph(config, shapes));
  KILN_ASSIGN_OR_RETURN(IrModule module, graph.build());
  codegen::CompileOptions options;
  options.target = target;
  options.dumpIrDir = dumpIrDir;
  options.dataParallel = shapes.dataParallel;
  options.zero = shapes.zero;
  if (gradientBucketBytes > 0)
    options.gradientBucketBytes = gradientBucketBytes;
  options.expertParallel = shapes.expertParallel;
  options.precision = config.precision();
  auto exe = codegen::compile(module, options);
  if (!exe.ok())
    return absl::Status(exe.status().code(),
                        absl::StrCat(exe.status().message(), "\n(while compiling the reasoner ",
                                     "graph for the ", target, " target)"));
  return exe;
}

absl::StatusOr<std::vector<BundleKey>>
exportReasonerBundle(const TrainConfig &config, const ReasonerShapes &shapes,
                     const std::string &dir, const std::vector<std::string> &targets,
                     const std::string &dumpIrDir) {
  std::vector<std::pair<BundleEntry, proto::Executable>> compiled;
  for (const std::string &target : targets) {
    KILN_ASSIGN_OR_RETURN(proto::Executable exe,
                          compileReasoner(config, shapes, target,
                                          dumpIrDir.empty() ? "" : dumpIrDir + "/" + target));
    BundleKey key = reasonerBundleKey(config, shapes, target);
    if (exe.compiler_version() != key.compilerVersion)
      return absl::InternalError(absl::StrCat("the compiler stamped '", exe.compiler_version(),
                                              "' but bundle keys say '", key.compilerVersion,
                                              "' (executor/CompilerVersion.h)"));
    compiled.push_back({BundleEntry{key, bundleFileName(key)}, std::move(exe)});
  }
  std::vector<BundleKey> keys;
  for (const auto &[entry, exe] : compiled)
    keys.push_back(entry.key);
  // Under the bundle's lock, so concurrent exports keep each other's entries.
  KILN_RETURN_IF_ERROR(addToBundle(dir, compiled));
  return keys;
}

} // namespace kiln::train
