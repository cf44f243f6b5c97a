//===- ReasonerCompile.h - compiling kiln-train's entries and exporting them -*- C++ -*-===//
//
// The compiler side of kiln-train: builds ReasonerGraph for a configuration and
// compiles it for a target, or for both targets into a bundle that a
// runtime-only kiln-train (kiln-train-rt, no MLIR) loads on another machine.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_MODELS_TRAIN_REASONERCOMPILE_H
#define KILN_MODELS_TRAIN_REASONERCOMPILE_H

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "executor/Bundle.h"
#include "executor/executable.pb.h"
#include "models/train/ReasonerShapes.h"
#include "models/train/train_config.pb.h"

namespace kiln::train {

/// Builds the graph and compiles it for `target` ("host" or "ptx"). A failure
/// says which target, after the compiler's message (which names the op). With
/// `dumpIrDir`, the IR before and after every pass is written there.
/// `gradientBucketBytes` > 0 sets the data-parallel gradient buckets' size
/// (0: the compiler's default).
absl::StatusOr<proto::Executable>
compileReasoner(const TrainConfig &config, const ReasonerShapes &shapes,
                const std::string &target, const std::string &dumpIrDir = "",
                int64_t gradientBucketBytes = 0);

/// Compiles for every target in `targets` and adds the Executables to the
/// bundle in `dir` under reasonerBundleKey, keeping the manifest's other
/// entries (an entry of the same key is replaced). Every target compiles before
/// anything is written, so a failure leaves the bundle as it was. Returns the
/// keys written. With `dumpIrDir`, each target's IR goes to dumpIrDir/<target>.
absl::StatusOr<std::vector<BundleKey>>
exportReasonerBundle(const TrainConfig &config, const ReasonerShapes &shapes,
                     const std::string &dir,
                     const std::vector<std::string> &targets = {"host", "ptx"},
                     const std::string &dumpIrDir = "");

} // namespace kiln::train

#endif // KILN_MODELS_TRAIN_REASONERCOMPILE_H
