//===- MmaMatmul.cpp - bf16/f16 matmul on tensor cores (mma.sync) ---------===//
//
// One thread block of 4 warps computes a 128x128 tile of the output; each warp
// owns a 64x64 quarter as 4x8 mma tiles of 16x8 held in f32 registers. The K
// loop streams 128x32 tiles of both operands into shared memory with cp.async
// (three stages in dynamic shared memory: two tiles are in flight while one is
// multiplied), ldmatrix
// loads the fragments (with .trans where the operand's contiguous dim is M or
// N rather than K), and mma.sync.m16n8k16 multiplies them.
//
// Shared-memory rows are padded by 8 elements (16 bytes) so the eight row
// addresses of each ldmatrix fall in distinct bank groups. Out-of-range rows
// and columns are zero-filled by cp.async's source size, so any M, N, K works;
// only the contiguous dims need to be multiples of 8 (16-byte copies).
//
// With an int4 weight (mma_int4_matmul: B is kiln.dequantize of packed i4
// in groups along K, see isTensorCoreInt4Weight) each stage holds the
// tile's raw bytes and scales instead of bf16: thread t copies row t's 16
// bytes (32 nibbles) and its group's scale with cp.async, and once a stage
// has landed each thread dequantizes its row into the one bf16 tile the
// mma reads (f32(q) * scale rounded once, exactly as the dequantize op).
// The raw stages are a quarter of bf16's, so the int4 kernel keeps more in
// flight (kInt4Stages). At decode sizes it is bound by each K tile's fixed
// cost (three barriers, the dequantize, mma.sync over a 128-row tile of
// which 64 rows or fewer are real), not by the weight's bytes: M-sized
// tiles and split-K are what it needs (docs/PERFORMANCE.md).
//
// Two MLIR 19 gaps shape the code: nvgpu.mma.sync rejects bf16 and
// nvvm.mma.sync types bf16 operands as f16 vectors (the intrinsic wants i32),
// so the mma instruction is emitted as inline PTX with i32 operands; and
// ldmatrix only moves bits, so bf16 data is viewed as f16 until the epilogue.
//
//===----------------------------------------------------------------------===//

#include "codegen/ptx/MmaMatmul.h"
#include "codegen/ptx/MatmulTiling.h"

#include "ir/KilnOps.h"

#include <optional>

#include "absl/strings/str_cat.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/Builders.h"

using namespace mlir;
namespace kir = kiln::ir;

namespace kiln::codegen::ptx {
namespace {

constexpr int64_t kBlockM = 128, kBlockN = 128, kBlockK = 32;
constexpr int64_t kWarpM = 64, kWarpN = 64;
constexpr int64_t kThreads = 128; // 2 x 2 warps
constexpr int64_t kStages = 3;
constexpr int64_t kInt4Stages = 6;
constexpr int64_t kPad = 8;     // elements added to each shared-memory row
constexpr int64_t kChunk = 8;   // elements per 16-byte cp.async
constexpr int64_t kTilesM = kWarpM / 16, kTilesN = kWarpN / 8;
constexpr int64_t kBandRows = 8; // row tiles per rasterisation band

/// An int4 B operand: q as [batch, N, K / 8] i32 words (eight nibbles each,
/// element 2j in the low nibble of byte j), its f32 scales [batch, N,
/// ceil(K / group)], and the shared memory it passes through: per stage the
/// raw words (as i32 for cp.async and as one vector<4xi32> per row for the
/// load) and the scales, then the one bf16 tile (and its 16-byte view).
struct Int4Operand {
  Value q, scale;
  int64_t group;
  Value rawWords, rawRows, scales, tileChunks;
};

/// Builds the kernel body; small helpers keep index arithmetic readable.
class MmaKernelEmitter {
public:
  MmaKernelEmitter(OpBuilder &b, Location loc, const MatmulGeometry &g,
                   std::optional<Int4Operand> int4 = std::nullopt)
      : b(b), loc(loc), g(g), int4(int4), stages(int4 ? kInt4Stages : kStages) {
  }

