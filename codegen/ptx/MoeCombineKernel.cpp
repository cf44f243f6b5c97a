//===- MoeCombineKernel.cpp - moe_combine without atomics or copies -------===//
//
// One thread per output element (t, h): it loads token t's k positions from
// slot, sorts them in registers (a compare-exchange network; k is a compile-
// time constant and small), and adds rows[p, h] in ascending p in f32 (f64
// for f64), rounding once. Coalesced across h; each routed row is read once
// and nothing is written but the result, where the decomposed form sorted,
// gathered a [T*k, H] copy and reduced it. The order is fixed, so the bits do
// not depend on scheduling. Where kiln-form-fusions fused the routing weights
// into its region (passes/WeightedCombine.h), each row is scaled as it is
// read, rounded where the separate kernel would have stored it.
//
//===----------------------------------------------------------------------===//

#include "codegen/ptx/DirectKernel.h"
#include "codegen/ptx/Scalars.h"
#include "passes/WeightedCombine.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"

using namespace mlir;
namespace kir = kiln::ir;

namespace kiln::codegen::ptx {
namespace {

/// Routed row `row`'s element `y` scaled by its routing weight as the fused
/// chain computes it: y cast to the product's type, times weights[order[row]]
/// (the gather clamps the index into range), the product cast to the rows'
/// type.
Value weightedRow(OpBuilder &b, Location l,
                  const passes::WeightedCombineRows &chain, DirectKernels &k,
                  Value y, Value row, int64_t pairs, Type rowsElement) {
  Value pair = convert(b, l, b.create<memref::LoadOp>(l, k.operand(1), row),
                       b.getI64Type());
  pair = b.create<arith::MinSIOp>(
      l,
      b.create<arith::MaxSIOp>(
          l, pair, b.create<arith::ConstantOp>(l, b.getI64IntegerAttr(0))),
      b.create<arith::ConstantOp>(l, b.getI64IntegerAttr(pairs - 1)));
  Value weight = b.create<memref::LoadOp>(
      l, k.operand(3),
      b.create<arith::IndexCastOp>(l, b.getIndexType(), pair).getResult());
  if (chain.castRows)
    y = convert(b, l, y, chain.product);
  Value product = b.create<arith::MulFOp>(l, y, weight);
  return chain.castProduct ? convert(b, l, product, rowsElement) : product;
}

} // namespace

absl::Status buildMoeCombineKernels(Operation *op,
                                    const passes::WeightedCombineRows *weighted,
                                    DirectKernels &k) {
  constexpr int64_t kThreads = 256;
  auto combine = llvm::cast<kir::MoeCombineOp>(op);
  auto rowsType = llvm::cast<RankedTensorType>(combine.getRows().getType());
  auto slotType = llvm::cast<RankedTensorType>(combine.getSlot().getType());
  int64_t pairs = rowsType.getDimSize(0), width = rowsType.getDimSize(1);
  int64_t tokens = slotType.getDimSize(0), topK = slotType.getDimSize(1);
  int64_t outputs = tokens * width;
  Type element = rowsType.getElementType();
  Type acc = element.isF64() ? Type(Float64Type::get(op->getContext()))
                             : Type(Float32Type::get(op->getContext()));

  OpBuilder b =
      k.addKernel("sum", (outputs + kThreads - 1) / kThreads, kThreads);
  Location l = k.loc();
  Value e = globalThreadIndex(b, l, kThreads);
  ifThen(
      b, l,
      b.create<arith::CmpIOp>(l, arith::CmpIPredicate::ult, e,
                              indexConst(b, l, outputs)),
      [&](OpBuilder &nb, Location nl) {
        Value t = nb.create<arith::DivUIOp>(nl, e, indexConst(nb, nl, width));
        Value h = nb.create<arith::RemUIOp>(nl, e, indexConst(nb, nl, width));
        Value base = nb.create<arith::MulIOp>(nl, t, indexConst(nb, nl, topK));
        SmallVector<Value> pos;
        for (int64_t j = 0; j < topK; ++j) {
          Value index =
              nb.create<arith::AddIOp>(nl, base, indexConst(nb, nl, j));
          pos.push_back(convert(
              nb, nl, nb.create<memref::LoadOp>(nl, k.operand(2), index),
              nb.getI64Type()));
        }
        // Ascending positions: the order moe_combine sums in.
        for (int64_t i = 0; i < topK; ++i)
          for (int64_t j = i + 1; j < topK; ++j) {
            Value lo = nb.create<arith::MinSIOp>(nl, pos[i], pos[j]);
            pos[j] = nb.create<arith::MaxSIOp>(nl, pos[i], pos[j]);
            pos[i] = lo;
          }
        Value zero64 =
            nb.create<arith::ConstantOp>(nl, nb.getI64IntegerAttr(0));
        Value sum = floatConst(nb, nl, acc, 0.0);
        for (Value p : pos) {
          // Positions outside the rows add nothing (read row 0, keep 0).
          Value valid = nb.create<arith::AndIOp>(
              nl,
              nb.create<arith::CmpIOp>(nl, arith::CmpIPredicate::sge, p,
                                       zero64),
              nb.create<arith::CmpIOp>(nl, arith::CmpIPredicate::slt, p,
                                       nb.create<arith::ConstantOp>(
                                           nl, nb.getI64IntegerAttr(pairs))));
          Value row = nb.create<arith::IndexCastOp>(
              nl, nb.getIndexType(),
              nb.create<arith::SelectOp>(nl, valid, p, zero64));
          Value flat = nb.create<arith::AddIOp>(
              nl, nb.create<arith::MulIOp>(nl, row, indexConst(nb, nl, width)),
              h);
          Value v = nb.create<memref::LoadOp>(nl, k.operand(0), flat);
          if (weighted) // rows[p] = y[p] * weights[order[p]], rounded as stored
            v = weightedRow(nb, nl, *weighted, k, v, row, pairs, element);
          v = convert(nb, nl, v, acc);
          v = nb.create<arith::SelectOp>(nl, valid, v,
                                         floatConst(nb, nl, acc, 0.0));
          sum = nb.create<arith::AddFOp>(nl, sum, v);
        }
        nb.create<memref::StoreOp>(nl, convert(nb, nl, sum, element),
                                   k.result(0), e);
      });
  return absl::OkStatus();
}

} // namespace kiln::codegen::ptx
