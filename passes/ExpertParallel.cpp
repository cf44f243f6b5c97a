//===- ExpertParallel.cpp - kiln-expert-parallel: experts over ranks ------===//
//
// Expert parallelism as a rewrite: parameters the frontend marked
// `sharding = "experts"` keep only this rank's E/G experts, and each fused
// MoE layer over them exchanges token rows instead of weights:
//
//   rows      = x[order / k]                      [P, H]  (P = T k, in expert order)
//   counts[p] = rows whose expert rank p owns     (from the plan's offsets)
//   recv      = all_to_all(rows, counts)          [G P, H]
//   ids       = all_to_all(local expert ids)      (zero padding sorts last)
//   y         = moe_down(moe_gate_up(recv, local weights), weight 1)
//   back      = all_to_all(y, received counts)    [P, H], where the rows left
//   out       = moe_combine(back * routing weight, order, slot)
//
// The backward comes from the ops' gradient rules: the reverse exchanges
// carry cotangents to the experts' owners and back, so each expert's weight
// gradient sums every rank's tokens, in a fixed order.
//
//===----------------------------------------------------------------------===//

#include "ir/KilnOps.h"
#include "ir/MoeRows.h"
#include "ir/PrimitiveBuilder.h"
#include "passes/Passes.h"
#include "passes/StateArguments.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "llvm/ADT/StringMap.h"

namespace kiln::passes {
#define GEN_PASS_DEF_EXPERTPARALLEL
#include "passes/Passes.h.inc"
} // namespace kiln::passes

using namespace mlir;

namespace kiln::passes {
namespace {

using namespace kiln::ir;

struct ExpertParallelPass
    : impl::ExpertParallelBase<ExpertParallelPass> {
  using ExpertParallelBase::ExpertParallelBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (groupSize < 1) {
      module.emitError("kiln-expert-parallel: group-size must be at least "
                       "1, got ")
          << groupSize;
      return signalPassFailure();
    }
    if (groupSize == 1)
      return;
    if (failed(shardStateTable(module)))
      return signalPassFailure();
    for (auto func : module.getOps<func::FuncOp>())
      if (failed(runOnFunction(func)))
        return signalPassFailure();
  }

  /// Rewrites the kiln.state table: every `sharding = "experts"` entry gets
  /// its local type, recorded in `local`.
  LogicalResult shardStateTable(ModuleOp module) {
    auto table = module->getAttrOfType<ArrayAttr>("kiln.state");
    if (!table)
      return success();
    SmallVector<Attribute> entries;
    for (Attribute a : table) {
      auto entry = llvm::dyn_cast<DictionaryAttr>(a);
      auto sharding = entry ? entry.getAs<StringAttr>("sharding") : nullptr;
      if (!sharding) {
        entries.push_back(a);
        continue;
      }
      auto name = entry.getAs<StringAttr>("name");
      auto typeAttr = entry.getAs<TypeAttr>("type");
      auto type = typeAttr ? llvm::dyn_cast<RankedTensorType>(
                                 typeAttr.getValue())
                           : RankedTensorType();
      if (sharding.getValue() != "experts" || !name || !type ||
          type.getRank() == 0 || type.getDimSize(0) % groupSize != 0)
        return module.emitError("kiln-expert-parallel: state '")
               << (name ? name.getValue() : "?") << "' with sharding \""
               << sharding.getValue()
               << "\" must be sharding = \"experts\" over an [E, ...] "
                  "tensor whose E divides over "
               << groupSize << " ranks";
      SmallVector<int64_t> shape(type.getShape());
      shape[0] /= groupSize;
      auto localType = RankedTensorType::get(shape, type.getElementType());
      local[name.getValue()] = localType;
      NamedAttrList attrs(entry);
      attrs.set("type", TypeAttr::get(localType));
      entries.push_back(attrs.getDictionary(module.getContext()));
    }
    module->setAttr("kiln.state",
                    ArrayAttr::get(module.getContext(), entries));
    return success();
  }