  void emit(Value a, Value bm, Value out, Value smemA, Value smemB, const TilePlacement &p) {
    Value tid = b.create<gpu::ThreadIdOp>(loc, gpu::Dimension::x);
    Value warp = div(tid, c(32));
    lane = rem(tid, c(32));
    warpRow = mul(div(warp, c(2)), c(kWarpM));
    warpCol = mul(rem(warp, c(2)), c(kWarpN));
    blockRow = p.rowBase;
    rowLimit = p.rowLimit;
    active = p.active;
    blockCol = p.colBase;
    batchA = p.batchA;
    batchB = p.batchB;
    Value bz = p.batchOut;
    this->a = a;
    this->bm = bm;
    this->smemA = smemA;
    this->smemB = smemB;

    int64_t numK = (g.k + kBlockK - 1) / kBlockK;
    loadStage(c(0), c(0));
    // cp.async.wait_group counts groups; the token only orders the IR.
    Value prologueGroup = lastGroup;
    for (int64_t s = 1; s + 1 < stages; ++s)
      loadStage(c(s), c(s * kBlockK));
    SmallVector<Value> zeros(kTilesM * kTilesN * 4,
                             b.create<arith::ConstantOp>(loc, b.getF32FloatAttr(0.0f)));
    // Grouped blocks with no tile (or only zeros to write) skip the K loop.
    Value kSteps = active ? b.create<arith::SelectOp>(loc, active, c(numK), c(0)).getResult()
                          : c(numK);
    auto loop = b.create<scf::ForOp>(
        loc, c(0), kSteps, c(1), zeros,
        [&](OpBuilder &body, Location, Value kt, ValueRange acc) {
          OpBuilder::InsertionGuard guard(b);
          b.setInsertionPoint(body.getInsertionBlock(), body.getInsertionPoint());
          // Prefetch tile kt + S - 1 (zero-filled past K) into the stage freed
          // last iteration, then wait for all but the newest S - 1 groups:
          // tile kt has landed.
          Value next = b.create<arith::AddIOp>(loc, kt, c(stages - 1));
          loadStage(rem(next, c(stages)), mul(next, c(kBlockK)));
          b.create<nvgpu::DeviceAsyncWaitOp>(loc, lastGroup,
                                             b.getI32IntegerAttr(stages - 1));
          b.create<gpu::BarrierOp>(loc);
          SmallVector<Value> updated(acc.begin(), acc.end());
          Value stage = rem(kt, c(stages));
          Value stageB = stage;
          if (int4) {
            // The bf16 tile is whole before any warp reads it.
            dequantizeStage(stage);
            b.create<gpu::BarrierOp>(loc);
            stageB = c(0);
          }
          for (int64_t kk = 0; kk < kBlockK; kk += 16)
            multiplyStep(stage, stageB, kk, updated);
          // Everyone is done reading this stage before it is refilled.
          b.create<gpu::BarrierOp>(loc);
          b.create<scf::YieldOp>(loc, updated);
        });
    b.create<nvgpu::DeviceAsyncWaitOp>(loc, prologueGroup, b.getI32IntegerAttr(0));
    storeTiles(loop.getResults(), out, bz);
  }

private:
  Value c(int64_t v) { return b.create<arith::ConstantIndexOp>(loc, v); }
  Value add(Value x, Value y) { return b.create<arith::AddIOp>(loc, x, y); }
  Value mul(Value x, Value y) { return b.create<arith::MulIOp>(loc, x, y); }
  Value div(Value x, Value y) { return b.create<arith::DivUIOp>(loc, x, y); }
  Value rem(Value x, Value y) { return b.create<arith::RemUIOp>(loc, x, y); }
  Value minIndex(Value x, Value y) { return b.create<arith::MinUIOp>(loc, x, y); }
  Value less(Value x, Value y) {
    return b.create<arith::CmpIOp>(loc, arith::CmpIPredicate::ult, x, y);
  }

