//===- EventFile.h - TensorBoard event records, encoded by hand -*- C++ -*-===//
//
// The bytes of a TensorBoard event file (TFRecords of serialized tensorflow
// Event protos) written without TensorFlow or protoc: a scalar event is four
// protobuf fields, so encoding them here avoids a TensorFlow dependency.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_MODELS_GRPO_EVENTFILE_H
#define KILN_MODELS_GRPO_EVENTFILE_H

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kiln::models {

/// Named scalars of one training step, in the order they are written.
using Scalars = std::vector<std::pair<std::string, double>>;

/// The first event of every file: TensorBoard reads the version from it.
inline constexpr const char *kEventFileVersion = "brain.Event:2";

/// One TFRecord: uint64 length (little-endian), uint32 masked CRC-32C of
/// those 8 bytes, the payload, uint32 masked CRC-32C of the payload.
std::string tfRecord(std::string_view payload);

// Event protos (tensorflow/core/util/event.proto, summary.proto). Fields used:
//   Event   { double wall_time = 1;  int64 step = 2;  string file_version = 3;
//             Summary summary = 5; }
//   Summary { repeated Value value = 1; }
//   Value   { string tag = 1;  float simple_value = 2; }
// Zero-valued scalars (step 0) are omitted, as proto3 serializers do.

/// Event{wall_time, file_version = kEventFileVersion}.
std::string fileVersionEvent(double wallTime);
/// Event{wall_time, step, summary{value{tag, simple_value}...}}; values are
/// rounded to float, the type of simple_value.
std::string scalarsEvent(double wallTime, int64_t step, const Scalars &scalars);

} // namespace kiln::models

#endif // KILN_MODELS_GRPO_EVENTFILE_H