  LogicalResult runOnFunction(func::FuncOp func) {
    if (func.isExternal())
      return success();
    bool reads = false;
    for (BlockArgument arg : func.getArguments())
      if (StringAttr state = stateOf(arg);
          state && local.count(state.getValue())) {
        arg.setType(local.lookup(state.getValue()));
        reads = true;
      }
    if (!reads)
      return success();
    SmallVector<MoeDownOp> layers;
    func.walk([&](MoeDownOp op) { layers.push_back(op); });
    for (MoeDownOp down : layers)
      if (failed(rewriteLayer(down)))
        return failure();
    // Every op after a sharded read takes its types from its operands again;
    // one that depends on the expert count itself cannot run sharded.
    for (Operation &op : func.getBody().front()) {
      auto infer = llvm::dyn_cast<InferTypeOpInterface>(&op);
      if (!infer)
        continue;
      SmallVector<Type> types;
      if (failed(infer.inferReturnTypes(
              op.getContext(), op.getLoc(), op.getOperands(),
              op.getAttrDictionary(), op.getPropertiesStorage(),
              op.getRegions(), types)))
        return op.emitOpError("cannot run on experts sharded over ")
               << groupSize
               << " ranks (kiln-expert-parallel shards only the fused MoE "
                  "ops of kiln-fuse-moe and elementwise uses)";
      for (auto [result, type] : llvm::zip(op.getResults(), types))
        result.setType(type);
    }
    auto ret = llvm::cast<func::ReturnOp>(func.getBody().front().back());
    func.setFunctionType(
        FunctionType::get(func.getContext(),
                          func.getBody().front().getArgumentTypes(),
                          ret.getOperandTypes()));
    return success();
  }