  /// Copies one tileRows x tileCols tile of `global` (storage order) at
  /// (row0, col0) into smem[stage] with 16-byte cp.async, zero-filling what
  /// lies outside the operand.
  SmallVector<Value> copyTile(Value global, Value rowLimit, int64_t cols, Value batch,
                              Value smem, Value stage, Value row0, Value col0, int64_t tileRows,
                              int64_t tileCols) {
    SmallVector<Value> tokens;
    int64_t chunksPerRow = tileCols / kChunk;
    int64_t perThread = tileRows * chunksPerRow / kThreads;
    Value tid = b.create<gpu::ThreadIdOp>(loc, gpu::Dimension::x);
    for (int64_t i = 0; i < perThread; ++i) {
      Value chunk = add(tid, c(i * kThreads));
      Value r = div(chunk, c(chunksPerRow));
      Value cc = mul(rem(chunk, c(chunksPerRow)), c(kChunk));
      Value row = add(row0, r), col = add(col0, cc);
      Value inside = b.create<arith::AndIOp>(loc, less(row, rowLimit), less(col, c(cols)));
      if (active)
        inside = b.create<arith::AndIOp>(loc, inside, active);
      Value srcElements = b.create<arith::SelectOp>(loc, inside, c(kChunk), c(0));
      // Clamped in-bounds even when nothing is read (a zero row limit included).
      Value lastRow = b.create<arith::SubIOp>(loc, b.create<arith::MaxUIOp>(loc, rowLimit, c(1)), c(1));
      SmallVector<Value> src{batch, minIndex(row, lastRow), minIndex(col, c(cols - kChunk))};
      SmallVector<Value> dst{stage, r, cc};
      tokens.push_back(b.create<nvgpu::DeviceAsyncCopyOp>(
          loc, nvgpu::DeviceAsyncTokenType::get(b.getContext()), smem, dst, global, src,
          b.getIndexAttr(kChunk), srcElements, b.getUnitAttr()));
    }
    return tokens;
  }

  void loadStage(Value stage, Value k0) {
    SmallVector<Value> tokens =
        g.transposeA
            ? copyTile(a, c(g.a.rows), g.a.cols, batchA, smemA, stage, k0, blockRow, kBlockK, kBlockM)
            : copyTile(a, rowLimit, g.a.cols, batchA, smemA, stage, blockRow, k0, kBlockM, kBlockK);
    SmallVector<Value> more =
        int4           ? copyInt4Rows(stage, k0)
        : g.transposeB ? copyTile(bm, c(g.b.rows), g.b.cols, batchB, smemB,
                                  stage, blockCol, k0, kBlockN, kBlockK)
                       : copyTile(bm, c(g.b.rows), g.b.cols, batchB, smemB,
                                  stage, k0, blockCol, kBlockK, kBlockN);
    tokens.append(more);
    lastGroup = b.create<nvgpu::DeviceAsyncCreateGroupOp>(
        loc, nvgpu::DeviceAsyncTokenType::get(b.getContext()), tokens);
  }

  /// Thread t copies the int4 tile's row t (output column blockCol + t):
  /// 16 bytes of q, k0 .. k0 + 31, and the scale of their group (K and the
  /// group size are multiples of kBlockK, so a tile is in one group).
  /// Rows past N and tiles past K are zero-filled.
  SmallVector<Value> copyInt4Rows(Value stage, Value k0) {
    static_assert(kBlockN == kThreads, "one int4 row per thread");
    auto token = nvgpu::DeviceAsyncTokenType::get(b.getContext());
    Value tid = b.create<gpu::ThreadIdOp>(loc, gpu::Dimension::x);
    Value n = add(blockCol, tid);
    Value inside =
        b.create<arith::AndIOp>(loc, less(n, c(g.n)), less(k0, c(g.k)));
    if (active)
      inside = b.create<arith::AndIOp>(loc, inside, active);
    Value row = minIndex(n, c(g.n - 1));
    Value kClamped = minIndex(k0, c(g.k - kBlockK));
    Value word = div(kClamped, c(8));
    Value group = div(kClamped, c(int4->group));
    Value words = b.create<nvgpu::DeviceAsyncCopyOp>(
        loc, token, int4->rawWords, ValueRange{stage, tid, c(0)}, int4->q,
        ValueRange{batchB, row, word}, b.getIndexAttr(4),
        b.create<arith::SelectOp>(loc, inside, c(4), c(0)), b.getUnitAttr());
    Value scale = b.create<nvgpu::DeviceAsyncCopyOp>(
        loc, token, int4->scales, ValueRange{stage, tid}, int4->scale,
        ValueRange{batchB, row, group}, b.getIndexAttr(1),
        b.create<arith::SelectOp>(loc, inside, c(1), c(0)), UnitAttr());
    return {words, scale};
  }

