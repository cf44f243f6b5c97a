// Reading and atomically writing Hugging Face safetensors files, single or
// sharded with a model.safetensors.index.json, so checkpoints move between Kiln
// and `transformers`.
#ifndef KILN_EXECUTOR_SAFETENSORS_H
#define KILN_EXECUTOR_SAFETENSORS_H

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "executor/HostTensor.h"

namespace kiln {

/// What a safetensors file (or a sharded set) holds.
struct SafetensorsFile {
  std::map<std::string, HostTensor> tensors;
  /// The "__metadata__" strings, without the `kiln.dtype.*` keys that carry
  /// Kiln's own dtypes: an i4 tensor is stored as its packed bytes, a flat I8
  /// tensor, marked `kiln.dtype.<name>` = "i4[d0,d1,...]" (files of one
  /// element per byte, marked "i4", still read).
  std::map<std::string, std::string> metadata;
  /// Tensor names in the order their bytes lie in the file (for an index: shard
  /// by shard).
  std::vector<std::string> order;
};

/// Writes the tensors in the safetensors layout (8-byte little-endian header
/// length, JSON header padded with spaces to a multiple of 8, then the data,
/// widest dtype first so every tensor is aligned to its element size). The
/// bytes go to `path.tmp.<pid>`, which is fsynced and renamed over `path`: on
/// any error the old file is untouched and the temporary removed. Names must be
/// unique and non-empty; metadata keys starting with "kiln.dtype." are
/// reserved.
absl::Status
writeSafetensors(const std::string &path,
                 const std::vector<std::pair<std::string, HostTensor>> &tensors,
                 const std::map<std::string, std::string> &metadata = {});

/// Reads and validates a whole file: header length and JSON, dtypes, shapes
/// against byte ranges, ranges inside the data and exactly tiling it (no
/// overlap, gap or trailing bytes). Every error names the file and the
/// offending tensor or value.
absl::StatusOr<SafetensorsFile> readSafetensors(const std::string &path);

/// Reads a sharded checkpoint through its index (`{"metadata": {...},
/// "weight_map":
/// {"name": "model-00001-of-00002.safetensors", ...}}`), loading the shards
/// from the index's folder. A tensor listed but missing from its shard, or
/// present in a shard but not listed there, is an error. The metadata is the
/// shards' merged with the index's (which wins); the index's "total_size" is
/// dropped.
absl::StatusOr<SafetensorsFile>
readSafetensorsIndex(const std::string &indexPath);

/// Splits the tensors, in order, into shards of at most `maxShardBytes` of
/// tensor data (a larger tensor gets a shard of its own) and writes
/// `<stem>-0000N-of-0000M.safetensors` plus `<stem>.safetensors.index.json`
/// into `dir`, the index last, each through a temporary file and rename. When
/// everything fits in one shard it writes a single
/// `<stem>.safetensors` and no index. Every shard carries the metadata.
absl::Status writeSafetensorsSharded(
    const std::string &dir, const std::string &stem,
    const std::vector<std::pair<std::string, HostTensor>> &tensors,
    int64_t maxShardBytes,
    const std::map<std::string, std::string> &metadata = {});

/// The safetensors dtype name of a Kiln dtype ("F32", "BF16", "F8_E4M3",
/// "BOOL"; i4 is "I8"); nullptr for DTYPE_INVALID.
const char *safetensorsDTypeName(proto::DType dtype);

} // namespace kiln

#endif // KILN_EXECUTOR_SAFETENSORS_H
