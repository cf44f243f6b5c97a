//===- HoistDerivedState.cpp - kiln-hoist-derived-state -------------------===//
//
// Work that reads only parameters gives the same tensor on every call until a
// parameter is written, so it is computed once into a state of kind "derived"
// by one entry, kiln.derive_state, and every function that did it reads that
// state instead. The executor reruns kiln.derive_state when a source was
// written since (executor/ExecutorCore.cpp), so the pass never changes a bit
// of any result: the same ops run on the same values, only less often.
//
// The hoisted values are the frontier of each function's parameter-only
// cone: values computed by pure ops from unwritten parameters and constants
// that feed other work. Cones of several functions are cloned into the one
// derive function and CSE'd there, so the casts that prefill and decode both
// do are stored once.
//
//===----------------------------------------------------------------------===//

#include "ir/KilnOps.h"
#include "passes/Passes.h"
#include "passes/Precision.h"
#include "passes/StateArguments.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Dominance.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Transforms/CSE.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/MapVector.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/ADT/StringSet.h"

#include <set>

namespace kiln::passes {
#define GEN_PASS_DEF_HOISTDERIVEDSTATE
#include "passes/Passes.h.inc"
} // namespace kiln::passes

using namespace mlir;

namespace kiln::passes {
namespace {

/// The entry that computes every derived state, and the derived states'
/// kind: the executor and the checkpoint code read both from the
/// Executable's state table.
constexpr llvm::StringLiteral kDeriveEntry = "kiln.derive_state";
constexpr llvm::StringLiteral kDerivedKind = "derived";

int64_t byteSize(Type type) {
  auto tensor = llvm::cast<RankedTensorType>(type);
  Type element = tensor.getElementType();
  int64_t bits = element.isIntOrFloat() ? element.getIntOrFloatBitWidth() : 64;
  // i4 is stored packed, two to a byte; every other type in whole bytes (an
  // i1 takes one), as executor/DType.h's bufferBytes.
  if (bits == 4)
    return (tensor.getNumElements() + 1) / 2;
  return tensor.getNumElements() * std::max<int64_t>(1, bits / 8);
}

/// What `roots` are computed from within their block: the block arguments,
/// by number, and the ops.
struct Cone {
  std::set<unsigned> args;
  llvm::SetVector<Operation *> ops;
};

Cone coneOf(ArrayRef<Value> roots) {
  Cone cone;
  SmallVector<Value> stack(roots.begin(), roots.end());
  while (!stack.empty()) {
    Value x = stack.pop_back_val();
    if (auto arg = llvm::dyn_cast<BlockArgument>(x)) {
      cone.args.insert(arg.getArgNumber());
      continue;
    }
    Operation *def = x.getDefiningOp();
    if (cone.ops.insert(def))
      stack.append(def->operand_begin(), def->operand_end());
  }
  return cone;
}

/// One function's hoisting: its parameter-only values and which of them
/// other work reads.
struct FunctionCones {
  func::FuncOp func;
  /// Values computed from unwritten parameters and constants only.
  llvm::DenseSet<Value> parameterOnly;
  /// The hoisted values, in program order.
  llvm::SmallVector<Value> frontier;
};

class HoistDerivedStatePass
    : public impl::HoistDerivedStateBase<HoistDerivedStatePass> {
public:
  using HoistDerivedStateBase::HoistDerivedStateBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (SymbolTable::lookupSymbolIn(module, kDeriveEntry)) {
      module.emitError("kiln-hoist-derived-state: the module already has a "
                       "function named '")
          << kDeriveEntry << "'";
      return signalPassFailure();
    }
    table = stateTable(module);

    std::vector<FunctionCones> functions;
    for (auto func : module.getOps<func::FuncOp>()) {
      // A called function cannot take new arguments without its callers.
      if (func.isPrivate() || func.isExternal() ||
          !func.getBody().hasOneBlock() ||
          !SymbolTable::symbolKnownUseEmpty(func, module))
        continue;
      FunctionCones cones{func, {}, {}};
      findFrontier(cones);
      if (!cones.frontier.empty())
        functions.push_back(std::move(cones));
    }
    if (functions.empty())
      return;

    OpBuilder b(module.getContext());
    b.setInsertionPointToEnd(module.getBody());
    auto derive = b.create<func::FuncOp>(module.getLoc(), kDeriveEntry,
                                         b.getFunctionType({}, {}));
    Block *body = derive.addEntryBlock();
    llvm::StringMap<Value> sourceArgs;
    // What each function's frontier value became in the derive function.
    std::vector<SmallVector<Value>> cloned;
    for (FunctionCones &cones : functions)
      cloned.push_back(cloneCones(cones, derive, sourceArgs));

    // Equal computations of several entries become one.
    b.setInsertionPointToEnd(body);
    auto placeholder = b.create<func::ReturnOp>(module.getLoc());
    SmallVector<Value> allCloned;
    for (auto &values : cloned)
      allCloned.append(values.begin(), values.end());
    placeholder->setOperands(allCloned);
    IRRewriter rewriter(module.getContext());
    DominanceInfo dominance(derive);
    eliminateCommonSubExpressions(rewriter, dominance, derive);
    // CSE replaced the returned values with their survivors.
    allCloned.assign(placeholder->getOperands().begin(),
                     placeholder->getOperands().end());

    // One derived state per distinct value, named after its first source.
    llvm::MapVector<Value, std::string> names;
    llvm::StringMap<int> perSource;
    SmallVector<Attribute> newEntries;
    for (Value v : allCloned) {
      if (names.count(v))
        continue;
      SmallVector<std::string> sources = sourcesOf(v);
      std::string name = "derived." + sources.front() + "." +
                         std::to_string(perSource[sources.front()]++);
      names[v] = name;
      SmallVector<Attribute> sourceAttrs;
      for (const std::string &s : sources)
        sourceAttrs.push_back(b.getStringAttr(s));
      newEntries.push_back(b.getDictionaryAttr({
          b.getNamedAttr("name", b.getStringAttr(name)),
          b.getNamedAttr("type", TypeAttr::get(v.getType())),
          b.getNamedAttr("kind", b.getStringAttr(kDerivedKind)),
          b.getNamedAttr("sources", b.getArrayAttr(sourceAttrs)),
          b.getNamedAttr("entry", b.getStringAttr(kDeriveEntry)),
      }));
    }
    SmallVector<Value> results;
    SmallVector<Type> resultTypes;
    SmallVector<DictionaryAttr> resultAttrs;
    for (auto &[v, name] : names) {
      results.push_back(v);
      resultTypes.push_back(v.getType());
      resultAttrs.push_back(stateAttrs(b, name));
    }
    placeholder->setOperands(results);
    derive.setFunctionType(
        b.getFunctionType(body->getArgumentTypes(), resultTypes));
    derive.setAllResultAttrs(resultAttrs);

    // Each function reads its derived states instead of computing them.
    size_t next = 0;
    for (FunctionCones &cones : functions) {
      for (Value original : cones.frontier) {
        const std::string &name = names.lookup(allCloned[next++]);
        unsigned index = cones.func.getNumArguments();
        (void)cones.func.insertArgument(index, original.getType(),
                                        stateAttrs(b, name), original.getLoc());
        original.replaceAllUsesWith(cones.func.getArgument(index));
      }
      eraseDeadCones(cones.func);
    }

    SmallVector<Attribute> stateEntries;
    if (auto old = module->getAttrOfType<ArrayAttr>("kiln.state"))
      stateEntries.append(old.begin(), old.end());
    stateEntries.append(newEntries);
    module->setAttr("kiln.state", b.getArrayAttr(stateEntries));
  }

private:
  static DictionaryAttr stateAttrs(OpBuilder &b, llvm::StringRef name) {
    return b.getDictionaryAttr(
        {b.getNamedAttr("kiln.state", b.getStringAttr(name)),
         b.getNamedAttr("kiln.name", b.getStringAttr(name))});
  }

