//===- WgmmaMatmul.cpp - bf16/f16 matmul on Hopper (wgmma + TMA) ----------===//
//
// One thread block of three warpgroups computes a 128 x BN output tile (BN =
// 256, or 128 or 64 where wider tiles would leave multiprocessors idle):
//
//  - warpgroup 0 is the producer: one thread walks K in steps of 64 and, for
//    each step, waits until a shared-memory stage is free (its "empty"
//    mbarrier), announces the stage's bytes on its "full" mbarrier, and issues
//    bulk tensor copies of the A and B tiles into it. Tiles are 128-byte
//    swizzled, the layout wgmma reads without bank conflicts; copies past the
//    operand's edge come back as zeros, so any M, N, K works.
//  - warpgroups 1 and 2 are consumers, each owning 64 rows: they wait on the
//    stage's full barrier, issue four wgmma.m64nBNk16 over it (f32
//    accumulators in registers), keep one group in flight, and free the stage
//    of the previous step once its group has completed.
//
// Operands are read in their storage order: A's rows run along M (K-major) or
// it is stored transposed (M-major), and likewise B; wgmma's transpose flags
// take the M/N-major cases, which only 16-bit types allow. The shared-memory
// matrix descriptors follow the canonical 128B-swizzle layouts: K-major tiles
// are rows of 64 elements (128 bytes) with 8-row groups 1024 bytes apart;
// M/N-major tiles are 64-element-wide chunks of 64 K rows (8 KiB each), 8-row
// K groups 1024 bytes apart and chunks 8 KiB apart.
//
// kiln.scaled_matmul (fp8, DeepSeek-V3's recipe) runs on the same pipeline
// with both operands K-major float8: a stage is 128 K elements (still 128
// bytes a row), four wgmma.m64nBNk32 of e4m3/e5m2, BN = 128 (or 64) so the
// tile lies in one 128-wide block of b's scales. Tensor cores accumulate in
// reduced precision over long K, so each stage's product goes to a temporary
// accumulator (scale-d off for the first k32 slice) that is promoted once per
// stage on the CUDA cores: acc += tmp * (scale_a[row, kb] * scale_b[nb, kb]),
// the op's per-128-K promotion (b's scale per column instead of per block
// for the weight gradient, whose operands are both activations in 1 x 128
// tiles). The consumer waits for its group before promoting; the other
// consumer's wgmma runs meanwhile (DeepGEMM's scheme).
//
// grouped_matmul "contract" (dw[e] = x_e^T dy_e) is a batch of such matmuls,
// one per group, each with K running over its group's rows; both operands are
// then M/N-major, and the copies of a group's last K tile, which may run into
// the next group's rows, have those rows zeroed in shared memory.
//
// Tensor maps travel as 128-byte kernel parameters (PtxCodegen declares them);
// the executor encodes them from the buffers' addresses at launch.
//
//===----------------------------------------------------------------------===//

#include "codegen/ptx/WgmmaMatmul.h"

#include "codegen/AttrEncoding.h"
#include "codegen/ptx/HopperAsm.h"
#include "codegen/ptx/MatmulTiling.h"
#include "codegen/ptx/Scalars.h"
#include "passes/GatedMatmuls.h"

#include "absl/strings/str_cat.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

using namespace mlir;
namespace kir = kiln::ir;

namespace kiln::codegen::ptx {
namespace {

constexpr int64_t kBlockM = 128;     // two consumer warpgroups of 64 rows
// A stage's K extent in bytes (the swizzle span), and its wgmma k16 (16-bit)
// or k32 (8-bit) slices.
constexpr int64_t kRowBytes = 128;
constexpr int64_t kSlices = 4;
constexpr int64_t kConsumers = 2;
constexpr int64_t kThreads = 128 * (1 + kConsumers);
constexpr int64_t kChunkBytes = 64 * kRowBytes;   // 64 rows of one stage's K
constexpr int64_t kSharedBudget = 220 * 1024;     // of the 227 KiB a block may have
constexpr int64_t kBandRows = 8;
constexpr int64_t kMultiprocessors = 132; // an H100/H200 SXM
// The fewest K steps a block of a split keeps, and the most blocks a split
// takes, where kiln-select-kernels chooses it (wgmmaSplitK).
constexpr int64_t kMinSplitSteps = 10, kMaxAutoSplitK = 4;
// Per-thread register budgets after setmaxnreg: 128 x 40 + 256 x 232 fits the
// 64K registers of one multiprocessor.
constexpr int64_t kProducerRegisters = 40, kConsumerRegisters = 232;

/// K elements per stage: 64 of a 16-bit type, 128 of float8.
int64_t stageK(Type element) {
  return kRowBytes / (element.getIntOrFloatBitWidth() / 8);
}

/// K steps of a dense matmul (the last may be partial).
int64_t kStepsOf(const MatmulGeometry &g) {
  return (g.k + stageK(g.element) - 1) / stageK(g.element);
}

/// K steps of one split's share: every split but the last takes this many.
int64_t splitShare(const MatmulGeometry &g, int64_t splitK) {
  return (kStepsOf(g) + splitK - 1) / splitK;
}

/// How one operand's tile sits in shared memory and is copied there.
struct OperandTile {
  bool kMajor;     // storage rows run along M/N and each row holds K
  int64_t extent;  // tile rows along M (A) or N (B)
  int64_t bytes() const { return extent * kRowBytes; }
  /// Boxes per stage: one extent x stageK box when K-major, else 64-wide
  /// chunks (16-bit types only).
  int64_t boxes() const { return kMajor ? 1 : extent / 64; }
};

/// scaled_matmul's scale buffers (kernel arguments): a's [M, Kb], one per row
/// and K block; b's [Nb, Kb], one per 128 x 128 block, or with `bPerColumn`
/// [N, Kb], one per column and K block (the weight gradient's 1 x 128 tiles).
struct BlockScales {
  Value a, b;
  bool bPerColumn;
};

/// moe_gate_up's A operand: tile row p is token order[p] / topK of `tokens`
/// ([T, K] rows in memory), which the producer warpgroup's 128 threads copy
/// a row each (cp.async into the 128-byte swizzle TMA would write): no
/// gathered copy of the rows exists.
struct GatheredRows {
  Value tokens, order;
  int64_t topK, tokenCount;
};

class WgmmaEmitter {
public:
  /// `bMaps` B operands (2: moe_gate_up's gate and up, multiplied by the
  /// same A tile into two accumulator sets) follow A's tensor map, or are
  /// the only ones when A is `gathered`.
  WgmmaEmitter(OpBuilder &b, Location loc, const MatmulGeometry &g,
               int64_t blockN, int64_t stages,
               std::optional<BlockScales> scales, int64_t splitK,
               int64_t bMaps = 1,
               std::optional<GatheredRows> gathered = std::nullopt)
      : b(b), loc(loc), g(g), blockN(blockN), stages(stages),
        blockK(stageK(g.element)), splitK(splitK), bMaps(bMaps), scales(scales),
        gathered(gathered), tileA{!g.transposeA, kBlockM}, tileB{g.transposeB,
                                                                 blockN} {}

  /// The output is [M, batch, N] (transposedStoreOf), not [batch, M, N].
  bool transposedStore = false;

