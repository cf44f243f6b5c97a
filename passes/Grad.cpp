//===- Grad.cpp - reverse-mode differentiation of kiln.grad ----------------===//
//
// Expands each kiln.grad into ordinary kiln ops: walks the ops between the wrt
// values and the loss backwards, asks each op's VjpOpInterface for its operands'
// gradients and sums the contributions of every use. Ops tagged `kiln.remat = N`
// are cloned into the backward pass before their gradient rule runs, so their
// forward results die early (rematerialisation trades compute for memory).
//
//===----------------------------------------------------------------------===//

#include "ir/KilnOps.h"
#include "ir/Quantization.h"
#include "ir/Vjp.h"
#include "passes/Passes.h"
#include "passes/Precision.h"

#include "mlir/IR/IRMapping.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/MapVector.h"

namespace kiln::passes {
#define GEN_PASS_DEF_GRAD
#include "passes/Passes.h.inc"
} // namespace kiln::passes

using namespace mlir;
using namespace kiln::ir;

namespace kiln::passes {
namespace {

constexpr llvm::StringLiteral kRematAttr = "kiln.remat";

class GradExpansion {
public:
  explicit GradExpansion(GradOp grad) : grad(grad), builder(grad) {}

  LogicalResult run() {
    collectActiveOps();
    PrimitiveBuilder pb(builder, grad.getLoc());
    Value loss = grad.getLoss();
    auto lossType = PrimitiveBuilder::typeOf(loss);
    grads[loss] = pb.scalar(lossType.getElementType(), 1.0);

    for (Operation *op : llvm::reverse(active)) {
      SmallVector<Value> resultGrads;
      bool any = false;
      for (Value r : op->getResults()) {
        Value g = grads.lookup(r);
        // Cotangents of float8 values live in f32; rules other than these
        // take them in the result's type, as written.
        if (g && !llvm::isa<QuantizeOp, CastOp>(op)) {
          builder.setInsertionPoint(grad);
          g = pb.cast(g, PrimitiveBuilder::typeOf(r).getElementType());
        }
        resultGrads.push_back(g);
        any |= g != nullptr;
      }
      if ((!any && !isPeerTransfer(op)) || op->hasTrait<KilnNoGradient>())
        continue;
      Operation *target = op;
      if (auto group = op->getAttrOfType<IntegerAttr>(kRematAttr))
        target = rematerialize(op, group.getInt());
      auto vjp = llvm::dyn_cast<VjpOpInterface>(target);
      if (!vjp)
        return op->emitOpError("has no gradient rule (VjpOpInterface); kiln.grad "
                               "cannot differentiate through it");
      SmallVector<Value> operandGrads;
      builder.setInsertionPoint(grad);
      Operation *last = grad->getPrevNode();
      if (failed(vjp.buildVjp(builder, resultGrads, operandGrads)))
        return failure();
      inheritPrecision(op, last);
      if (operandGrads.size() != op->getNumOperands())
        return op->emitOpError("gradient rule returned ")
               << operandGrads.size() << " operand gradients for "
               << op->getNumOperands() << " operands";
      for (auto [operand, g] : llvm::zip(op->getOperands(), operandGrads)) {
        if (!g || !forward.contains(operand))
          continue;
        RankedTensorType want =
            cotangentType(PrimitiveBuilder::typeOf(operand));
        if (g.getType() == operand.getType())
          g = pb.cast(g, want.getElementType());
        if (g.getType() != want)
          return op->emitOpError("gradient rule produced ")
                 << g.getType() << " for an operand of type "
                 << operand.getType() << " (cotangent type " << want << ")";
        Value &acc = grads[operand];
        acc = acc ? pb.op<AddOp>(ValueRange{acc, g}) : g;
      }
    }

    SmallVector<Value> results;
    for (Value w : grad.getWrt()) {
      Value g = grads.lookup(w);
      auto type = PrimitiveBuilder::typeOf(w);
      results.push_back(g ? pb.cast(g, type.getElementType())
                          : zerosLike(pb, type));
    }
    grad->replaceAllUsesWith(results);
    grad->erase();
    return success();
  }

private:
  /// The matmuls a gradient rule of a matmul with a `kiln.precision` choice
  /// emitted (the ops after `last`) run at the same precision: the forward
  /// GEMM's choice covers both of its backward GEMMs.
  void inheritPrecision(Operation *op, Operation *last) {
    Attribute choice = op->getAttr(kPrecisionAttr);
    if (!choice)
      return;
    for (Operation *emitted = last ? last->getNextNode() : &grad->getBlock()->front();
         emitted && emitted != grad.getOperation();
         emitted = emitted->getNextNode())
      if (llvm::isa<MatmulOp>(emitted))
        emitted->setAttr(kPrecisionAttr, choice);
  }

