//===- FuseMoe.cpp - kiln-fuse-moe: MoE dispatch into fused ops -----------===//
//
// Model code writes a dropless MoE layer with ordinary ops (DeepseekMoe.cpp):
//
//   flat    = reshape(experts [T, k]) -> [T*k]
//   order   = argsort(flat);  offsets = cumsum(bincount(flat, E))
//   tokenOf = order / k;      rows = gather(tokens, tokenOf)
//   act     = silu(grouped(rows, w_gate)) * grouped(rows, w_up)
//   out     = grouped(act, w_down) * reshape([cast](gather(flat weights,
//   order))) y       = scatter_add(zeros, tokenOf, out)
//
// This pass finds that pattern and rewrites it into moe_plan, moe_gate_up and
// moe_down (first, the routing that chooses the experts becomes moe_route:
// FuseMoeRoute.cpp): the gathered [T*k, H] copy disappears, and the combine
// sums each token's rows in a fixed order instead of scatter_add's atomics. It
// runs before kiln-grad, so the backward comes from the fused ops' own gradient
// rules. Every piece must be exactly as above (same plan feeding every
// grouped product, the divisor equal to k, intermediate float values used only
// inside the layer); anything else is left alone.
//
//===----------------------------------------------------------------------===//

#include "ir/KilnOps.h"
#include "passes/FuseMoeRoute.h"
#include "passes/Passes.h"

#include "mlir/IR/Matchers.h"

namespace kiln::passes {
#define GEN_PASS_DEF_FUSEMOE
#include "passes/Passes.h.inc"
} // namespace kiln::passes

using namespace mlir;