  /// `outs`: the product, or moe_gate_up's (act, gate, up).
  void emit(const std::string &kernel, int firstMapParam, ValueRange outs,
            const TilePlacement &p) {
    Value tid = b.create<gpu::ThreadIdOp>(loc, gpu::Dimension::x);
    Value dynamic = b.create<gpu::DynamicSharedMemoryOp>(
        loc, MemRefType::get({ShapedType::kDynamic}, b.getI8Type(), MemRefLayoutAttrInterface(),
                             gpu::AddressSpaceAttr::get(b.getContext(),
                                                        gpu::AddressSpace::Workgroup)));
    // Swizzled tiles need 1024-byte alignment; the launch reserves the slack.
    Value base = hopper::sharedAddress(b, loc, dynamic);
    base = b.create<arith::AndIOp>(loc, b.create<arith::AddIOp>(loc, base, i32(1023)),
                                   i32(~int64_t{1023}));
    smemA = base;
    smemB = add32(base, i32(stages * tileA.bytes()));
    barriers = add32(smemB, i32(stages * bMaps * tileB.bytes()));
    exchange = add32(barriers, i32(barrierBytes(stages)));

    Value kSteps;
    if (p.kEnd) { // contract: the group's rows
      kSteps = div(add(sub(p.kEnd, p.kBegin), c(blockK - 1)), c(blockK));
    } else if (p.splitRank) { // this block's share, never empty
      Value first = mul(index(p.splitRank), c(splitSteps()));
      kSteps = b.create<arith::MinUIOp>(loc, c(splitSteps()),
                                        sub(c(totalSteps()), first));
    } else {
      kSteps = c(totalSteps());
    }
    if (p.active)
      kSteps = b.create<arith::SelectOp>(loc, p.active, kSteps, c(0));

    Value isThread0 = b.create<arith::CmpIOp>(loc, arith::CmpIPredicate::eq, tid, c(0));
    ifThen(isThread0, [&] {
      // Gathered: the copying thread's arrival and each producer thread's
      // cp.async arrival.
      for (int64_t s = 0; s < stages; ++s) {
        hopper::mbarrierInit(b, loc, full(i32(s)), gathered ? 1 + 128 : 1);
        hopper::mbarrierInit(b, loc, empty(i32(s)), 4 * kConsumers);
      }
      hopper::fenceBarrierInit(b, loc);
    });
    b.create<gpu::BarrierOp>(loc);

    Value warpgroup = div(tid, c(128));
    Value isProducer = b.create<arith::CmpIOp>(loc, arith::CmpIPredicate::eq, warpgroup, c(0));
    auto roles = b.create<scf::IfOp>(loc, isProducer, /*withElse=*/true);
    {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(&roles.getThenRegion().front());
      // The producer needs few registers; the consumers hold the accumulators.
      hopper::setMaxRegisters(b, loc, kProducerRegisters, /*increase=*/false);
      if (gathered)
        produce(kernel, firstMapParam, kSteps, p, tid);
      else
        ifThen(isThread0,
               [&] { produce(kernel, firstMapParam, kSteps, p, Value()); });
      if (p.splitRank) { // the consumers' two cluster barriers
        hopper::clusterSync(b, loc);
        hopper::clusterSync(b, loc);
      }
      b.setInsertionPointToStart(&roles.getElseRegion().front());
      hopper::setMaxRegisters(b, loc, kConsumerRegisters, /*increase=*/true);
      consume(sub(warpgroup, c(1)), rem(tid, c(128)), kSteps, outs, p);
    }
  }

  /// Bytes of the stages' full and empty barriers (a multiple of 16, so the
  /// exchange area after them takes vector stores).
  static int64_t barrierBytes(int64_t stages) {
    return (2 * stages * 8 + 15) / 16 * 16;
  }
  /// The partial tiles a cluster's blocks exchange: each consumer thread's
  /// accumulators.
  static int64_t exchangeBytes(int64_t blockN) {
    return 128 * kConsumers * (blockN / 2) * 4;
  }

private:
  /// K steps of the whole matmul, and of each split's share (the last one's
  /// may be shorter).
  int64_t totalSteps() const { return kStepsOf(g); }
  int64_t splitSteps() const { return splitShare(g, splitK); }

  // Index and i32 arithmetic.
  Value c(int64_t v) { return b.create<arith::ConstantIndexOp>(loc, v); }
  Value i32(int64_t v) {
    return b.create<arith::ConstantOp>(loc, b.getI32IntegerAttr(static_cast<int32_t>(v)));
  }
  Value add(Value x, Value y) { return b.create<arith::AddIOp>(loc, x, y); }
  Value sub(Value x, Value y) { return b.create<arith::SubIOp>(loc, x, y); }
  Value mul(Value x, Value y) { return b.create<arith::MulIOp>(loc, x, y); }
  Value div(Value x, Value y) { return b.create<arith::DivUIOp>(loc, x, y); }
  Value rem(Value x, Value y) { return b.create<arith::RemUIOp>(loc, x, y); }
  Value add32(Value x, Value y) { return b.create<arith::AddIOp>(loc, x, y); }
  Value toI32(Value index) { return b.create<arith::IndexCastOp>(loc, b.getI32Type(), index); }
  Value index(Value i32Value) {
    return b.create<arith::IndexCastOp>(loc, b.getIndexType(), i32Value);
  }
  Value less(Value x, Value y) {
    return b.create<arith::CmpIOp>(loc, arith::CmpIPredicate::ult, x, y);
  }
  void ifThen(Value cond, llvm::function_ref<void()> body) {
    auto op = b.create<scf::IfOp>(loc, cond, /*withElse=*/false);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(&op.getThenRegion().front());
    body();
  }

  /// Stage `s` (an i32) of each buffer.
  Value full(Value s) { return add32(barriers, b.create<arith::MulIOp>(loc, s, i32(8))); }
  Value empty(Value s) { return full(add32(s, i32(stages))); }
  Value stageA(Value s) { return add32(smemA, b.create<arith::MulIOp>(loc, s, i32(tileA.bytes()))); }
  /// Stage `s` of B operand `map`: a stage holds the bMaps tiles in turn.
  Value stageB(Value s, int64_t map = 0) {
    return add32(add32(smemB, b.create<arith::MulIOp>(
                                  loc, s, i32(bMaps * tileB.bytes()))),
                 i32(map * tileB.bytes()));
  }

  /// The K loop of thread 0 of the producer warpgroup, or with `gathered`
  /// of all its threads (`thread`): thread 0 copies the B tiles through
  /// tensor maps, and each thread its row of the A tile.
  void produce(const std::string &kernel, int firstMapParam, Value kSteps,
               const TilePlacement &p, Value thread) {
    Value mapA =
        gathered ? Value()
                 : hopper::kernelParamAddress(b, loc, kernel, firstMapParam);
    SmallVector<Value> mapsB;
    for (int64_t i = 0; i < bMaps; ++i)
      mapsB.push_back(hopper::kernelParamAddress(
          b, loc, kernel, firstMapParam + (gathered ? 0 : 1) + i));
    Value rowA = toI32(p.rowBase), colB = toI32(p.colBase);
    std::optional<GatheredRow> row;
    if (gathered)
      row = gatheredRow(thread, p);
    Value batchA = toI32(p.batchA), batchB = toI32(p.batchB);
    bool batchedA = !g.a.broadcast, batchedB = !g.b.broadcast;
    auto loop = b.create<scf::ForOp>(loc, c(0), kSteps, c(1));
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(loop.getBody());
    Value kt = loop.getInductionVar();
    Value s = toI32(rem(kt, c(stages)));
    Value round = toI32(div(kt, c(stages)));
    // From the second round on, wait until the consumers freed this stage.
    ifThen(b.create<arith::CmpIOp>(loc, arith::CmpIPredicate::uge, kt, c(stages)), [&] {
      Value parity = b.create<arith::AndIOp>(loc, add32(round, i32(1)), i32(1));
      hopper::mbarrierWait(b, loc, empty(s), parity);
    });
    Value bar = full(s);
    Value k0Index = mul(kt, c(blockK));
    Value k0 = toI32(p.kBegin ? add(p.kBegin, k0Index) : k0Index);
    auto copies = [&](const OperandTile &t, Value map, Value dst, Value mn0, Value batch,
                      bool batched) {
      for (int64_t box = 0; box < t.boxes(); ++box) {
        SmallVector<Value> coords;
        if (t.kMajor)
          coords = {k0, mn0};
        else
          coords = {add32(mn0, i32(box * 64)), k0};
        if (batched)
          coords.push_back(batch);
        hopper::tmaLoad(b, loc, add32(dst, i32(box * kChunkBytes)), map, coords, bar);
      }
    };
    auto copyB = [&] {
      for (int64_t i = 0; i < bMaps; ++i)
        copies(tileB, mapsB[i], stageB(s, i), colB, batchB, batchedB);
    };
    if (!gathered) {
      hopper::mbarrierArriveExpectTx(b, loc, bar,
                                     tileA.bytes() + bMaps * tileB.bytes());
      copies(tileA, mapA, stageA(s), rowA, batchA, batchedA);
      copyB();
      return;
    }
    ifThen(b.create<arith::CmpIOp>(loc, arith::CmpIPredicate::eq, thread, c(0)),
           [&] {
             hopper::mbarrierArriveExpectTx(b, loc, bar, bMaps * tileB.bytes());
             copyB();
           });
    copyGatheredRow(*row, stageA(s), k0Index);
    hopper::cpAsyncArrive(b, loc, bar);
  }

