//===- ArgumentBinding.cpp - caller inputs against an entry point ---------===//

#include "executor/ArgumentBinding.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "executor/ExecutableQueries.h"

namespace kiln {

std::vector<const proto::Argument *>
callerArguments(const proto::EntryPoint &entry) {
  std::vector<const proto::Argument *> fed;
  for (const proto::Argument &a : entry.arguments())
    if (a.state().empty())
      fed.push_back(&a);
  return fed;
}

absl::Status noSuchEntry(const proto::Executable &exe, std::string_view name) {
  return absl::NotFoundError(
      absl::StrCat("no entry point '", std::string(name),
                   "'; entries are: ", absl::StrJoin(entryNamesOf(exe), ", ")));
}

absl::Status checkInputs(const proto::EntryPoint &entry,
                         const std::vector<HostTensor> &inputs) {
  std::vector<const proto::Argument *> fed = callerArguments(entry);
  if (inputs.size() != fed.size()) {
    std::vector<std::string> names;
    for (const proto::Argument *a : fed)
      names.push_back(a->name());
    return absl::InvalidArgumentError(absl::StrCat(
        "entry '", entry.name(), "' takes ", fed.size(), " inputs (",
        absl::StrJoin(names, ", "), "), given ", inputs.size()));
  }
  for (size_t i = 0; i < fed.size(); ++i) {
    const proto::TensorType &t = entry.buffers(fed[i]->buffer());
    if (!inputs[i].hasType(t))
      return absl::InvalidArgumentError(absl::StrCat(
          "entry '", entry.name(), "' argument '", fed[i]->name(),
          "': expected ", typeString(t), ", given ", inputs[i].typeString()));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<HostTensor>>
orderInputs(const proto::EntryPoint &entry,
            const std::map<std::string, HostTensor> &inputs) {
  std::vector<HostTensor> ordered;
  for (const proto::Argument *a : callerArguments(entry)) {
    auto it = inputs.find(a->name());
    if (it == inputs.end())
      return absl::InvalidArgumentError(absl::StrCat("entry '", entry.name(),
                                                     "' argument '", a->name(),
                                                     "' is not given"));
    ordered.push_back(it->second);
  }
  if (ordered.size() != inputs.size()) {
    for (const auto &[key, value] : inputs) {
      bool known = false;
      for (const proto::Argument &a : entry.arguments())
        known |= a.state().empty() && a.name() == key;
      if (!known)
        return absl::InvalidArgumentError(
            absl::StrCat("entry '", entry.name(),
                         "' has no caller-fed argument '", key, "'"));
    }
  }
  return ordered;
}

absl::StatusOr<std::vector<bool>>
wantedResults(const proto::EntryPoint &entry,
              const std::vector<std::string> &wanted) {
  if (wanted.empty())
    return std::vector<bool>();
  std::vector<bool> mask(entry.results_size(), false);
  for (const std::string &name : wanted) {
    bool found = false;
    for (int k = 0; k < entry.results_size(); ++k)
      if (entry.results(k).state().empty() && entry.results(k).name() == name)
        mask[k] = found = true;
    if (!found)
      return absl::InvalidArgumentError(absl::StrCat("entry '", entry.name(),
                                                     "' returns no result '",
                                                     name, "' to its caller"));
  }
  return mask;
}

std::map<std::string, HostTensor> nameResults(const proto::EntryPoint &entry,
                                              std::vector<HostTensor> results) {
  std::map<std::string, HostTensor> byName;
  size_t k = 0;
  for (const proto::Result &r : entry.results())
    if (r.state().empty())
      byName[r.name()] = std::move(results[k++]);
  return byName;
}

} // namespace kiln