  /// Rewrites one fused MoE layer whose expert weights are sharded.
  LogicalResult rewriteLayer(MoeDownOp down) {
    auto gateUp = down.getAct().getDefiningOp<MoeGateUpOp>();
    auto plan = down.getOrder().getDefiningOp<MoePlanOp>();
    int shardedWeights = 0;
    SmallVector<Value, 3> weights = {down.getWDown()};
    if (gateUp)
      weights.append({gateUp.getWGate(), gateUp.getWUp()});
    for (Value w : weights)
      if (StringAttr state = stateOf(w);
          state && local.count(state.getValue()))
        ++shardedWeights;
    if (shardedWeights == 0)
      return success();
    if (shardedWeights != 3 || !gateUp || !plan ||
        gateUp.getOrder() != down.getOrder() ||
        gateUp.getOffsets() != down.getOffsets() ||
        down.getSlot().getDefiningOp() != plan ||
        !down.getAct().hasOneUse() || !gateUp.getGate().use_empty() ||
        !gateUp.getUp().use_empty())
      return down.emitOpError(
          "kiln-expert-parallel needs gate, up and down weights all sharded "
          "over the experts, one moe_plan for the layer, and its "
          "intermediate rows used only inside it");

    OpBuilder b(down);
    PrimitiveBuilder pb(b, down.getLoc());
    const int64_t G = groupSize;
    Value x = gateUp.getTokens(), order = down.getOrder();
    Value slot = down.getSlot(), experts = plan.getExperts();
    auto xType = PrimitiveBuilder::typeOf(x);
    int64_t tokens = xType.getDimSize(0);
    int64_t pairs = PrimitiveBuilder::typeOf(order).getDimSize(0);
    int64_t topK = pairs / tokens, numExperts = plan.getNumExperts();
    if (numExperts % G != 0)
      return plan.emitOpError("has ")
             << numExperts << " experts, which do not divide over " << G
             << " ranks";
    int64_t perRank = numExperts / G, capacity = G * pairs;
    Type i64 = b.getI64Type();
    auto capacityAttrs = [&](int64_t rows) {
      return SmallVector<NamedAttribute>{
          b.getNamedAttr("capacity", b.getI64IntegerAttr(rows)),
          b.getNamedAttr("group_size", b.getI64IntegerAttr(G))};
    };
    auto allToAll = [&](Value v, Value counts, int64_t rows) {
      return b.create<AllToAllOp>(down.getLoc(), ValueRange{v, counts},
                                  capacityAttrs(rows));
    };

    // How many of the expert-sorted rows each rank's experts take: offsets
    // holds the end row of every expert, so rank p's rows end at the end of
    // its last expert.
    Value offsets = down.getOffsets();
    Value ends = pb.op<SliceOp>(
        {offsets},
        {b.getNamedAttr("start", b.getDenseI64ArrayAttr({perRank - 1})),
         b.getNamedAttr("limit", b.getDenseI64ArrayAttr({numExperts})),
         b.getNamedAttr("stride", b.getDenseI64ArrayAttr({perRank}))});
    Value starts =
        G == 1 ? pb.reshape(pb.scalarInt(i64, 0), {1})
               : pb.concat({pb.reshape(pb.scalarInt(i64, 0), {1}),
                            pb.slice(ends, 0, 0, G - 1)},
                           0);
    Value sendCounts = pb.op<SubOp>({ends, starts});

    // Each row's expert, as an index among its owner's experts, minus
    // perRank: the zeros that pad the receive buffer then land at perRank,
    // past the local experts, where moe_plan sorts them last.
    Value flat = pb.reshape(experts, {pairs});
    Value expert = pb.op<GatherOp>(
        {pb.cast(flat, i64), order},
        {b.getNamedAttr("axis", b.getI64IntegerAttr(0))});
    Value perRankValue = pb.scalarInt(i64, perRank);
    Value localIndex = pb.op<SubOp>(
        {expert,
         pb.op<MulOp>({pb.op<DivOp>({expert, perRankValue}), perRankValue})});
    Value shifted = pb.reshape(pb.op<SubOp>({localIndex, perRankValue}),
                               {pairs, 1});

    Value rows = moeGatherRows(pb, x, order, topK);
    auto sentRows = allToAll(rows, sendCounts, capacity);
    auto sentIds = allToAll(shifted, sendCounts, capacity);
    Value received = sentRows.getResult();
    Value recvCounts = sentRows.getRecvCounts();
    Value localExperts = pb.op<AddOp>({sentIds.getResult(), perRankValue});

    auto localPlan = b.create<MoePlanOp>(
        down.getLoc(), ValueRange{localExperts},
        ArrayRef<NamedAttribute>{b.getNamedAttr(
            "num_experts", b.getI64IntegerAttr(perRank))});
    auto localGateUp = b.create<MoeGateUpOp>(
        down.getLoc(),
        ValueRange{received, gateUp.getWGate(), gateUp.getWUp(),
                   localPlan.getOrder(), localPlan.getOffsets()},
        ArrayRef<NamedAttribute>{});
    Type weightType =
        PrimitiveBuilder::typeOf(down.getWeights()).getElementType();
    Value ones = pb.op<BroadcastToOp>(
        {pb.scalar(weightType, 1.0)},
        {b.getNamedAttr("shape", b.getDenseI64ArrayAttr({capacity, 1}))});
    Value expertRows = b.create<MoeDownOp>(
        down.getLoc(),
        ValueRange{localGateUp.getAct(), down.getWDown(), ones,
                   localPlan.getOrder(), localPlan.getSlot(),
                   localPlan.getOffsets()},
        ArrayRef<NamedAttribute>{});
    Value back = allToAll(expertRows, recvCounts, pairs).getResult();

    // Routing weights where the rows came from, then the fixed-order sum.
    Type compute = pb.computeType(xType.getElementType());
    Value weight = pb.reshape(
        pb.cast(moeRowWeights(pb, down.getWeights(), order), compute),
        {pairs, 1});
    Value scaled = pb.cast(pb.op<MulOp>({pb.cast(back, compute), weight}),
                           xType.getElementType());
    Value out = moeCombine(pb, scaled, order, slot);
    down.replaceAllUsesWith(out);
    down.erase();
    gateUp.erase();
    return success();
  }

  llvm::StringMap<RankedTensorType> local;
};

} // namespace
} // namespace kiln::passes
