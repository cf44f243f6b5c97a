//===- FuseMoeRoute.cpp - DeepSeek-V3 routing into kiln.moe_route ---------===//
//
// Model code routes tokens as transformers' DeepseekV3TopkRouter does
// (DeepseekMoe.cpp):
//
//   choice  = scores + bias                              [T, E]
//   groups  = sum(topk(reshape(choice, [T, G, n]), 2).values, -1)
//   kept    = topk(groups, topk_group).indices
//   mask    = reshape(broadcast_to(reshape(sum(one_hot(kept, G), 1),
//                                          [T, G, 1]), [T, G, n]), [T, E])
//   experts = topk(select(mask > c, choice, -inf), k).indices
//   w       = take_along_axis(scores, experts, 1)
//   [w      = w / (sum(w, -1, keepdims) + eps)]
//   [w      = w * scaling]
//
// About a dozen launches on the GPU; kiln.moe_route is one. The match is exact
// in every piece (shapes, axes, constants; c in (0, 1) since the mask holds 0
// or 1); the values it replaces (the experts and the last weights) are
// rewired, and the unfused ops nothing else reads are erased.
//
//===----------------------------------------------------------------------===//

#include "passes/FuseMoeRoute.h"

#include "ir/KilnOps.h"
#include "ir/ShapeUtils.h"

#include "mlir/IR/Matchers.h"

#include <cmath>
#include <optional>

using namespace mlir;
using namespace kiln::ir;

