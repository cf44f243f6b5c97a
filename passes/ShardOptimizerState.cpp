//===- ShardOptimizerState.cpp - kiln-shard-optimizer-state: ZeRO-1 -------===//
//
// ZeRO stage 1 (DeepSpeed; PyTorch's ZeroRedundancyOptimizer) as a rewrite of
// a data-parallel step: every optimizer state tensor is flattened, padded to
// a multiple of the rank count and cut into one block per rank, so each rank
// keeps 1/G of the moments. The update is elementwise, so it runs on the
// block alone: the gradient is reduce_scattered instead of all_reduced (each
// rank receives the sum of its block, then the same 1/G scaling), the
// replicated values the update reads (the parameter) are cut to the rank's
// block, and the updated parameter block is all_gathered so every rank holds
// the whole parameter for the next forward. Every element is computed by the
// same ops from the same values as without sharding, so the bits match; only
// full reductions over the update (the global-norm clip) become a partial
// reduction per rank and an all_reduce of the partials.
//
// Blocks are of the flattened tensor, not of dimension 0: every tensor
// shards whatever its shape (a [10] bias over 3 ranks), and a shard is one
// contiguous range, as DeepSpeed's flat partitions are. The padding holds
// zeros and never reaches a result.
//
//===----------------------------------------------------------------------===//

#include "ir/KilnOps.h"
#include "ir/PrimitiveBuilder.h"
#include "passes/Passes.h"
#include "passes/StateArguments.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/Matchers.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/MapVector.h"
#include "llvm/ADT/StringSet.h"

#include <limits>

namespace kiln::passes {
#define GEN_PASS_DEF_SHARDOPTIMIZERSTATE
#include "passes/Passes.h.inc"
} // namespace kiln::passes

using namespace mlir;

namespace kiln::passes {
namespace {

using namespace kiln::ir;

/// The state table's word for a ZeRO-1 shard: the executor and host loops
/// see that the tensor is this rank's block, not the whole state.
constexpr llvm::StringLiteral kShardKind = "optimizer_shard";

int64_t blockSize(int64_t elements, int64_t groups) {
  return (elements + groups - 1) / groups;
}

/// One function's rewrite: values of a full optimizer-state shape that have
/// a block on this rank, and how to make blocks of the others.
class FunctionSharding {
public:
  FunctionSharding(func::FuncOp func, int64_t groups,
                   const llvm::StringSet<> &sharded)
      : func(func), groups(groups), sharded(sharded) {}

  void run();

private:
  Block &body() { return func.getBody().front(); }
  int64_t elementsOf(Value v) {
    return PrimitiveBuilder::typeOf(v).getNumElements();
  }
  RankedTensorType blockType(Value full) {
    auto type = PrimitiveBuilder::typeOf(full);
    return RankedTensorType::get({blockSize(type.getNumElements(), groups)},
                                 type.getElementType());
  }
  /// Flattened and padded with zeros to groups * block elements.
  Value padded(PrimitiveBuilder &pb, Value full);
  /// This rank's index as an i64 [1] tensor, made once per function.
  Value rank();
  /// This rank's block of a value every rank holds whole.
  Value blockOfReplicated(Value full);
  Value cutBlock(Value full);
  /// The whole value from every rank's block.
  Value gathered(Value full, Value block);
  /// Converts `op` when it reads a value with a block; false to leave it.
  bool convert(Operation *op);
  bool convertElementwise(Operation *op);
  bool convertReduction(Operation *op);