namespace kiln::passes {
namespace {

using namespace kiln::ir;

/// The values a matched MoE layer is made from.
struct MoeLayerMatch {
  Value tokens, experts, weights, wGate, wUp, wDown;
  int64_t numExperts = 0;
  /// The ops of the unfused layer, consumers before producers.
  SmallVector<Operation *> ops;
};

template <typename OpT> OpT defOf(Value v) {
  return v ? v.getDefiningOp<OpT>() : OpT();
}

/// The integer a splat constant holds.
std::optional<int64_t> splatInt(Value v) {
  DenseIntElementsAttr attr;
  if (!matchPattern(v, m_Constant(&attr)) || !attr.isSplat())
    return std::nullopt;
  return attr.getSplatValue<APInt>().getSExtValue();
}

bool isZeroConstant(Value v) {
  DenseElementsAttr attr;
  if (!matchPattern(v, m_Constant(&attr)) || !attr.isSplat())
    return false;
  if (llvm::isa<FloatType>(attr.getElementType()))
    return attr.getSplatValue<APFloat>().isZero();
  return attr.getSplatValue<APInt>().isZero();
}

/// A grouped rows product against a [E, N, K] weight (transpose_w).
GroupedMatmulOp groupedRows(Value v) {
  auto op = defOf<GroupedMatmulOp>(v);
  if (!op || op.getMode() != GroupedMatmulMode::rows || !op.getTransposeW())
    return {};
  return op;
}

/// a * b with either operand order: the operand defined by OpT, and the other.
template <typename OpT> std::optional<std::pair<OpT, Value>> mulOf(Value v) {
  auto mul = defOf<MulOp>(v);
  if (!mul)
    return std::nullopt;
  if (auto a = defOf<OpT>(mul.getLhs()))
    return std::make_pair(a, mul.getRhs());
  if (auto b = defOf<OpT>(mul.getRhs()))
    return std::make_pair(b, mul.getLhs());
  return std::nullopt;
}

std::optional<MoeLayerMatch> matchMoeLayer(ScatterAddOp combine) {
  MoeLayerMatch m;
  if (combine.getAxis() != 0 || !isZeroConstant(combine.getX()))
    return std::nullopt;

  // out = down * reshape(row weights [P] -> [P, 1]).
  auto weighted = mulOf<GroupedMatmulOp>(combine.getUpdates());
  if (!weighted)
    return std::nullopt;
  GroupedMatmulOp down = groupedRows(weighted->first.getResult());
  auto rowShape = defOf<ReshapeOp>(weighted->second);
  if (!down || !rowShape)
    return std::nullopt;
  Value rowWeights = rowShape.getX();
  CastOp weightCast = defOf<CastOp>(rowWeights);
  if (weightCast)
    rowWeights = weightCast.getX();
  auto weightGather = defOf<GatherOp>(rowWeights);
  if (!weightGather || weightGather.getAxis() != 0)
    return std::nullopt;
  auto flatWeights = defOf<ReshapeOp>(weightGather.getX());
  if (!flatWeights)
    return std::nullopt;

  // act = silu(gate) * up, both grouped products of the same gathered rows.
  auto swiglu = mulOf<SiluOp>(down.getX());
  if (!swiglu)
    return std::nullopt;
  GroupedMatmulOp gate = groupedRows(swiglu->first.getX());
  GroupedMatmulOp up = groupedRows(swiglu->second);
  if (!gate || !up || gate.getX() != up.getX())
    return std::nullopt;
  Value offsets = down.getOffsets();
  if (gate.getOffsets() != offsets || up.getOffsets() != offsets)
    return std::nullopt;
  auto rows = defOf<GatherOp>(gate.getX());
  if (!rows || rows.getAxis() != 0 || rows.getIndices() != combine.getIndices())
    return std::nullopt;

  // tokenOf = order / k; order, counts and offsets all from one flat reshape.
  auto tokenOf = defOf<DivOp>(rows.getIndices());
  if (!tokenOf)
    return std::nullopt;
  auto order = defOf<ArgsortOp>(tokenOf.getLhs());
  std::optional<int64_t> topK = splatInt(tokenOf.getRhs());
  auto cumsum = defOf<CumsumOp>(offsets);
  if (!order || !topK || order.getAxis() != 0 || order.getDescending() ||
      weightGather.getIndices() != order.getResult() || !cumsum ||
      cumsum.getAxis() != 0 || cumsum.getExclusive() || cumsum.getReverse())
    return std::nullopt;
  auto counts = defOf<BincountOp>(cumsum.getX());
  auto flat = defOf<ReshapeOp>(order.getX());
  if (!counts || !flat || counts.getX() != order.getX())
    return std::nullopt;

  // Shapes: experts and weights [T, k], tokens [T, H], E weights per matrix.
  m.tokens = rows.getX();
  m.experts = flat.getX();
  m.weights = flatWeights.getX();
  m.wGate = gate.getW();
  m.wUp = up.getW();
  m.wDown = down.getW();
  m.numExperts = counts.getLength();
  auto expertsType = llvm::cast<RankedTensorType>(m.experts.getType());
  auto tokensType = llvm::cast<RankedTensorType>(m.tokens.getType());
  if (expertsType.getRank() != 2 || expertsType.getDimSize(1) != *topK ||
      tokensType.getRank() != 2 ||
      expertsType.getDimSize(0) != tokensType.getDimSize(0) ||
      llvm::cast<RankedTensorType>(m.weights.getType()).getShape() !=
          expertsType.getShape() ||
      llvm::cast<RankedTensorType>(m.wGate.getType()).getDimSize(0) !=
          m.numExperts ||
      combine.getType() != tokensType)
    return std::nullopt;

  // Intermediate float values must not escape the layer: the fused ops do
  // not produce them.
  if (!swiglu->first->hasOneUse() || !gate->hasOneUse() || !up->hasOneUse() ||
      !down->hasOneUse() || !down.getX().hasOneUse() ||
      !combine.getUpdates().hasOneUse() ||
      !llvm::hasNItems(rows.getResult().getUses(), 2))
    return std::nullopt;
  m.ops = {combine.getUpdates().getDefiningOp(),
           rowShape,
           weightCast,
           weightGather,
           flatWeights,
           down,
           down.getX().getDefiningOp(),
           swiglu->first,
           gate,
           up,
           rows,
           tokenOf,
           tokenOf.getRhs().getDefiningOp(),
           cumsum,
           counts,
           order,
           flat,
           combine.getX().getDefiningOp()};
  return m;
}

void fuse(ScatterAddOp combine, const MoeLayerMatch &m) {
  OpBuilder b(combine);
  Location loc = combine.getLoc();
  auto plan = b.create<MoePlanOp>(
      loc, ValueRange{m.experts},
      ArrayRef<NamedAttribute>{
          b.getNamedAttr("num_experts", b.getI64IntegerAttr(m.numExperts))});
  auto gateUp = b.create<MoeGateUpOp>(
      loc,
      ValueRange{m.tokens, m.wGate, m.wUp, plan.getOrder(), plan.getOffsets()},
      ArrayRef<NamedAttribute>{});
  auto down = b.create<MoeDownOp>(loc,
                                  ValueRange{gateUp.getAct(), m.wDown,
                                             m.weights, plan.getOrder(),
                                             plan.getSlot(), plan.getOffsets()},
                                  ArrayRef<NamedAttribute>{});
  // A rematerialisation group of the layer covers its fused form too.
  if (Attribute remat = combine->getAttr("kiln.remat"))
    for (Operation *op :
         {plan.getOperation(), gateUp.getOperation(), down.getOperation()})
      op->setAttr("kiln.remat", remat);
  combine.getResult().replaceAllUsesWith(down.getResult());
  combine->erase();
  // The unfused ops that nothing else reads (integer plan values such as the
  // counts may still feed routing statistics).
  for (Operation *op : m.ops)
    if (op && op->use_empty())
      op->erase();
}

struct FuseMoePass : impl::FuseMoeBase<FuseMoePass> {
  void runOnOperation() override {
    fuseMoeRoutes(getOperation());
    SmallVector<std::pair<ScatterAddOp, MoeLayerMatch>> layers;
    getOperation().walk([&](ScatterAddOp combine) {
      if (auto m = matchMoeLayer(combine))
        layers.emplace_back(combine, std::move(*m));
    });
    for (auto &[combine, m] : layers)
      fuse(combine, m);
  }
};

} // namespace
} // namespace kiln::passes
