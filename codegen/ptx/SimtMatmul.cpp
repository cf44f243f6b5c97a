//===- SimtMatmul.cpp - tiled matmul on the CUDA cores ---------------------===//
//
// The matmuls the tensor-core kernel does not take: f32 and f64 (tensor cores
// would round f32 to tf32), and bf16/f16 whose contiguous dims are not
// multiples of 8. A 256-thread block computes a 64 x 64 output tile (32 x 32
// where 64-wide tiles would be too few to fill the GPU); per step
// of 16 along K it stages the A and B tiles in shared memory (zero-filled past
// the edges, transposes resolved in the copy), and each thread accumulates a
// 4 x 4 (2 x 2) grid of outputs (rows ty + 16i, columns tx + 16j, so stores
// coalesce).
// Every output still sums its products in K order, in f32 (f64 for f64), as
// the one-thread-per-output kernel it replaces did, so results are unchanged.
// Few outputs over a long K take a warp per output instead (warp_dot).
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

constexpr int64_t kStep = 16, kSide = 16;
/// Blocks below which 64 x 64 tiles leave the GPU mostly idle (a [4096, 2048]
/// x [2048, 64] router makes 64): those matmuls take 32 x 32 tiles instead.
constexpr int64_t kMinBlocks = 264;

} // namespace

std::optional<MatmulShape> matmulShape(kir::MatmulOp matmul) {
  auto a = llvm::cast<RankedTensorType>(matmul.getA().getType());
  auto b = llvm::cast<RankedTensorType>(matmul.getB().getType());
  auto out = llvm::cast<RankedTensorType>(matmul.getResult().getType());
  int64_t rank = out.getRank();
  MatmulShape s{1, out.getDimSize(rank - 2), out.getDimSize(rank - 1),
                a.getDimSize(a.getRank() - (matmul.getTransposeA() ? 2 : 1)), false, false};
  for (int64_t i = 0; i + 2 < rank; ++i)
    s.batch *= out.getDimSize(i);
  // Each operand's batch dims are absent (shared by every batch) or the result's.
  auto batched = [&](RankedTensorType t) -> std::optional<bool> {
    if (t.getRank() == 2)
      return false;
    if (t.getRank() != rank)
      return std::nullopt;
    for (int64_t i = 0; i + 2 < rank; ++i)
      if (t.getDimSize(i) != out.getDimSize(i))
        return std::nullopt;
    return true;
  };
  std::optional<bool> aBatched = batched(a), bBatched = batched(b);
  if (!aBatched || !bBatched || s.m < 1 || s.n < 1 || s.k < 1)
    return std::nullopt;
  s.aBatched = *aBatched;
  s.bBatched = *bBatched;
  // A batched [batch, M, K] against one shared B is one [batch * M, K] matmul
  // over the same bytes (see MatmulTiling's geometryOf).
  if (s.aBatched && !s.bBatched && !matmul.getTransposeA() && s.batch > 1) {
    s.m *= s.batch;
    s.batch = 1;
    s.aBatched = false;
  }
  return s;
}

bool isSimtMatmul(Operation *op) {
  auto matmul = llvm::dyn_cast<kir::MatmulOp>(op);
  if (!matmul)
    return false;
  Type element = llvm::cast<RankedTensorType>(matmul.getResult().getType()).getElementType();
  return isFloat(element) && !isF8(element) && matmulShape(matmul).has_value();
}

kir::MatmulOp simtMatmulOf(Operation *root) {
  if (auto matmul = llvm::dyn_cast<kir::MatmulOp>(root))
    return matmul;
  auto sigmoid = llvm::dyn_cast_or_null<kir::SigmoidOp>(root);
  if (!sigmoid)
    return kir::MatmulOp();
  auto matmul = sigmoid->getOperand(0).getDefiningOp<kir::MatmulOp>();
  if (!matmul || !matmul->hasOneUse() ||
      matmul->getBlock() != sigmoid->getBlock() ||
      !llvm::cast<RankedTensorType>(matmul.getType()).getElementType().isF32())
    return kir::MatmulOp();
  return matmul;
}

