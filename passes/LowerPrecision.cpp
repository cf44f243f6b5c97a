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

  /// Integer weights (int4): the weight is quantized group-wise along K
  /// (1 x size over a stored [N, K], size x 1 over [K, N]) and dequantized
  /// back to its type in front of the unchanged matmul; activations stay as
  /// they are.
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
      SmallVector<int64_t> shape{1, 1};
      shape[kAxis] = size;
      auto blockAttr = b.getNamedAttr("block", b.getDenseI64ArrayAttr(shape));
      auto q = b.create<ir::QuantizeOp>(
          op.getLoc(), ValueRange{x},
          ArrayRef<NamedAttribute>{blockAttr, b.getNamedAttr("dtype", dtype)});
      PrimitiveBuilder pb(b, op.getLoc());
      Value back = pb.op<ir::DequantizeOp>(
          {q.getQ(), q.getScale()},
          {blockAttr,
           b.getNamedAttr("dtype", TypeAttr::get(type.getElementType()))});
      op->setOperand(index, back);
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
    auto quantize = [&](Value x, int64_t kAxis) {
      SmallVector<int64_t> shape{1, 1};
      if (parameterRead(x, table) == weight)
        shape = {size, size};
      else
        shape[kAxis] = size;
      auto q = b.create<ir::QuantizeOp>(
          op.getLoc(), ValueRange{x},
          ArrayRef<NamedAttribute>{
              b.getNamedAttr("block", b.getDenseI64ArrayAttr(shape)),
              b.getNamedAttr("dtype", dtype)});
      return std::make_tuple(q.getQ(), q.getScale(), shape);
    };
    auto [qa, sa, aBlock] = quantize(a, ta ? 0 : 1);
    auto [qb, sb, bBlock] = quantize(op.getB(), tb ? 1 : 0);
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
