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
// Two MLIR 19 gaps shape the code: nvgpu.mma.sync rejects bf16 and
// nvvm.mma.sync types bf16 operands as f16 vectors (the intrinsic wants i32),
// so the mma instruction is emitted as inline PTX with i32 operands; and
// ldmatrix only moves bits, so bf16 data is viewed as f16 until the epilogue.
//
//===----------------------------------------------------------------------===//

#include "codegen/ptx/MmaMatmul.h"
#include "codegen/ptx/MatmulTiling.h"

#include "ir/KilnOps.h"

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
constexpr int64_t kPad = 8;     // elements added to each shared-memory row
constexpr int64_t kChunk = 8;   // elements per 16-byte cp.async
constexpr int64_t kTilesM = kWarpM / 16, kTilesN = kWarpN / 8;
constexpr int64_t kBandRows = 8; // row tiles per rasterisation band

/// Builds the kernel body; small helpers keep index arithmetic readable.
class MmaKernelEmitter {
public:
  MmaKernelEmitter(OpBuilder &b, Location loc, const MatmulGeometry &g) : b(b), loc(loc), g(g) {}

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
    for (int64_t s = 1; s + 1 < kStages; ++s)
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
          Value next = b.create<arith::AddIOp>(loc, kt, c(kStages - 1));
          loadStage(rem(next, c(kStages)), mul(next, c(kBlockK)));
          b.create<nvgpu::DeviceAsyncWaitOp>(loc, lastGroup, b.getI32IntegerAttr(kStages - 1));
          b.create<gpu::BarrierOp>(loc);
          SmallVector<Value> updated(acc.begin(), acc.end());
          Value stage = rem(kt, c(kStages));
          for (int64_t kk = 0; kk < kBlockK; kk += 16)
            multiplyStep(stage, kk, updated);
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
        g.transposeB
            ? copyTile(bm, c(g.b.rows), g.b.cols, batchB, smemB, stage, blockCol, k0, kBlockN, kBlockK)
            : copyTile(bm, c(g.b.rows), g.b.cols, batchB, smemB, stage, k0, blockCol, kBlockK, kBlockN);
    tokens.append(more);
    lastGroup = b.create<nvgpu::DeviceAsyncCreateGroupOp>(
        loc, nvgpu::DeviceAsyncTokenType::get(b.getContext()), tokens);
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
  void multiplyStep(Value stage, int64_t kk, SmallVector<Value> &acc) {
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
        fb.push_back(ldmatrix(smemB, stage, add(n0, add(lr, mul(matHigh, c(8)))),
                              add(c(kk), mul(matLow, c(8))), false));
      else
        fb.push_back(ldmatrix(smemB, stage, add(c(kk), add(lr, mul(matLow, c(8)))),
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
  Value lane, warpRow, warpCol, blockRow, blockCol, batchA, batchB;
  Value rowLimit, active;
  Value a, bm, smemA, smemB;
  Value lastGroup;
};

} // namespace

absl::Status buildMmaMatmul(Operation *op, ModuleOp module, const std::string &name) {
  auto grouped = llvm::dyn_cast<kir::GroupedMatmulOp>(op);
  MatmulGeometry g = grouped ? groupedGeometryOf(grouped) : geometryOf(llvm::cast<kir::MatmulOp>(op));
  MLIRContext *ctx = module.getContext();
  Location loc = op->getLoc();
  OpBuilder b(ctx);
  b.setInsertionPointToEnd(module.getBody());

  // bf16 operands are f16-typed bits for cp.async and ldmatrix (see the top).
  Type bits = b.getF16Type();
  SmallVector<Type> args = matmulKernelArgs(g, bits, op);
  auto workgroup = gpu::AddressSpaceAttr::get(ctx, gpu::AddressSpace::Workgroup);
  auto smemType = [&](int64_t rows, int64_t cols) {
    return MemRefType::get({kStages, rows, cols + kPad}, bits, MemRefLayoutAttrInterface(),
                           workgroup);
  };
  Type smemA = g.transposeA ? smemType(kBlockK, kBlockM) : smemType(kBlockM, kBlockK);
  Type smemB = g.transposeB ? smemType(kBlockN, kBlockK) : smemType(kBlockK, kBlockN);

  auto gpuModule = b.create<gpu::GPUModuleOp>(loc, name + "_module");
  OpBuilder kb(gpuModule.getBodyRegion());
  auto kernel = kb.create<gpu::GPUFuncOp>(loc, name + "_kernel",
                                          kb.getFunctionType(args, {}), TypeRange{},
                                          TypeRange{});
  kernel->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), kb.getUnitAttr());
  kernel.setKnownBlockSizeAttr(kb.getDenseI32ArrayAttr({kThreads, 1, 1}));
  kb.setInsertionPointToStart(&kernel.getBody().front());
  // The stages exceed the 48 KiB of static shared memory: both tiles are views
  // of the dynamic shared memory the launch asks for.
  auto bytesOf = [](Type t) { return llvm::cast<MemRefType>(t).getNumElements() * 2; };
  int64_t sharedBytes = bytesOf(smemA) + bytesOf(smemB);
  Value dynamic = kb.create<gpu::DynamicSharedMemoryOp>(
      loc, MemRefType::get({ShapedType::kDynamic}, kb.getI8Type(), MemRefLayoutAttrInterface(),
                           workgroup));
  auto view = [&](Type t, int64_t offset) -> Value {
    return kb.create<memref::ViewOp>(loc, t, dynamic,
                                     kb.create<arith::ConstantIndexOp>(loc, offset), ValueRange{});
  };
  Value tileA = view(smemA, 0), tileB = view(smemB, bytesOf(smemA));
  MmaKernelEmitter emitter(kb, loc, g);
  TilePlacement placement =
      grouped ? groupedTilePlacement(kb, loc, g, kernel.getArgument(2), kBlockM, kBlockN)
              : denseTilePlacement(kb, loc, g, kBlockM, kBlockN, kBandRows);
  emitter.emit(kernel.getArgument(0), kernel.getArgument(1), kernel.getArgument(args.size() - 1),
               tileA, tileB, placement);
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
  Value shared = b.create<arith::ConstantOp>(loc, b.getI32IntegerAttr(sharedBytes + 128));
  b.create<gpu::LaunchFuncOp>(loc, kernel, grid, block, shared, func.getArguments());
  b.create<func::ReturnOp>(loc);
  return absl::OkStatus();
}

} // namespace kiln::codegen::ptx