  /// One producer thread's row of the gathered A tile: the global address
  /// of its token's row, where the row lands in a stage, and its swizzle.
  struct GatheredRow {
    Value source;  // i64 generic address of the token's row
    Value offset;  // i32 byte offset of the row in a stage's A tile
    Value swizzle; // row % 8: the 16-byte pieces' XOR
  };

  /// Rows past the group (or the op) copy the group's last row: they only
  /// feed output rows that are never stored.
  GatheredRow gatheredRow(Value thread, const TilePlacement &p) {
    Value lastRow = b.create<arith::MinUIOp>(
        loc, sub(b.create<arith::MaxUIOp>(loc, p.rowLimit, c(1)), c(1)),
        c(g.m - 1));
    Value position =
        b.create<arith::MinUIOp>(loc, add(p.rowBase, thread), lastRow);
    Value pair = b.create<memref::LoadOp>(loc, gathered->order, position);
    Type i64 = b.getI64Type();
    if (pair.getType() != i64)
      pair = b.create<arith::ExtSIOp>(loc, i64, pair);
    auto i64c = [&](int64_t v) -> Value {
      return b.create<arith::ConstantOp>(loc, b.getI64IntegerAttr(v));
    };
    Value token = b.create<arith::DivSIOp>(loc, pair, i64c(gathered->topK));
    token = b.create<arith::MinSIOp>(
        loc, b.create<arith::MaxSIOp>(loc, token, i64c(0)),
        i64c(gathered->tokenCount - 1));
    Value base = b.create<arith::IndexCastOp>(
        loc, i64,
        b.create<memref::ExtractAlignedPointerAsIndexOp>(loc,
                                                         gathered->tokens));
    int64_t rowBytes = g.k * (g.element.getIntOrFloatBitWidth() / 8);
    Value source = b.create<arith::AddIOp>(
        loc, base, b.create<arith::MulIOp>(loc, token, i64c(rowBytes)));
    return {source, toI32(mul(thread, c(kRowBytes))), toI32(rem(thread, c(8)))};
  }

  /// The row's 64 K elements from `k0` on as eight 16-byte cp.asyncs, piece
  /// j at (j ^ row % 8) * 16 (the 128-byte swizzle); pieces past K are
  /// zero-filled.
  void copyGatheredRow(const GatheredRow &row, Value stage, Value k0) {
    int64_t bytes = g.element.getIntOrFloatBitWidth() / 8;
    int64_t perPiece = 16 / bytes;
    Value dst = add32(stage, row.offset);
    Type i64 = b.getI64Type();
    for (int64_t j = 0; j < kRowBytes / 16; ++j) {
      Value col = add(k0, c(j * perPiece));
      Value inside = less(col, c(g.k));
      // Pieces past K read nothing (0 bytes) from the row's start.
      Value offset =
          b.create<arith::SelectOp>(loc, inside, mul(col, c(bytes)), c(0));
      Value src = b.create<arith::AddIOp>(
          loc, row.source, b.create<arith::IndexCastOp>(loc, i64, offset));
      Value piece = b.create<arith::XOrIOp>(loc, i32(j), row.swizzle);
      hopper::cpAsync16(
          b, loc, add32(dst, b.create<arith::MulIOp>(loc, piece, i32(16))), src,
          b.create<arith::SelectOp>(loc, inside, i32(16), i32(0)));
    }
  }

  /// A shared-memory matrix descriptor: start address, leading and stride byte
  /// offsets, 128-byte swizzle (mode 1 in bits 62-63).
  Value descriptor(Value address, int64_t leading, int64_t stride) {
    Type i64 = b.getI64Type();
    Value start = b.create<arith::ExtUIOp>(
        loc, i64,
        b.create<arith::ShRUIOp>(loc, b.create<arith::AndIOp>(loc, address, i32(0x3FFFF)),
                                 i32(4)));
    uint64_t high = (uint64_t((leading >> 4) & 0x3FFF) << 16) |
                    (uint64_t((stride >> 4) & 0x3FFF) << 32) | (uint64_t(1) << 62);
    return b.create<arith::OrIOp>(
        loc, start,
        b.create<arith::ConstantOp>(loc, b.getI64IntegerAttr(static_cast<int64_t>(high))));
  }

  /// The descriptors of the four k16 (k32 for float8) slices of one
  /// operand's tile at `tile` (the consumer's 64-row part of A, or all of B):
  /// 32 bytes apart along a K-major row either way.
  SmallVector<Value> sliceDescriptors(const OperandTile &t, Value tile) {
    SmallVector<Value> descs;
    for (int64_t j = 0; j < kSlices; ++j) {
      if (t.kMajor)
        descs.push_back(descriptor(add32(tile, i32(j * 32)), 16, 1024));
      else
        descs.push_back(descriptor(add32(tile, i32(j * 16 * 128)), kChunkBytes, 1024));
    }
    return descs;
  }

  /// The PTX name of an operand type.
  static const char *wgmmaType(Type t) {
    if (t.isBF16())
      return "bf16";
    if (t.isF16())
      return "f16";
    return llvm::isa<Float8E5M2Type>(t) ? "e5m2" : "e4m3";
  }

  /// fence; four wgmma over one stage; commit. The accumulators are tied
  /// operands, so nothing reads them until a wait hands them back. With
  /// `overwrite`, the first slice ignores the accumulators' values (scale-d
  /// off): a fresh product of this stage alone.
  /// With several B operands (`descBs`, one set of slices each), `acc`
  /// holds their accumulator sets in turn and one group multiplies them all.
  SmallVector<Value> multiplyStage(ValueRange descA,
                                   ArrayRef<SmallVector<Value>> descBs,
                                   ValueRange acc, bool overwrite) {
    int64_t n = acc.size();
    int64_t maps = descBs.size(), perMap = n / maps;
    bool eightBit = g.element.getIntOrFloatBitWidth() == 8;
    std::string shape = absl::StrCat("m64n", blockN, "k", eightBit ? 32 : 16);
    std::string types =
        absl::StrCat(".f32.", wgmmaType(g.element), ".", wgmmaType(g.element));
    auto accList = [&](int64_t map) {
      std::string list;
      for (int64_t i = 0; i < perMap; ++i)
        absl::StrAppend(&list, i ? ", " : "", "$", map * perMap + i);
      return list;
    };
    int64_t flags = n + 4 + 4 * maps; // the two predicates' operands
    // Only 16-bit types take transpose flags (float8 tiles are K-major).
    std::string transposes = eightBit
                                 ? ""
                                 : absl::StrCat(", ", g.transposeA ? 1 : 0,
                                                ", ", g.transposeB ? 0 : 1);
    std::string text = absl::StrCat("{ .reg .pred p, q; setp.ne.b32 p, $",
                                    flags, ", 0; setp.ne.b32 q, $", flags + 1,
                                    ", 0; ", "wgmma.fence.sync.aligned; ");
    for (int64_t map = 0; map < maps; ++map)
      for (int64_t j = 0; j < kSlices; ++j)
        absl::StrAppend(&text, "wgmma.mma_async.sync.aligned.", shape, types,
                        " {", accList(map), "}, $", n + j, ", $",
                        n + 4 + 4 * map + j, ", ", j ? "q" : "p", ", 1, 1",
                        transposes, "; ");
    absl::StrAppend(&text, "wgmma.commit_group.sync.aligned; }");
    std::string constraints;
    for (int64_t i = 0; i < n; ++i)
      absl::StrAppend(&constraints, i ? "," : "", "=f");
    for (int64_t i = 0; i < 4 + 4 * maps; ++i)
      absl::StrAppend(&constraints, ",l");
    absl::StrAppend(&constraints, ",r,r");
    for (int64_t i = 0; i < n; ++i)
      absl::StrAppend(&constraints, ",", i);
    absl::StrAppend(&constraints, ",~{memory}");
    SmallVector<Value> operands(descA.begin(), descA.end());
    for (const SmallVector<Value> &descB : descBs)
      operands.append(descB.begin(), descB.end());
    operands.push_back(i32(overwrite ? 0 : 1));
    operands.push_back(i32(1));
    operands.append(acc.begin(), acc.end());
    return tiedAsm(text, constraints, operands, n);
  }