  func::FuncOp func;
  int64_t groups;
  const llvm::StringSet<> &sharded;
  Value rankValue;
  /// Full value -> this rank's block of it.
  llvm::MapVector<Value, Value> blocks;
  /// Replicated full value -> this rank's block of it.
  llvm::DenseMap<Value, Value> replicatedBlocks;
  /// Original ops the rewrite replaced, erased at the end.
  SmallVector<Operation *> converted;
  llvm::DenseSet<Operation *> convertedSet;
};

Value FunctionSharding::padded(PrimitiveBuilder &pb, Value full) {
  auto type = PrimitiveBuilder::typeOf(full);
  int64_t n = type.getNumElements();
  int64_t total = blockSize(n, groups) * groups;
  Value flat = pb.reshape(full, {n});
  if (total == n)
    return flat;
  OpBuilder &b = pb.builder();
  auto padType = RankedTensorType::get({total - n}, type.getElementType());
  Value zeros = b.create<ConstantOp>(
      pb.location(),
      DenseElementsAttr::get(padType, b.getZeroAttr(type.getElementType())));
  return pb.concat({flat, zeros}, 0);
}

Value FunctionSharding::rank() {
  if (rankValue)
    return rankValue;
  // The dialect has no rank op (XLA's replica-id): every rank sums the same
  // [0, 1, ..., G-1], so block r of the reduce_scatter is G * r. One 8 G-byte
  // exchange per step, and integer sums are exact.
  OpBuilder b = OpBuilder::atBlockBegin(&body());
  PrimitiveBuilder pb(b, func.getLoc());
  SmallVector<int64_t> ids(groups);
  for (int64_t i = 0; i < groups; ++i)
    ids[i] = i;
  auto idType = RankedTensorType::get({groups}, b.getI64Type());
  Value all = b.create<ConstantOp>(
      func.getLoc(), DenseElementsAttr::get(idType, llvm::ArrayRef(ids)));
  Value scaled = pb.op<ReduceScatterOp>(
      all, {b.getNamedAttr("axis", b.getI64IntegerAttr(0)),
            b.getNamedAttr("group_size", b.getI64IntegerAttr(groups))});
  rankValue = pb.op<DivOp>({scaled, pb.scalarInt(b.getI64Type(), groups)});
  return rankValue;
}

Value FunctionSharding::blockOfReplicated(Value full) {
  if (auto it = replicatedBlocks.find(full); it != replicatedBlocks.end())
    return it->second;
  Value block = cutBlock(full);
  replicatedBlocks[full] = block;
  return block;
}

Value FunctionSharding::cutBlock(Value full) {
  RankedTensorType block = blockType(full);
  OpBuilder b(func.getContext());
  if (Operation *def = full.getDefiningOp()) {
    // A splat (zeros to reset the moments) is the same splat on the block.
    DenseElementsAttr value;
    if (matchPattern(def, m_Constant(&value)) && value.isSplat()) {
      b.setInsertionPointAfter(def);
      return b.create<ConstantOp>(def->getLoc(), value.resizeSplat(block));
    }
  }
  Value r = rank();
  if (Operation *def = full.getDefiningOp())
    b.setInsertionPointAfter(def);
  else
    b.setInsertionPointAfter(r.getDefiningOp());
  PrimitiveBuilder pb(b, full.getLoc());
  Value rows = pb.reshape(padded(pb, full), {groups, block.getDimSize(0)});
  Value mine = pb.op<GatherOp>(
      {rows, r}, {b.getNamedAttr("axis", b.getI64IntegerAttr(0))});
  return pb.reshape(mine, {block.getDimSize(0)});
}

Value FunctionSharding::gathered(Value full, Value block) {
  OpBuilder b(func.getContext());
  if (Operation *def = block.getDefiningOp())
    b.setInsertionPointAfter(def);
  else
    b.setInsertionPointToStart(&body());
  PrimitiveBuilder pb(b, full.getLoc());
  auto type = PrimitiveBuilder::typeOf(full);
  Value all = pb.op<AllGatherOp>(
      block, {b.getNamedAttr("axis", b.getI64IntegerAttr(0)),
              b.getNamedAttr("group_size", b.getI64IntegerAttr(groups))});
  int64_t n = type.getNumElements();
  if (PrimitiveBuilder::shapeOf(all)[0] != n)
    all = pb.slice(all, 0, 0, n);
  return pb.reshape(all, type.getShape());
}

bool FunctionSharding::convertElementwise(Operation *op) {
  if (!op->hasTrait<KilnElementwise>() || op->getNumResults() != 1 ||
      llvm::isa<BroadcastToOp>(op))
    return false;
  Value result = op->getResult(0);
  auto type = PrimitiveBuilder::typeOf(result);
  bool readsBlock = false;
  for (Value operand : op->getOperands()) {
    auto it = blocks.find(operand);
    if (it == blocks.end())
      continue;
    // A block stands for a value of the result's shape only.
    if (PrimitiveBuilder::shapeOf(operand) != type.getShape())
      return false;
    readsBlock = true;
  }
  if (!readsBlock)
    return false;
  IRMapping mapping;
  for (Value operand : op->getOperands()) {
    if (auto it = blocks.find(operand); it != blocks.end()) {
      mapping.map(operand, it->second);
      continue;
    }
    auto operandType = PrimitiveBuilder::typeOf(operand);
    if (operandType.getShape() == type.getShape()) {
      mapping.map(operand, blockOfReplicated(operand));
    } else if (operandType.getNumElements() == 1) {
      // A broadcast scalar; as rank 0 it broadcasts against the block too.
      if (operandType.getRank() != 0) {
        OpBuilder b(op);
        PrimitiveBuilder pb(b, op->getLoc());
        mapping.map(operand, pb.reshape(operand, {}));
      }
    } else {
      return false;
    }
  }
  OpBuilder b(op);
  Operation *clone = b.clone(*op, mapping);
  clone->getResult(0).setType(RankedTensorType::get(
      {blockType(result).getDimSize(0)}, type.getElementType()));
  blocks[result] = clone->getResult(0);
  return true;
}

bool FunctionSharding::convertReduction(Operation *op) {
  if (!llvm::isa<SumOp, MaxOp, MinOp>(op))
    return false;
  Value x = op->getOperand(0);
  auto it = blocks.find(x);
  if (it == blocks.end())
    return false;
  auto axes = op->getAttrOfType<DenseI64ArrayAttr>("axes");
  int64_t xRank = PrimitiveBuilder::typeOf(x).getRank();
  if (!axes || static_cast<int64_t>(axes.size()) != xRank)
    return false;
  OpBuilder b(op);
  PrimitiveBuilder pb(b, op->getLoc());
  Value block = it->second;
  auto blockTy = PrimitiveBuilder::typeOf(block);
  int64_t n = elementsOf(x), size = blockTy.getDimSize(0);
  Type element = blockTy.getElementType();
  StringRef reduction = llvm::isa<SumOp>(op)   ? "sum"
                        : llvm::isa<MaxOp>(op) ? "max"
                                               : "min";
  if (n % groups != 0) {
    // The padding is no element of x: it must not enter the reduction.
    double identity = reduction == "sum" ? 0.0
                      : reduction == "max"
                          ? -std::numeric_limits<double>::infinity()
                          : std::numeric_limits<double>::infinity();
    Value index =
        pb.op<AddOp>({pb.iota({size}, 0, b.getI64Type()),
                      pb.op<MulOp>({pb.reshape(rank(), {}),
                                    pb.scalarInt(b.getI64Type(), size)})});
    Value valid = pb.op<LessOp>({index, pb.scalarInt(b.getI64Type(), n)});
    block = pb.select(valid, block, pb.scalar(element, identity));
  }
  Operation *partial = b.clone(*op);
  partial->setOperand(0, block);
  partial->setAttr("axes", b.getDenseI64ArrayAttr({0}));
  auto keepdims = op->getAttrOfType<BoolAttr>("keepdims");
  partial->setAttr("keepdims", b.getBoolAttr(false));
  partial->getResult(0).setType(RankedTensorType::get({}, element));
  Value total = pb.op<AllReduceOp>(
      partial->getResult(0),
      {b.getNamedAttr("reduction", b.getStringAttr(reduction)),
       b.getNamedAttr("group_size", b.getI64IntegerAttr(groups))});
  if (keepdims && keepdims.getValue())
    total = pb.reshape(total, PrimitiveBuilder::shapeOf(op->getResult(0)));
  op->getResult(0).replaceAllUsesWith(total);
  return true;
}

bool FunctionSharding::convert(Operation *op) {
  return convertElementwise(op) || convertReduction(op);
}

void FunctionSharding::run() {
  // Sharded state arguments become their blocks; the old argument stays
  // until its last use is converted.
  SmallVector<unsigned> oldArgs;
  for (unsigned i = 0, e = func.getNumArguments(); i < e; ++i) {
    auto state = func.getArgAttrOfType<StringAttr>(i, "kiln.state");
    if (state && sharded.contains(state.getValue()))
      oldArgs.push_back(i);
  }
  bool writesShard = false;
  for (unsigned i = 0, e = func.getNumResults(); i < e; ++i)
    if (auto state = func.getResultAttrOfType<StringAttr>(i, "kiln.state");
        state && sharded.contains(state.getValue()))
      writesShard = true;
  if (oldArgs.empty() && !writesShard)
    return;
  SmallVector<BlockArgument> oldValues;
  for (unsigned i : oldArgs)
    oldValues.push_back(func.getArgument(i));
  for (unsigned i : llvm::reverse(oldArgs)) {
    BlockArgument old = func.getArgument(i);
    func.insertArgument(i + 1, blockType(old), func.getArgAttrDict(i),
                        old.getLoc());
    blocks[func.getArgument(i)] = func.getArgument(i + 1);
  }

  // Each averaged gradient arrives as this rank's block of the sum instead
  // of the whole sum (kiln-data-parallel marked its all_reduce).
  SmallVector<Operation *> ops;
  for (Operation &op : body().without_terminator())
    ops.push_back(&op);
  SmallVector<Operation *> gradientSums;
  for (Operation *op : ops) {
    auto sum = llvm::dyn_cast<AllReduceOp>(op);
    if (!sum || !sum->hasAttr("kiln.gradient") || sum.getReduction() != "sum")
      continue;
    OpBuilder b(op);
    PrimitiveBuilder pb(b, op->getLoc());
    blocks[sum.getResult()] = pb.op<ReduceScatterOp>(
        padded(pb, sum.getX()),
        {b.getNamedAttr("axis", b.getI64IntegerAttr(0)),
         b.getNamedAttr("group_size", b.getI64IntegerAttr(groups))});
    gradientSums.push_back(op);
  }
  for (Operation *op : ops)
    if (convert(op)) {
      converted.push_back(op);
      convertedSet.insert(op);
    }

  // A sharded state's new value is its block.
  auto ret = llvm::cast<func::ReturnOp>(body().getTerminator());
  for (OpOperand &operand : ret->getOpOperands()) {
    auto state = func.getResultAttrOfType<StringAttr>(
        operand.getOperandNumber(), "kiln.state");
    if (!state || !sharded.contains(state.getValue()))
      continue;
    Value v = operand.get();
    auto it = blocks.find(v);
    operand.set(it != blocks.end() ? it->second : blockOfReplicated(v));
  }
  // Everything else that reads a whole value (the next forward's
  // parameters, a returned gradient) reads it gathered from the blocks.
  for (auto [full, block] : blocks) {
    bool needed = llvm::any_of(full.getUses(), [&](OpOperand &use) {
      return !convertedSet.contains(use.getOwner());
    });
    if (!needed)
      continue;
    Value whole = gathered(full, block);
    full.replaceUsesWithIf(whole, [&](OpOperand &use) {
      return !convertedSet.contains(use.getOwner()) &&
             use.getOwner() != whole.getDefiningOp() &&
             !whole.getDefiningOp()->isAncestor(use.getOwner());
    });
  }
  for (Operation *op : llvm::reverse(converted))
    op->erase();
  for (Operation *op : llvm::reverse(gradientSums))
    if (op->use_empty())
      op->erase();
  // Inserting the blocks moved the old arguments: erase them where they are
  // now, last first.
  SmallVector<unsigned> stale;
  for (BlockArgument old : oldValues)
    stale.push_back(old.getArgNumber());
  for (unsigned i : llvm::reverse(stale))
    func.eraseArgument(i);
  // The whole-size values only the converted ops read (a splat the blocks
  // replaced) go too.
  SmallVector<Operation *> remaining;
  for (Operation &op : body().without_terminator())
    remaining.push_back(&op);
  for (Operation *op : llvm::reverse(remaining))
    if (isOpTriviallyDead(op))
      op->erase();
  func.setFunctionType(FunctionType::get(
      func.getContext(), body().getArgumentTypes(), ret.getOperandTypes()));
}

struct ShardOptimizerStatePass
    : impl::ShardOptimizerStateBase<ShardOptimizerStatePass> {
  using ShardOptimizerStateBase::ShardOptimizerStateBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (groupSize < 1) {
      module.emitError("kiln-shard-optimizer-state: group-size must be at "
                       "least 1, got ")
          << groupSize;
      return signalPassFailure();
    }
    if (groupSize == 1)
      return;
    auto entries = module->getAttrOfType<ArrayAttr>("kiln.state");
    if (!entries)
      return;
    // Every float optimizer tensor is sharded; the scalar step counter stays
    // whole.
    llvm::StringSet<> sharded;
    SmallVector<Attribute> table;
    Builder b(module.getContext());
    for (Attribute a : entries) {
      auto entry = llvm::cast<DictionaryAttr>(a);
      auto kind = entry.getAs<StringAttr>("kind");
      auto type = entry.getAs<TypeAttr>("type");
      auto tensor =
          type ? llvm::dyn_cast<RankedTensorType>(type.getValue()) : nullptr;
      if (!kind || kind.getValue() != "optimizer" || !tensor ||
          tensor.getRank() == 0 ||
          !llvm::isa<FloatType>(tensor.getElementType())) {
        table.push_back(entry);
        continue;
      }
      sharded.insert(entry.getAs<StringAttr>("name").getValue());
      NamedAttrList fields(entry);
      fields.set("type", TypeAttr::get(RankedTensorType::get(
                             {blockSize(tensor.getNumElements(), groupSize)},
                             tensor.getElementType())));
      fields.set("kind", b.getStringAttr(kShardKind));
      fields.set("full_type", type);
      fields.set("group_size", b.getI64IntegerAttr(groupSize));
      table.push_back(fields.getDictionary(module.getContext()));
    }
    if (sharded.empty())
      return;
    module->setAttr("kiln.state", b.getArrayAttr(table));
    module.walk([&](func::FuncOp func) {
      if (!func.isExternal())
        FunctionSharding(func, groupSize, sharded).run();
    });
  }
};

} // namespace
} // namespace kiln::passes
