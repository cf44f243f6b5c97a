// manifest.json reading and writing (nlohmann::json) and key lookup.
#include "executor/Bundle.h"

#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <tuple>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "executor/Executor.h"
#include "executor/StatusMacros.h"
#include "executor/UntrustedJson.h"

namespace kiln {

namespace fs = std::filesystem;

namespace {
constexpr const char *kManifest = "manifest.json";
constexpr const char *kFormat = "kiln-bundle-1";

std::string sanitize(const std::string &s) {
  std::string out = s;
  for (char &c : out)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' ||
          c == '-'))
      c = '_';
  return out;
}
} // namespace

bool BundleKey::operator<(const BundleKey &o) const {
  return std::tie(modelHash, entry, bucket, target, compilerVersion) <
         std::tie(o.modelHash, o.entry, o.bucket, o.target, o.compilerVersion);
}

std::string bundleKeyString(const BundleKey &k) {
  return absl::StrCat("model_hash=", k.modelHash, " entry=", k.entry,
                      " bucket=", k.bucket, " target=", k.target,
                      " compiler_version=", k.compilerVersion);
}

std::string bundleFileName(const BundleKey &k) {
  return sanitize(absl::StrCat(k.entry, ".", k.bucket, ".", k.target, ".",
                               k.modelHash.substr(0, 16), ".kx"));
}

const BundleEntry *Bundle::find(const BundleKey &key) const {
  for (const BundleEntry &e : entries_)
    if (e.key == key)
      return &e;
  return nullptr;
}

absl::StatusOr<proto::Executable>
Bundle::load(const BundleKey &key, const std::string &fillCommand) const {
  const BundleEntry *e = find(key);
  if (!e) {
    std::string near;
    for (const BundleEntry &o : entries_)
      if (o.key.entry == key.entry)
        absl::StrAppend(&near, "\n  ", bundleKeyString(o.key));
    return absl::NotFoundError(absl::StrCat(
        "bundle '", dir_, "' has no Executable for ", bundleKeyString(key),
        fillCommand.empty()
            ? absl::StrCat("; run: kiln-compile <model.mlir> --target=",
                           key.target, " --bundle=", dir_)
            : absl::StrCat("; fill it with: ", fillCommand),
        near.empty() ? "" : "\nentries with the same entry name:", near));
  }
  std::string path = (fs::path(dir_) / e->file).string();
  auto exe = readExecutable(path);
  if (!exe.ok())
    return absl::Status(exe.status().code(),
                        absl::StrCat("bundle '", dir_, "' entry ",
                                     bundleKeyString(key), ": ",
                                     exe.status().message()));
  if (exe->target() != key.target)
    return absl::DataLossError(
        absl::StrCat("bundle file '", path, "' holds a '", exe->target(),
                     "' Executable but its key says target=", key.target));
  if (!exe->compiler_version().empty() &&
      exe->compiler_version() != key.compilerVersion)
    return absl::DataLossError(absl::StrCat(
        "bundle file '", path, "' was compiled by '", exe->compiler_version(),
        "' but its key says compiler_version=", key.compilerVersion));
  return exe;
}

absl::StatusOr<Bundle> openBundle(const std::string &dir) {
  fs::path path = fs::path(dir) / kManifest;
  std::ifstream in(path);
  if (!in)
    return absl::NotFoundError(
        absl::StrCat("no bundle at '", dir, "': cannot read ", path.string()));
  std::stringstream text;
  text << in.rdbuf();
  if (in.bad())
    return absl::DataLossError(
        absl::StrCat("bundle manifest ", path.string(),
                     ": read error: ", std::strerror(errno)));
  KILN_ASSIGN_OR_RETURN(nlohmann::json j,
                        parseUntrustedJson<nlohmann::json>(
                            text.str(), "bundle manifest " + path.string()));
  auto bad = [&](const std::string &why) {
    return absl::InvalidArgumentError(
        absl::StrCat("bundle manifest ", path.string(), ": ", why));
  };
  if (!j.is_object() || !j.contains("entries") || !j["entries"].is_array())
    return bad("expected an object with an \"entries\" array");
  if (j.contains("format") && j["format"] != kFormat)
    return bad(
        absl::StrCat("format ", jsonSnippet(j["format"]), " is not ", kFormat));
  Bundle b;
  b.dir_ = dir;
  std::set<BundleKey> seen;
  int index = 0;
  for (const nlohmann::json &e : j["entries"]) {
    std::string where = absl::StrCat("entries[", index++, "]");
    if (!e.is_object() || !e.contains("key") || !e["key"].is_object() ||
        !e.contains("file") || !e["file"].is_string())
      return bad(
          absl::StrCat(where, " needs a \"key\" object and a \"file\" string"));
    const nlohmann::json &k = e["key"];
    BundleEntry entry;
    for (auto [field, slot] :
         {std::pair{"model_hash", &entry.key.modelHash},
          std::pair{"entry", &entry.key.entry},
          std::pair{"bucket", &entry.key.bucket},
          std::pair{"target", &entry.key.target},
          std::pair{"compiler_version", &entry.key.compilerVersion}}) {
      if (!k.contains(field) || !k[field].is_string())
        return bad(
            absl::StrCat(where, ".key.", field, " is missing or not a string"));
      *slot = k[field].get<std::string>();
    }
    entry.file = e["file"].get<std::string>();
    if (entry.file.empty() || fs::path(entry.file).is_absolute() ||
        entry.file.find("..") != std::string::npos)
      return bad(absl::StrCat(where, ".file '", quoteBounded(entry.file),
                              "' must be a relative path inside the bundle"));
    if (!seen.insert(entry.key).second)
      return bad(
          absl::StrCat(where, " repeats the key ", bundleKeyString(entry.key)));
    b.entries_.push_back(std::move(entry));
  }
  return b;
}