  /// wgmma.wait_group `pending`, threading the accumulators through.
  SmallVector<Value> waitGroups(int64_t pending, ValueRange acc) {
    int64_t n = acc.size();
    std::string constraints;
    for (int64_t i = 0; i < n; ++i)
      absl::StrAppend(&constraints, i ? "," : "", "=f");
    for (int64_t i = 0; i < n; ++i)
      absl::StrAppend(&constraints, ",", i);
    absl::StrAppend(&constraints, ",~{memory}");
    return tiedAsm(absl::StrCat("wgmma.wait_group.sync.aligned ", pending, ";"), constraints,
                   SmallVector<Value>(acc.begin(), acc.end()), n);
  }

  SmallVector<Value> tiedAsm(const std::string &text, const std::string &constraints,
                             ValueRange operands, int64_t n) {
    Type f32 = b.getF32Type();
    auto structType =
        LLVM::LLVMStructType::getLiteral(b.getContext(), SmallVector<Type>(n, f32));
    Value result = hopper::inlinePtx(b, loc, structType, operands, text, constraints);
    SmallVector<Value> values;
    for (int64_t i = 0; i < n; ++i)
      values.push_back(b.create<LLVM::ExtractValueOp>(loc, result, i));
    return values;
  }

  void consume(Value consumer, Value thread, Value kSteps, ValueRange outs,
               const TilePlacement &p) {
    // Accumulators per thread: 64 x blockN over 128 threads, a set per B.
    int64_t n = blockN / 2 * bMaps;
    SmallVector<Value> zeros(n, b.create<arith::ConstantOp>(loc, b.getF32FloatAttr(0.0f)));
    Value lane = rem(thread, c(32));
    Value isLane0 = b.create<arith::CmpIOp>(loc, arith::CmpIPredicate::eq, lane, c(0));
    // This consumer's 64 rows of A: the second half of a K-major tile, or the
    // second 64-wide chunk of an M-major one (both 8 KiB in).
    Value partA = b.create<arith::MulIOp>(loc, toI32(consumer), i32(kChunkBytes));
    // Scaled: the promoted accumulators, then the stage's temporary product
    // (carried so its registers stay put across iterations).
    SmallVector<Value> init(zeros);
    if (scales)
      init.append(zeros);
    auto loop = b.create<scf::ForOp>(
        loc, c(0), kSteps, c(1), init,
        [&](OpBuilder &body, Location, Value kt, ValueRange carried) {
          OpBuilder::InsertionGuard guard(b);
          b.setInsertionPoint(body.getInsertionBlock(), body.getInsertionPoint());
          // Issued first, so the loads run while the stage lands.
          std::optional<StageScales> stageScales;
          if (scales)
            stageScales = loadScales(consumer, thread, kt, p);
          Value s = toI32(rem(kt, c(stages)));
          Value parity = b.create<arith::AndIOp>(loc, toI32(div(kt, c(stages))), i32(1));
          hopper::mbarrierWait(b, loc, full(s), parity);
          // The gathered rows came through the generic proxy (cp.async);
          // wgmma reads through the async one.
          if (gathered)
            hopper::fenceProxyAsync(b, loc);
          Value chunkA = add32(stageA(s), partA);
          if (p.kEnd)
            zeroRowsPastGroup(consumer, chunkA, thread, s,
                              sub(p.kEnd, add(p.kBegin, mul(kt, c(blockK)))));
          SmallVector<Value> descA = sliceDescriptors(tileA, chunkA);
          SmallVector<SmallVector<Value>> descB;
          for (int64_t i = 0; i < bMaps; ++i)
            descB.push_back(sliceDescriptors(tileB, stageB(s, i)));
          if (stageScales) {
            SmallVector<Value> tmp =
                multiplyStage(descA, descB, carried.drop_front(n),
                              /*overwrite=*/true);
            tmp = waitGroups(0, tmp);
            ifThen(isLane0, [&] { hopper::mbarrierArrive(b, loc, empty(s)); });
            SmallVector<Value> next =
                promote(carried.take_front(n), tmp, *stageScales);
            next.append(tmp);
            b.create<scf::YieldOp>(loc, next);
            return;
          }
          SmallVector<Value> updated = multiplyStage(descA, descB, carried,
                                                     /*overwrite=*/false);
          // At most this step's group is still running: the previous step's
          // stage is free.
          updated = waitGroups(1, updated);
          Value started = b.create<arith::CmpIOp>(loc, arith::CmpIPredicate::ugt, kt, c(0));
          ifThen(b.create<arith::AndIOp>(loc, started, isLane0), [&] {
            Value previous = toI32(rem(add(kt, c(stages - 1)), c(stages)));
            hopper::mbarrierArrive(b, loc, empty(previous));
          });
          b.create<scf::YieldOp>(loc, updated);
        });
    SmallVector<Value> acc =
        scales ? SmallVector<Value>(loop.getResults().take_front(n))
               : waitGroups(0, loop.getResults());
    if (p.splitRank)
      sumAcrossCluster(acc, consumer, thread, outs[0], p);
    else if (bMaps == 2)
      storeGateUp(acc, consumer, thread, outs, p);
    else
      store(acc, consumer, thread, outs[0], p);
  }

  /// Split K: every block of the cluster holds a partial 128 x BN tile. Each
  /// consumer thread writes its accumulators to the exchange area as pairs
  /// (the two columns it stores side by side), pair q of thread t at
  /// (q * 256 + t) * 8; after a cluster barrier, block r sums pairs r, r + S,
  /// r + 2S, ... of every thread over the S blocks' areas in rank order and
  /// stores them; a second barrier keeps each area alive until every block
  /// has read it.
  void sumAcrossCluster(ValueRange acc, Value consumer, Value thread, Value out,
                        const TilePlacement &p) {
    int64_t pairs = acc.size() / 2;
    Value slot = add(mul(consumer, c(128)), thread);
    auto pairAddress = [&](Value q) {
      return add32(exchange,
                   toI32(mul(add(mul(q, c(128 * kConsumers)), slot), c(8))));
    };
    for (int64_t q = 0; q < pairs; ++q)
      hopper::inlinePtx(b, loc, Type(),
                        {pairAddress(c(q)), acc[2 * q], acc[2 * q + 1]},
                        "st.shared.v2.f32 [$0], {$1, $2};", "r,f,f,~{memory}");
    hopper::clusterSync(b, loc);
    auto [row0, col0] = fragmentOrigin(consumer, thread, p);
    Value rank = index(p.splitRank);
    // Threads whose rows all lie past the output have nothing to sum.
    ifThen(less(row0, p.rowLimit), [&] {
      for (int64_t t = 0; t * splitK < pairs; ++t) {
        Value q = add(c(t * splitK), rank);
        ifThen(less(q, c(pairs)), [&] {
          Value address = pairAddress(q);
          Value first, second;
          for (int64_t r = 0; r < splitK; ++r) {
            auto [x, y] = hopper::loadClusterPair(b, loc, address, i32(r));
            first = r ? b.create<arith::AddFOp>(loc, first, x).getResult() : x;
            second =
                r ? b.create<arith::AddFOp>(loc, second, y).getResult() : y;
          }
          // Pair q is accumulators 2q and 2q + 1: row half q % 2, column
          // group q / 2.
          Value row = add(row0, mul(rem(q, c(2)), c(8)));
          ifThen(less(row, p.rowLimit), [&] {
            storePair(out, p, row, add(col0, mul(div(q, c(2)), c(8))), first,
                      second);
          });
        });
      }
    });
    hopper::clusterSync(b, loc);
  }