  void findFrontier(FunctionCones &cones) {
    func::FuncOp func = cones.func;
    // Whether a parameter-only value reads a parameter, and whether its
    // computation does more than reshape: only those are worth a state.
    llvm::DenseMap<Value, std::pair<bool, bool>> facts;
    for (Value arg : unwrittenParameters(func, table)) {
      cones.parameterOnly.insert(arg);
      facts[arg] = {true, false};
    }
    Block &block = func.getBody().front();
    for (Operation &op : block.without_terminator()) {
      if (!isPure(&op) || op.getNumRegions() != 0 || op.getNumResults() == 0)
        continue;
      // The GEMM dequantizes this weight as it loads it: hoisting the
      // dequantize would make it read four times the bytes.
      if (auto dequantize = llvm::dyn_cast<ir::DequantizeOp>(op);
          dequantize && keepInt4WeightDequantize &&
          isGemmInt4Weight(dequantize))
        continue;
      bool readsParameter = false;
      bool computes = !llvm::isa<ir::ReshapeOp, ir::ConstantOp>(op);
      bool allParameterOnly = true;
      for (Value operand : op.getOperands()) {
        auto it = facts.find(operand);
        if (it == facts.end()) {
          allParameterOnly = false;
          break;
        }
        readsParameter |= it->second.first;
        computes |= it->second.second;
      }
      if (!allParameterOnly)
        continue;
      for (Value result : op.getResults()) {
        cones.parameterOnly.insert(result);
        facts[result] = {readsParameter, computes};
      }
    }
    for (Operation &op : block) {
      for (Value result : op.getResults()) {
        auto it = facts.find(result);
        if (it == facts.end() || !it->second.first || !it->second.second)
          continue;
        bool usedOutside = llvm::any_of(result.getUsers(), [&](Operation *u) {
          return u->getNumResults() == 0 ||
                 !cones.parameterOnly.contains(u->getResult(0));
        });
        if (!usedOutside || !worthStoring(result))
          continue;
        cones.frontier.push_back(result);
      }
    }
  }