absl::Status writeBundleManifest(const std::string &dir,
                                 const std::vector<BundleEntry> &entries) {
  nlohmann::json list = nlohmann::json::array();
  std::set<BundleKey> seen;
  for (const BundleEntry &e : entries) {
    const BundleKey &k = e.key;
    if (k.modelHash.empty() || k.entry.empty() || k.bucket.empty() ||
        k.target.empty() || k.compilerVersion.empty() || e.file.empty())
      return absl::InvalidArgumentError(absl::StrCat(
          "bundle entry ", bundleKeyString(k), " file '", e.file,
          "': every key field and the file name must be non-empty"));
    if (!seen.insert(k).second)
      return absl::InvalidArgumentError(
          absl::StrCat("bundle key ", bundleKeyString(k), " is listed twice"));
    list.push_back({{"key",
                     {{"model_hash", k.modelHash},
                      {"entry", k.entry},
                      {"bucket", k.bucket},
                      {"target", k.target},
                      {"compiler_version", k.compilerVersion}}},
                    {"file", e.file}});
  }
  nlohmann::json j = {{"format", kFormat}, {"entries", list}};
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec)
    return absl::PermissionDeniedError(absl::StrCat(
        "cannot create bundle folder '", dir, "': ", ec.message()));
  fs::path path = fs::path(dir) / kManifest;
  // Unique per process: two writers must never share a temporary.
  fs::path tmp = absl::StrCat(path.string(), ".tmp.", ::getpid());
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << j.dump(2) << "\n";
    out.flush();
    if (!out) {
      int err = errno;
      fs::remove(tmp, ec);
      return absl::PermissionDeniedError(absl::StrCat(
          "cannot write ", tmp.string(), ": ", std::strerror(err)));
    }
  }
  fs::rename(tmp, path, ec);
  if (ec)
    return absl::PermissionDeniedError(
        absl::StrCat("cannot rename ", tmp.string(), " to ", path.string(),
                     ": ", ec.message()));
  return absl::OkStatus();
}

namespace {
/// An exclusive flock on DIR/manifest.lock for the life of the object: the
/// read-modify-write of a manifest is one step for every process sharing DIR.
class BundleLock {
public:
  static absl::StatusOr<std::unique_ptr<BundleLock>>
  acquire(const std::string &dir) {
    std::string path = (fs::path(dir) / "manifest.lock").string();
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
      return absl::PermissionDeniedError(absl::StrCat(
          "cannot open bundle lock '", path, "': ", std::strerror(errno)));
    while (::flock(fd, LOCK_EX) != 0) {
      if (errno == EINTR)
        continue;
      int err = errno;
      ::close(fd);
      return absl::PermissionDeniedError(
          absl::StrCat("cannot lock '", path, "': ", std::strerror(err)));
    }
    return std::unique_ptr<BundleLock>(new BundleLock(fd));
  }
  ~BundleLock() { ::close(fd_); } // closing releases the lock
  BundleLock(const BundleLock &) = delete;
  BundleLock &operator=(const BundleLock &) = delete;

private:
  explicit BundleLock(int fd) : fd_(fd) {}
  int fd_;
};
} // namespace

absl::Status addToBundle(
    const std::string &dir,
    const std::vector<std::pair<BundleEntry, proto::Executable>> &added) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec)
    return absl::PermissionDeniedError(absl::StrCat(
        "cannot create bundle folder '", dir, "': ", ec.message()));
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<BundleLock> lock,
                        BundleLock::acquire(dir));
  // Re-read under the lock: entries another process added since this one
  // started compiling are kept.
  std::vector<BundleEntry> entries;
  if (fs::exists(fs::path(dir) / kManifest)) {
    KILN_ASSIGN_OR_RETURN(Bundle existing, openBundle(dir));
    entries = existing.entries();
  }
  for (const auto &[entry, exe] : added) {
    KILN_RETURN_IF_ERROR(writeExecutable(
        exe, (fs::path(dir) / entry.file).string(), /*text=*/false));
    std::erase_if(entries,
                  [&](const BundleEntry &e) { return e.key == entry.key; });
    entries.push_back(entry);
  }
  return writeBundleManifest(dir, entries);
}

} // namespace kiln
