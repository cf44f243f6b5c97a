//===- Metrics.cpp - training metrics to JSONL and TensorBoard ------------===//

#include "models/grpo/Metrics.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "nlohmann/json.hpp"

namespace kiln::models {

void ScalarMeans::add(const std::string &name, double value) {
  auto it = std::find_if(sums.begin(), sums.end(),
                         [&](const Sum &s) { return s.name == name; });
  if (it == sums.end())
    it = sums.insert(sums.end(), Sum{name});
  it->total += value;
  ++it->count;
}

Scalars ScalarMeans::means() const {
  Scalars out;
  for (const Sum &s : sums)
    out.emplace_back(s.name, s.total / static_cast<double>(s.count));
  return out;
}

namespace fs = std::filesystem;

double unixSeconds() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

namespace {

absl::Status ioError(const char *what, const std::string &path) {
  return absl::InternalError(
      absl::StrCat(what, " ", path, ": ", std::strerror(errno)));
}

absl::Status makeParent(const fs::path &path) {
  std::error_code ec;
  if (!path.parent_path().empty())
    fs::create_directories(path.parent_path(), ec);
  if (ec)
    return absl::InternalError(absl::StrCat(
        "creating ", path.parent_path().string(), ": ", ec.message()));
  return absl::OkStatus();
}

/// Writes all of `bytes` and pushes them to the OS, so they survive the
/// process (not a power cut: no fsync, which would cost a disk round trip
/// per step).
absl::Status writeAndFlush(std::FILE *file, std::string_view bytes,
                           const std::string &path) {
  if (std::fwrite(bytes.data(), 1, bytes.size(), file) != bytes.size() ||
      std::fflush(file) != 0)
    return ioError("writing", path);
  return absl::OkStatus();
}

/// Whether `path` exists, is non-empty and does not end in a newline.
bool endsMidLine(const std::string &path) {
  // Only a regular file has a last line; a device or pipe has no end to read.
  std::error_code ec;
  if (!fs::is_regular_file(path, ec))
    return false;
  detail::FilePtr file(std::fopen(path.c_str(), "rb"));
  if (!file || std::fseek(file.get(), -1, SEEK_END) != 0)
    return false;
  return std::fgetc(file.get()) != '\n';
}

std::string hostName() {
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) != 0 || name[0] == '\0')
    return "localhost";
  std::string host(name);
  // A hostname never holds '/', but a file name must not.
  for (char &c : host)
    if (c == '/')
      c = '_';
  return host;
}

} // namespace

absl::StatusOr<JsonlWriter> JsonlWriter::open(const std::string &path) {
  if (absl::Status s = makeParent(path); !s.ok())
    return s;
  bool fragment = endsMidLine(path);
  detail::FilePtr file(std::fopen(path.c_str(), "ab"));
  if (!file)
    return ioError("opening", path);
  if (fragment)
    if (absl::Status s = writeAndFlush(file.get(), "\n", path); !s.ok())
      return s;
  return JsonlWriter(path, std::move(file));
}

absl::Status JsonlWriter::write(int64_t step, const Scalars &scalars,
                                std::optional<double> wallTime) {
  nlohmann::ordered_json line;
  line["step"] = step;
  line["wall_time"] = wallTime ? *wallTime : unixSeconds();
  std::set<std::string> seen;
  for (const auto &[name, value] : scalars) {
    if (name.empty() || name == "step" || name == "wall_time" ||
        !seen.insert(name).second)
      return absl::InvalidArgumentError(
          absl::StrCat("JsonlWriter ", path_, ": metric name '", name,
                       "' is empty, repeated, or reserved (step, wall_time)"));
    line[name] = value; // nlohmann writes NaN and inf as null
  }
  std::string text =
      line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) +
      "\n";
  return writeAndFlush(file_.get(), text, path_);
}

absl::StatusOr<TensorBoardWriter>
TensorBoardWriter::open(const std::string &logDir) {
  std::error_code ec;
  fs::create_directories(logDir, ec);
  if (ec)
    return absl::InternalError(
        absl::StrCat("creating ", logDir, ": ", ec.message()));
  double now = unixSeconds();
  std::string base = (fs::path(logDir) /
                      absl::StrFormat("events.out.tfevents.%010d.%s",
                                      static_cast<int64_t>(now), hostName()))
                         .string();
  std::string path = base;
  detail::FilePtr file;
  // "x": fail rather than truncate a file another writer opened this second.
  for (int suffix = 1; !file; ++suffix) {
    file.reset(std::fopen(path.c_str(), "wbx"));
    if (!file && (errno != EEXIST || suffix > 1000))
      return ioError("creating", path);
    if (!file)
      path = absl::StrCat(base, ".", suffix);
  }
  TensorBoardWriter writer(path, std::move(file));
  if (absl::Status s = writer.append(tfRecord(fileVersionEvent(now))); !s.ok())
    return s;
  return writer;
}

absl::Status TensorBoardWriter::write(int64_t step, const Scalars &scalars,
                                      std::optional<double> wallTime) {
  for (const auto &[tag, value] : scalars)
    if (tag.empty())
      return absl::InvalidArgumentError(
          absl::StrCat("TensorBoardWriter ", path_, ": empty tag"));
  return append(tfRecord(
      scalarsEvent(wallTime ? *wallTime : unixSeconds(), step, scalars)));
}

absl::Status TensorBoardWriter::append(const std::string &record) {
  return writeAndFlush(file_.get(), record, path_);
}

} // namespace kiln::models
