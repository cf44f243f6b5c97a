//===- ReductionLoops.cpp - reductions and argmax -------------------------===//
//
// Loop-nest kernels of reductions: a warp or block per row where the rows
// are trailing and long (warpReduceRow, shared with the fused row kernels),
// a thread per output otherwise; argmax.
//
//===----------------------------------------------------------------------===//

#include "codegen/ptx/LoopNestBuilder.h"

#include "codegen/ptx/DirectKernel.h"

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

/// A reduction's combining step and identity in `compute`.
Value combineReduction(OpBuilder &nb, Location l, Operation *reduction, Value a,
                       Value x) {
  bool fp = isFloat(a.getType());
  if (llvm::isa<kir::MaxOp, kir::LogSumExpOp>(reduction))
    return fp ? Value(nb.create<arith::MaximumFOp>(l, a, x))
              : Value(nb.create<arith::MaxSIOp>(l, a, x));
  if (llvm::isa<kir::MinOp>(reduction))
    return fp ? Value(nb.create<arith::MinimumFOp>(l, a, x))
              : Value(nb.create<arith::MinSIOp>(l, a, x));
  return fp ? Value(nb.create<arith::AddFOp>(l, a, x))
            : Value(nb.create<arith::AddIOp>(l, a, x));
}

Value reductionIdentity(OpBuilder &nb, Location l, Operation *reduction,
                        Type compute) {
  bool fp = isFloat(compute);
  unsigned bits = compute.getIntOrFloatBitWidth();
  if (llvm::isa<kir::MaxOp, kir::LogSumExpOp>(reduction))
    return fp ? floatConst(nb, l, compute, -INFINITY)
              : Value(nb.create<arith::ConstantOp>(
                    l, nb.getIntegerAttr(compute,
                                         APInt::getSignedMinValue(bits))));
  if (llvm::isa<kir::MinOp>(reduction))
    return fp ? floatConst(nb, l, compute, INFINITY)
              : Value(nb.create<arith::ConstantOp>(
                    l, nb.getIntegerAttr(compute,
                                         APInt::getSignedMaxValue(bits))));
  return fp ? floatConst(nb, l, compute, 0.0)
            : Value(nb.create<arith::ConstantOp>(
                  l, nb.getIntegerAttr(compute, 0)));
}

int64_t rowLanes(int64_t cols, int64_t rows) {
  return cols >= kBlockRowMinCols ||
                 (cols >= kBlockRowFewCols && rows <= kBlockRowFewRows)
             ? kBlockRowLanes
             : 32;
}

SmallVector<Value> forEachStrided(
    OpBuilder &nb, Location l, Value lane, int64_t count, int64_t lanes,
    ValueRange init,
    const std::function<SmallVector<Value>(OpBuilder &, Location, Value)> &read,
    const std::function<SmallVector<Value>(OpBuilder &, Location, Value, Value,
                                           ArrayRef<Value>, ValueRange)> &use) {
  int64_t trips = (count + lanes - 1) / lanes; // the most any lane takes
  return forLoopUnrolled(nb, l, lane, indexConst(nb, l, count), lanes,
                         std::min(kRowUnroll, std::max<int64_t>(trips, 1)),
                         init, read, use);
}

/// The shared-memory slots of a block-per-row reduction: one value per warp,
/// a module global the kernel outlining carries into the gpu.module.
Value rowPartials(OpBuilder &nb, Location l, ModuleOp module, Type compute) {
  auto type = MemRefType::get(
      {kBlockRowLanes / 32}, compute, MemRefLayoutAttrInterface(),
      gpu::AddressSpaceAttr::get(nb.getContext(),
                                 gpu::AddressSpace::Workgroup));
  std::string name;
  llvm::raw_string_ostream os(name);
  os << "row_partials_" << compute;
  if (!module.lookupSymbol(name)) {
    OpBuilder gb(module.getBodyRegion());
    gb.create<memref::GlobalOp>(l, name, gb.getStringAttr("private"), type,
                                Attribute(),
                                /*constant=*/false, IntegerAttr());
  }
  return nb.create<memref::GetGlobalOp>(l, type, name);
}

