//===- SortKernel.cpp - sort, argsort and top-k on the GPU ----------------===//
//
// Rows of up to kMaxBitonic elements: one block per row runs a bitonic network
// in shared memory over (key, index) pairs, the row padded to a power of two
// with entries that order after every real one. Ordering by (key, index) is a
// strict total order, so the network's result is exactly the stable sort the
// ops pin (ties keep index order; NaN is the largest value). Longer rows:
// argsort sorts its indices in place in global memory (chunks in shared
// memory, then merge steps across blocks; keys read through the indices); sort and top-k, which have no room for the
// indices in their results, let each element count the elements ordered before
// it (its rank) and write itself there, O(n) work per element.
//
//===----------------------------------------------------------------------===//

#include "codegen/ptx/DirectKernel.h"
#include "codegen/ptx/Scalars.h"

#include "ir/KilnOps.h"

#include "absl/strings/str_cat.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"

using namespace mlir;
namespace kir = kiln::ir;

namespace kiln::codegen::ptx {
namespace {

/// The longest row sorted in shared memory: 8192 x (8-byte key + 4-byte
/// index) = 96 KiB of the 227 KiB a Hopper block may have.
constexpr int64_t kMaxBitonic = 8192;

struct SortSpec {
  int64_t axis;
  bool descending;
  int valuesResult = -1, indicesResult = -1; // which results to write
  int64_t count;                             // output positions per row
};

SortSpec specOf(Operation *op) {
  auto xType = llvm::cast<RankedTensorType>(op->getOperand(0).getType());
  auto axisOf = [&](IntegerAttr attr) {
    return ir::normalizeAxis(attr.getInt(), xType.getRank());
  };
  if (auto sort = llvm::dyn_cast<kir::SortOp>(op)) {
    int64_t axis = axisOf(sort.getAxisAttr());
    return {axis, sort.getDescending(), 0, -1, xType.getDimSize(axis)};
  }
  if (auto argsort = llvm::dyn_cast<kir::ArgsortOp>(op)) {
    int64_t axis = axisOf(argsort.getAxisAttr());
    return {axis, argsort.getDescending(), -1, 0, xType.getDimSize(axis)};
  }
  auto topk = llvm::cast<kir::TopkOp>(op);
  return {xType.getRank() - 1, true, 0, 1, topk.getKAttr().getInt()};
}

/// The type keys are compared in: f32 for narrow floats, i32 for narrow
/// integers (i1 zero-extended so true > false), else the element type.
Type keyType(OpBuilder &b, Type element) {
  if (isFloat(element) || isF8(element))
    return computeType(b, isF8(element) ? b.getF32Type() : element);
  if (element.getIntOrFloatBitWidth() < 32)
    return b.getI32Type();
  return element;
}

Value toKey(OpBuilder &b, Location l, Value v, Type key) {
  if (v.getType().isInteger(1))
    return b.create<arith::ExtUIOp>(l, key, v);
  return convert(b, l, v, key);
}

/// True if (a, i) is ordered before (c, j): the ops' comparison, ties broken
/// by the lower index.
Value before(OpBuilder &b, Location l, Value a, Value i, Value c, Value j, bool descending) {
  Value lowerIndex = b.create<arith::CmpIOp>(l, arith::CmpIPredicate::slt, i, j);
  if (!isFloat(a.getType())) {
    auto strict = descending ? arith::CmpIPredicate::sgt : arith::CmpIPredicate::slt;
    Value s = b.create<arith::CmpIOp>(l, strict, a, c);
    Value eq = b.create<arith::CmpIOp>(l, arith::CmpIPredicate::eq, a, c);
    return b.create<arith::OrIOp>(l, s, b.create<arith::AndIOp>(l, eq, lowerIndex));
  }
  Value aNan = b.create<arith::CmpFOp>(l, arith::CmpFPredicate::UNO, a, a);
  Value cNan = b.create<arith::CmpFOp>(l, arith::CmpFPredicate::UNO, c, c);
  Value t = b.create<arith::ConstantOp>(l, b.getBoolAttr(true));
  Value notA = b.create<arith::XOrIOp>(l, aNan, t), notC = b.create<arith::XOrIOp>(l, cNan, t);
  // NaN is the largest value: first when descending, last when ascending.
  Value nanFirst = descending ? b.create<arith::AndIOp>(l, aNan, notC).getResult()
                              : b.create<arith::AndIOp>(l, notA, cNan).getResult();
  Value strict = b.create<arith::CmpFOp>(
      l, descending ? arith::CmpFPredicate::OGT : arith::CmpFPredicate::OLT, a, c);
  Value eq = b.create<arith::OrIOp>(
      l, b.create<arith::CmpFOp>(l, arith::CmpFPredicate::OEQ, a, c),
      b.create<arith::AndIOp>(l, aNan, cNan));
  return b.create<arith::OrIOp>(l, b.create<arith::OrIOp>(l, nanFirst, strict),
                                b.create<arith::AndIOp>(l, eq, lowerIndex));
}

/// The lower position of compare-exchange pair q at distance j = 2^jLog: q
/// with a 0 bit inserted at bit jLog (its partner is that | j).
Value pairLow(OpBuilder &b, Location l, Value q, Value j, Value jLog) {
  Value one = indexConst(b, l, 1);
  Value low = b.create<arith::AndIOp>(l, q, b.create<arith::SubIOp>(l, j, one));
  Value high = b.create<arith::ShLIOp>(l, b.create<arith::ShRUIOp>(l, q, jLog),
                                       b.create<arith::AddIOp>(l, jLog, one));
  return b.create<arith::OrIOp>(l, high, low);
}

/// Writes the element (key, index) that belongs at output position `pos`.
void writeOutput(OpBuilder &b, Location l, DirectKernels &k, const SortSpec &spec,
                 Value outBase, Value pos, Value key, Value index, int64_t inner) {
  Value flat = b.create<arith::AddIOp>(
      l, outBase, b.create<arith::MulIOp>(l, pos, indexConst(b, l, inner)));
  if (spec.valuesResult >= 0) {
    Value out = k.result(spec.valuesResult);
    Type element = llvm::cast<MemRefType>(out.getType()).getElementType();
    Value v = element.isInteger(1) ? b.create<arith::TruncIOp>(l, element, key).getResult()
                                   : convert(b, l, key, element);
    b.create<memref::StoreOp>(l, v, out, flat);
  }
  if (spec.indicesResult >= 0) {
    Value out = k.result(spec.indicesResult);
    Type element = llvm::cast<MemRefType>(out.getType()).getElementType();
    b.create<memref::StoreOp>(l, convert(b, l, index, element), out, flat);
  }
}

/// Position `p` of a row in the output layout (count positions per row).
Value outRowBase(OpBuilder &b, Location l, Value row, const AxisRows &r, int64_t count) {
  AxisRows outRows = r;
  outRows.n = count;
  return rowBase(b, l, row, outRows);
}

void buildBitonic(Operation *op, DirectKernels &k, const SortSpec &spec, const AxisRows &r) {
  OpBuilder probe(op->getContext());
  Type element = llvm::cast<RankedTensorType>(op->getOperand(0).getType()).getElementType();
  Type key = keyType(probe, element);
  int64_t padded = std::max<int64_t>(nextPowerOfTwo(r.n), 2);
  int64_t threads = std::clamp<int64_t>(padded / 2, 32, 1024);
  int64_t keyBytes = key.getIntOrFloatBitWidth() / 8;
  int64_t shared = padded * (keyBytes + 4);
  OpBuilder b = k.addKernel("bitonic", r.rows(), threads, shared);
  Location l = k.loc();
  Type i32 = b.getI32Type();
  auto workgroup = gpu::AddressSpaceAttr::get(b.getContext(), gpu::AddressSpace::Workgroup);
  Value dynamic = b.create<gpu::DynamicSharedMemoryOp>(
      l, MemRefType::get({ShapedType::kDynamic}, b.getI8Type(), MemRefLayoutAttrInterface(),
                         workgroup));
  Value keys = b.create<memref::ViewOp>(
      l, MemRefType::get({padded}, key, MemRefLayoutAttrInterface(), workgroup), dynamic,
      indexConst(b, l, 0), ValueRange{});
  Value indices = b.create<memref::ViewOp>(
      l, MemRefType::get({padded}, i32, MemRefLayoutAttrInterface(), workgroup), dynamic,
      indexConst(b, l, padded * keyBytes), ValueRange{});

  Value tid = threadIndex(b, l), row = blockIndex(b, l);
  Value x = k.operand(0);
  Value base = rowBase(b, l, row, r);
  Value n = indexConst(b, l, r.n), step = indexConst(b, l, threads);
  auto at = [&](OpBuilder &nb, Location nl, Value base, Value pos) -> Value {
    return nb.create<arith::AddIOp>(
        nl, base, nb.create<arith::MulIOp>(nl, pos, indexConst(nb, nl, r.inner)));
  };
  // Load the row; padding entries (index >= n) carry key 0 and sort last.
  forLoop(b, l, tid, indexConst(b, l, padded), step, {},
          [&](OpBuilder &nb, Location nl, Value p, ValueRange) {
            Value inRow = nb.create<arith::CmpIOp>(nl, arith::CmpIPredicate::ult, p, n);
            Value clamped = nb.create<arith::MinUIOp>(nl, p, indexConst(nb, nl, r.n - 1));
            Value v = toKey(nb, nl, nb.create<memref::LoadOp>(nl, x, at(nb, nl, base, clamped)),
                            key);
            Value zero = isFloat(key) ? floatConst(nb, nl, key, 0.0)
                                      : nb.create<arith::ConstantOp>(nl, nb.getIntegerAttr(key, 0))
                                            .getResult();
            nb.create<memref::StoreOp>(nl, nb.create<arith::SelectOp>(nl, inRow, v, zero), keys,
                                       p);
            nb.create<memref::StoreOp>(nl, nb.create<arith::IndexCastOp>(nl, i32, p), indices, p);
            return SmallVector<Value>{};
          });
  b.create<gpu::BarrierOp>(l);

  // (a, i) goes before (c, j): a real entry before padding, then the ops' order.
  auto less = [&](OpBuilder &nb, Location nl, Value a, Value i, Value c, Value j) -> Value {
    Value nI32 = nb.create<arith::ConstantOp>(nl, nb.getI32IntegerAttr(r.n));
    Value iReal = nb.create<arith::CmpIOp>(nl, arith::CmpIPredicate::slt, i, nI32);
    Value jPad = nb.create<arith::CmpIOp>(nl, arith::CmpIPredicate::sge, j, nI32);
    return nb.create<arith::AndIOp>(
        nl, iReal,
        nb.create<arith::OrIOp>(nl, jPad, before(nb, nl, a, i, c, j, spec.descending)));
  };
  // Stage s merges bitonic runs of 2^s; substep j compares entries j apart.
  int64_t logPadded = llvm::Log2_64(padded);
  Value one = indexConst(b, l, 1);
  forLoop(b, l, one, indexConst(b, l, logPadded + 1), one, {},
          [&](OpBuilder &sb, Location sl, Value s, ValueRange) {
            Value span = sb.create<arith::ShLIOp>(sl, one, s);
            forLoop(sb, sl, indexConst(sb, sl, 0), s, one, {},
                    [&](OpBuilder &jb, Location jl, Value rIv, ValueRange) {
                      Value jLog = jb.create<arith::SubIOp>(
                          jl, jb.create<arith::SubIOp>(jl, s, one), rIv);
                      Value j = jb.create<arith::ShLIOp>(jl, one, jLog);
                      forLoop(jb, jl, tid, indexConst(jb, jl, padded / 2), step, {},
                              [&](OpBuilder &qb, Location ql, Value q, ValueRange) {
                                Value t = pairLow(qb, ql, q, j, jLog);
                                Value u = qb.create<arith::OrIOp>(ql, t, j);
                                Value ascending = qb.create<arith::CmpIOp>(
                                    ql, arith::CmpIPredicate::eq,
                                    qb.create<arith::AndIOp>(ql, t, span),
                                    indexConst(qb, ql, 0));
                                Value kt = qb.create<memref::LoadOp>(ql, keys, t);
                                Value it = qb.create<memref::LoadOp>(ql, indices, t);
                                Value ku = qb.create<memref::LoadOp>(ql, keys, u);
                                Value iu = qb.create<memref::LoadOp>(ql, indices, u);
                                Value swap = qb.create<arith::SelectOp>(
                                    ql, ascending, less(qb, ql, ku, iu, kt, it),
                                    less(qb, ql, kt, it, ku, iu));
                                auto pick = [&](Value a, Value c) {
                                  return qb.create<arith::SelectOp>(ql, swap, a, c).getResult();
                                };
                                qb.create<memref::StoreOp>(ql, pick(ku, kt), keys, t);
                                qb.create<memref::StoreOp>(ql, pick(iu, it), indices, t);
                                qb.create<memref::StoreOp>(ql, pick(kt, ku), keys, u);
                                qb.create<memref::StoreOp>(ql, pick(it, iu), indices, u);
                                return SmallVector<Value>{};
                              });
                      jb.create<gpu::BarrierOp>(jl);
                      return SmallVector<Value>{};
                    });
            return SmallVector<Value>{};
          });

  Value outBase = outRowBase(b, l, row, r, spec.count);
  forLoop(b, l, tid, indexConst(b, l, spec.count), step, {},
          [&](OpBuilder &nb, Location nl, Value p, ValueRange) {
            writeOutput(nb, nl, k, spec, outBase, p, nb.create<memref::LoadOp>(nl, keys, p),
                        nb.create<memref::LoadOp>(nl, indices, p), r.inner);
            return SmallVector<Value>{};
          });
}

/// One thread per element: its rank is the number of row elements ordered
/// before it, and it lands there when the rank is inside the output.
void buildRankScatter(Operation *op, DirectKernels &k, const SortSpec &spec, const AxisRows &r) {
  constexpr int64_t kThreads = 256;
  int64_t total = r.rows() * r.n;
  OpBuilder b = k.addKernel("rank", (total + kThreads - 1) / kThreads, kThreads);
  Location l = k.loc();
  Type element = llvm::cast<RankedTensorType>(op->getOperand(0).getType()).getElementType();
  Type key = keyType(b, element), i64 = b.getI64Type();
  Value e = b.create<arith::AddIOp>(
      l, b.create<arith::MulIOp>(l, blockIndex(b, l), indexConst(b, l, kThreads)),
      threadIndex(b, l));
  Value inRange = b.create<arith::CmpIOp>(l, arith::CmpIPredicate::ult, e,
                                          indexConst(b, l, total));
  ifThen(b, l, inRange, [&](OpBuilder &nb, Location nl) {
    Value x = k.operand(0);
    Value row = nb.create<arith::DivUIOp>(nl, e, indexConst(nb, nl, r.n));
    Value p = nb.create<arith::RemUIOp>(nl, e, indexConst(nb, nl, r.n));
    Value base = rowBase(nb, nl, row, r);
    auto load = [&](OpBuilder &ib, Location il, Value pos) {
      Value flat = ib.create<arith::AddIOp>(
          il, base, ib.create<arith::MulIOp>(il, pos, indexConst(ib, il, r.inner)));
      return toKey(ib, il, ib.create<memref::LoadOp>(il, x, flat), key);
    };
    Value mine = load(nb, nl, p);
    Value myIndex = nb.create<arith::IndexCastOp>(nl, i64, p);
    Value rank = forLoop(nb, nl, indexConst(nb, nl, 0), indexConst(nb, nl, r.n),
                         indexConst(nb, nl, 1),
                         {nb.create<arith::ConstantOp>(nl, nb.getI64IntegerAttr(0)).getResult()},
                         [&](OpBuilder &ib, Location il, Value q, ValueRange acc) {
                           Value other = load(ib, il, q);
                           Value first = before(ib, il, other,
                                                ib.create<arith::IndexCastOp>(il, i64, q), mine,
                                                myIndex, spec.descending);
                           return SmallVector<Value>{ib.create<arith::AddIOp>(
                               il, acc[0], ib.create<arith::ExtUIOp>(il, i64, first))};
                         })[0];
    Value inside = nb.create<arith::CmpIOp>(
        nl, arith::CmpIPredicate::slt, rank,
        nb.create<arith::ConstantOp>(nl, nb.getI64IntegerAttr(spec.count)));
    ifThen(nb, nl, inside, [&](OpBuilder &wb, Location wl) {
      writeOutput(wb, wl, k, spec, outRowBase(wb, wl, row, r, spec.count),
                  wb.create<arith::IndexCastOp>(wl, wb.getIndexType(), rank), mine, myIndex,
                  r.inner);
    });
  });
}

/// argsort of rows longer than shared memory holds, sorted in place in the
/// result's indices (keys read through them, x[row, index]) by the bitonic
/// variant whose every comparison puts the earlier element at the lower
/// position (the first step of each merge pairs a span's halves mirror-wise).
/// The row counts as padded to a power of two with elements that order last;
/// those never move, so a pair whose upper position is past the row is skipped
/// and the padding needs no storage.
///
/// The network runs across many blocks: a first kernel sorts each chunk of
/// kArgsortChunk positions in shared memory; every later merge stage runs its
/// mirror step and its steps of distance >= kArgsortChunk as one grid-wide
/// kernel each (a thread per pair), and its remaining steps, which stay inside
/// a chunk, as one shared-memory kernel. A 24,576-element row takes 15 small
/// launches instead of one block walking all 120 steps.
constexpr int64_t kArgsortChunk = 2048;

void buildGlobalArgsort(Operation *op, DirectKernels &k, const SortSpec &spec,
                        const AxisRows &r) {
  constexpr int64_t kThreads = 1024;
  Type element = llvm::cast<RankedTensorType>(op->getOperand(0).getType()).getElementType();
  int64_t padded = nextPowerOfTwo(r.n);
  int64_t chunks = (r.n + kArgsortChunk - 1) / kArgsortChunk;
  int64_t logChunk = llvm::Log2_64(kArgsortChunk), logPadded = llvm::Log2_64(padded);
  auto slot = [&](OpBuilder &nb, Location nl, Value base, Value pos) -> Value {
    return nb.create<arith::AddIOp>(
        nl, base, nb.create<arith::MulIOp>(nl, pos, indexConst(nb, nl, r.inner)));
  };

  // A chunk in shared memory: load (initially its own positions), run the
  // network's steps that stay inside it, write the indices back.
  auto chunkKernel = [&](const std::string &suffix, bool first) {
    OpBuilder b = k.addKernel(suffix, r.rows() * chunks, kThreads);
    Location l = k.loc();
    Type key = keyType(b, element), i64 = b.getI64Type(), i32 = b.getI32Type();
    Value keys = k.addSharedBuffer({kArgsortChunk}, key);
    Value indices = k.addSharedBuffer({kArgsortChunk}, i32);
    Value x = k.operand(0), out = k.result(spec.indicesResult);
    Type outElement = llvm::cast<MemRefType>(out.getType()).getElementType();
    Value tid = threadIndex(b, l), bid = blockIndex(b, l);
    Value row = b.create<arith::DivUIOp>(l, bid, indexConst(b, l, chunks));
    Value first0 = b.create<arith::MulIOp>(
        l, b.create<arith::RemUIOp>(l, bid, indexConst(b, l, chunks)),
        indexConst(b, l, kArgsortChunk));
    Value inBase = rowBase(b, l, row, r);
    Value outBase = outRowBase(b, l, row, r, spec.count);
    // Real positions of this chunk: [0, count).
    Value count = b.create<arith::MinUIOp>(
        l, indexConst(b, l, kArgsortChunk),
        b.create<arith::SubIOp>(l, indexConst(b, l, r.n), first0));
    Value step = indexConst(b, l, kThreads);
    forLoop(b, l, tid, count, step, {}, [&](OpBuilder &nb, Location nl, Value p, ValueRange) {
      Value global = nb.create<arith::AddIOp>(nl, first0, p);
      Value index =
          first ? nb.create<arith::IndexCastOp>(nl, i64, global).getResult()
                : convert(nb, nl, nb.create<memref::LoadOp>(nl, out, slot(nb, nl, outBase, global)),
                          i64);
      Value at = nb.create<arith::IndexCastOp>(nl, nb.getIndexType(), index);
      nb.create<memref::StoreOp>(
          nl, toKey(nb, nl, nb.create<memref::LoadOp>(nl, x, slot(nb, nl, inBase, at)), key),
          keys, p);
      nb.create<memref::StoreOp>(nl, nb.create<arith::TruncIOp>(nl, i32, index), indices, p);
      return SmallVector<Value>{};
    });
    b.create<gpu::BarrierOp>(l);
    auto exchange = [&](OpBuilder &nb, Location nl, Value t, Value u) {
      ifThen(nb, nl, nb.create<arith::CmpIOp>(nl, arith::CmpIPredicate::ult, u, count),
             [&](OpBuilder &cb, Location cl) {
               Value kt = cb.create<memref::LoadOp>(cl, keys, t);
               Value ku = cb.create<memref::LoadOp>(cl, keys, u);
               Value it = cb.create<memref::LoadOp>(cl, indices, t);
               Value iu = cb.create<memref::LoadOp>(cl, indices, u);
               ifThen(cb, cl, before(cb, cl, ku, iu, kt, it, spec.descending),
                      [&](OpBuilder &wb, Location wl) {
                        wb.create<memref::StoreOp>(wl, ku, keys, t);
                        wb.create<memref::StoreOp>(wl, kt, keys, u);
                        wb.create<memref::StoreOp>(wl, iu, indices, t);
                        wb.create<memref::StoreOp>(wl, it, indices, u);
                      });
             });
    };
    Value one = indexConst(b, l, 1), pairs = indexConst(b, l, kArgsortChunk / 2);
    // Half-cleaners j = 2^(top-1), ..., 1.
    auto cleaners = [&](OpBuilder &cb, Location cl, Value top) {
      forLoop(cb, cl, indexConst(cb, cl, 0), top, one, {},
              [&](OpBuilder &jb, Location jl, Value rIv, ValueRange) {
                Value jLog = jb.create<arith::SubIOp>(
                    jl, jb.create<arith::SubIOp>(jl, top, one), rIv);
                Value j = jb.create<arith::ShLIOp>(jl, one, jLog);
                forLoop(jb, jl, tid, pairs, step, {},
                        [&](OpBuilder &qb, Location ql, Value q, ValueRange) {
                          Value t = pairLow(qb, ql, q, j, jLog);
                          exchange(qb, ql, t, qb.create<arith::OrIOp>(ql, t, j));
                          return SmallVector<Value>{};
                        });
                jb.create<gpu::BarrierOp>(jl);
                return SmallVector<Value>{};
              });
    };
    if (first) {
      // Stages 1..logChunk: mirror step, then half-cleaners.
      forLoop(b, l, one, indexConst(b, l, logChunk + 1), one, {},
              [&](OpBuilder &sb, Location sl, Value s, ValueRange) {
                Value span = sb.create<arith::ShLIOp>(sl, one, s);
                Value half = sb.create<arith::ShRUIOp>(sl, span, one);
                forLoop(sb, sl, tid, pairs, step, {},
                        [&](OpBuilder &qb, Location ql, Value q, ValueRange) {
                          Value block = qb.create<arith::DivUIOp>(ql, q, half);
                          Value o = qb.create<arith::RemUIOp>(ql, q, half);
                          Value start = qb.create<arith::MulIOp>(ql, block, span);
                          Value t = qb.create<arith::AddIOp>(ql, start, o);
                          Value u = qb.create<arith::SubIOp>(
                              ql, qb.create<arith::AddIOp>(ql, start, span),
                              qb.create<arith::AddIOp>(ql, o, one));
                          exchange(qb, ql, t, u);
                          return SmallVector<Value>{};
                        });
                sb.create<gpu::BarrierOp>(sl);
                cleaners(sb, sl, sb.create<arith::SubIOp>(sl, s, one));
                return SmallVector<Value>{};
              });
    } else {
      cleaners(b, l, indexConst(b, l, logChunk));
    }
    forLoop(b, l, tid, count, step, {}, [&](OpBuilder &nb, Location nl, Value p, ValueRange) {
      Value index = nb.create<arith::ExtSIOp>(nl, i64, nb.create<memref::LoadOp>(nl, indices, p));
      nb.create<memref::StoreOp>(nl, convert(nb, nl, index, outElement), out,
                                 slot(nb, nl, outBase, nb.create<arith::AddIOp>(nl, first0, p)));
      return SmallVector<Value>{};
    });
  };

  // One grid-wide step over all pairs: the mirror step of a span, or the
  // half-cleaner at distance j.
  auto gridStep = [&](const std::string &suffix, int64_t span, int64_t j) {
    int64_t blocksPerRow = std::max<int64_t>(1, padded / 2 / kThreads);
    OpBuilder b = k.addKernel(suffix, r.rows() * blocksPerRow, kThreads);
    Location l = k.loc();
    Type key = keyType(b, element), i64 = b.getI64Type();
    Value x = k.operand(0), out = k.result(spec.indicesResult);
    Type outElement = llvm::cast<MemRefType>(out.getType()).getElementType();
    Value bid = blockIndex(b, l);
    Value row = b.create<arith::DivUIOp>(l, bid, indexConst(b, l, blocksPerRow));
    Value q = b.create<arith::AddIOp>(
        l, b.create<arith::MulIOp>(l, b.create<arith::RemUIOp>(l, bid, indexConst(b, l, blocksPerRow)),
                                   indexConst(b, l, kThreads)),
        threadIndex(b, l));
    Value t, u;
    if (span > 0) {
      Value half = indexConst(b, l, span / 2);
      Value start = b.create<arith::MulIOp>(l, b.create<arith::DivUIOp>(l, q, half),
                                            indexConst(b, l, span));
      Value o = b.create<arith::RemUIOp>(l, q, half);
      t = b.create<arith::AddIOp>(l, start, o);
      u = b.create<arith::SubIOp>(l, b.create<arith::AddIOp>(l, start, indexConst(b, l, span - 1)),
                                  o);
    } else {
      t = pairLow(b, l, q, indexConst(b, l, j), indexConst(b, l, llvm::Log2_64(j)));
      u = b.create<arith::OrIOp>(l, t, indexConst(b, l, j));
    }
    Value inBase = rowBase(b, l, row, r);
    Value outBase = outRowBase(b, l, row, r, spec.count);
    ifThen(b, l, b.create<arith::CmpIOp>(l, arith::CmpIPredicate::ult, u, indexConst(b, l, r.n)),
           [&](OpBuilder &cb, Location cl) {
             Value at = slot(cb, cl, outBase, t), au = slot(cb, cl, outBase, u);
             Value it = convert(cb, cl, cb.create<memref::LoadOp>(cl, out, at), i64);
             Value iu = convert(cb, cl, cb.create<memref::LoadOp>(cl, out, au), i64);
             auto keyOf = [&](Value index) {
               Value pos = cb.create<arith::IndexCastOp>(cl, cb.getIndexType(), index);
               return toKey(cb, cl, cb.create<memref::LoadOp>(cl, x, slot(cb, cl, inBase, pos)),
                            key);
             };
             ifThen(cb, cl, before(cb, cl, keyOf(iu), iu, keyOf(it), it, spec.descending),
                    [&](OpBuilder &wb, Location wl) {
                      wb.create<memref::StoreOp>(wl, convert(wb, wl, iu, outElement), out, at);
                      wb.create<memref::StoreOp>(wl, convert(wb, wl, it, outElement), out, au);
                    });
           });
  };

  chunkKernel("chunk_sort", /*first=*/true);
  for (int64_t s = logChunk + 1; s <= logPadded; ++s) {
    int64_t span = int64_t{1} << s;
    gridStep(absl::StrCat("merge", s, "_mirror"), span, 0);
    for (int64_t j = span / 4; j >= kArgsortChunk; j /= 2)
      gridStep(absl::StrCat("merge", s, "_j", j), 0, j);
    chunkKernel(absl::StrCat("merge", s, "_chunk"), /*first=*/false);
  }
}

} // namespace

absl::Status buildSortKernels(Operation *op, DirectKernels &k) {
  SortSpec spec = specOf(op);
  auto shape = llvm::cast<RankedTensorType>(op->getOperand(0).getType()).getShape();
  AxisRows r = axisRows(shape, spec.axis);
  bool argsortOnly = spec.valuesResult < 0 && spec.count == r.n;
  if (r.n <= kMaxBitonic)
    buildBitonic(op, k, spec, r);
  else if (argsortOnly)
    buildGlobalArgsort(op, k, spec, r);
  else
    buildRankScatter(op, k, spec, r);
  return absl::OkStatus();
}

} // namespace kiln::codegen::ptx