  /// A derived state costs memory for as long as the executor lives; one
  /// larger than what it is computed from pays only when small.
  bool worthStoring(Value v) const {
    int64_t bytes = byteSize(v.getType());
    if (bytes <= maxGrowthBytes)
      return true;
    int64_t sourceBytes = 0;
    for (unsigned index : coneOf(v).args)
      sourceBytes += byteSize(v.getParentBlock()->getArgument(index).getType());
    return bytes <= sourceBytes;
  }

  /// Clones the computation of every frontier value of `cones` into `derive`
  /// (its source parameters as state arguments, shared across functions)
  /// and returns the clones.
  SmallVector<Value> cloneCones(FunctionCones &cones, func::FuncOp derive,
                                llvm::StringMap<Value> &sourceArgs) {
    Block *body = &derive.getBody().front();
    Cone cone = coneOf(cones.frontier);
    // Sources in the order the first function that reads them lists them.
    IRMapping mapping;
    OpBuilder b = OpBuilder::atBlockEnd(body);
    for (unsigned index : cone.args) {
      BlockArgument arg = cones.func.getArgument(index);
      StringAttr state = stateOf(arg);
      Value &source = sourceArgs[state.getValue()];
      if (!source) {
        unsigned next = derive.getNumArguments();
        (void)derive.insertArgument(
            next, arg.getType(), stateAttrs(b, state.getValue()), arg.getLoc());
        source = body->getArgument(next);
      }
      mapping.map(arg, source);
    }
    SmallVector<Operation *> ordered(cone.ops.begin(), cone.ops.end());
    llvm::sort(ordered, [](Operation *a, Operation *b) {
      return a->isBeforeInBlock(b);
    });
    for (Operation *op : ordered)
      b.clone(*op, mapping);
    SmallVector<Value> clones;
    for (Value v : cones.frontier)
      clones.push_back(mapping.lookup(v));
    return clones;
  }

  /// The parameters `v` (in the derive function) is computed from, in
  /// argument order.
  static SmallVector<std::string> sourcesOf(Value v) {
    SmallVector<std::string> names;
    for (unsigned index : coneOf(v).args)
      names.push_back(stateOf(v.getParentBlock()->getArgument(index)).str());
    return names;
  }

  static void eraseDeadCones(func::FuncOp func) {
    SmallVector<Operation *> ops;
    for (Operation &op : func.getBody().front().without_terminator())
      ops.push_back(&op);
    for (Operation *op : llvm::reverse(ops))
      if (op->use_empty() && isPure(op))
        op->erase();
  }

  llvm::StringMap<DictionaryAttr> table;
};

} // namespace
} // namespace kiln::passes