  /// One K block's scales for this thread's two rows (lane / 4 and 8 below
  /// it) and, per column, b's: one for the tile's 128 x 128 block, or with
  /// per-column scales one for each of the thread's columns (8 * j + 2 *
  /// (lane % 4) + e, e = 0, 1, for j < BN / 8: accumulator 4 * j + e and
  /// 4 * j + 2 + e).
  struct StageScales {
    Value upper, lower;
    SmallVector<Value> columns; // [2 * j + e], or one value for the block
  };

  StageScales loadScales(Value consumer, Value thread, Value kt,
                         const TilePlacement &p) {
    auto [row, col0] = fragmentOrigin(consumer, thread, p);
    // Rows and columns past the output are never stored; read valid ones'.
    auto load = [&](Value buffer, Value index, int64_t bound) -> Value {
      Value clamped = b.create<arith::MinUIOp>(loc, index, c(bound - 1));
      return b.create<memref::LoadOp>(loc, buffer, ValueRange{clamped, kt});
    };
    StageScales out{
        load(scales->a, row, g.m), load(scales->a, add(row, c(8)), g.m), {}};
    if (!scales->bPerColumn) {
      out.columns.push_back(b.create<memref::LoadOp>(
          loc, scales->b, ValueRange{div(p.colBase, c(128)), kt}));
      return out;
    }
    for (int64_t j = 0; j < blockN / 8; ++j)
      for (int64_t e = 0; e < 2; ++e)
        out.columns.push_back(load(scales->b, add(col0, c(8 * j + e)), g.n));
    return out;
  }

  /// acc += tmp * (scale_a * scale_b), accumulator i on row 8 * ((i / 2) % 2)
  /// of the pair and column 8 * (i / 4) + i % 2 of the thread's; fused (one
  /// rounding where the CPU emulation rounds the product, then the sum).
  SmallVector<Value> promote(ValueRange acc, ValueRange tmp,
                             const StageScales &scale) {
    SmallVector<Value> out;
    // With one block scale, the two row products serve every accumulator.
    SmallVector<Value> rowTimesBlock;
    if (scale.columns.size() == 1)
      for (Value r : {scale.upper, scale.lower})
        rowTimesBlock.push_back(
            b.create<arith::MulFOp>(loc, r, scale.columns[0]));
    for (size_t i = 0; i < acc.size(); ++i) {
      bool lower = (i / 2) % 2;
      Value factor =
          scale.columns.size() == 1
              ? rowTimesBlock[lower]
              : b.create<arith::MulFOp>(loc, lower ? scale.lower : scale.upper,
                                        scale.columns[2 * (i / 4) + i % 2]);
      // One fma per accumulator (mul then add would issue twice as many
      // instructions on the consumers' critical path).
      out.push_back(b.create<LLVM::FMAOp>(loc, tmp[i], factor, acc[i]));
    }
    return out;
  }

  /// contract: the stage's last tile may reach past the group into the next
  /// group's rows, which must not count. K rows are whole 128-byte rows of the
  /// M/N-major chunks (the swizzle only permutes 16-byte pieces within a row),
  /// so the consumer zeroes rows [valid, 64) of its A chunk and of every B chunk
  /// (both consumers write the same zeros into B), then makes the stores
  /// visible to wgmma's async proxy before any warp of the group reads.
  void zeroRowsPastGroup(Value consumer, Value chunkA, Value thread, Value s, Value valid) {
    ifThen(less(valid, c(blockK)), [&] {
      SmallVector<Value> chunks{chunkA};
      for (int64_t chunk = 0; chunk < tileB.boxes(); ++chunk)
        chunks.push_back(add32(stageB(s), i32(chunk * kChunkBytes)));
      Value piece = rem(thread, c(8));
      for (int64_t pass = 0; pass < blockK / 16; ++pass) {
        Value row = add(add(valid, div(thread, c(8))), c(pass * 16));
        ifThen(less(row, c(blockK)), [&] {
          Value offset = toI32(add(mul(row, c(128)), mul(piece, c(16))));
          for (Value chunk : chunks)
            hopper::inlinePtx(b, loc, Type(), {add32(chunk, offset), i32(0)},
                              "st.shared.v4.b32 [$0], {$1, $1, $1, $1};", "r,r,~{memory}");
        });
      }
      hopper::fenceProxyAsync(b, loc);
      hopper::inlinePtx(b, loc, Type(), {add32(toI32(consumer), i32(1))}, "bar.sync $0, 128;",
                        "r,~{memory}");
    });
  }

  /// Accumulator i of a thread holds row 16 * warp + lane / 4 + 8 * ((i / 2) %
  /// 2) and column 8 * (i / 4) + 2 * (lane % 4) + i % 2 of the consumer's 64 x
  /// BN part: the output row and column of accumulator 0.
  std::pair<Value, Value> fragmentOrigin(Value consumer, Value thread,
                                         const TilePlacement &p) {
    Value warp = div(thread, c(32)), lane = rem(thread, c(32));
    Value row = add(add(p.rowBase, mul(consumer, c(64))),
                    add(mul(warp, c(16)), div(lane, c(4))));
    return {row, add(p.colBase, mul(rem(lane, c(4)), c(2)))};
  }

  /// `pair(row, col, i)` for each pair of accumulators i, i + 1 (columns
  /// col and col + 1 of one row) whose row lies inside the output.
  void forEachStoredPair(
      Value consumer, Value thread, const TilePlacement &p,
      llvm::function_ref<void(Value row, Value col, int64_t i)> pair) {
    auto [row0, col0] = fragmentOrigin(consumer, thread, p);
    for (int64_t half = 0; half < 2; ++half) {
      Value row = add(row0, c(half * 8));
      ifThen(less(row, p.rowLimit), [&] {
        for (int64_t j = 0; j < blockN / 8; ++j)
          pair(row, add(col0, c(j * 8)), j * 4 + half * 2);
      });
    }
  }

  /// Each accumulator rounded once to the element type. The two columns a
  /// thread holds side by side go out as one 4-byte store (cvt.rn.bf16x2
  /// rounds each exactly as a scalar truncation would); a pair straddling N
  /// stores its first element alone.
  void store(ValueRange acc, Value consumer, Value thread, Value out,
             const TilePlacement &p) {
    forEachStoredPair(consumer, thread, p,
                      [&](Value row, Value col, int64_t i) {
                        storePair(out, p, row, col, acc[i], acc[i + 1]);
                      });
  }