/// `lanes` threads (rowLanes) reduce a row of `count` elements (`load` reads
/// element k in `compute`): lane j combines elements j, j + lanes, ..., then a
/// butterfly of shuffles combines each warp's lanes; a block-wide row then
/// combines the warps' values through `partials` in warp order. Every lane ends
/// with the row's value; mean divides and logsumexp makes its second, shifted
/// pass. The standalone reduction kernel and the row kernels share it, so
/// fusing a reduction into its consumer never changes a bit.
Value warpReduceRow(
    OpBuilder &nb, Location l, Operation *reduction, Value lane, int64_t count,
    int64_t lanes, Type compute,
    const std::function<Value(OpBuilder &, Location, Value)> &load,
    Value partials) {
  auto c = [&](int64_t v) -> Value {
    return nb.create<arith::ConstantIndexOp>(l, v);
  };
  auto pass = [&](Value init,
                  const std::function<Value(OpBuilder &, Location, Value)> &f,
                  const std::function<Value(OpBuilder &, Location, Value,
                                            Value)> &add) {
    // Elements past the row leave the value as it is (a select, not an
    // identity: adding +0 would turn a -0 sum into +0).
    Value acc = forEachStrided(
        nb, l, lane, count, lanes, ValueRange{init},
        [&](OpBuilder &ib, Location il, Value k) -> SmallVector<Value> {
          return {f(ib, il, load(ib, il, k))};
        },
        [&](OpBuilder &ib, Location il, Value, Value valid, ArrayRef<Value> x,
            ValueRange carried) -> SmallVector<Value> {
          return {ib.create<arith::SelectOp>(
              il, valid, add(ib, il, carried[0], x[0]), carried[0])};
        })[0];
    for (int32_t offset = 16; offset >= 1; offset /= 2) {
      auto shuffle =
          nb.create<gpu::ShuffleOp>(l, acc, offset, 32, gpu::ShuffleMode::XOR);
      acc = add(nb, l, acc, shuffle.getShuffleResult());
    }
    if (lanes == 32)
      return acc;
    Value warp = nb.create<arith::DivUIOp>(l, lane, c(32));
    Value first = nb.create<arith::CmpIOp>(
        l, arith::CmpIPredicate::eq, nb.create<arith::RemUIOp>(l, lane, c(32)),
        c(0));
    nb.create<scf::IfOp>(l, first, [&](OpBuilder &tb, Location tl) {
      tb.create<memref::StoreOp>(tl, acc, partials, ValueRange{warp});
      tb.create<scf::YieldOp>(tl);
    });
    nb.create<gpu::BarrierOp>(l);
    acc = nb.create<memref::LoadOp>(l, partials, ValueRange{c(0)});
    for (int64_t w = 1; w < lanes / 32; ++w)
      acc = add(nb, l, acc,
                nb.create<memref::LoadOp>(l, partials, ValueRange{c(w)}));
    // The slots are free again only once every warp has read them.
    nb.create<gpu::BarrierOp>(l);
    return acc;
  };
  auto same = [](OpBuilder &, Location, Value x) { return x; };
  auto combineFn = [&](OpBuilder &ib, Location il, Value a, Value x) {
    return combineReduction(ib, il, reduction, a, x);
  };
  Value acc =
      pass(reductionIdentity(nb, l, reduction, compute), same, combineFn);
  if (llvm::isa<kir::MeanOp>(reduction))
    acc = nb.create<arith::DivFOp>(
        l, acc, floatConst(nb, l, compute, static_cast<double>(count)));
  if (llvm::isa<kir::LogSumExpOp>(reduction)) {
    // Shift by the max (0 when the max is -inf, so -inf stays -inf).
    Value isInf =
        nb.create<arith::CmpFOp>(l, arith::CmpFPredicate::OEQ, acc,
                                 floatConst(nb, l, compute, -INFINITY));
    Value shift = nb.create<arith::SelectOp>(
        l, isInf, floatConst(nb, l, compute, 0.0), acc);
    Value sum = pass(
        floatConst(nb, l, compute, 0.0),
        [&](OpBuilder &ib, Location il, Value x) -> Value {
          return ib.create<math::ExpOp>(il,
                                        ib.create<arith::SubFOp>(il, x, shift));
        },
        [](OpBuilder &ib, Location il, Value a, Value x) -> Value {
          return ib.create<arith::AddFOp>(il, a, x);
        });
    acc = nb.create<arith::AddFOp>(l, nb.create<math::LogOp>(l, sum), shift);
  }
  return acc;
}

