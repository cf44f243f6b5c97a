//===- Launcher.cpp - how this process was started ------------------------===//

#include "executor/comm/Launcher.h"

#include <cstdlib>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace kiln {

namespace {

bool envSet(const char *name) { return std::getenv(name) != nullptr; }

} // namespace

Launcher detectLauncher() {
  if (envSet("OMPI_COMM_WORLD_SIZE") || envSet("PMI_SIZE") ||
      envSet("PMIX_RANK"))
    return Launcher::Mpi;
  int64_t size = 0;
  if (const char *text = std::getenv("WORLD_SIZE");
      text && absl::SimpleAtoi(text, &size) && size > 1)
    return Launcher::Env;
  return Launcher::Single;
}

int localWorldSize() {
  for (const char *name : {"OMPI_COMM_WORLD_LOCAL_SIZE", "LOCAL_WORLD_SIZE"}) {
    int size = 0;
    if (const char *text = std::getenv(name);
        text && absl::SimpleAtoi(text, &size) && size > 0)
      return size;
  }
  return 1;
}

int localRank() {
  for (const char *name :
       {"OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "LOCAL_RANK"}) {
    int rank = 0;
    if (const char *text = std::getenv(name);
        text && absl::SimpleAtoi(text, &rank) && rank >= 0)
      return rank;
  }
  return 0;
}

absl::StatusOr<double> collectiveTimeout(const WorldOptions &options) {
  double timeout = options.timeoutSeconds;
  if (const char *text = std::getenv("KILN_COLLECTIVE_TIMEOUT")) {
    if (!absl::SimpleAtod(text, &timeout) || !(timeout > 0) ||
        timeout > 1e9)
      return absl::InvalidArgumentError(absl::StrCat(
          "KILN_COLLECTIVE_TIMEOUT must be a positive number of seconds, "
          "got '",
          text, "'"));
  }
  return timeout;
}

} // namespace kiln
