//===- LowerPrecision.cpp - kiln.precision choices into quantized GEMMs ---===//
//
// The kiln-lower-precision pass (Passes.td): each tagged matmul becomes a
// quantize of either operand and a scaled_matmul. Weights take square blocks
// (the same scales serve the forward and the input gradient, whose product
// reads the weight transposed); activations and gradients take 1 x block
// tiles along K of their stored layout, so a transposed operand (the weight
// gradient's tokens-long K) is quantized along its own K.
//
//===----------------------------------------------------------------------===//

#include "ir/KilnOps.h"
#include "ir/PrimitiveBuilder.h"
#include "passes/Passes.h"
#include "passes/Precision.h"
#include "passes/StateArguments.h"

namespace kiln::passes {
#define GEN_PASS_DEF_LOWERPRECISION
#include "passes/Passes.h.inc"
} // namespace kiln::passes

using namespace mlir;

namespace kiln::passes {
namespace {

using ir::PrimitiveBuilder;

struct LowerPrecisionPass : impl::LowerPrecisionBase<LowerPrecisionPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    llvm::StringMap<DictionaryAttr> table = stateTable(module);
    SmallVector<ir::MatmulOp> tagged;
    module.walk([&](ir::MatmulOp op) {
      if (op->hasAttr(kPrecisionAttr))
        tagged.push_back(op);
    });
    for (ir::MatmulOp op : tagged)
      if (failed(lower(op, table)))
        return signalPassFailure();
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
    auto quantizeOperand = [&](Value x, int64_t kAxis) {
      SmallVector<int64_t> block = parameterRead(x, table) == weight
                                       ? SmallVector<int64_t>{size, size}
                                       : tilesAlongK(kAxis, size);
      ir::QuantizeOp q = quantize(b, op.getLoc(), x, block, dtype);
      return std::make_tuple(q.getQ(), q.getScale(), block);
    };
    auto [qa, sa, aBlock] = quantizeOperand(a, ta ? 0 : 1);
    auto [qb, sb, bBlock] = quantizeOperand(op.getB(), tb ? 1 : 0);
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
