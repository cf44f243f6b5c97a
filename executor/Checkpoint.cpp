// Executor state <-> safetensors checkpoints, validated in full before any
// state changes.
#include "executor/Checkpoint.h"

#include <set>
#include <vector>

#include <sys/stat.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "executor/ExecutableQueries.h"
#include "executor/Safetensors.h"
#include "executor/StatusMacros.h"

namespace kiln {

namespace {

/// At most a screenful of names; a checkpoint of the wrong model can miss
/// thousands.
std::string listNames(const std::vector<std::string> &names) {
  constexpr size_t kShown = 20;
  std::vector<std::string> shown;
  for (size_t i = 0; i < names.size() && i < kShown; ++i)
    shown.push_back(absl::StrCat("'", names[i], "'"));
  std::string text = absl::StrJoin(shown, ", ");
  if (names.size() > kShown)
    absl::StrAppend(&text, " and ", names.size() - kShown, " more");
  return text;
}

bool isDirectory(const std::string &path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool exists(const std::string &path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

absl::StatusOr<SafetensorsFile> readAnyCheckpoint(const std::string &path) {
  if (isDirectory(path)) {
    std::string base = absl::EndsWith(path, "/") ? path : path + "/";
    if (exists(base + "model.safetensors.index.json"))
      return readSafetensorsIndex(base + "model.safetensors.index.json");
    if (exists(base + "model.safetensors"))
      return readSafetensors(base + "model.safetensors");
    return absl::NotFoundError(
        absl::StrCat("checkpoint folder '", path,
                     "' holds neither model.safetensors.index.json "
                     "nor model.safetensors"));
  }
  if (absl::EndsWith(path, ".index.json"))
    return readSafetensorsIndex(path);
  return readSafetensors(path);
}

} // namespace

absl::Status saveCheckpoint(const EntryRunner &executor,
                            const std::string &path,
                            const std::map<std::string, std::string> &metadata,
                            const CheckpointSaveOptions &options) {
  std::vector<std::pair<std::string, HostTensor>> tensors;
  for (const proto::StateEntry &entry : executor.executable().state()) {
    // Derived state is recomputed from its sources, never saved.
    if (options.skipKinds.count(entry.kind()) || isDerivedState(entry))
      continue;
    absl::StatusOr<HostTensor> value = executor.getState(entry.name());
    // An unset entry (no initializer, never written) has nothing to save.
    if (absl::IsFailedPrecondition(value.status()))
      continue;
    KILN_RETURN_IF_ERROR(value.status());
    tensors.emplace_back(entry.name(), *std::move(value));
  }
  std::map<std::string, std::string> meta = metadata;
  meta["kiln.format"] = kCheckpointFormat;
  meta["kiln.compiler_version"] = executor.executable().compiler_version();
  return writeSafetensors(path, tensors, meta);
}

absl::StatusOr<std::map<std::string, std::string>>
loadCheckpoint(EntryRunner &executor, const std::string &path,
               const CheckpointLoadOptions &options) {
  KILN_ASSIGN_OR_RETURN(SafetensorsFile file, readAnyCheckpoint(path));
  if (auto it = file.metadata.find("kiln.format");
      it != file.metadata.end() && it->second != kCheckpointFormat)
    return absl::InvalidArgumentError(
        absl::StrCat("checkpoint '", path, "' has kiln.format '", it->second,
                     "'; this build reads '", kCheckpointFormat, "'"));

  std::vector<std::string> missing, unexpected, mismatched;
  std::set<std::string> stateNames;
  auto skipped = [&](const proto::StateEntry &entry) {
    return options.skipKinds.count(entry.kind()) > 0 || isDerivedState(entry);
  };
  for (const proto::StateEntry &entry : executor.executable().state()) {
    stateNames.insert(entry.name());
    if (skipped(entry))
      continue;
    auto it = file.tensors.find(entry.name());
    if (it == file.tensors.end()) {
      missing.push_back(entry.name());
      continue;
    }
    if (!it->second.hasType(entry.type()))
      mismatched.push_back(absl::StrCat("'", entry.name(), "' expects ",
                                        typeString(entry.type()), ", file has ",
                                        it->second.typeString()));
  }
  for (const std::string &name : file.order)
    if (!stateNames.count(name))
      unexpected.push_back(name);

  std::vector<std::string> problems;
  if (!mismatched.empty())
    problems.push_back(absl::StrCat(
        mismatched.size(),
        " tensor(s) of the wrong type: ", absl::StrJoin(mismatched, "; ")));
  if (!missing.empty() && !options.allowMissing)
    problems.push_back(absl::StrCat(
        missing.size(), " state entr", missing.size() == 1 ? "y" : "ies",
        " missing from the file: ", listNames(missing)));
  if (!unexpected.empty() && !options.allowUnexpected)
    problems.push_back(absl::StrCat(unexpected.size(),
                                    " tensor(s) in the file that are no "
                                    "state entry: ",
                                    listNames(unexpected)));
  if (!problems.empty())
    return absl::InvalidArgumentError(
        absl::StrCat("cannot load checkpoint '", path,
                     "' (state unchanged): ", absl::StrJoin(problems, "; ")));

  // Types were checked above, so no setState below can fail half-way through.
  for (const proto::StateEntry &entry : executor.executable().state()) {
    auto it = file.tensors.find(entry.name());
    if (it != file.tensors.end() && !skipped(entry))
      KILN_RETURN_IF_ERROR(
          executor.setState(entry.name(), std::move(it->second)));
  }
  return std::move(file.metadata);
}

} // namespace kiln
