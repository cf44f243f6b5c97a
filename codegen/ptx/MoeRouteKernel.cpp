//===- MoeRouteKernel.cpp - moe_route in one launch -----------------------===//
//
// DeepSeek-V3's routing, a thread per token: the topk_group best groups are
// chosen in topk_group rounds and the k experts in k rounds, each round
// taking the best candidate ranked strictly after the previous round's pick
// (topk's order is total: larger first, NaN largest, ties to the lower
// index), so no per-thread arrays are needed and the choice equals the
// unfused topk ops' exactly. Kept groups live in an i64 bit mask (at most 64
// groups, isDirectMoeRoute). Without per-thread arrays each group round
// recomputes the group scores (two passes over each group), so work per
// token is about (2 * topk_group + k) * E loads of one [E] row, which stays
// in L1; the unfused form is about a dozen launches (two top-ks, the group
// mask, a select, the gather and the normalisation). The weights are summed
// in index order and divided and scaled in the scores' type, as those ops
// round.
//
//===----------------------------------------------------------------------===//

#include "codegen/ptx/DirectKernel.h"
#include "codegen/ptx/Scalars.h"

#include <limits>

#include "absl/strings/str_cat.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"

using namespace mlir;
namespace kir = kiln::ir;

namespace kiln::codegen::ptx {

namespace {

/// The kept groups fit one i64 mask.
constexpr int64_t kMaxRouteGroups = 64;

/// A thread's view of one token's row: candidates as (value, i64 index).
struct RouteRow {
  OpBuilder &b;
  Location l;
  Type element;

  Value i64(int64_t v) {
    return b.create<arith::ConstantOp>(l, b.getI64IntegerAttr(v));
  }
  Value cmpf(arith::CmpFPredicate p, Value x, Value y) {
    return b.create<arith::CmpFOp>(l, p, x, y);
  }
  Value cmpi(arith::CmpIPredicate p, Value x, Value y) {
    return b.create<arith::CmpIOp>(l, p, x, y);
  }
  Value both(Value x, Value y) { return b.create<arith::AndIOp>(l, x, y); }
  Value either(Value x, Value y) { return b.create<arith::OrIOp>(l, x, y); }
  Value pick(Value c, Value x, Value y) {
    return b.create<arith::SelectOp>(l, c, x, y);
  }

  /// (a, i) ranks before (c, j) in topk's order.
  Value before(Value a, Value i, Value c, Value j) {
    Value aNan = cmpf(arith::CmpFPredicate::UNO, a, a);
    Value cNan = cmpf(arith::CmpFPredicate::UNO, c, c);
    Value nanFirst =
        both(aNan,
             b.create<arith::XOrIOp>(
                 l, cNan, b.create<arith::ConstantOp>(l, b.getBoolAttr(true))));
    Value tie = either(both(aNan, cNan), cmpf(arith::CmpFPredicate::OEQ, a, c));
    return either(either(nanFirst, cmpf(arith::CmpFPredicate::OGT, a, c)),
                  both(tie, cmpi(arith::CmpIPredicate::slt, i, j)));
  }