namespace {

/// The value an output element stores: the f32 sum, through the root's
/// sigmoid where there is one.
Value epilogue(OpBuilder &b, Location l, Operation *root, Value value) {
  return llvm::isa<kir::SigmoidOp>(root) ? sigmoid(b, l, value) : value;
}

/// Few outputs over a long K (a router's [tokens, E] logits at decode time):
/// 64 x 64 tiles would leave all but a block or two idle while each walks K
/// step by step, so a warp computes each output instead: lanes take every
/// 32nd product, in f32 (f64), and a shuffle butterfly sums the lanes.
constexpr int64_t kWarpDotMaxOutputs = 16384, kWarpDotMinK = 256;

void buildWarpDotKernel(Operation *root, kir::MatmulOp matmul,
                        const MatmulShape &s, DirectKernels &k) {
  constexpr int64_t kWarps = 8;
  int64_t outputs = s.batch * s.m * s.n;
  OpBuilder b = k.addKernel("warp_dot", (outputs + kWarps - 1) / kWarps, kWarps * 32);
  Location l = k.loc();
  Type element = llvm::cast<RankedTensorType>(matmul.getResult().getType()).getElementType();
  Type compute = computeType(b, element);
  auto c = [&](OpBuilder &nb, int64_t v) { return indexConst(nb, l, v); };
  Value tid = threadIndex(b, l);
  Value lane = b.create<arith::RemUIOp>(l, tid, c(b, 32));
  Value o = b.create<arith::AddIOp>(l, b.create<arith::MulIOp>(l, blockIndex(b, l), c(b, kWarps)),
                                    b.create<arith::DivUIOp>(l, tid, c(b, 32)));
  // Whole warps leave together, so the butterfly sees all 32 lanes.
  ifThen(b, l, b.create<arith::CmpIOp>(l, arith::CmpIPredicate::ult, o, c(b, outputs)),
         [&](OpBuilder &nb, Location nl) {
           Value batch = nb.create<arith::DivUIOp>(nl, o, c(nb, s.m * s.n));
           Value r = nb.create<arith::RemUIOp>(nl, nb.create<arith::DivUIOp>(nl, o, c(nb, s.n)),
                                               c(nb, s.m));
           Value col = nb.create<arith::RemUIOp>(nl, o, c(nb, s.n));
           Value aBase = s.aBatched ? nb.create<arith::MulIOp>(nl, batch, c(nb, s.m * s.k)).getResult()
                                    : c(nb, 0);
           Value bBase = s.bBatched ? nb.create<arith::MulIOp>(nl, batch, c(nb, s.k * s.n)).getResult()
                                    : c(nb, 0);
           auto at = [&](OpBuilder &ib, Value base, Value i, Value j, int64_t rows, int64_t cols,
                         bool transposed) -> Value {
             Value flat = transposed
                              ? ib.create<arith::AddIOp>(nl, ib.create<arith::MulIOp>(nl, j, c(ib, rows)), i)
                              : ib.create<arith::AddIOp>(nl, ib.create<arith::MulIOp>(nl, i, c(ib, cols)), j);
             return ib.create<arith::AddIOp>(nl, base, flat);
           };
           ValueRange sum = forLoop(
               nb, nl, lane, c(nb, s.k), c(nb, 32), {floatConst(nb, nl, compute, 0.0)},
               [&](OpBuilder &ib, Location il, Value kk, ValueRange acc) {
                 Value a = convert(ib, il,
                                   ib.create<memref::LoadOp>(
                                       il, k.operand(0),
                                       ValueRange{at(ib, aBase, r, kk, s.m, s.k, matmul.getTransposeA())}),
                                   compute);
                 Value bv = convert(ib, il,
                                    ib.create<memref::LoadOp>(
                                        il, k.operand(1),
                                        ValueRange{at(ib, bBase, kk, col, s.k, s.n, matmul.getTransposeB())}),
                                    compute);
                 return SmallVector<Value>{
                     ib.create<arith::AddFOp>(il, acc[0], ib.create<arith::MulFOp>(il, a, bv))};
               });
           Value total = sum[0];
           for (int32_t offset = 16; offset >= 1; offset /= 2)
             total = nb.create<arith::AddFOp>(
                 nl, total, shuffle(nb, nl, total, offset, gpu::ShuffleMode::XOR));
           ifThen(nb, nl,
                  nb.create<arith::CmpIOp>(nl, arith::CmpIPredicate::eq, lane,
                                           c(nb, 0)),
                  [&](OpBuilder &wb, Location wl) {
                    wb.create<memref::StoreOp>(
                        wl,
                        epilogue(wb, wl, root, convert(wb, wl, total, element)),
                        k.result(0), ValueRange{o});
                  });
         });
}

} // namespace

