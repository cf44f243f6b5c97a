//===- IndexingLoops.cpp - gathers, one_hot, updates ----------------------===//
//
// Loop-nest kernels of the indexing ops: gathers (row gathers move 16
// bytes a thread), take_along_axis, one_hot, dynamic_update_slice and the
// exact gather-style scatter_add of the types without atomic adds.
//
//===----------------------------------------------------------------------===//

#include "codegen/ptx/LoopNestBuilder.h"

#include "absl/strings/str_cat.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

using namespace mlir;
namespace kir = kiln::ir;

namespace kiln::codegen::ptx::loopnest {

absl::Status LoopNestBuilder::buildGather(int64_t axis) {
  auto xType = operandType(0);
  auto idxType = operandType(1);
  axis = normalizeAxis(axis, xType.getRank());
  int64_t idxRank = idxType.getRank();
  int64_t bits = xType.getElementType().getIntOrFloatBitWidth();
  if (axis == 0 && idxRank == 1 && xType.getRank() == 2 && bits >= 8 &&
      bits % 8 == 0 && (xType.getDimSize(1) * bits / 8) % 16 == 0)
    return buildRowGather(16 / (bits / 8));
  indexed([&](OpBuilder &nb, Location l, ValueRange out) -> Value {
    SmallVector<Value> idxPos;
    for (int64_t i = 0; i < idxRank; ++i)
      idxPos.push_back(out[axis + i]);
    if (idxRank == 0)
      idxPos.push_back(nb.create<arith::ConstantIndexOp>(l, 0));
    Value index = nb.create<memref::LoadOp>(l, arg(1), idxPos);
    SmallVector<Value> src;
    for (int64_t d = 0; d < axis; ++d)
      src.push_back(out[d]);
    src.push_back(clampIndex(nb, l, index, xType.getDimSize(axis)));
    for (int64_t d = axis + 1; d < xType.getRank(); ++d)
      src.push_back(out[d - 1 + idxRank]);
    return nb.create<memref::LoadOp>(l, arg(0), src);
  });
  return absl::OkStatus();
}

absl::Status LoopNestBuilder::buildRowGather(int64_t vec) {
  auto xType = operandType(0);
  int64_t rows = operandType(1).getDimSize(0), cols = xType.getDimSize(1);
  int64_t chunks = cols / vec;
  Value out = result(0);
  b.create<scf::ParallelOp>(
      loc, ValueRange{indexConst(b, loc, 0)},
      ValueRange{indexConst(b, loc, rows * chunks)},
      ValueRange{indexConst(b, loc, 1)},
      [&](OpBuilder &nb, Location l, ValueRange ivs) {
        // Inside the loop, so the assumptions move into the outlined kernel.
        nb.create<memref::AssumeAlignmentOp>(l, arg(0), 16);
        nb.create<memref::AssumeAlignmentOp>(l, out, 16);
        Value row =
            nb.create<arith::DivUIOp>(l, ivs[0], indexConst(nb, l, chunks));
        Value col = nb.create<arith::MulIOp>(
            l, nb.create<arith::RemUIOp>(l, ivs[0], indexConst(nb, l, chunks)),
            indexConst(nb, l, vec));
        Value source = clampIndex(
            nb, l, nb.create<memref::LoadOp>(l, arg(1), ValueRange{row}),
            xType.getDimSize(0));
        SmallVector<Value> values;
        for (int64_t j = 0; j < vec; ++j)
          values.push_back(nb.create<memref::LoadOp>(
              l, arg(0),
              ValueRange{source, nb.create<arith::AddIOp>(
                                     l, col, indexConst(nb, l, j))}));
        Value first = nb.create<arith::AddIOp>(
            l, nb.create<arith::MulIOp>(l, row, indexConst(nb, l, cols)), col);
        for (int64_t j = 0; j < vec; ++j)
          nb.create<memref::StoreOp>(l, values[j], out,
                                     ValueRange{nb.create<arith::AddIOp>(
                                         l, first, indexConst(nb, l, j))});
      });
  return absl::OkStatus();
}

absl::Status LoopNestBuilder::buildTakeAlongAxis(int64_t axis) {
  auto xType = operandType(0);
  axis = normalizeAxis(axis, xType.getRank());
  indexed([&](OpBuilder &nb, Location l, ValueRange out) -> Value {
    Value index = nb.create<memref::LoadOp>(l, arg(1), out);
    SmallVector<Value> src(out.begin(), out.end());
    src[axis] = clampIndex(nb, l, index, xType.getDimSize(axis));
    return nb.create<memref::LoadOp>(l, arg(0), src);
  });
  return absl::OkStatus();
}

absl::Status LoopNestBuilder::buildOneHot() {
  auto idxType = operandType(0);
  indexed([&](OpBuilder &nb, Location l, ValueRange out) -> Value {
    SmallVector<Value> pos(out.begin(), out.begin() + idxType.getRank());
    Value index = loadAs(nb, l, 0, pos, nb.getI64Type());
    Value hit = nb.create<arith::CmpIOp>(l, arith::CmpIPredicate::eq, index,
                                         toI64(nb, l, out[idxType.getRank()]));
    return convert(nb, l, hit, resultType().getElementType());
  });
  return absl::OkStatus();
}

absl::Status LoopNestBuilder::buildDynamicUpdateSlice() {
  auto xType = operandType(0), uType = operandType(1);
  int64_t rank = xType.getRank();
  if (rank == 0) {
    // The update covers the whole scalar (there are no start indices).
    indexed([&](OpBuilder &nb, Location l, ValueRange out) -> Value {
      return nb.create<memref::LoadOp>(l, arg(1), out);
    });
    return absl::OkStatus();
  }
  indexed([&](OpBuilder &nb, Location l, ValueRange out) -> Value {
    Value inside = nb.create<arith::ConstantOp>(l, nb.getBoolAttr(true));
    SmallVector<Value> src;
    for (int64_t d = 0; d < rank; ++d) {
      // XLA clamps the start so the update stays inside x.
      Value start = loadAs(nb, l, 2, {indexConst(nb, l, d)}, nb.getI64Type());
      Value hi = i64Const(nb, l, xType.getDimSize(d) - uType.getDimSize(d));
      start = nb.create<arith::MinSIOp>(
          l, nb.create<arith::MaxSIOp>(l, start, i64Const(nb, l, 0)), hi);
      Value local = nb.create<arith::SubIOp>(l, toI64(nb, l, out[d]), start);
      Value ge = nb.create<arith::CmpIOp>(l, arith::CmpIPredicate::sge, local,
                                          i64Const(nb, l, 0));
      Value lt = nb.create<arith::CmpIOp>(l, arith::CmpIPredicate::slt, local,
                                          i64Const(nb, l, uType.getDimSize(d)));
      inside = nb.create<arith::AndIOp>(l, inside,
                                        nb.create<arith::AndIOp>(l, ge, lt));
      src.push_back(
          clampIndex(nb, l, local, std::max<int64_t>(uType.getDimSize(d), 1)));
    }
    Type element = xType.getElementType();
    Value fromUpdate = nb.create<memref::LoadOp>(l, arg(1), src);
    Value fromX = nb.create<memref::LoadOp>(l, arg(0), out);
    (void)element;
    return nb.create<arith::SelectOp>(l, inside, fromUpdate, fromX);
  });
  return absl::OkStatus();
}

absl::Status LoopNestBuilder::buildScatterAdd(int64_t axis) {
  auto xType = operandType(0), idxType = operandType(1);
  int64_t rank = xType.getRank(), idxRank = idxType.getRank();
  axis = normalizeAxis(axis, rank);
  Type compute = computeType(b, xType.getElementType());
  SmallVector<int64_t> sizes(idxType.getShape());
  if (sizes.empty())
    sizes.push_back(1);
  indexed([&](OpBuilder &nb, Location l, ValueRange out) -> Value {
    Value init =
        loadAs(nb, l, 0, SmallVector<Value>(out.begin(), out.end()), compute);
    Value target = toI64(nb, l, out[axis]);
    return loops(nb, l, sizes, {init},
                 [&](OpBuilder &ib, Location il, ValueRange ivs, ValueRange a) {
                   Value index = loadAs(ib, il, 1, SmallVector<Value>(ivs),
                                        ib.getI64Type());
                   Value hit = ib.create<arith::CmpIOp>(
                       il, arith::CmpIPredicate::eq, index, target);
                   SmallVector<Value> upd;
                   for (int64_t d = 0; d < axis; ++d)
                     upd.push_back(out[d]);
                   for (int64_t k = 0; k < idxRank; ++k)
                     upd.push_back(ivs[k]);
                   for (int64_t d = axis + 1; d < rank; ++d)
                     upd.push_back(out[d]);
                   Value u = loadAs(ib, il, 2, upd, compute);
                   Value sum = addOf(ib, il, a[0], u);
                   return SmallVector<Value>{
                       ib.create<arith::SelectOp>(il, hit, sum, a[0])};
                 })[0];
  });
  return absl::OkStatus();
}

} // namespace kiln::codegen::ptx::loopnest