namespace kiln::passes {
namespace {

template <typename OpT> OpT defOf(Value v) {
  return v ? v.getDefiningOp<OpT>() : OpT();
}

/// The value a splat float constant holds.
std::optional<double> splatFloat(Value v) {
  DenseElementsAttr attr;
  if (!v || !matchPattern(v, m_Constant(&attr)) || !attr.isSplat() ||
      !llvm::isa<FloatType>(attr.getElementType()))
    return std::nullopt;
  return attr.getSplatValue<APFloat>().convertToDouble();
}

ArrayRef<int64_t> shapeOf(Value v) {
  return llvm::cast<RankedTensorType>(v.getType()).getShape();
}

/// True when `sum` reduces exactly axis `axis` of its operand.
bool sumsAxis(SumOp sum, int64_t axis, bool keepdims) {
  if (!sum || sum.getKeepdims() != keepdims || sum.getAxes().size() != 1)
    return false;
  int64_t rank = shapeOf(sum.getX()).size();
  return normalizeAxis(sum.getAxes()[0], rank) == normalizeAxis(axis, rank);
}

/// The topk op whose result `v` is (values: result 0, indices: result 1).
TopkOp topkOf(Value v, unsigned result) {
  auto topk = defOf<TopkOp>(v);
  return topk && topk->getResult(result) == v ? topk : TopkOp();
}

struct RouteMatch {
  Value scores, bias, experts, weights;
  int64_t groups = 0, keptGroups = 0, topK = 0;
  bool normalize = false;
  double epsilon = 0, scaling = 1;
};

std::optional<RouteMatch> matchRoute(TakeAlongAxisOp gather) {
  RouteMatch m;
  m.scores = gather.getX();
  auto scoresType = llvm::dyn_cast<RankedTensorType>(m.scores.getType());
  if (!scoresType || scoresType.getRank() != 2 ||
      !(scoresType.getElementType().isF32() ||
        scoresType.getElementType().isF64()) ||
      normalizeAxis(gather.getAxis(), 2) != 1)
    return std::nullopt;
  int64_t t = scoresType.getDimSize(0), e = scoresType.getDimSize(1);

  // experts = topk(select(mask > c, choice, -inf), k).indices
  TopkOp choose = topkOf(gather.getIndices(), 1);
  if (!choose)
    return std::nullopt;
  m.experts = gather.getIndices();
  m.topK = choose.getK();
  auto masked = defOf<SelectOp>(choose.getX());
  if (!masked)
    return std::nullopt;
  std::optional<double> negInf = splatFloat(masked.getB());
  auto above = defOf<GreaterOp>(masked.getCond());
  std::optional<double> cut = above ? splatFloat(above.getRhs()) : std::nullopt;
  if (!negInf || !std::isinf(*negInf) || *negInf > 0 || !cut || *cut <= 0 ||
      *cut >= 1)
    return std::nullopt;

  // choice = scores + bias, bias [E] of the scores' type.
  auto choice = defOf<AddOp>(masked.getA());
  if (!choice || choice.getLhs() != m.scores || choice.getType() != scoresType)
    return std::nullopt;
  m.bias = choice.getRhs();
  auto biasType = llvm::dyn_cast<RankedTensorType>(m.bias.getType());
  if (!biasType || biasType.getShape() != ArrayRef<int64_t>{e} ||
      biasType.getElementType() != scoresType.getElementType())
    return std::nullopt;

  // mask = reshape(broadcast_to(reshape(sum(one_hot(kept, G), 1)))).
  auto flatMask = defOf<ReshapeOp>(above.getLhs());
  auto spread =
      flatMask ? defOf<BroadcastToOp>(flatMask.getX()) : BroadcastToOp();
  auto column = spread ? defOf<ReshapeOp>(spread.getX()) : ReshapeOp();
  auto groupMask = column ? defOf<SumOp>(column.getX()) : SumOp();
  auto oneHot = groupMask ? defOf<OneHotOp>(groupMask.getX()) : OneHotOp();
  if (!oneHot || !sumsAxis(groupMask, 1, false))
    return std::nullopt;
  m.groups = oneHot.getDepth();
  int64_t g = m.groups, n = g > 0 && e % g == 0 ? e / g : 0;
  if (n < 2 || shapeOf(spread.getResult()) != ArrayRef<int64_t>{t, g, n} ||
      shapeOf(column.getResult()) != ArrayRef<int64_t>{t, g, 1} ||
      shapeOf(flatMask.getResult()) != ArrayRef<int64_t>{t, e})
    return std::nullopt;

  // kept = topk(sum(topk(reshape(choice, [T, G, n]), 2).values, -1)).indices
  TopkOp keep = topkOf(oneHot.getIndices(), 1);
  auto groupScores = keep ? defOf<SumOp>(keep.getX()) : SumOp();
  TopkOp topTwo = groupScores ? topkOf(groupScores.getX(), 0) : TopkOp();
  auto grouped = topTwo ? defOf<ReshapeOp>(topTwo.getX()) : ReshapeOp();
  if (!grouped || !sumsAxis(groupScores, 2, false) || topTwo.getK() != 2 ||
      grouped.getX() != choice.getResult() ||
      shapeOf(grouped.getResult()) != ArrayRef<int64_t>{t, g, n})
    return std::nullopt;
  m.keptGroups = keep.getK();
  if (m.keptGroups < 1 || m.keptGroups > g || m.topK < 1 || m.topK > e)
    return std::nullopt;

  // The weights: the gathered scores, then optionally normalised, then
  // optionally scaled.
  m.weights = gather.getResult();
  for (Operation *user : m.weights.getUsers()) {
    auto div = llvm::dyn_cast<DivOp>(user);
    if (!div || div.getLhs() != m.weights)
      continue;
    auto denominator = defOf<AddOp>(div.getRhs());
    if (!denominator)
      continue;
    auto total = defOf<SumOp>(denominator.getLhs());
    std::optional<double> eps = splatFloat(denominator.getRhs());
    if (!total || total.getX() != m.weights || !sumsAxis(total, 1, true) ||
        !eps || div.getType() != m.weights.getType())
      continue;
    m.normalize = true;
    m.epsilon = *eps;
    m.weights = div.getResult();
    break;
  }
  for (Operation *user : m.weights.getUsers()) {
    auto mul = llvm::dyn_cast<MulOp>(user);
    if (!mul || mul.getType() != m.weights.getType())
      continue;
    Value other = mul.getLhs() == m.weights ? mul.getRhs() : mul.getLhs();
    std::optional<double> scale = splatFloat(other);
    if (!scale || shapeOf(other).size() != 0)
      continue;
    m.scaling = *scale;
    m.weights = mul.getResult();
    break;
  }
  return m;
}

/// Erases `op` and then every producer that it left without a use.
void eraseDead(Operation *op) {
  SmallVector<Operation *> work{op};
  while (!work.empty()) {
    Operation *next = work.pop_back_val();
    if (!next->use_empty() || !isMemoryEffectFree(next))
      continue;
    SmallVector<Operation *> producers;
    for (Value operand : next->getOperands())
      if (Operation *def = operand.getDefiningOp())
        producers.push_back(def);
    next->erase();
    for (Operation *def : producers)
      if (!llvm::is_contained(work, def))
        work.push_back(def);
  }
}

} // namespace

int fuseMoeRoutes(Operation *root) {
  SmallVector<std::pair<TakeAlongAxisOp, RouteMatch>> routes;
  root->walk([&](TakeAlongAxisOp gather) {
    if (auto m = matchRoute(gather))
      routes.emplace_back(gather, std::move(*m));
  });
  for (auto &[gather, m] : routes) {
    // Right after the expert choice: every user of the experts and of the
    // weights comes later, and the scores and bias come before.
    OpBuilder b(m.experts.getDefiningOp());
    b.setInsertionPointAfter(m.experts.getDefiningOp());
    auto route = b.create<MoeRouteOp>(
        gather.getLoc(), ValueRange{m.scores, m.bias},
        ArrayRef<NamedAttribute>{
            b.getNamedAttr("num_groups", b.getI64IntegerAttr(m.groups)),
            b.getNamedAttr("topk_group", b.getI64IntegerAttr(m.keptGroups)),
            b.getNamedAttr("top_k", b.getI64IntegerAttr(m.topK)),
            b.getNamedAttr("normalize", b.getBoolAttr(m.normalize)),
            b.getNamedAttr("epsilon", b.getF64FloatAttr(m.epsilon)),
            b.getNamedAttr("scaling", b.getF64FloatAttr(m.scaling))});
    if (Attribute remat = gather->getAttr("kiln.remat"))
      route->setAttr("kiln.remat", remat);
    Operation *lastWeights = m.weights.getDefiningOp();
    Operation *choose = m.experts.getDefiningOp();
    m.weights.replaceAllUsesWith(route.getWeights());
    m.experts.replaceAllUsesWith(route.getExperts());
    eraseDead(lastWeights);
    eraseDead(choose);
  }
  return static_cast<int>(routes.size());
}

} // namespace kiln::passes