  /// A float send or recv: its peer runs the opposite transfer in its own
  /// backward, so every one before kiln.grad is differentiated, whether or not
  /// this rank's loss or wrt values reach it (a recv whose value the loss does
  /// not read sends zeros back; a send of a value no wrt reaches still
  /// receives and drops its cotangent). Ranks thereby pair up again in the
  /// backward without knowing each other's graphs.
  static bool isPeerTransfer(Operation *op) {
    if (auto send = llvm::dyn_cast<SendOp>(op))
      return isFloatTensor(send.getX());
    if (auto recv = llvm::dyn_cast<RecvOp>(op))
      return isFloatTensor(recv.getResult());
    return false;
  }

  /// The ops of the block before kiln.grad that depend on a wrt value and that
  /// the loss depends on, in program order.
  void collectActiveOps() {
    for (Value w : grad.getWrt())
      forward.insert(w);
    Block *block = grad->getBlock();
    SmallVector<Operation *> before;
    for (Operation &op : *block) {
      if (&op == grad.getOperation())
        break;
      before.push_back(&op);
      if (llvm::any_of(op.getOperands(), [&](Value v) { return forward.contains(v); }))
        for (Value r : op.getResults())
          forward.insert(r);
    }
    llvm::DenseSet<Value> needed;
    needed.insert(grad.getLoss());
    for (Operation *op : llvm::reverse(before)) {
      if (isPeerTransfer(op)) {
        // A send's cotangent comes back from its peer: what it sends is
        // differentiated as if the loss read it.
        active.push_back(op);
        for (Value v : op->getOperands())
          needed.insert(v);
        continue;
      }
      bool isNeeded = llvm::any_of(op->getResults(),
                                   [&](Value r) { return needed.contains(r); });
      if (!isNeeded)
        continue;
      for (Value v : op->getOperands())
        needed.insert(v);
      if (llvm::any_of(op->getResults(), [&](Value r) { return forward.contains(r); }))
        active.push_back(op);
    }
    std::reverse(active.begin(), active.end());
    // Members of each remat group, in program order.
    for (Operation *op : before)
      if (auto group = op->getAttrOfType<IntegerAttr>(kRematAttr))
        rematGroups[group.getInt()].push_back(op);
  }

  /// Clones remat group `group` once at the backward insertion point and returns
  /// the clone of `op`, whose rule then reads recomputed values.
  Operation *rematerialize(Operation *op, int64_t group) {
    auto it = recomputed.find(group);
    if (it == recomputed.end()) {
      IRMapping &mapping = recomputed[group];
      builder.setInsertionPoint(grad);
      for (Operation *member : rematGroups[group]) {
        Operation *clone = builder.clone(*member, mapping);
        clone->removeAttr(kRematAttr);
        clonedOps[member] = clone;
      }
      it = recomputed.find(group);
    }
    return clonedOps.lookup(op);
  }

  GradOp grad;
  OpBuilder builder;
  llvm::DenseSet<Value> forward;
  SmallVector<Operation *> active;
  llvm::DenseMap<Value, Value> grads;
  std::map<int64_t, SmallVector<Operation *>> rematGroups;
  std::map<int64_t, IRMapping> recomputed;
  llvm::DenseMap<Operation *, Operation *> clonedOps;
};

struct GradPass : impl::GradBase<GradPass> {
  void runOnOperation() override {
    // Inner kiln.grad ops come first in program order, so a gradient of a
    // gradient differentiates the already-expanded inner one.
    SmallVector<GradOp> grads;
    getOperation()->walk([&](GradOp op) { grads.push_back(op); });
    for (GradOp op : grads)
      if (failed(GradExpansion(op).run()))
        return signalPassFailure();
  }
};

} // namespace
} // namespace kiln::passes
