//===- Metrics.h - training metrics to JSONL and TensorBoard ---*- C++ -*-===//
//
// Host-side writers (no executor) for the scalars a training loop logs each
// step; both flush every step, so a crash loses at most the step being written.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_MODELS_GRPO_METRICS_H
#define KILN_MODELS_GRPO_METRICS_H

#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "models/grpo/EventFile.h"

namespace kiln::models {

namespace detail {
struct FileCloser {
  void operator()(std::FILE *file) const { std::fclose(file); }
};
using FilePtr = std::unique_ptr<std::FILE, FileCloser>;
} // namespace detail

/// Seconds since the Unix epoch, as TensorBoard's wall_time.
double unixSeconds();

/// The mean of each named scalar over the values added, in the order the
/// names first came: one logged value for GRPO's mu updates of a batch, as
/// TRL averages its per-update metrics over a logging step.
class ScalarMeans {
public:
  void add(const std::string &name, double value);
  Scalars means() const;

private:
  struct Sum {
    std::string name;
    double total = 0;
    int64_t count = 0;
  };
  std::vector<Sum> sums;
};

/// One JSON object per line and step: {"step": N, "wall_time": t, name:
/// value, ...} in the order given. Non-finite values are written as null
/// (JSON has no NaN). Each line is formed in memory and written and flushed
/// with one call, so a crash loses at most that line.
class JsonlWriter {
public:
  /// Appends to `path` (creating it and its folder). If an earlier run died
  /// mid-line, a newline first ends that fragment so later lines parse.
  static absl::StatusOr<JsonlWriter> open(const std::string &path);

  /// Names must be non-empty, distinct, and not "step" or "wall_time".
  /// `wallTime` defaults to now.
  absl::Status write(int64_t step, const Scalars &scalars,
                     std::optional<double> wallTime = std::nullopt);

  const std::string &path() const { return path_; }

private:
  JsonlWriter(std::string path, detail::FilePtr file)
      : path_(std::move(path)), file_(std::move(file)) {}
  std::string path_;
  detail::FilePtr file_;
};

/// A TensorBoard event file `<logDir>/events.out.tfevents.<10-digit unix
/// seconds>.<host>` (TensorFlow's name; a numeric suffix is added rather
/// than overwrite an existing file). It starts with the file_version event;
/// each write adds one event holding every scalar of the step as a
/// simple_value (a float), readable by TensorBoard's EventAccumulator.
class TensorBoardWriter {
public:
  static absl::StatusOr<TensorBoardWriter> open(const std::string &logDir);

  /// Tags must be non-empty. `wallTime` defaults to now.
  absl::Status write(int64_t step, const Scalars &scalars,
                     std::optional<double> wallTime = std::nullopt);

  const std::string &path() const { return path_; }

private:
  TensorBoardWriter(std::string path, detail::FilePtr file)
      : path_(std::move(path)), file_(std::move(file)) {}
  absl::Status append(const std::string &record);
  std::string path_;
  detail::FilePtr file_;
};

} // namespace kiln::models

#endif // KILN_MODELS_GRPO_METRICS_H
