//===- LowerPrecision.cpp - kiln.precision choices into quantized GEMMs ---===//
//
// The kiln-lower-precision pass (Passes.td): each tagged matmul becomes a
// quantize of either operand and a scaled_matmul. Weights take square blocks
// (the same scales serve the forward and the input gradient, whose product
// reads the weight transposed); activations and gradients take 1 x block
// tiles along K of their stored layout, so a transposed operand (the weight
// gradient's tokens-long K) is quantized along its own K.
//
// A choice with `scaling = "delayed"` (the fp8-delayed policy, Transformer
// Engine's delayed scaling) quantizes each operand with one scale for the
// whole tensor, taken from the largest amax of its last `history` steps (the
// current amax while the history is still all zero), and shifts this step's
// amax into the history: a state of kind "precision" per operand, which the
// entry reads and returns (donated, so it updates in place). The scale is
// spread over the same blocks the current-scaling recipe uses, so the same
// scaled_matmul (and on Hopper the same fp8 kernel) runs either way.
//
//===----------------------------------------------------------------------===//

#include "ir/KilnOps.h"
#include "ir/PrimitiveBuilder.h"
#include "ir/Quantization.h"
#include "passes/Passes.h"
#include "passes/Precision.h"
#include "passes/StateArguments.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "llvm/ADT/MapVector.h"
#include "llvm/ADT/StringSet.h"

#include <map>
#include <vector>

namespace kiln::passes {
#define GEN_PASS_DEF_LOWERPRECISION
#include "passes/Passes.h.inc"
} // namespace kiln::passes

using namespace mlir;

namespace kiln::passes {
namespace {

using ir::PrimitiveBuilder;

/// The amax histories a function gained (delayed scaling): each one's state
/// name and the value the function returns for it.
struct HistoryUpdates {
  SmallVector<std::pair<std::string, Value>> next;
  /// Histories taken so far per weight, numbering the next one.
  llvm::StringMap<int> perWeight;
};

struct LowerPrecisionPass : impl::LowerPrecisionBase<LowerPrecisionPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    // The members describe one module's functions; a pass instance that runs
    // again (a reused pass manager) starts from nothing.
    histories.clear();
    declared.clear();
    delayedCopies.clear();
    llvm::StringMap<DictionaryAttr> table = stateTable(module);
    // Matmuls carry one choice, the ops over experts' weights a list (their
    // lowering tags what it writes, so both are collected first).
    SmallVector<ir::MatmulOp> tagged;
    SmallVector<Operation *> experts;
    module.walk([&](Operation *op) {
      if (!op->hasAttr(kPrecisionAttr))
        return;
      if (auto matmul = llvm::dyn_cast<ir::MatmulOp>(op))
        tagged.push_back(matmul);
      else
        experts.push_back(op);
    });
    for (ir::MatmulOp op : tagged)
      if (failed(lower(op, table)))
        return signalPassFailure();
    for (Operation *op : experts)
      if (failed(lowerExperts(op)))
        return signalPassFailure();
    returnHistories(module);
  }

  /// Experts' weights (int4 only; narrowableExpertWeights): each chosen
  /// operand is quantized in groups along its K and dequantized in front of
  /// the unchanged op, as lowerWeightOnly does for a matmul's weight.
  LogicalResult lowerExperts(Operation *op) {
    auto choices = op->getAttrOfType<ArrayAttr>(kPrecisionAttr);
    op->removeAttr(kPrecisionAttr);
    if (!choices)
      return op->emitOpError("has a malformed ")
             << kPrecisionAttr << " (expected one dictionary per narrowed "
             << "experts' weight)";
    OpBuilder b(op);
    PrimitiveBuilder pb(b, op->getLoc());
    for (Attribute entry : choices) {
      auto choice = llvm::dyn_cast<DictionaryAttr>(entry);
      auto dtype = choice ? choice.getAs<TypeAttr>("dtype") : TypeAttr();
      auto block = choice ? choice.getAs<IntegerAttr>("block") : IntegerAttr();
      auto operand =
          choice ? choice.getAs<IntegerAttr>("operand") : IntegerAttr();
      auto kAxis = choice ? choice.getAs<IntegerAttr>("k_axis") : IntegerAttr();
      if (!dtype || !llvm::isa<IntegerType>(dtype.getValue()) || !block ||
          block.getInt() < 1 || !operand ||
          operand.getInt() >= op->getNumOperands() || !kAxis ||
          kAxis.getInt() < 1 || kAxis.getInt() > 2)
        return op->emitOpError("has a malformed ")
               << kPrecisionAttr
               << " entry (expected {operand, k_axis, dtype = an integer "
                  "type, block}: only int4 narrows experts' weights): "
               << entry;
      Value w = op->getOperand(operand.getInt());
      auto type = llvm::cast<RankedTensorType>(w.getType());
      SmallVector<int64_t> grouping{1, 1, 1};
      grouping[kAxis.getInt()] = block.getInt();
      ir::QuantizeOp q = quantize(b, op->getLoc(), w, grouping, dtype);
      op->setOperand(
          operand.getInt(),
          pb.op<ir::DequantizeOp>(
              {q.getQ(), q.getScale()},
              {b.getNamedAttr("block", b.getDenseI64ArrayAttr(grouping)),
               b.getNamedAttr("dtype", TypeAttr::get(type.getElementType()))}));
    }
    return success();
  }

