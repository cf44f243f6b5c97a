//===- PrecisionReport.cpp - what kiln-assign-precision chose, as a table -===//
//
// kiln-compile --precision-report: runs the graph passes up to and including
// kiln-lower-precision on a copy of the module (no decomposition, so every
// quantize and scaled_matmul is still whole) and lists each quantized GEMM
// operand: the weight whose GEMM it feeds, its shape, type, scale blocks and
// the bytes its narrow copy saves against the model's type. A weight-only
// (int4) choice is listed by its dequantized weight, a delayed-scaling one
// (fp8-delayed: a cast of the operand over its history's scale, not a
// kiln.quantize) by the operand the cast reads. The measured error of
// each choice comes from calibration, which needs the model and data:
// kiln-serve --precision=auto prints it (models/precision/AutoPrecision.h).
//
//===----------------------------------------------------------------------===//

#include "codegen/Compile.h"
#include "executor/DType.h"
#include "ir/Diagnostics.h"
#include "ir/KilnOps.h"
#include "passes/Pipeline.h"
#include "passes/Precision.h"
#include "passes/StateArguments.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/ADT/DenseSet.h"

namespace kiln::codegen {

namespace {

int64_t elementBits(mlir::Type type) {
  return type.isIntOrFloat() ? type.getIntOrFloatBitWidth() : 0;
}

std::string shapeString(mlir::RankedTensorType type) {
  return absl::StrCat("[", absl::StrJoin(type.getShape(), ", "), "]");
}

std::string typeString(mlir::Type type) {
  std::string out;
  llvm::raw_string_ostream os(out);
  type.print(os);
  return out;
}

} // namespace

absl::StatusOr<std::string> precisionReport(const std::string &text,
                                            const std::string &name,
                                            const CompileOptions &options) {
  auto module = IrModule::parse(text, name);
  if (!module.ok())
    return module.status();
  DiagnosticCollector diagnostics(module->context());
  mlir::PassManager pm(&module->context());
  passes::PipelineOptions pipeline;
  pipeline.fuseMoe = options.fuseMoe;
  pipeline.precision = options.precision;
  pipeline.precisionKeep = options.precisionKeep;
  // The report reads each GEMM's quantize ops beside it: weights quantized
  // once into derived state would leave the entry.
  pipeline.hoistDerivedState = false;
  passes::buildHostPipeline(pm, pipeline);
  if (mlir::failed(pm.run(module->module())))
    return absl::InvalidArgumentError(
        diagnostics.message("the precision passes failed"));

  auto table = passes::stateTable(module->module());
  std::string out = absl::StrFormat("precision policy %s\n", options.precision);
  int64_t gemms = 0, savedBytes = 0;
  // A quantized copy that several GEMMs read (the weight of the forward and
  // of the input gradient) is listed under each and its bytes counted once.
  llvm::DenseSet<mlir::Operation *> counted;
  module->module().walk([&](ir::ScaledMatmulOp op) {
    ++gemms;
    auto choice =
        op->getAttrOfType<mlir::DictionaryAttr>(passes::kPrecisionAttr);
    auto weight =
        choice ? choice.getAs<mlir::StringAttr>("weight") : mlir::StringAttr();
    auto scaling =
        choice ? choice.getAs<mlir::StringAttr>("scaling") : mlir::StringAttr();
    auto history = choice ? choice.getAs<mlir::IntegerAttr>("history")
                          : mlir::IntegerAttr();
    for (auto [q, scale, block] :
         {std::make_tuple(op.getA(), op.getAScale(), op.getABlock()),
          std::make_tuple(op.getB(), op.getBScale(), op.getBBlock())}) {
      // The narrow copy, the operand it was made from, and its scheme.
      mlir::Operation *copy = q.getDefiningOp();
      mlir::Value source;
      std::string scheme = absl::StrCat("blocks ", absl::StrJoin(block, "x"));
      if (auto quantize = llvm::dyn_cast_or_null<ir::QuantizeOp>(copy)) {
        source = quantize.getX();
      } else if (scaling && scaling.getValue() == "delayed" &&
                 llvm::isa_and_nonnull<ir::CastOp>(copy)) {
        // cast(div(cast(x, f32), scale)): the operand is the first float
        // value up the chain of casts and divisions.
        source = copy->getOperand(0);
        while (mlir::Operation *def = source.getDefiningOp()) {
          if (!llvm::isa<ir::CastOp, ir::DivOp>(def))
            break;
          source = def->getOperand(0);
        }
        scheme = absl::StrCat("one scale per tensor (delayed, ",
                              history ? history.getInt() : 0,
                              "-step amax history) over ", scheme);
      } else {
        continue;
      }
      auto type = llvm::cast<mlir::RankedTensorType>(source.getType());
      mlir::Type narrowType =
          llvm::cast<mlir::RankedTensorType>(q.getType()).getElementType();
      mlir::StringAttr read = passes::parameterRead(source, table);
      int64_t wide =
          type.getNumElements() * elementBits(type.getElementType()) / 8;
      int64_t narrow =
          type.getNumElements() * elementBits(narrowType) / 8 +
          llvm::cast<mlir::RankedTensorType>(scale.getType()).getNumElements() *
              4;
      bool first = counted.insert(copy).second;
      if (first)
        savedBytes += wide - narrow;
      out += absl::StrFormat(
          "gemm %d of %s: %s %s -> %s, %s, %d -> %d bytes%s\n", gemms,
          weight ? weight.getValue().str() : std::string("?"),
          read ? "weight " + read.getValue().str() : std::string("operand"),
          shapeString(type) + " " + typeString(type.getElementType()),
          typeString(narrowType), scheme, wide, narrow,
          first ? "" : " (the copy listed above)");
    }
  });
  // Weight-only choices (int4) keep their matmul and dequantize the
  // weight in front of it.
  module->module().walk([&](ir::DequantizeOp op) {
    auto quantize = op.getQ().getDefiningOp<ir::QuantizeOp>();
    if (!quantize || !counted.insert(quantize).second)
      return;
    mlir::StringAttr read = passes::parameterRead(quantize.getX(), table);
    if (!read)
      return;
    ++gemms;
    mlir::RankedTensorType type = quantize.getX().getType();
    int64_t wide =
        type.getNumElements() * elementBits(type.getElementType()) / 8;
    int64_t narrow =
        (type.getNumElements() * elementBits(quantize.getDtype()) + 7) / 8 +
        quantize.getScale().getType().getNumElements() * 4;
    savedBytes += wide - narrow;
    out += absl::StrFormat(
        "gemm %d of %s: weight %s %s -> %s (dequantized in front of the "
        "matmul), blocks %s, %d -> %d bytes\n",
        gemms, read.getValue().str(), read.getValue().str(),
        shapeString(type) + " " + typeString(type.getElementType()),
        typeString(quantize.getDtype()),
        absl::StrJoin(quantize.getBlock(), "x"), wide, narrow);
  });
  out += absl::StrFormat("%d quantized GEMMs; their operands take %d fewer "
                         "bytes (scales included)\n",
                         gemms, savedBytes);
  return out;
}

} // namespace kiln::codegen
