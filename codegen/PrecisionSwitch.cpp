//===- PrecisionSwitch.cpp - which switch element is which weight ---------===//

#include "codegen/PrecisionSwitch.h"

#include "passes/Precision.h"

#include "absl/strings/str_cat.h"

#include "mlir/IR/BuiltinOps.h"

namespace kiln::codegen {

namespace {

absl::StatusOr<std::vector<std::string>> strings(mlir::DictionaryAttr dict,
                                                 llvm::StringRef key) {
  auto array = dict.getAs<mlir::ArrayAttr>(key);
  if (!array)
    return absl::InvalidArgumentError(absl::StrCat(
        passes::kPrecisionSwitchAttr.str(), " has no ", key.str(), " list"));
  std::vector<std::string> out;
  for (mlir::Attribute a : array) {
    auto s = llvm::dyn_cast<mlir::StringAttr>(a);
    if (!s)
      return absl::InvalidArgumentError(
          absl::StrCat(passes::kPrecisionSwitchAttr.str(), "'s ", key.str(),
                       " holds a non-string"));
    out.push_back(s.str());
  }
  return out;
}

} // namespace

absl::StatusOr<PrecisionSwitch> precisionSwitch(const IrModule &module) {
  auto dict = module.module()->getAttrOfType<mlir::DictionaryAttr>(
      passes::kPrecisionSwitchAttr);
  if (!dict)
    return absl::InvalidArgumentError(
        "the module has no precision switch: compile it with precision "
        "\"instrument\" (kiln-instrument-precision)");
  PrecisionSwitch out;
  auto input = dict.getAs<mlir::StringAttr>("input");
  out.input = input ? input.str() : passes::kPrecisionSwitchInput.str();
  auto weights = strings(dict, "weights");
  if (!weights.ok())
    return weights.status();
  auto values = strings(dict, "values");
  if (!values.ok())
    return values.status();
  out.weights = std::move(*weights);
  out.values = std::move(*values);
  return out;
}

} // namespace kiln::codegen