  llvm::MapVector<Operation *, HistoryUpdates> histories;
  /// Operands already quantized with delayed scaling, by value and block:
  /// the weight the forward and the input gradient both read takes one
  /// history and one copy, as CSE merges its current-scaling quantize.
  std::map<std::pair<void *, std::vector<int64_t>>, std::pair<Value, Value>>
      delayedCopies;
  /// The history states declared so far: name -> length.
  llvm::StringMap<int64_t> declared;

  /// Delayed scaling of `x` (any float type) to `dtype`: one scale for the
  /// tensor, max(history) / qmax, or the current amax / qmax while the history
  /// is all zero (the first steps), 1 if that is zero too; the scale is
  /// spread over `block`'s scale shape. The history is a new state argument
  /// of `x`'s function, and its update (this step's amax first, the oldest
  /// dropped) a new result, appended when every matmul is lowered.
  FailureOr<std::pair<Value, Value>>
  quantizeDelayed(OpBuilder &b, Location loc, Value x, ArrayRef<int64_t> block,
                  TypeAttr dtype, StringAttr weight, int64_t length) {
    auto key = std::make_pair(x.getAsOpaquePointer(),
                              std::vector<int64_t>(block.begin(), block.end()));
    if (auto it = delayedCopies.find(key); it != delayedCopies.end())
      return it->second;
    auto func = x.getParentRegion()->getParentOfType<func::FuncOp>();
    if (!func || !func.getBody().hasOneBlock())
      return emitError(loc, "kiln-lower-precision: delayed scaling needs the "
                            "matmul in a single-block function");
    if (!SymbolTable::symbolKnownUseEmpty(func, getOperation()))
      return func.emitError("kiln-lower-precision: delayed scaling adds "
                            "state to '")
             << func.getSymName() << "', which is called: inline it first";
    HistoryUpdates &updates = histories[func];
    int index = updates.perWeight[weight.getValue()]++;
    std::string name =
        ("precision.amax." + weight.getValue() + "." + std::to_string(index))
            .str();
    if (auto it = declared.find(name);
        it != declared.end() && it->second != length)
      return emitError(loc, "kiln-lower-precision: amax history '")
             << name << "' has length " << it->second << " and " << length;
    declared[name] = length;

    Type f32 = b.getF32Type();
    auto historyType = RankedTensorType::get({length}, f32);
    unsigned argIndex = func.getNumArguments();
    func.insertArgument(argIndex, historyType,
                        b.getDictionaryAttr(b.getNamedAttr(
                            "kiln.state", b.getStringAttr(name))),
                        loc);
    Value history = func.getArgument(argIndex);

    PrimitiveBuilder pb(b, loc);
    auto type = llvm::cast<RankedTensorType>(x.getType());
    SmallVector<int64_t> allAxes;
    for (int64_t axis = 0; axis < type.getRank(); ++axis)
      allAxes.push_back(axis);
    auto reduceMax = [&](Value v, ArrayRef<int64_t> axes) {
      return pb.op<ir::MaxOp>(
          {v}, {b.getNamedAttr("axes", b.getDenseI64ArrayAttr(axes)),
                b.getNamedAttr("keepdims", b.getBoolAttr(false))});
    };
    double qmax = *ir::quantizedMax(dtype.getValue());
    Value xf = pb.cast(x, f32);
    Value amax = reduceMax(pb.op<ir::AbsOp>({xf}), allAxes);
    Value past = reduceMax(history, {0});
    Value zero = pb.scalar(f32, 0.0);
    Value scale = pb.select(pb.op<ir::EqualOp>({past, zero}), amax, past);
    scale = pb.op<ir::DivOp>({scale, pb.scalar(f32, qmax)});
    scale = pb.select(pb.op<ir::EqualOp>({scale, zero}), pb.scalar(f32, 1.0),
                      scale);
    Value q = pb.cast(pb.op<ir::DivOp>({xf, scale}), dtype.getValue());
    SmallVector<int64_t> scaleShape =
        ir::blockScaleShape(type.getShape(), block);
    SmallVector<int64_t> ones(scaleShape.size(), 1);
    Value spread = pb.op<ir::BroadcastToOp>(
        {pb.reshape(scale, ones)},
        {b.getNamedAttr("shape", b.getDenseI64ArrayAttr(scaleShape))});
    Value next = pb.reshape(amax, {1});
    if (length > 1)
      next = pb.concat({next, pb.slice(history, 0, 0, length - 1)}, 0);
    updates.next.emplace_back(name, next);
    return delayedCopies[key] = std::make_pair(q, spread);
  }