  /// Thread t dequantizes row t of `stage`'s raw int4 tile into the bf16
  /// tile: each nibble sign-extended, times the row's scale in f32, rounded
  /// once to the element type, as kiln.dequantize computes it.
  void dequantizeStage(Value stage) {
    Value tid = b.create<gpu::ThreadIdOp>(loc, gpu::Dimension::x);
    Type i8 = b.getI8Type();
    auto bytesType = VectorType::get({16}, i8);
    Value raw =
        b.create<memref::LoadOp>(loc, int4->rawRows, ValueRange{stage, tid});
    Value bytes = b.create<vector::BitCastOp>(loc, bytesType, raw);
    Attribute fourBits = b.getI8IntegerAttr(4);
    Value four = b.create<arith::ConstantOp>(
        loc, DenseElementsAttr::get(bytesType, fourBits));
    Value low = b.create<arith::ShRSIOp>(
        loc, b.create<arith::ShLIOp>(loc, bytes, four), four);
    Value high = b.create<arith::ShRSIOp>(loc, bytes, four);
    SmallVector<int64_t> interleave;
    for (int64_t j = 0; j < 16; ++j) {
      interleave.push_back(j);
      interleave.push_back(16 + j);
    }
    Value nibbles = b.create<vector::ShuffleOp>(loc, low, high, interleave);
    auto f32s = VectorType::get({kBlockK}, b.getF32Type());
    Value values = b.create<arith::SIToFPOp>(loc, f32s, nibbles);
    Value scale =
        b.create<memref::LoadOp>(loc, int4->scales, ValueRange{stage, tid});
    Value scaled = b.create<arith::MulFOp>(
        loc, values, b.create<vector::BroadcastOp>(loc, f32s, scale));
    Value rounded = b.create<arith::TruncFOp>(
        loc, VectorType::get({kBlockK}, g.element), scaled);
    Value bits = b.create<vector::BitCastOp>(
        loc, VectorType::get({kBlockK}, b.getF16Type()), rounded);
    for (int64_t j = 0; j < kBlockK / kChunk; ++j) {
      Value chunk = b.create<vector::ExtractStridedSliceOp>(
          loc, bits, ArrayRef<int64_t>{j * kChunk}, ArrayRef<int64_t>{kChunk},
          ArrayRef<int64_t>{1});
      b.create<memref::StoreOp>(loc, chunk, int4->tileChunks,
                                ValueRange{c(0), tid, c(j)});
    }
  }

  /// ldmatrix.x4 at smem[stage][row][col]: four 8x8 b16 matrices, one i32
  /// (two elements) per thread each.
  SmallVector<Value> ldmatrix(Value smem, Value stage, Value row, Value col, bool transpose) {
    auto f16 = b.getF16Type();
    Value m = b.create<nvgpu::LdMatrixOp>(loc, VectorType::get({4, 2}, f16), smem,
                                          ValueRange{stage, row, col}, transpose, 4);
    Value words = b.create<vector::BitCastOp>(loc, VectorType::get({4, 1}, b.getI32Type()), m);
    SmallVector<Value> regs;
    for (int64_t i = 0; i < 4; ++i)
      regs.push_back(b.create<vector::ExtractOp>(loc, words, ArrayRef<int64_t>{i, 0}));
    return regs;
  }

