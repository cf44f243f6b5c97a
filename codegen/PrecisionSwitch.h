//===- PrecisionSwitch.h - which switch element is which weight -*- C++ -*-===//
//
// A module compiled with precision "instrument" (kiln-instrument-precision)
// takes a precision_switch input whose element i chooses weight i's
// precision. The auto policy's calibration (models/precision/), which sees
// no MLIR, reads here which weight each element is.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_CODEGEN_PRECISIONSWITCH_H
#define KILN_CODEGEN_PRECISIONSWITCH_H

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "ir/IrModule.h"

namespace kiln::codegen {

struct PrecisionSwitch {
  /// The switch argument's name in each instrumented entry.
  std::string input;
  /// Element i of the switch chooses weights[i]'s precision.
  std::vector<std::string> weights;
  /// Switch value v means values[v] ("bf16": the model's type, "fp8",
  /// "int4").
  std::vector<std::string> values;
};

/// The switch kiln-instrument-precision recorded on `module` (after
/// compile() with precision "instrument"); an error when it recorded none.
absl::StatusOr<PrecisionSwitch> precisionSwitch(const IrModule &module);

} // namespace kiln::codegen

#endif // KILN_CODEGEN_PRECISIONSWITCH_H