  /// Appends each function's history updates to its results and declares the
  /// histories in the module's state table (kind "precision", zeros).
  void returnHistories(ModuleOp module) {
    if (histories.empty())
      return;
    Builder b(module.getContext());
    SmallVector<Attribute> table;
    if (auto existing = module->getAttrOfType<ArrayAttr>("kiln.state"))
      table.append(existing.begin(), existing.end());
    llvm::StringSet<> present;
    for (Attribute a : table)
      if (auto d = llvm::dyn_cast<DictionaryAttr>(a))
        if (auto n = d.getAs<StringAttr>("name"))
          present.insert(n.getValue());
    for (auto &[op, updates] : histories) {
      auto func = llvm::cast<func::FuncOp>(op);
      Operation *ret = func.getBody().front().getTerminator();
      for (auto &[name, next] : updates.next) {
        unsigned index = func.getNumResults();
        func.insertResult(index, next.getType(),
                          b.getDictionaryAttr(b.getNamedAttr(
                              "kiln.state", b.getStringAttr(name))));
        ret->insertOperands(ret->getNumOperands(), next);
        if (!present.insert(name).second)
          continue;
        table.push_back(b.getDictionaryAttr(
            {b.getNamedAttr("name", b.getStringAttr(name)),
             b.getNamedAttr("type", TypeAttr::get(next.getType())),
             b.getNamedAttr("kind", b.getStringAttr("precision")),
             b.getNamedAttr("init", b.getStringAttr("zeros"))}));
      }
    }
    module->setAttr("kiln.state", b.getArrayAttr(table));
  }

  /// kiln.quantize of `x` in blocks of `block` to `dtype`.
  static ir::QuantizeOp quantize(OpBuilder &b, Location loc, Value x,
                                 ArrayRef<int64_t> block, TypeAttr dtype) {
    return b.create<ir::QuantizeOp>(
        loc, ValueRange{x},
        ArrayRef<NamedAttribute>{
            b.getNamedAttr("block", b.getDenseI64ArrayAttr(block)),
            b.getNamedAttr("dtype", dtype)});
  }

  /// 1 x size tiles along K of a stored matrix whose K is axis `kAxis`.
  static SmallVector<int64_t> tilesAlongK(int64_t kAxis, int64_t size) {
    SmallVector<int64_t> block{1, 1};
    block[kAxis] = size;
    return block;
  }

  /// Integer weights (int4): the weight is quantized group-wise along K and
  /// dequantized back to its type in front of the unchanged matmul;
  /// activations stay as they are.
  LogicalResult lowerWeightOnly(ir::MatmulOp op, OpBuilder &b, TypeAttr dtype,
                                int64_t size,
                                const llvm::StringMap<DictionaryAttr> &table,
                                StringAttr weight) {
    op->removeAttr(kPrecisionAttr);
    for (auto [index, kAxis] :
         {std::pair<unsigned, int64_t>{0, op.getTransposeA() ? 0 : 1},
          std::pair<unsigned, int64_t>{1, op.getTransposeB() ? 1 : 0}}) {
      Value x = op->getOperand(index);
      auto type = llvm::cast<RankedTensorType>(x.getType());
      if (type.getRank() != 2 || parameterRead(x, table) != weight)
        continue;
      SmallVector<int64_t> block = tilesAlongK(kAxis, size);
      ir::QuantizeOp q = quantize(b, op.getLoc(), x, block, dtype);
      PrimitiveBuilder pb(b, op.getLoc());
      op->setOperand(
          index,
          pb.op<ir::DequantizeOp>(
              {q.getQ(), q.getScale()},
              {b.getNamedAttr("block", b.getDenseI64ArrayAttr(block)),
               b.getNamedAttr("dtype", TypeAttr::get(type.getElementType()))}));
    }
    return success();
  }