  /// One k16 step: fragments of A (4 m16 tiles) and B (8 n8 tiles) for this
  /// warp, then 32 mma.sync into the accumulators.
  void multiplyStep(Value stage, Value stageB, int64_t kk,
                    SmallVector<Value> &acc) {
    Value lr = rem(lane, c(8)), mat = div(lane, c(8));
    Value matLow = rem(mat, c(2)), matHigh = div(mat, c(2));
    SmallVector<SmallVector<Value>> fa, fb;
    for (int64_t mi = 0; mi < kTilesM; ++mi) {
      Value m0 = add(warpRow, c(mi * 16));
      // Matrices 0..3 of the A fragment: (m0-7,k0-7) (m8-15,k0-7) (m0-7,k8-15) (m8-15,k8-15).
      if (!g.transposeA)
        fa.push_back(ldmatrix(smemA, stage, add(m0, add(lr, mul(matLow, c(8)))),
                              add(c(kk), mul(matHigh, c(8))), false));
      else
        fa.push_back(ldmatrix(smemA, stage, add(c(kk), add(lr, mul(matHigh, c(8)))),
                              add(m0, mul(matLow, c(8))), true));
    }
    for (int64_t p = 0; p < kTilesN / 2; ++p) {
      Value n0 = add(warpCol, c(p * 16));
      // Matrices: (k0-7,n0-7) (k8-15,n0-7) (k0-7,n8-15) (k8-15,n8-15).
      if (g.transposeB)
        fb.push_back(ldmatrix(smemB, stageB,
                              add(n0, add(lr, mul(matHigh, c(8)))),
                              add(c(kk), mul(matLow, c(8))), false));
      else
        fb.push_back(ldmatrix(smemB, stageB,
                              add(c(kk), add(lr, mul(matLow, c(8)))),
                              add(n0, mul(matHigh, c(8))), true));
    }
    Type f32 = b.getF32Type();
    auto resultType = LLVM::LLVMStructType::getLiteral(b.getContext(), {f32, f32, f32, f32});
    std::string instruction = absl::StrCat(
        "mma.sync.aligned.m16n8k16.row.col.f32.", g.element.isBF16() ? "bf16.bf16" : "f16.f16",
        ".f32 {$0,$1,$2,$3}, {$4,$5,$6,$7}, {$8,$9}, {$10,$11,$12,$13};");
    for (int64_t mi = 0; mi < kTilesM; ++mi)
      for (int64_t nj = 0; nj < kTilesN; ++nj) {
        const SmallVector<Value> &pair = fb[nj / 2];
        int64_t base = (mi * kTilesN + nj) * 4;
        SmallVector<Value> operands(fa[mi].begin(), fa[mi].end());
        operands.push_back(pair[(nj % 2) * 2]);
        operands.push_back(pair[(nj % 2) * 2 + 1]);
        for (int64_t i = 0; i < 4; ++i)
          operands.push_back(acc[base + i]);
        auto asmOp = b.create<LLVM::InlineAsmOp>(
            loc, resultType, operands, instruction, "=f,=f,=f,=f,r,r,r,r,r,r,0,1,2,3",
            /*has_side_effects=*/false, /*is_align_stack=*/false,
            LLVM::AsmDialectAttr::get(b.getContext(), LLVM::AsmDialect::AD_ATT),
            /*operand_attrs=*/ArrayAttr());
        for (int64_t i = 0; i < 4; ++i)
          acc[base + i] = b.create<LLVM::ExtractValueOp>(loc, asmOp.getResult(0), i);
      }
  }

  /// Accumulator i of tile (mi, nj) sits at row lane/4 (+8 for i >= 2) and
  /// column 2 * (lane % 4) + i % 2 of the tile; rounded once to the element type.
  void storeTiles(ValueRange acc, Value out, Value bz) {
    Value rowInTile = div(lane, c(4)), colInTile = mul(rem(lane, c(4)), c(2));
    for (int64_t mi = 0; mi < kTilesM; ++mi)
      for (int64_t nj = 0; nj < kTilesN; ++nj)
        for (int64_t i = 0; i < 4; ++i) {
          Value row = add(add(blockRow, warpRow), add(c(mi * 16 + (i / 2) * 8), rowInTile));
          Value col = add(add(blockCol, warpCol), add(c(nj * 8 + i % 2), colInTile));
          Value inside = b.create<arith::AndIOp>(loc, less(row, rowLimit), less(col, c(g.n)));
          Value v = acc[(mi * kTilesN + nj) * 4 + i];
          b.create<scf::IfOp>(loc, inside, [&](OpBuilder &then, Location) {
            OpBuilder::InsertionGuard guard(b);
            b.setInsertionPoint(then.getInsertionBlock(), then.getInsertionPoint());
            Value rounded = b.create<arith::TruncFOp>(loc, g.element, v);
            b.create<memref::StoreOp>(loc, rounded, out, ValueRange{bz, row, col});
            b.create<scf::YieldOp>(loc);
          });
        }
  }