  /// The best candidate of [0, n) ranked after (lastV, lastI) (any when
  /// lastI < 0): `valueOf(b, l, i64 index)` gives a candidate's value.
  std::pair<Value, Value>
  bestAfter(int64_t n, Value lastV, Value lastI,
            const std::function<Value(OpBuilder &, Location, Value)> &valueOf) {
    Value none = i64(-1);
    ValueRange best = forLoop(
        b, l, indexConst(b, l, 0), indexConst(b, l, n), indexConst(b, l, 1),
        ValueRange{floatConst(b, l, element, 0.0), none},
        [&](OpBuilder &lb, Location ll, Value iv,
            ValueRange acc) -> SmallVector<Value> {
          RouteRow r{lb, ll, element};
          Value i = lb.create<arith::IndexCastOp>(ll, lb.getI64Type(), iv);
          Value v = valueOf(lb, ll, i);
          Value allowed =
              r.either(r.cmpi(arith::CmpIPredicate::slt, lastI, r.i64(0)),
                       r.before(lastV, lastI, v, i));
          Value better =
              r.either(r.cmpi(arith::CmpIPredicate::slt, acc[1], r.i64(0)),
                       r.before(v, i, acc[0], acc[1]));
          Value take = r.both(allowed, better);
          return {r.pick(take, v, acc[0]), r.pick(take, i, acc[1])};
        });
    return {best[0], best[1]};
  }
};

} // namespace

bool isDirectMoeRoute(Operation *op) {
  auto route = llvm::dyn_cast<kir::MoeRouteOp>(op);
  if (!route)
    return false;
  auto type = llvm::dyn_cast<RankedTensorType>(route.getScores().getType());
  return type && type.hasStaticShape() && type.getDimSize(0) > 0 &&
         route.getNumGroups() <= kMaxRouteGroups;
}

absl::Status buildMoeRouteKernels(Operation *op, DirectKernels &k) {
  if (!isDirectMoeRoute(op))
    return absl::InvalidArgumentError(absl::StrCat(
        "moe_route: the kernel takes static shapes and at most ",
        kMaxRouteGroups,
        " groups (kiln-expand-unfused-composites expands the others)"));
  constexpr int64_t kThreads = 128;
  auto route = llvm::cast<kir::MoeRouteOp>(op);
  auto type = llvm::cast<RankedTensorType>(route.getScores().getType());
  Type element = type.getElementType();
  int64_t tokens = type.getDimSize(0), e = type.getDimSize(1);
  int64_t groups = route.getNumGroups(), n = e / groups;
  int64_t kept = route.getTopkGroup(), topK = route.getTopK();

  OpBuilder b =
      k.addKernel("route", (tokens + kThreads - 1) / kThreads, kThreads);
  Location l = k.loc();
  Value t = globalThreadIndex(b, l, kThreads);
  Value inRange = b.create<arith::CmpIOp>(l, arith::CmpIPredicate::ult, t,
                                          indexConst(b, l, tokens));
  ifThen(b, l, inRange, [&](OpBuilder &nb, Location nl) {
    RouteRow row{nb, nl, element};
    Value rowBase = nb.create<arith::MulIOp>(nl, t, indexConst(nb, nl, e));
    auto asIndex = [](OpBuilder &cb, Location cl, Value i) {
      return cb.create<arith::IndexCastOp>(cl, cb.getIndexType(), i);
    };
    auto score = [&](OpBuilder &cb, Location cl, Value i) -> Value {
      return cb.create<memref::LoadOp>(cl, k.operand(0),
                                       ValueRange{cb.create<arith::AddIOp>(
                                           cl, rowBase, asIndex(cb, cl, i))});
    };
    auto choice = [&](OpBuilder &cb, Location cl, Value i) -> Value {
      Value bias = cb.create<memref::LoadOp>(cl, k.operand(1),
                                             ValueRange{asIndex(cb, cl, i)});
      return cb.create<arith::AddFOp>(cl, score(cb, cl, i), bias);
    };
    // A group's score: the sum of its two best choices (0 + first + second,
    // as the unfused sum accumulates).
    auto groupScore = [&](OpBuilder &cb, Location cl, Value g) -> Value {
      RouteRow r{cb, cl, element};
      Value base = cb.create<arith::MulIOp>(cl, g, r.i64(n));
      auto member = [&](OpBuilder &mb, Location ml, Value i) {
        return choice(mb, ml, mb.create<arith::AddIOp>(ml, base, i));
      };
      auto [v1, i1] =
          r.bestAfter(n, floatConst(cb, cl, element, 0.0), r.i64(-1), member);
      Value v2 = r.bestAfter(n, v1, i1, member).first;
      Value sum =
          cb.create<arith::AddFOp>(cl, floatConst(cb, cl, element, 0.0), v1);
      return cb.create<arith::AddFOp>(cl, sum, v2);
    };

    // topk_group rounds over the groups, each pick added to the mask.
    ValueRange groupsPicked = forLoop(
        nb, nl, indexConst(nb, nl, 0), indexConst(nb, nl, kept),
        indexConst(nb, nl, 1),
        ValueRange{floatConst(nb, nl, element, 0.0), row.i64(-1), row.i64(0)},
        [&](OpBuilder &lb, Location ll, Value,
            ValueRange acc) -> SmallVector<Value> {
          RouteRow r{lb, ll, element};
          auto [v, g] = r.bestAfter(groups, acc[0], acc[1], groupScore);
          Value bit = lb.create<arith::ShLIOp>(ll, r.i64(1), g);
          return {v, g, lb.create<arith::OrIOp>(ll, acc[2], bit)};
        });
    Value mask = groupsPicked[2];

    // k rounds over the experts of the kept groups (the others are -inf);
    // each pick's score is its raw weight, summed in pick order.
    Value negInf =
        floatConst(nb, nl, element, -std::numeric_limits<double>::infinity());
    auto maskedChoice = [&](OpBuilder &cb, Location cl, Value i) -> Value {
      RouteRow r{cb, cl, element};
      Value g = cb.create<arith::DivSIOp>(cl, i, r.i64(n));
      Value bit = cb.create<arith::AndIOp>(
          cl, cb.create<arith::ShRUIOp>(cl, mask, g), r.i64(1));
      Value isKept = r.cmpi(arith::CmpIPredicate::ne, bit, r.i64(0));
      return r.pick(isKept, choice(cb, cl, i), negInf);
    };
    Value outBase = nb.create<arith::MulIOp>(nl, t, indexConst(nb, nl, topK));
    ValueRange picked = forLoop(
        nb, nl, indexConst(nb, nl, 0), indexConst(nb, nl, topK),
        indexConst(nb, nl, 1),
        ValueRange{floatConst(nb, nl, element, 0.0), row.i64(-1),
                   floatConst(nb, nl, element, 0.0)},
        [&](OpBuilder &lb, Location ll, Value j,
            ValueRange acc) -> SmallVector<Value> {
          RouteRow r{lb, ll, element};
          auto [v, expert] = r.bestAfter(e, acc[0], acc[1], maskedChoice);
          Value w = score(lb, ll, expert);
          Value at = lb.create<arith::AddIOp>(ll, outBase, j);
          lb.create<memref::StoreOp>(ll, expert, k.result(0), ValueRange{at});
          lb.create<memref::StoreOp>(ll, w, k.result(1), ValueRange{at});
          return {v, expert, lb.create<arith::AddFOp>(ll, acc[2], w)};
        });

    Value denominator = nb.create<arith::AddFOp>(
        nl, picked[2],
        floatConst(nb, nl, element, route.getEpsilon().convertToDouble()));
    Value scale =
        floatConst(nb, nl, element, route.getScaling().convertToDouble());
    forLoop(nb, nl, indexConst(nb, nl, 0), indexConst(nb, nl, topK),
            indexConst(nb, nl, 1), ValueRange{},
            [&](OpBuilder &lb, Location ll, Value j,
                ValueRange) -> SmallVector<Value> {
              Value at = lb.create<arith::AddIOp>(ll, outBase, j);
              Value w =
                  lb.create<memref::LoadOp>(ll, k.result(1), ValueRange{at});
              if (route.getNormalize())
                w = lb.create<arith::DivFOp>(ll, w, denominator);
              w = lb.create<arith::MulFOp>(ll, w, scale);
              lb.create<memref::StoreOp>(ll, w, k.result(1), ValueRange{at});
              return {};
            });
  });
  return absl::OkStatus();
}

} // namespace kiln::codegen::ptx