  LogicalResult lower(ir::MatmulOp op,
                      const llvm::StringMap<DictionaryAttr> &table) {
    auto choice = op->getAttrOfType<DictionaryAttr>(kPrecisionAttr);
    auto dtype = choice ? choice.getAs<TypeAttr>("dtype") : TypeAttr();
    auto block = choice ? choice.getAs<IntegerAttr>("block") : IntegerAttr();
    auto weight = choice ? choice.getAs<StringAttr>("weight") : StringAttr();
    if (!dtype || !block || block.getInt() < 1 || !weight)
      return op.emitOpError("has a malformed ")
             << kPrecisionAttr << " (expected {dtype, block, weight}): "
             << op->getAttr(kPrecisionAttr);
    RankedTensorType aType = op.getA().getType(), bType = op.getB().getType();
    bool ta = op.getTransposeA(), tb = op.getTransposeB();
    if (bType.getRank() != 2 || (aType.getRank() > 2 && ta)) {
      op.emitRemark("kiln-lower-precision: a batched matmul keeps its type");
      op->removeAttr(kPrecisionAttr);
      return success();
    }
    OpBuilder b(op);
    PrimitiveBuilder pb(b, op.getLoc());
    int64_t size = block.getInt();
    if (llvm::isa<IntegerType>(dtype.getValue()))
      return lowerWeightOnly(op, b, dtype, size, table, weight);
    Value a = op.getA();
    if (aType.getRank() > 2)
      a = pb.reshape(a, {aType.getNumElements() / aType.getShape().back(),
                         aType.getShape().back()});

    // An operand read from the weight takes square blocks; any other 1 x
    // size along K (axis 1 of a stored [M, K] or [N, K], axis 0 otherwise).
    auto scaling = choice.getAs<StringAttr>("scaling");
    auto history = choice.getAs<IntegerAttr>("history");
    bool delayed = scaling && scaling.getValue() == "delayed";
    if (scaling && !delayed && scaling.getValue() != "current")
      return op.emitOpError("has ")
             << kPrecisionAttr << " scaling '" << scaling.getValue()
             << "' (expected current or delayed)";
    if (delayed && (!history || history.getInt() < 1))
      return op.emitOpError("has delayed scaling without a history length "
                            "of at least 1: ")
             << choice;
    auto quantizeOperand = [&](Value x, int64_t kAxis)
        -> FailureOr<std::tuple<Value, Value, SmallVector<int64_t>>> {
      SmallVector<int64_t> block = parameterRead(x, table) == weight
                                       ? SmallVector<int64_t>{size, size}
                                       : tilesAlongK(kAxis, size);
      if (delayed) {
        auto qs = quantizeDelayed(b, op.getLoc(), x, block, dtype, weight,
                                  history.getInt());
        if (failed(qs))
          return failure();
        return std::make_tuple(qs->first, qs->second, block);
      }
      ir::QuantizeOp q = quantize(b, op.getLoc(), x, block, dtype);
      return std::make_tuple(Value(q.getQ()), Value(q.getScale()), block);
    };
    auto quantizedA = quantizeOperand(a, ta ? 0 : 1);
    if (failed(quantizedA))
      return failure();
    auto quantizedB = quantizeOperand(op.getB(), tb ? 1 : 0);
    if (failed(quantizedB))
      return failure();
    auto [qa, sa, aBlock] = *quantizedA;
    auto [qb, sb, bBlock] = *quantizedB;
    Value y = pb.op<ir::ScaledMatmulOp>(
        {qa, sa, qb, sb},
        {b.getNamedAttr("a_block", b.getDenseI64ArrayAttr(aBlock)),
         b.getNamedAttr("b_block", b.getDenseI64ArrayAttr(bBlock)),
         b.getNamedAttr("transpose_a", b.getBoolAttr(ta)),
         b.getNamedAttr("transpose_b", b.getBoolAttr(tb)),
         b.getNamedAttr("dtype", TypeAttr::get(aType.getElementType()))});
    y.getDefiningOp()->setAttr(kPrecisionAttr, choice);
    y = pb.reshape(y, op.getType().getShape());
    op.replaceAllUsesWith(y);
    op.erase();
    return success();
  }
};

} // namespace
} // namespace kiln::passes