  OpBuilder &b;
  Location loc;
  const MatmulGeometry &g;
  std::optional<Int4Operand> int4;
  int64_t stages;
  Value lane, warpRow, warpCol, blockRow, blockCol, batchA, batchB;
  Value rowLimit, active;
  Value a, bm, smemA, smemB;
  Value lastGroup;
};

} // namespace

namespace {

/// The kernel and its launching function for `op`, whose B is read from
/// `int4Weight`'s packed int4 and scales when that is set.
absl::Status buildMmaKernel(Operation *op, kir::DequantizeOp int4Weight,
                            ModuleOp module, const std::string &name) {
  auto grouped = llvm::dyn_cast<kir::GroupedMatmulOp>(op);
  MatmulGeometry g = grouped ? groupedGeometryOf(grouped) : geometryOf(llvm::cast<kir::MatmulOp>(op));
  MLIRContext *ctx = module.getContext();
  Location loc = op->getLoc();
  OpBuilder b(ctx);
  b.setInsertionPointToEnd(module.getBody());

  // bf16 operands are f16-typed bits for cp.async and ldmatrix (see the top).
  Type bits = b.getF16Type();
  SmallVector<Type> args = matmulKernelArgs(g, bits, op);
  int64_t groupSize = 0;
  if (int4Weight) {
    // B's bytes as i32 words and its scales replace the bf16 B.
    groupSize = int4Weight.getBlock().back();
    Type i32 = b.getI32Type();
    args[1] = MemRefType::get({g.b.batch, g.b.rows, g.b.cols / 8}, i32);
    args.insert(args.begin() + 2,
                MemRefType::get({g.b.batch, g.b.rows,
                                 (g.b.cols + groupSize - 1) / groupSize},
                                b.getF32Type()));
  }
  int64_t stages = int4Weight ? kInt4Stages : kStages;
  auto workgroup = gpu::AddressSpaceAttr::get(ctx, gpu::AddressSpace::Workgroup);
  auto smemType = [&](int64_t count, int64_t rows, int64_t cols) {
    return MemRefType::get({count, rows, cols + kPad}, bits,
                           MemRefLayoutAttrInterface(), workgroup);
  };
  auto shared = [&](ArrayRef<int64_t> shape, Type element) {
    return MemRefType::get(shape, element, MemRefLayoutAttrInterface(),
                           workgroup);
  };
  Type smemA = g.transposeA ? smemType(stages, kBlockK, kBlockM)
                            : smemType(stages, kBlockM, kBlockK);
  // The int4 kernel's mma reads one bf16 tile, dequantized from the stages.
  Type smemB = int4Weight     ? smemType(1, kBlockN, kBlockK)
               : g.transposeB ? smemType(stages, kBlockN, kBlockK)
                              : smemType(stages, kBlockK, kBlockN);

  auto gpuModule = b.create<gpu::GPUModuleOp>(loc, name + "_module");
  OpBuilder kb(gpuModule.getBodyRegion());
  auto kernel = kb.create<gpu::GPUFuncOp>(loc, name + "_kernel",
                                          kb.getFunctionType(args, {}), TypeRange{},
                                          TypeRange{});
  kernel->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), kb.getUnitAttr());
  kernel.setKnownBlockSizeAttr(kb.getDenseI32ArrayAttr({kThreads, 1, 1}));
  kb.setInsertionPointToStart(&kernel.getBody().front());
  // The stages exceed the 48 KiB of static shared memory: every tile is a
  // view of the dynamic shared memory the launch asks for.
  auto bytesOf = [](Type t) {
    auto m = llvm::cast<MemRefType>(t);
    Type e = m.getElementType();
    int64_t elementBytes =
        llvm::isa<VectorType>(e)
            ? llvm::cast<VectorType>(e).getNumElements() *
                  llvm::cast<VectorType>(e).getElementTypeBitWidth() / 8
            : e.getIntOrFloatBitWidth() / 8;
    return m.getNumElements() * elementBytes;
  };
  Value dynamic = kb.create<gpu::DynamicSharedMemoryOp>(
      loc, MemRefType::get({ShapedType::kDynamic}, kb.getI8Type(), MemRefLayoutAttrInterface(),
                           workgroup));
  int64_t sharedBytes = 0;
  auto view = [&](Type t, int64_t offset) -> Value {
    return kb.create<memref::ViewOp>(loc, t, dynamic,
                                     kb.create<arith::ConstantIndexOp>(loc, offset), ValueRange{});
  };
  auto allocate = [&](Type t) -> Value {
    Value v = view(t, sharedBytes);
    sharedBytes += bytesOf(t);
    return v;
  };
  Value tileA = allocate(smemA);
  Value tileB = view(smemB, sharedBytes);
  std::optional<Int4Operand> int4;
  if (int4Weight) {
    // Two views of the bf16 tile: f16 elements for ldmatrix, 16-byte chunks
    // for the dequantized rows' stores (each row is kBlockK + kPad wide).
    Value tileChunks = view(shared({1, kBlockN, (kBlockK + kPad) / kChunk},
                                   VectorType::get({kChunk}, bits)),
                            sharedBytes);
    sharedBytes += bytesOf(smemB);
    int4 = Int4Operand{
        kernel.getArgument(1),
        kernel.getArgument(2),
        groupSize,
        view(shared({stages, kBlockN, 4}, kb.getI32Type()), sharedBytes),
        view(shared({stages, kBlockN}, VectorType::get({4}, kb.getI32Type())),
             sharedBytes),
        Value(),
        tileChunks};
    sharedBytes += stages * kBlockN * 16;
    int4->scales = allocate(shared({stages, kBlockN}, kb.getF32Type()));
  } else {
    sharedBytes += bytesOf(smemB);
  }
  MmaKernelEmitter emitter(kb, loc, g, int4);
  // Offsets follow a (and b, or q and its scales).
  Value offsets = grouped ? kernel.getArgument(int4Weight ? 3 : 2) : Value();
  TilePlacement placement =
      grouped ? groupedTilePlacement(kb, loc, g, offsets, kBlockM, kBlockN)
              : denseTilePlacement(kb, loc, g, kBlockM, kBlockN, kBandRows);
  emitter.emit(kernel.getArgument(0),
               int4Weight ? Value() : kernel.getArgument(1),
               kernel.getArgument(args.size() - 1), tileA, tileB, placement);
  kb.create<gpu::ReturnOp>(loc);