  /// The gated epilogue: `acc` holds the gate accumulators, then the up ones
  /// (each as store() lays them out), and gate and up are rounded once to
  /// the element type. moe_gate_up (`outs` act, gate, up) stores them and
  /// act = silu(gate) * up computed in f32 from them, rounded once
  /// (docs/OPS.md); a SwiGLU MLP's gated product (`outs` act) rounds silu's
  /// result too, as its separate op does. silu is the elementwise kernels'
  /// formula.
  void storeGateUp(ValueRange acc, Value consumer, Value thread,
                   ValueRange outs, const TilePlacement &p) {
    bool gatedProduct = outs.size() == 1;
    int64_t n = acc.size() / 2;
    Type f32 = b.getF32Type();
    auto rounded = [&](Value v) -> Value {
      Value narrow = b.create<arith::TruncFOp>(loc, g.result, v);
      return b.create<arith::ExtFOp>(loc, f32, narrow);
    };
    auto act = [&](Value gate, Value up) -> Value {
      Value gated = silu(b, loc, rounded(gate));
      if (gatedProduct)
        gated = rounded(gated);
      return b.create<arith::MulFOp>(loc, gated, rounded(up));
    };
    forEachStoredPair(
        consumer, thread, p, [&](Value row, Value col, int64_t i) {
          if (!gatedProduct) {
            storePair(outs[1], p, row, col, acc[i], acc[i + 1]);
            storePair(outs[2], p, row, col, acc[n + i], acc[n + i + 1]);
          }
          storePair(outs[0], p, row, col, act(acc[i], acc[n + i]),
                    act(acc[i + 1], acc[n + i + 1]));
        });
  }

  /// Output elements (row, col) and (row, col + 1) of a row inside the
  /// output, either column possibly past N.
  void storePair(Value out, const TilePlacement &p, Value row, Value col,
                 Value first, Value second) {
    if (g.result.isF32()) { // no rounding: each element as it is
      for (int64_t e = 0; e < 2; ++e) {
        Value c1 = add(col, c(e));
        ifThen(less(c1, c(g.n)), [&] {
          b.create<memref::StoreOp>(loc, e ? second : first, out,
                                    outIndex(p, row, c1));
        });
      }
      return;
    }
    Type i64 = b.getI64Type();
    Value base = b.create<arith::IndexCastOp>(
        loc, i64, b.create<memref::ExtractAlignedPointerAsIndexOp>(loc, out));
    Value rowStart = transposedStore
                         ? mul(add(mul(row, c(g.batch)), p.batchOut), c(g.n))
                         : mul(add(mul(p.batchOut, c(g.m)), row), c(g.n));
    std::string pack =
        g.result.isBF16() ? "cvt.rn.bf16x2.f32" : "cvt.rn.f16x2.f32";
    auto both = b.create<scf::IfOp>(loc, less(add(col, c(1)), c(g.n)),
                                    /*withElse=*/true);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(&both.getThenRegion().front());
    Value byte = b.create<arith::AddIOp>(
        loc, base,
        b.create<arith::MulIOp>(
            loc, b.create<arith::IndexCastOp>(loc, i64, add(rowStart, col)),
            b.create<arith::ConstantOp>(loc, b.getI64IntegerAttr(2))));
    hopper::inlinePtx(b, loc, Type(), {byte, second, first},
                      absl::StrCat("{ .reg .b32 v; .reg .b64 g; ", pack,
                                   " v, $1, $2; cvta.to.global.u64 g, $0; "
                                   "st.global.b32 [g], v; }"),
                      "l,f,f,~{memory}");
    b.setInsertionPointToStart(&both.getElseRegion().front());
    ifThen(less(col, c(g.n)), [&] {
      Value rounded = b.create<arith::TruncFOp>(loc, g.result, first);
      b.create<memref::StoreOp>(loc, rounded, out, outIndex(p, row, col));
    });
  }

  /// Where output element (batch entry, row, col) lies: [batch, M, N], or
  /// [M, batch, N] when the output is stored transposed.
  SmallVector<Value> outIndex(const TilePlacement &p, Value row, Value col) {
    if (transposedStore)
      return {row, p.batchOut, col};
    return {p.batchOut, row, col};
  }