absl::Status buildSimtMatmulKernels(Operation *op, DirectKernels &k) {
  kir::MatmulOp matmul = simtMatmulOf(op);
  if (!matmul || !isSimtMatmul(matmul))
    return absl::InvalidArgumentError(
        absl::StrCat("simt_matmul: no matmul the kernel runs at a '",
                     op->getName().getStringRef().str(), "' root"));
  MatmulShape s = *matmulShape(matmul);
  if (s.batch * s.m * s.n <= kWarpDotMaxOutputs && s.k >= kWarpDotMinK) {
    buildWarpDotKernel(op, matmul, s, k);
    return absl::OkStatus();
  }
  bool transposeA = matmul.getTransposeA(), transposeB = matmul.getTransposeB();
  auto tilesFor = [&](int64_t tile) {
    return ((s.m + tile - 1) / tile) * ((s.n + tile - 1) / tile) * s.batch;
  };
  const int64_t kTile = tilesFor(64) < kMinBlocks ? 32 : 64, kPer = kTile / kSide;
  int64_t mTiles = (s.m + kTile - 1) / kTile, nTiles = (s.n + kTile - 1) / kTile;
  OpBuilder b = k.addKernel("simt_matmul", nTiles * mTiles * s.batch, kSide * kSide);
  Location l = k.loc();
  Type element = llvm::cast<RankedTensorType>(matmul.getResult().getType()).getElementType();
  Type compute = computeType(b, element);
  auto c = [&](OpBuilder &nb, int64_t v) { return indexConst(nb, l, v); };
  // A staged as [k][m] and B as [k][n]: the inner loop reads a row of each.
  Value tileA = k.addSharedBuffer({kStep, kTile}, compute);
  Value tileB = k.addSharedBuffer({kStep, kTile}, compute);

  Value tid = threadIndex(b, l);
  Value tx = b.create<arith::RemUIOp>(l, tid, c(b, kSide));
  Value ty = b.create<arith::DivUIOp>(l, tid, c(b, kSide));
  Value block = blockIndex(b, l);
  Value nTile = b.create<arith::RemUIOp>(l, block, c(b, nTiles));
  Value mTile = b.create<arith::RemUIOp>(l, b.create<arith::DivUIOp>(l, block, c(b, nTiles)),
                                         c(b, mTiles));
  Value batch = b.create<arith::DivUIOp>(l, block, c(b, nTiles * mTiles));
  Value row0 = b.create<arith::MulIOp>(l, mTile, c(b, kTile));
  Value col0 = b.create<arith::MulIOp>(l, nTile, c(b, kTile));
  Value aBase = s.aBatched ? b.create<arith::MulIOp>(l, batch, c(b, s.m * s.k)).getResult()
                           : c(b, 0);
  Value bBase = s.bBatched ? b.create<arith::MulIOp>(l, batch, c(b, s.k * s.n)).getResult()
                           : c(b, 0);
  Value outBase = b.create<arith::MulIOp>(l, batch, c(b, s.m * s.n));
  Value aMem = k.operand(0), bMem = k.operand(1), out = k.result(0);
  Value zero = floatConst(b, l, compute, 0.0);

  // Element (i, j) of a logical rows x cols operand stored transposed or not,
  // 0 past the edges.
  auto loadOperand = [&](OpBuilder &nb, Location nl, Value mem, Value base, int64_t rows,
                         int64_t cols, bool transposed, Value i, Value j) -> Value {
    Value in = nb.create<arith::AndIOp>(
        nl, nb.create<arith::CmpIOp>(nl, arith::CmpIPredicate::ult, i, c(nb, rows)),
        nb.create<arith::CmpIOp>(nl, arith::CmpIPredicate::ult, j, c(nb, cols)));
    Value ic = nb.create<arith::MinUIOp>(nl, i, c(nb, rows - 1));
    Value jc = nb.create<arith::MinUIOp>(nl, j, c(nb, cols - 1));
    Value at = transposed
                   ? nb.create<arith::AddIOp>(nl, nb.create<arith::MulIOp>(nl, jc, c(nb, rows)), ic)
                   : nb.create<arith::AddIOp>(nl, nb.create<arith::MulIOp>(nl, ic, c(nb, cols)), jc);
    Value v = convert(nb, nl,
                      nb.create<memref::LoadOp>(
                          nl, mem, ValueRange{nb.create<arith::AddIOp>(nl, base, at).getResult()}),
                      compute);
    return nb.create<arith::SelectOp>(nl, in, v, zero);
  };
  auto loadA = [&](OpBuilder &nb, Location nl, Value r, Value kk) {
    return loadOperand(nb, nl, aMem, aBase, s.m, s.k, transposeA, r, kk);
  };
  auto loadB = [&](OpBuilder &nb, Location nl, Value kk, Value col) {
    return loadOperand(nb, nl, bMem, bBase, s.k, s.n, transposeB, kk, col);
  };

  SmallVector<Value> inits(kPer * kPer, zero);
  int64_t steps = (s.k + kStep - 1) / kStep;
  ValueRange acc = forLoop(
      b, l, c(b, 0), c(b, steps), c(b, 1), inits,
      [&](OpBuilder &nb, Location nl, Value step, ValueRange sums) {
        Value k0 = nb.create<arith::MulIOp>(nl, step, c(nb, kStep));
        // 1024 elements of each tile, 4 per thread. For A, consecutive threads
        // take consecutive k when K is contiguous (no transpose), else
        // consecutive rows; B likewise with columns.
        for (int64_t part = 0; part < kStep * kTile / (kSide * kSide); ++part) {
          Value e = nb.create<arith::AddIOp>(nl, tid, c(nb, part * kSide * kSide));
          Value fast = nb.create<arith::RemUIOp>(nl, e, c(nb, transposeA ? kTile : kStep));
          Value slow = nb.create<arith::DivUIOp>(nl, e, c(nb, transposeA ? kTile : kStep));
          Value kk = transposeA ? slow : fast, r = transposeA ? fast : slow;
          nb.create<memref::StoreOp>(
              nl, loadA(nb, nl, nb.create<arith::AddIOp>(nl, row0, r), nb.create<arith::AddIOp>(nl, k0, kk)),
              tileA, ValueRange{kk, r});
          Value fastB = nb.create<arith::RemUIOp>(nl, e, c(nb, transposeB ? kStep : kTile));
          Value slowB = nb.create<arith::DivUIOp>(nl, e, c(nb, transposeB ? kStep : kTile));
          Value kb = transposeB ? fastB : slowB, col = transposeB ? slowB : fastB;
          nb.create<memref::StoreOp>(
              nl, loadB(nb, nl, nb.create<arith::AddIOp>(nl, k0, kb), nb.create<arith::AddIOp>(nl, col0, col)),
              tileB, ValueRange{kb, col});
        }
        nb.create<gpu::BarrierOp>(nl);
        SmallVector<Value> next(sums.begin(), sums.end());
        for (int64_t kk = 0; kk < kStep; ++kk) {
          SmallVector<Value> as, bs;
          for (int64_t i = 0; i < kPer; ++i)
            as.push_back(nb.create<memref::LoadOp>(
                nl, tileA,
                ValueRange{c(nb, kk), nb.create<arith::AddIOp>(nl, ty, c(nb, kSide * i)).getResult()}));
          for (int64_t j = 0; j < kPer; ++j)
            bs.push_back(nb.create<memref::LoadOp>(
                nl, tileB,
                ValueRange{c(nb, kk), nb.create<arith::AddIOp>(nl, tx, c(nb, kSide * j)).getResult()}));
          for (int64_t i = 0; i < kPer; ++i)
            for (int64_t j = 0; j < kPer; ++j)
              next[i * kPer + j] = nb.create<arith::AddFOp>(
                  nl, next[i * kPer + j], nb.create<arith::MulFOp>(nl, as[i], bs[j]));
        }
        // The next step overwrites the tiles only after everyone has read them.
        nb.create<gpu::BarrierOp>(nl);
        return next;
      });

  for (int64_t i = 0; i < kPer; ++i)
    for (int64_t j = 0; j < kPer; ++j) {
      Value r = b.create<arith::AddIOp>(l, row0, b.create<arith::AddIOp>(l, ty, c(b, kSide * i)));
      Value col = b.create<arith::AddIOp>(l, col0, b.create<arith::AddIOp>(l, tx, c(b, kSide * j)));
      Value in = b.create<arith::AndIOp>(
          l, b.create<arith::CmpIOp>(l, arith::CmpIPredicate::ult, r, c(b, s.m)),
          b.create<arith::CmpIOp>(l, arith::CmpIPredicate::ult, col, c(b, s.n)));
      Value value = acc[i * kPer + j];
      ifThen(b, l, in, [&](OpBuilder &nb, Location nl) {
        Value at = nb.create<arith::AddIOp>(
            nl, outBase,
            nb.create<arith::AddIOp>(nl, nb.create<arith::MulIOp>(nl, r, c(nb, s.n)), col));
        nb.create<memref::StoreOp>(
            nl, epilogue(nb, nl, op, convert(nb, nl, value, element)), out,
            ValueRange{at});
      });
    }
  return absl::OkStatus();
}

} // namespace kiln::codegen::ptx