  // The host side: one launch over (N tiles, M tiles, batch); a grouped launch
  // has enough row tiles for any split of T rows into E groups plus the tail.
  auto func = b.create<func::FuncOp>(loc, name, b.getFunctionType(args, {}));
  b.setInsertionPointToStart(func.addEntryBlock());
  auto idx = [&](int64_t v) -> Value { return b.create<arith::ConstantIndexOp>(loc, v); };
  int64_t rowTiles = grouped ? groupedRowTiles(g, kBlockM) : (g.m + kBlockM - 1) / kBlockM;
  gpu::KernelDim3 grid{idx((g.n + kBlockN - 1) / kBlockN), idx(rowTiles), idx(g.batch)};
  gpu::KernelDim3 block{idx(kThreads), idx(1), idx(1)};
  // MLIR places the dynamic region behind a one-byte static symbol: 128 bytes
  // of slack keep every view inside what the launch reserves.
  Value sharedSize =
      b.create<arith::ConstantOp>(loc, b.getI32IntegerAttr(sharedBytes + 128));
  b.create<gpu::LaunchFuncOp>(loc, kernel, grid, block, sharedSize,
                              func.getArguments());
  b.create<func::ReturnOp>(loc);
  return absl::OkStatus();
}

} // namespace

absl::Status buildMmaMatmul(Operation *op, ModuleOp module,
                            const std::string &name) {
  return buildMmaKernel(op, kir::DequantizeOp(), module, name);
}

absl::Status buildMmaInt4Matmul(Operation *op, ModuleOp module,
                                const std::string &name) {
  return buildMmaKernel(
      op, op->getOperand(1).getDefiningOp<kir::DequantizeOp>(), module, name);
}

} // namespace kiln::codegen::ptx
