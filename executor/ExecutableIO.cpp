// Reading and atomically writing Executable files (binary or text protobuf).
#include <cstdio>
#include <fstream>
#include <sstream>

#include <unistd.h>

#include <google/protobuf/text_format.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "executor/Executor.h"

namespace kiln {

namespace {
bool isTextPath(const std::string &path) {
  return absl::EndsWith(path, ".txtpb") || absl::EndsWith(path, ".pbtxt");
}
} // namespace

absl::StatusOr<proto::Executable> readExecutable(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return absl::NotFoundError(
        absl::StrCat("cannot open executable file '", path, "'"));
  std::stringstream buf;
  buf << in.rdbuf();
  if (in.bad())
    return absl::DataLossError(
        absl::StrCat("error reading executable file '", path, "'"));
  std::string bytes = buf.str();
  proto::Executable exe;
  bool ok = isTextPath(path)
                ? google::protobuf::TextFormat::ParseFromString(bytes, &exe)
                : exe.ParseFromString(bytes);
  if (!ok)
    return absl::DataLossError(
        absl::StrCat("executable file '", path, "' is corrupt: not a ",
                     isTextPath(path) ? "text" : "binary",
                     " kiln.proto.Executable (", bytes.size(), " bytes)"));
  if (exe.target().empty())
    return absl::DataLossError(absl::StrCat(
        "executable file '", path, "' has no target; it is not an Executable"));
  return exe;
}

absl::Status writeExecutable(const proto::Executable &exe,
                             const std::string &path, bool text) {
  std::string bytes;
  if (text) {
    if (!google::protobuf::TextFormat::PrintToString(exe, &bytes))
      return absl::InternalError(
          absl::StrCat("cannot print executable for '", path, "'"));
  } else if (!exe.SerializeToString(&bytes)) {
    return absl::InternalError(
        absl::StrCat("cannot serialise executable for '", path, "'"));
  }
  // Unique per process, so concurrent writers never interleave in one file.
  std::string tmp = absl::StrCat(path, ".tmp.", ::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out)
      return absl::PermissionDeniedError(
          absl::StrCat("cannot write '", tmp, "'"));
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.close();
    if (!out) {
      std::remove(tmp.c_str());
      return absl::DataLossError(absl::StrCat("error writing '", tmp, "'"));
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return absl::PermissionDeniedError(
        absl::StrCat("cannot rename '", tmp, "' to '", path, "'"));
  }
  return absl::OkStatus();
}

} // namespace kiln
