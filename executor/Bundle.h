// Bundles: a folder of compiled Executables with a manifest.json keyed by what
// produced them (model hash, entry, shape bucket, target, compiler version),
// never by the graph, so a process without the compiler can compute the key and
// find its Executable.
#ifndef KILN_EXECUTOR_BUNDLE_H
#define KILN_EXECUTOR_BUNDLE_H

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "executor/executable.pb.h"

namespace kiln {

struct BundleKey {
  std::string modelHash;       // hash of the model config that built the graph
  std::string entry;           // entry name, e.g. "train_step"
  std::string bucket;          // shape bucket, e.g. "b8_s128"
  std::string target;          // "host" or "ptx"
  std::string compilerVersion; // Executable.compiler_version

  bool operator==(const BundleKey &o) const {
    return modelHash == o.modelHash && entry == o.entry && bucket == o.bucket &&
           target == o.target && compilerVersion == o.compilerVersion;
  }
  bool operator<(const BundleKey &o) const;
};

/// "model_hash=… entry=… bucket=… target=… compiler_version=…": for messages
/// and logs.
std::string bundleKeyString(const BundleKey &key);
/// A file name derived from the key ("<entry>.<bucket>.<target>.<hash>.kx"),
/// with anything outside [A-Za-z0-9._-] replaced by '_'; the compiler side may
/// use it.
std::string bundleFileName(const BundleKey &key);

struct BundleEntry {
  BundleKey key;
  std::string file; // relative to the bundle folder
};

class Bundle {
public:
  const std::string &dir() const { return dir_; }
  const std::vector<BundleEntry> &entries() const { return entries_; }
  /// nullptr when the key is absent.
  const BundleEntry *find(const BundleKey &key) const;
  /// Reads the Executable of `key`. A missing key is an error naming the key,
  /// the entries of the same name (which field moved) and the command that
  /// fills it: `fillCommand`, or by default kiln-compile's; a file whose
  /// target or compiler version disagrees with its key is an error too.
  absl::StatusOr<proto::Executable>
  load(const BundleKey &key, const std::string &fillCommand = "") const;

private:
  friend absl::StatusOr<Bundle> openBundle(const std::string &dir);
  std::string dir_;
  std::vector<BundleEntry> entries_;
};

/// Reads DIR/manifest.json.
absl::StatusOr<Bundle> openBundle(const std::string &dir);
/// Writes DIR/manifest.json (creating DIR) through a temp file and a rename, so
/// a reader never sees half a manifest. Keys must be unique and their fields
/// non-empty.
absl::Status writeBundleManifest(const std::string &dir,
                                 const std::vector<BundleEntry> &entries);

/// Writes each Executable into DIR under its entry's file name and adds (or
/// replaces) its entry in DIR/manifest.json, holding DIR/manifest.lock from the
/// manifest's read to its rename, so concurrent writers lose no entry.
absl::Status addToBundle(
    const std::string &dir,
    const std::vector<std::pair<BundleEntry, proto::Executable>> &added);

} // namespace kiln

#endif // KILN_EXECUTOR_BUNDLE_H