  OpBuilder &b;
  Location loc;
  const MatmulGeometry &g;
  int64_t blockN, stages, blockK, splitK, bMaps;
  std::optional<BlockScales> scales;
  std::optional<GatheredRows> gathered;
  OperandTile tileA, tileB;
  Value smemA, smemB, barriers, exchange; // i32 shared addresses
};

/// The tensor map of one operand stored [batch?, rows, cols].
proto::TensorMap operandMap(const MatmulOperand &o, bool batched, const OperandTile &t,
                            Type element) {
  proto::TensorMap m;
  int64_t bytes = element.getIntOrFloatBitWidth() / 8;
  m.set_dtype(toDType(element));
  m.add_dims(o.cols);
  m.add_dims(o.rows);
  m.add_strides((o.rowStride ? o.rowStride : o.cols) * bytes);
  m.add_box(t.kMajor ? stageK(element) : 64);
  m.add_box(t.kMajor ? t.extent : stageK(element));
  if (batched) {
    m.add_dims(o.batch);
    m.add_strides((o.batchStride ? o.batchStride : o.rows * o.cols) * bytes);
    m.add_box(1);
  }
  m.set_swizzle_bytes(128);
  return m;
}

/// Whether every one of `splitK` shares of K has a step.
bool splitFits(const MatmulGeometry &g, int64_t splitK) {
  int64_t steps = kStepsOf(g);
  return splitK >= 1 && splitK <= kMaxSplitK && splitK <= steps &&
         (splitK - 1) * splitShare(g, splitK) < steps;
}

/// What the wgmma kernel makes of an op it takes: the GEMM's geometry and
/// the variant. buildWgmmaMatmul lowers it; wgmmaTileN picks its tile.
struct WgmmaForm {
  kir::GroupedMatmulOp grouped;
  kir::ScaledMatmulOp scaled;
  kir::MoeGateUpOp gateUp;
  /// A SwiGLU MLP's gated product, rooting its projections' region.
  std::optional<passes::GatedMatmuls> gated;
  bool contract = false;
  /// Row-grouped: grouped_matmul "rows" and moe_gate_up place tiles alike.
  bool groupedRows = false;
  /// B operands a stage holds: 2 for gate and up.
  int64_t bMaps = 1;
  /// fp8 with b's scales per column (a weight gradient's).
  bool perColumn = false;
  /// The output stored [M, batch, N] (transposedStoreOf).
  bool transposedStore = false;
  /// The GEMM itself: the root, or the matmul a transposed root stores.
  Operation *gemm = nullptr;
  MatmulGeometry g;
};

absl::StatusOr<WgmmaForm> formOf(Operation *op) {
  WgmmaForm f;
  f.grouped = llvm::dyn_cast<kir::GroupedMatmulOp>(op);
  f.scaled = llvm::dyn_cast<kir::ScaledMatmulOp>(op);
  f.gateUp = llvm::dyn_cast<kir::MoeGateUpOp>(op);
  if (auto mul = llvm::dyn_cast<kir::MulOp>(op)) {
    f.gated = passes::gatedMatmuls(mul);
    if (!f.gated)
      return absl::InvalidArgumentError(
          "wgmma: a kiln.mul region is not a SwiGLU MLP's gated projections");
  }
  f.gemm = op;
  if (kir::MatmulOp stored = transposedStoreOf(op)) {
    f.transposedStore = true;
    f.gemm = stored;
  }
  if (!f.grouped && !f.scaled && !f.gateUp && !f.gated &&
      !llvm::isa<kir::MatmulOp>(f.gemm))
    return absl::InvalidArgumentError(
        absl::StrCat("wgmma: no GEMM the kernel runs at a '",
                     op->getName().getStringRef().str(), "' root"));
  f.contract =
      f.grouped && f.grouped.getMode() == kir::GroupedMatmulMode::contract;
  f.groupedRows = (f.grouped && !f.contract) || f.gateUp;
  f.g = f.contract  ? contractGeometryOf(f.grouped)
        : f.grouped ? groupedGeometryOf(f.grouped)
        : f.gateUp  ? gateUpGeometryOf(f.gateUp)
        : f.gated   ? geometryOf(f.gated->gate)
        : f.scaled  ? scaledGeometryOf(f.scaled)
                    : geometryOf(llvm::cast<kir::MatmulOp>(f.gemm));
  f.bMaps = f.gateUp || f.gated ? 2 : 1;
  f.perColumn = f.scaled && f.scaled.getBBlock()[0] == 1;
  return f;
}

/// Row tiles of the launch (grid y).
int64_t rowTilesOf(const WgmmaForm &f) {
  return f.groupedRows ? groupedRowTiles(f.g, kBlockM)
                       : (f.g.m + kBlockM - 1) / kBlockM;
}

/// The widest tile the kernel takes: scaled products keep their temporary
/// accumulators beside the real ones, two B operands two accumulator sets,
/// and a split's exchange area holds a whole partial tile, so those stop at
/// 128; per-column scales, whose 2 * BN / 8 values a thread holds too, at 64
/// (at 128 they spill).
int64_t widestTileN(const WgmmaForm &f, int64_t splitK) {
  if (f.perColumn)
    return 64;
  return f.scaled || f.bMaps > 1 || splitK > 1 ? 128 : 256;
}

/// The tile width kiln-select-kernels records (kiln.tile_n): the widest the
/// kernel takes up to the output's width, halved while the tiles would
/// leave multiprocessors idle, as the M = batch GEMMs of decoding do: down
/// to 64, or 32 for a SwiGLU MLP's gated pair with K-major weights. H100
/// device time (bench/tile_width_sweep.py, us, widths 32 / 64 / 128): the
/// shared expert's [64, 1024] x 2 x [1024, 512] pair 8.5 / 10.3 / 17.1, the
/// dense layer's 2816-wide one 10.0 / 10.8 / 17.5; single GEMMs split
/// between 32 and 64 within 7% (q_a 6.1 / 6.5, kv_a 6.5 / 6.4, q_b 5.9 /
/// 5.7, o_proj 6.2 / 6.5, shared down 6.0 / 5.6), so they keep 64.
int64_t pickTileN(const WgmmaForm &f, int64_t splitK) {
  const MatmulGeometry &g = f.g;
  int64_t rowTiles = rowTilesOf(f);
  auto blocksFor = [&](int64_t bn) {
    return rowTiles * ((g.n + bn - 1) / bn) * g.batch;
  };
  int64_t widest = widestTileN(f, splitK);
  int64_t blockN = std::min<int64_t>(widest, g.n > 128  ? 256
                                             : g.n > 64 ? 128
                                                        : 64);
  int64_t narrowest = f.gated && g.transposeB ? 32 : 64;
  while (blockN > narrowest && blocksFor(blockN) < kMultiprocessors)
    blockN /= 2;
  return blockN;
}

/// The dispatch's kiln.split_k (1 without it; 0 where it is not an integer).
int64_t splitKOf(Operation *op) {
  auto dispatch = llvm::dyn_cast_or_null<kir::DispatchOp>(op->getParentOp());
  if (!dispatch)
    return 1;
  Attribute attr = dispatch->getAttr(kSplitKAttrName);
  if (!attr)
    return 1;
  auto value = llvm::dyn_cast<IntegerAttr>(attr);
  return value ? value.getInt() : 0;
}

} // namespace

int64_t wgmmaSplitK(Operation *op) {
  auto matmul = llvm::dyn_cast<kir::MatmulOp>(op);
  if (!matmul || !isTensorCoreMatmul(op))
    return 1;
  MatmulGeometry g = geometryOf(matmul);
  // Output tiles at the narrowest width the kernel takes.
  int64_t tiles = (g.m + kBlockM - 1) / kBlockM * ((g.n + 63) / 64) * g.batch;
  int64_t steps = kStepsOf(g);
  // Half the multiprocessors busy already: nothing to gain.
  if (2 * tiles > kMultiprocessors)
    return 1;
  // Each block keeps kMinSplitSteps steps, and at most kMaxAutoSplitK
  // blocks share a tile: a cluster's launch, barriers and exchange cost
  // about what a few microseconds of K loop do. H100, device time: [64,
  // 1024] x [1024, 1024] 6.4 us whole, 6.4 split 4, 9.2 split 8; [64, 2816]
  // x [2816, 1024] 12.4 whole, 8.9 split 4; a [512, 256] weight gradient
  // over 16384 tokens 68.8 whole, 26.0 split 4, 30.3 split 8.
  int64_t split = std::min(
      {kMaxAutoSplitK, steps / kMinSplitSteps, kMultiprocessors / tiles});
  if (split < 2)
    return 1;
  // As many blocks as the shares need.
  int64_t share = (steps + split - 1) / split;
  return (steps + share - 1) / share;
}

int64_t wgmmaTileN(Operation *op) {
  absl::StatusOr<WgmmaForm> form = formOf(op);
  int64_t splitK = splitKOf(op);
  if (!form.ok() || splitK < 1)
    return 0;
  return pickTileN(*form, splitK);
}

absl::Status buildWgmmaMatmul(Operation *op, ModuleOp module, const std::string &name,
                              std::vector<KernelTensorMap> &maps) {
  absl::StatusOr<WgmmaForm> form = formOf(op);
  if (!form.ok())
    return form.status();
  auto [grouped, scaled, gateUp, gated, contract, groupedRows, bMaps, perColumn,
        transposedStore, gemm, g] = *form;
  // A read in place through the strided view fused into its region.
  if (auto matmul = llvm::dyn_cast<kir::MatmulOp>(gemm))
    if (std::optional<FusedViewOfA> view = fusedViewOfA(matmul))
      g.a = view->operand;
  MLIRContext *ctx = module.getContext();
  Location loc = op->getLoc();
  OpBuilder b(ctx);
  b.setInsertionPointToEnd(module.getBody());

  int64_t splitK = splitKOf(op);
  if (splitK != 1 && (!llvm::isa<kir::MatmulOp>(gemm) || !splitFits(g, splitK)))
    return absl::InvalidArgumentError(absl::StrCat(
        kSplitKAttrName.str(), " on a '", op->getName().getStringRef().str(),
        "' of K = ", g.k, ": a dense kiln.matmul takes a split in [1, ",
        kMaxSplitK, "] that leaves every block a step of ", stageK(g.element),
        " K"));

  // The tile width is kiln-select-kernels' decision (wgmmaTileN), or a
  // hand-written one: lowering only checks it.
  int64_t rowTiles = rowTilesOf(*form);
  auto dispatch = llvm::dyn_cast_or_null<kir::DispatchOp>(op->getParentOp());
  Attribute attr = dispatch ? dispatch->getAttr(kTileNAttrName) : Attribute();
  if (!attr)
    return absl::InvalidArgumentError(absl::StrCat(
        "wgmma: the '", op->getName().getStringRef().str(), "' region has no ",
        kTileNAttrName.str(), " (kiln-select-kernels records it)"));
  auto value = llvm::dyn_cast<IntegerAttr>(attr);
  int64_t blockN = value ? value.getInt() : 0;
  int64_t widest = widestTileN(*form, splitK);
  if (!llvm::is_contained({32, 64, 128, 256}, blockN) || blockN > widest ||
      (blockN == 32 && !g.transposeB))
    return absl::InvalidArgumentError(absl::StrCat(
        kTileNAttrName.str(), " = ", blockN, " on a '",
        op->getName().getStringRef().str(),
        "': the wgmma kernel takes 32 (K-major B only), 64, 128 or 256, "
        "here at most ",
        widest));
  int64_t exchangeBytes = splitK > 1 ? WgmmaEmitter::exchangeBytes(blockN) : 0;
  OperandTile tileA{!g.transposeA, kBlockM}, tileB{g.transposeB, blockN};
  int64_t stageBytes = tileA.bytes() + bMaps * tileB.bytes();
  int64_t stages =
      std::min<int64_t>(6, (kSharedBudget - exchangeBytes) / stageBytes);
  int64_t sharedBytes = 1024 + stages * stageBytes +
                        WgmmaEmitter::barrierBytes(stages) + exchangeBytes;
  // Grouped: the offsets are staged in shared memory after the barriers.
  int64_t offsetsAt = sharedBytes;
  if (grouped || gateUp)
    sharedBytes += g.groups * 8;

  // Operands keep their storage types; the kernel only reads them through
  // tensor maps, and writes the output with plain stores.
  SmallVector<Type> args;
  auto typeOf = [](Value v) -> Type {
    auto t = llvm::cast<RankedTensorType>(v.getType());
    return MemRefType::get(t.getShape(), t.getElementType());
  };
  if (gateUp) { // tokens, w_gate, w_up, order, offsets, act, gate, up
    for (Value operand : op->getOperands())
      args.push_back(typeOf(operand));
    args.append(3, MemRefType::get({1, g.m, g.n}, g.result));
  } else if (scaled) { // a, a_scale, b, b_scale, out
    args = {
        MemRefType::get({1, g.m, g.k}, g.element), typeOf(scaled.getAScale()),
        MemRefType::get({1, g.n, g.k}, g.element), typeOf(scaled.getBScale()),
        MemRefType::get({1, g.m, g.n}, g.result)};
  } else if (gated) { // a, b_gate, b_up, out
    args = matmulKernelArgs(g, g.element, gated->gate);
    args.insert(args.begin() + 2, args[1]);
  } else {
    args = matmulKernelArgs(g, g.element, gemm);
    if (transposedStore)
      args.back() = MemRefType::get({g.m, g.batch, g.n}, g.result);
  }

  std::string kernelName = name + "_kernel";
  auto gpuModule = b.create<gpu::GPUModuleOp>(loc, name + "_module");
  OpBuilder kb(gpuModule.getBodyRegion());
  auto kernel = kb.create<gpu::GPUFuncOp>(loc, kernelName, kb.getFunctionType(args, {}),
                                          TypeRange{}, TypeRange{});
  kernel->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), kb.getUnitAttr());
  kernel.setKnownBlockSizeAttr(kb.getDenseI32ArrayAttr({kThreads, 1, 1}));
  // One block per multiprocessor (.minnctapersm 1): without a launch bound
  // ptxas may not know the register count at entry, and then ignores
  // setmaxnreg (C7508), leaving the consumers 170 registers instead of 232.
  kernel->setAttr("nvvm.minctasm", kb.getI32IntegerAttr(1));
  kb.setInsertionPointToStart(&kernel.getBody().front());
  // Every block scans the offsets to place itself: staged into shared memory
  // by all threads at once, the scan reads them there instead of walking up to
  // E dependent global loads.
  Value offsets;
  if (grouped || gateUp) {
    auto workgroup = gpu::AddressSpaceAttr::get(ctx, gpu::AddressSpace::Workgroup);
    Value dynamic = kb.create<gpu::DynamicSharedMemoryOp>(
        loc, MemRefType::get({ShapedType::kDynamic}, kb.getI8Type(), MemRefLayoutAttrInterface(),
                             workgroup));
    auto global = kernel.getArgument(gateUp ? 4 : 2);
    Type offsetElement = llvm::cast<MemRefType>(global.getType()).getElementType();
    offsets = kb.create<memref::ViewOp>(
        loc, MemRefType::get({g.groups}, offsetElement, MemRefLayoutAttrInterface(), workgroup),
        dynamic, kb.create<arith::ConstantIndexOp>(loc, offsetsAt), ValueRange{});
    Value tid = kb.create<gpu::ThreadIdOp>(loc, gpu::Dimension::x);
    auto copy = kb.create<scf::ForOp>(loc, tid, kb.create<arith::ConstantIndexOp>(loc, g.groups),
                                      kb.create<arith::ConstantIndexOp>(loc, kThreads));
    {
      OpBuilder::InsertionGuard guard(kb);
      kb.setInsertionPointToStart(copy.getBody());
      Value i = copy.getInductionVar();
      kb.create<memref::StoreOp>(loc, kb.create<memref::LoadOp>(loc, global, ValueRange{i}),
                                 offsets, ValueRange{i});
    }
    kb.create<gpu::BarrierOp>(loc);
  }
  TilePlacement placement =
      contract ? contractTilePlacement(kb, loc, g, offsets, kBlockM, blockN)
      : groupedRows
          ? groupedTilePlacement(kb, loc, g, offsets, kBlockM, blockN)
          : denseTilePlacement(kb, loc, g, kBlockM, blockN, kBandRows, splitK);
  if (splitK > 1) {
    placement.splitRank = hopper::clusterRank(kb, loc);
    placement.kBegin = kb.create<arith::MulIOp>(
        loc,
        kb.create<arith::IndexCastOp>(loc, kb.getIndexType(),
                                      placement.splitRank),
        kb.create<arith::ConstantIndexOp>(loc, splitShare(g, splitK) *
                                                   stageK(g.element)));
  }
  std::optional<BlockScales> scales;
  if (scaled)
    scales =
        BlockScales{kernel.getArgument(1), kernel.getArgument(3), perColumn};
  std::optional<GatheredRows> gathered;
  SmallVector<Value> outs{kernel.getArgument(args.size() - 1)};
  if (gateUp) {
    int64_t tokens = gateUp.getTokens().getType().getDimSize(0);
    gathered = GatheredRows{kernel.getArgument(0), kernel.getArgument(3),
                            g.m / tokens, tokens};
    outs.assign(kernel.getArguments().take_back(3).begin(),
                kernel.getArguments().take_back(3).end());
  }
  WgmmaEmitter emitter(kb, loc, g, blockN, stages, scales, splitK, bMaps,
                       gathered);
  emitter.transposedStore = transposedStore;
  int firstMapParam = static_cast<int>(args.size());
  emitter.emit(kernelName, firstMapParam, outs, placement);
  kb.create<gpu::ReturnOp>(loc);

  if (gateUp) { // w_gate and w_up: operands 1 and 2
    for (int argument : {1, 2})
      maps.push_back({kernelName, argument,
                      operandMap(g.b, /*batched=*/true, tileB, g.element)});
  } else {
    maps.push_back(
        {kernelName, 0, operandMap(g.a, !g.a.broadcast, tileA, g.element)});
    maps.push_back({kernelName, scaled ? 2 : 1,
                    operandMap(g.b, !g.b.broadcast, tileB, g.element)});
    if (gated) // w_up
      maps.push_back(
          {kernelName, 2, operandMap(g.b, !g.b.broadcast, tileB, g.element)});
  }

  // The host side: one launch over (N tiles, M tiles, batch).
  auto func = b.create<func::FuncOp>(loc, name, b.getFunctionType(args, {}));
  b.setInsertionPointToStart(func.addEntryBlock());
  auto idx = [&](int64_t v) -> Value {
    return b.create<arith::ConstantIndexOp>(loc, v);
  };
  gpu::KernelDim3 grid{idx((g.n + blockN - 1) / blockN * splitK), idx(rowTiles),
                       idx(g.batch)};
  gpu::KernelDim3 block{idx(kThreads), idx(1), idx(1)};
  Value shared = b.create<arith::ConstantOp>(loc, b.getI32IntegerAttr(sharedBytes));
  std::optional<gpu::KernelDim3> cluster;
  if (splitK > 1)
    cluster = gpu::KernelDim3{idx(splitK), idx(1), idx(1)};
  b.create<gpu::LaunchFuncOp>(loc, kernel, grid, block, shared,
                              func.getArguments(), /*asyncTokenType=*/nullptr,
                              /*asyncDependencies=*/ValueRange{}, cluster);
  b.create<func::ReturnOp>(loc);
  return absl::OkStatus();
}

} // namespace kiln::codegen::ptx
