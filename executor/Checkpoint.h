// Saving and restoring an executor's named state (parameters, optimizer
// moments, step counters, RNG keys alike) as a safetensors checkpoint keyed by
// state-entry name.
#ifndef KILN_EXECUTOR_CHECKPOINT_H
#define KILN_EXECUTOR_CHECKPOINT_H

#include <map>
#include <set>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "executor/EntryRunner.h"

namespace kiln {

/// The `kiln.format` metadata value of checkpoints this code writes.
inline constexpr const char *kCheckpointFormat = "kiln-checkpoint-1";

struct CheckpointLoadOptions {
  /// State entries absent from the file keep their current value (or stay
  /// unset).
  bool allowMissing = false;
  /// Tensors in the file that name no state entry are ignored.
  bool allowUnexpected = false;
  /// State entries of these kinds ("cache": scratch the entries rewrite)
  /// are neither required nor set; tensors of theirs in the file are
  /// ignored, whatever their shape.
  std::set<std::string> skipKinds;
};

struct CheckpointSaveOptions {
  /// State entries of these kinds are not written.
  std::set<std::string> skipKinds;
};

/// Writes every state entry that has a value, by name, to one safetensors file
/// (temp file + rename). The metadata gains `kiln.format` = "kiln-checkpoint-1"
/// and `kiln.compiler_version` (the Executable's), which override caller keys
/// of that name.
absl::Status
saveCheckpoint(const EntryRunner &executor, const std::string &path,
               const std::map<std::string, std::string> &metadata = {},
               const CheckpointSaveOptions &options = {});

/// Reads a checkpoint and sets the state from it. `path` is a .safetensors
/// file, a
/// `*.safetensors.index.json` of a sharded one, or a folder holding
/// model.safetensors.index.json or model.safetensors. Everything is checked
/// before any state changes: each tensor's dtype and shape against its state
/// entry, missing entries and unexpected tensors (unless allowed), and a
/// `kiln.format` other than ours. On error the state is untouched. Returns the
/// file's metadata.
absl::StatusOr<std::map<std::string, std::string>>
loadCheckpoint(EntryRunner &executor, const std::string &path,
               const CheckpointLoadOptions &options = {});

} // namespace kiln

#endif // KILN_EXECUTOR_CHECKPOINT_H