absl::Status LoopNestBuilder::buildWarpReduction(int64_t count, Type compute) {
  int64_t outputs = resultType().getNumElements();
  int64_t lanes = rowLanes(count, outputs);
  SmallVector<int64_t> inShape = canonicalShape(operandType(0).getShape());
  Value out = result(0);
  Type element = llvm::cast<MemRefType>(out.getType()).getElementType();
  b.create<scf::ParallelOp>(
      loc, ValueRange{indexConst(b, loc, 0)},
      ValueRange{indexConst(b, loc, outputs * lanes)},
      ValueRange{indexConst(b, loc, 1)},
      [&](OpBuilder &nb, Location l, ValueRange ivs) {
        Value row =
            nb.create<arith::DivUIOp>(l, ivs[0], indexConst(nb, l, lanes));
        Value lane =
            nb.create<arith::RemUIOp>(l, ivs[0], indexConst(nb, l, lanes));
        Value rowBase =
            nb.create<arith::MulIOp>(l, row, indexConst(nb, l, count));
        Value partials =
            lanes > 32
                ? rowPartials(nb, l, func->getParentOfType<ModuleOp>(), compute)
                : Value();
        Value acc = warpReduceRow(
            nb, l, op, lane, count, lanes, compute,
            [&](OpBuilder &ib, Location il, Value k) {
              Value flat = ib.create<arith::AddIOp>(il, rowBase, k);
              return loadAs(ib, il, 0, delinearize(ib, il, flat, inShape),
                            compute);
            },
            partials);
        Value first = nb.create<arith::CmpIOp>(l, arith::CmpIPredicate::eq,
                                               lane, indexConst(nb, l, 0));
        Value rounded = convert(nb, l, acc, element);
        nb.create<scf::IfOp>(l, first, [&](OpBuilder &tb, Location tl) {
          tb.create<memref::StoreOp>(tl, rounded, out, ValueRange{row});
          tb.create<scf::YieldOp>(tl);
        });
      });
  return absl::OkStatus();
}

absl::Status LoopNestBuilder::buildReduction() {
  auto xType = operandType(0);
  Type element = xType.getElementType();
  Type compute = computeType(b, element);
  auto axesAttr = op->getAttrOfType<DenseI64ArrayAttr>("axes");
  bool keepdims = op->getAttrOfType<BoolAttr>("keepdims").getValue();
  int64_t rank = xType.getRank();
  SmallVector<bool> reduced(rank, false);
  for (int64_t a : axesAttr.asArrayRef())
    reduced[normalizeAxis(a, rank)] = true;
  SmallVector<int64_t> sizes;
  int64_t count = 1;
  for (int64_t i = 0; i < rank; ++i)
    if (reduced[i]) {
      sizes.push_back(xType.getDimSize(i));
      count *= xType.getDimSize(i);
    }
  bool isLse = llvm::isa<kir::LogSumExpOp>(op);
  if (warpRowLength(op) > 0)
    return buildWarpReduction(count, compute);
  auto source = [&](ValueRange out, ValueRange ivs) {
    SmallVector<Value> src;
    unsigned kept = 0, red = 0;
    for (int64_t i = 0; i < rank; ++i) {
      if (reduced[i]) {
        src.push_back(ivs[red++]);
        if (keepdims)
          ++kept;
      } else {
        src.push_back(out[keepdims ? i : kept]);
        ++kept;
      }
    }
    return src;
  };
  indexed([&](OpBuilder &nb, Location l, ValueRange out) -> Value {
    Value acc = loops(
        nb, l, sizes, {reductionIdentity(nb, l, op, compute)},
        [&](OpBuilder &ib, Location il, ValueRange ivs, ValueRange a) {
          Value x = loadAs(ib, il, 0, source(out, ivs), compute);
          return SmallVector<Value>{combineReduction(ib, il, op, a[0], x)};
        })[0];
    if (llvm::isa<kir::MeanOp>(op))
      return nb.create<arith::DivFOp>(
          l, acc, floatConst(nb, l, compute, static_cast<double>(count)));
    if (!isLse)
      return acc;
    // logsumexp: shift by the max (0 when the max is -inf, so -inf stays -inf).
    Value isInf =
        nb.create<arith::CmpFOp>(l, arith::CmpFPredicate::OEQ, acc,
                                 floatConst(nb, l, compute, -INFINITY));
    Value shift = nb.create<arith::SelectOp>(
        l, isInf, floatConst(nb, l, compute, 0.0), acc);
    Value sum = loops(
        nb, l, sizes, {floatConst(nb, l, compute, 0.0)},
        [&](OpBuilder &ib, Location il, ValueRange ivs, ValueRange a) {
          Value x = loadAs(ib, il, 0, source(out, ivs), compute);
          Value e = ib.create<math::ExpOp>(
              il, ib.create<arith::SubFOp>(il, x, shift));
          return SmallVector<Value>{ib.create<arith::AddFOp>(il, a[0], e)};
        })[0];
    return nb.create<arith::AddFOp>(l, nb.create<math::LogOp>(l, sum), shift);
  });
  return absl::OkStatus();
}

absl::Status LoopNestBuilder::buildArgmax(int64_t axis, bool keepdims) {
  auto xType = operandType(0);
  int64_t rank = xType.getRank();
  axis = normalizeAxis(axis, rank);
  Type compute = computeType(b, xType.getElementType());
  bool fp = isFloat(compute);
  indexed([&](OpBuilder &nb, Location l, ValueRange out) -> Value {
    Value init =
        fp ? floatConst(nb, l, compute, -INFINITY)
           : Value(nb.create<arith::ConstantOp>(
                 l, nb.getIntegerAttr(compute,
                                      APInt::getSignedMinValue(
                                          compute.getIntOrFloatBitWidth()))));
    auto r = loops(
        nb, l, {xType.getDimSize(axis)}, {init, i64Const(nb, l, 0)},
        [&](OpBuilder &ib, Location il, ValueRange ivs, ValueRange a) {
          SmallVector<Value> src;
          for (int64_t d = 0, o = 0; d < rank; ++d) {
            if (d == axis) {
              src.push_back(ivs[0]);
              if (keepdims)
                ++o;
            } else {
              src.push_back(out[o++]);
            }
          }
          Value x = loadAs(ib, il, 0, src, compute);
          Value better;
          if (fp) {
            // NaN counts as the maximum; the first NaN wins.
            Value bestIsNan = ib.create<arith::CmpFOp>(
                il, arith::CmpFPredicate::UNO, a[0], a[0]);
            Value xIsNan =
                ib.create<arith::CmpFOp>(il, arith::CmpFPredicate::UNO, x, x);
            Value greater = ib.create<arith::CmpFOp>(
                il, arith::CmpFPredicate::OGT, x, a[0]);
            Value candidate = ib.create<arith::OrIOp>(il, greater, xIsNan);
            Value notNan = ib.create<arith::XOrIOp>(
                il, bestIsNan,
                ib.create<arith::ConstantOp>(il, ib.getBoolAttr(true)));
            better = ib.create<arith::AndIOp>(il, candidate, notNan);
          } else {
            better = ib.create<arith::CmpIOp>(il, arith::CmpIPredicate::sgt, x,
                                              a[0]);
          }
          return SmallVector<Value>{
              ib.create<arith::SelectOp>(il, better, x, a[0]),
              ib.create<arith::SelectOp>(il, better, toI64(ib, il, ivs[0]),
                                         a[1])};
        });
    return r[1];
  });
  return absl::OkStatus();
}

} // namespace kiln::codegen::ptx::loopnest
