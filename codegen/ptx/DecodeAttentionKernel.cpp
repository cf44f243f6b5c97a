//===- DecodeAttentionKernel.cpp - one query a head, one shared kv head ---===//
//
// The decode step's attention over MLA's absorbed cache (passes/
// DecodeAttention.h): every query head reads the one latent kv head. The
// general attention kernel gives each (sequence, head) row its own warp, so
// each cache row is read once per head; here a block takes a sequence and G
// of its heads and reads each cache row once for all G:
//
//  1. scores: a warp per key, its lanes splitting the head dimension (lane
//     owns dims lane, lane + 32, ...; the G queries sit in its registers), G
//     dot products per key, reduced across the lanes in one butterfly that
//     halves the values it carries at each of the first log2(G) steps;
//  2. softmax: a warp per head turns its scores into exp(score - max) and
//     their sum;
//  3. values: a thread per output column sums exp-score x value over the keys
//     for the G heads at once (the G scores of a key are one vector load that
//     every thread of the block shares), then divides by the head's sum.
//
// The key may be read through the concat that joins the latent and RoPE
// caches (kiln-form-fusions fuses it): its parts are separate inputs. The
// sums keep a fixed order (deterministic), though not the general kernel's:
// results agree with it to f32 rounding, not bit for bit. All math in f32,
// rounded once to the result type.
//
//===----------------------------------------------------------------------===//

#include "codegen/ptx/DirectKernel.h"
#include "codegen/ptx/Scalars.h"
#include "passes/DecodeAttention.h"

#include <cmath>

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

using namespace mlir;
namespace kir = kiln::ir;

namespace kiln::codegen::ptx {
namespace {

constexpr int64_t kWarps = 8, kThreads = kWarps * 32;
/// Keys a warp scores per loop iteration (their loads in flight together).
constexpr int64_t kKeysAtOnce = 2;
/// Keys whose value loads the column loop issues together.
constexpr int64_t kValueUnroll = 4;

/// One concat part of the key: columns [offset, offset + width) of a key row
/// live in input `input` as [B, keys, width].
struct KeyPart {
  int64_t offset, width;
  unsigned input;
};

int64_t log2Of(int64_t n) {
  int64_t bits = 0;
  while ((int64_t{1} << bits) < n)
    ++bits;
  return bits;
}

} // namespace

absl::Status buildDecodeAttentionKernels(Operation *op, ArrayRef<Value> inputs,
                                         ModuleOp module,
                                         const std::string &name) {
  auto attention = llvm::cast<kir::AttentionOp>(op);
  auto qType = llvm::cast<RankedTensorType>(attention.getQ().getType());
  auto kType = llvm::cast<RankedTensorType>(attention.getK().getType());
  auto vType = llvm::cast<RankedTensorType>(attention.getV().getType());
  int64_t batches = qType.getDimSize(0), heads = qType.getDimSize(1);
  int64_t keys = kType.getDimSize(2), dk = qType.getDimSize(3);
  int64_t dv = vType.getDimSize(3);
  int64_t group = passes::decodeAttentionHeadsPerBlock(heads, keys, dk);
  if (group == 0)
    return absl::InternalError("decode attention: no head group fits");
  int64_t groups = heads / group, laneDims = (dk + 31) / 32;
  int64_t groupBits = log2Of(group);

  SmallVector<KeyPart> parts;
  if (kir::ConcatOp concat = passes::fusedKeyConcat(attention)) {
    int64_t offset = 0;
    for (Value part : concat.getInputs()) {
      int64_t width =
          llvm::cast<RankedTensorType>(part.getType()).getDimSize(2);
      parts.push_back({offset, width, unsigned(1 + parts.size())});
      offset += width;
    }
  } else {
    parts.push_back({0, dk, 1});
  }
  unsigned vInput = 1 + parts.size(), next = vInput + 1;
  if (inputs.size() != next + (attention.getValidLen() ? 1 : 0) +
                           (attention.getQOffset() ? 1 : 0))
    return absl::InternalError("decode attention: unexpected inputs");

  SmallVector<Type> types;
  for (Value v : inputs)
    types.push_back(v.getType());
  DirectKernels k(op, types, module, name);
  int64_t scoreBytes = keys * group * 4;
  OpBuilder b = k.addKernel("decode_attention", batches * groups, kThreads,
                            scoreBytes + group * 4);
  Location l = k.loc();
  Type f32 = b.getF32Type(), i64 = b.getI64Type();
  auto c = [&](OpBuilder &nb, int64_t v) { return indexConst(nb, l, v); };
  auto add = [&](OpBuilder &nb, Value x, Value y) -> Value {
    return nb.create<arith::AddIOp>(l, x, y);
  };
  auto mul = [&](OpBuilder &nb, Value x, int64_t y) -> Value {
    return nb.create<arith::MulIOp>(l, x, c(nb, y));
  };

  // Shared memory: scores [keys][group] f32 (and a vector<4> view for the
  // value loop), then each head's sum of exponentials.
  auto workgroup =
      gpu::AddressSpaceAttr::get(b.getContext(), gpu::AddressSpace::Workgroup);
  Value dynamic = b.create<gpu::DynamicSharedMemoryOp>(
      l, MemRefType::get({ShapedType::kDynamic}, b.getI8Type(),
                         MemRefLayoutAttrInterface(), workgroup));
  auto view = [&](int64_t count, Type t, int64_t offset) -> Value {
    return b.create<memref::ViewOp>(
        l, MemRefType::get({count}, t, MemRefLayoutAttrInterface(), workgroup),
        dynamic, c(b, offset), ValueRange{});
  };
  Value scores = view(keys * group, f32, 0);
  bool vectorScores = group % 4 == 0;
  auto f32x4 = VectorType::get({4}, f32);
  Value scoreVectors =
      vectorScores ? view(keys * group / 4, f32x4, 0) : Value();
  Value totals = view(group, f32, scoreBytes);

  Value tid = threadIndex(b, l);
  Value lane = b.create<arith::RemUIOp>(l, tid, c(b, 32));
  Value warp = b.create<arith::DivUIOp>(l, tid, c(b, 32));
  Value block = blockIndex(b, l);
  Value batch = b.create<arith::DivUIOp>(l, block, c(b, groups));
  Value head0 = mul(b, b.create<arith::RemUIOp>(l, block, c(b, groups)), group);

  // The visible prefix of the keys (the one query sits at position 0 +
  // q_offset).
  auto i64Const = [&](int64_t v) {
    return b.create<arith::ConstantOp>(l, b.getI64IntegerAttr(v));
  };
  auto operandAt = [&](unsigned input, Value at) {
    return convert(
        b, l, b.create<memref::LoadOp>(l, k.operand(input), ValueRange{at}),
        i64);
  };
  Value limit = i64Const(keys);
  if (attention.getValidLen())
    limit = b.create<arith::MinSIOp>(l, limit, operandAt(next++, batch));
  if (attention.getCausal()) {
    Value offset = i64Const(0);
    if (attention.getQOffset())
      offset = operandAt(next++, batch);
    limit = b.create<arith::MinSIOp>(
        l, limit, b.create<arith::AddIOp>(l, offset, i64Const(1)));
  }
  limit = b.create<arith::MaxSIOp>(l, limit, i64Const(0));
  Value visible = b.create<arith::IndexCastOp>(l, b.getIndexType(), limit);

  auto loadF32 = [&](OpBuilder &nb, Location nl, unsigned input, Value at) {
    return convert(
        nb, nl, nb.create<memref::LoadOp>(nl, k.operand(input), ValueRange{at}),
        f32);
  };
  auto zero = [&](OpBuilder &nb) { return floatConst(nb, l, f32, 0.0); };

  // The block's queries in registers: q[g][t] is head head0 + g at dim
  // lane + 32 t (0 past dk).
  SmallVector<Value> query;
  for (int64_t g = 0; g < group; ++g) {
    Value rowBase =
        mul(b, add(b, mul(b, batch, heads), add(b, head0, c(b, g))), dk);
    for (int64_t t = 0; t < laneDims; ++t) {
      Value d = add(b, lane, c(b, 32 * t));
      if (32 * (t + 1) <= dk) {
        query.push_back(loadF32(b, l, 0, add(b, rowBase, d)));
        continue;
      }
      Value inside =
          b.create<arith::CmpIOp>(l, arith::CmpIPredicate::ult, d, c(b, dk));
      Value at = b.create<arith::MinUIOp>(l, d, c(b, dk - 1));
      query.push_back(b.create<arith::SelectOp>(
          l, inside, loadF32(b, l, 0, add(b, rowBase, at)), zero(b)));
    }
  }

  // Key j's element at dim lane + 32 t, through the concat's parts.
  auto loadKey = [&](OpBuilder &nb, Location nl, Value j, int64_t t) -> Value {
    Value d = add(nb, lane, c(nb, 32 * t));
    Value result;
    for (const KeyPart &p : parts) {
      int64_t lo = 32 * t, hi = std::min(32 * (t + 1), dk);
      if (hi <= p.offset || lo >= p.offset + p.width)
        continue;
      Value rowBase = mul(nb, add(nb, mul(nb, batch, keys), j), p.width);
      bool whole = lo >= p.offset && 32 * (t + 1) <= p.offset + p.width;
      Value local = nb.create<arith::SubIOp>(
          nl, nb.create<arith::MaxUIOp>(nl, d, c(nb, p.offset)),
          c(nb, p.offset));
      if (!whole)
        local = nb.create<arith::MinUIOp>(nl, local, c(nb, p.width - 1));
      Value value = loadF32(nb, nl, p.input, add(nb, rowBase, local));
      if (whole || !result) {
        result = value;
        continue;
      }
      Value here = nb.create<arith::CmpIOp>(nl, arith::CmpIPredicate::uge, d,
                                            c(nb, p.offset));
      result = nb.create<arith::SelectOp>(nl, here, value, result);
    }
    return result;
  };

  // 1. Scores: warp w takes keys w, w + kWarps, ...
  Value scale =
      floatConst(b, l, f32, attention.getScaleAttr().getValueAsDouble());
  Value headOfLane = b.create<arith::ShRUIOp>(l, lane, c(b, 5 - groupBits));
  Value writer = b.create<arith::CmpIOp>(
      l, arith::CmpIPredicate::eq,
      b.create<arith::AndIOp>(l, lane, c(b, (32 >> groupBits) - 1)), c(b, 0));
  forLoopUnrolled(
      b, l, warp, visible, kWarps, kKeysAtOnce, {},
      [&](OpBuilder &nb, Location nl, Value j) -> SmallVector<Value> {
        SmallVector<Value> row;
        for (int64_t t = 0; t < laneDims; ++t)
          row.push_back(loadKey(nb, nl, j, t));
        return row;
      },
      [&](OpBuilder &nb, Location nl, Value j, Value valid, ArrayRef<Value> row,
          ValueRange) -> SmallVector<Value> {
        SmallVector<Value> sums;
        for (int64_t g = 0; g < group; ++g) {
          Value sum = nb.create<arith::MulFOp>(nl, query[g * laneDims], row[0]);
          for (int64_t t = 1; t < laneDims; ++t)
            sum = nb.create<arith::AddFOp>(
                nl, sum,
                nb.create<arith::MulFOp>(nl, query[g * laneDims + t], row[t]));
          sums.push_back(sum);
        }
        // Butterfly: at offset 16, 8, ... a lane keeps the half of its
        // values its offset bit selects and adds its partner's copy of that
        // half; once one value is left the plain xor reduction finishes.
        for (int32_t offset = 16; offset >= 1; offset /= 2) {
          if (sums.size() == 1) {
            sums[0] = nb.create<arith::AddFOp>(
                nl, sums[0],
                shuffle(nb, nl, sums[0], offset, gpu::ShuffleMode::XOR));
            continue;
          }
          Value upper = nb.create<arith::CmpIOp>(
              nl, arith::CmpIPredicate::ne,
              nb.create<arith::AndIOp>(nl, lane, c(nb, offset)), c(nb, 0));
          size_t half = sums.size() / 2;
          SmallVector<Value> kept;
          for (size_t i = 0; i < half; ++i) {
            Value keep =
                nb.create<arith::SelectOp>(nl, upper, sums[half + i], sums[i]);
            Value send =
                nb.create<arith::SelectOp>(nl, upper, sums[i], sums[half + i]);
            kept.push_back(nb.create<arith::AddFOp>(
                nl, keep,
                shuffle(nb, nl, send, offset, gpu::ShuffleMode::XOR)));
          }
          sums = kept;
        }
        Value score = nb.create<arith::MulFOp>(nl, sums[0], scale);
        ifThen(nb, nl, nb.create<arith::AndIOp>(nl, valid, writer),
               [&](OpBuilder &wb, Location wl) {
                 wb.create<memref::StoreOp>(
                     wl, score, scores,
                     ValueRange{add(wb, mul(wb, j, group), headOfLane)});
               });
        return {};
      });
  b.create<gpu::BarrierOp>(l);

  // 2. Softmax numerators: warp g takes head g.
  ifThen(
      b, l,
      b.create<arith::CmpIOp>(l, arith::CmpIPredicate::ult, warp, c(b, group)),
      [&](OpBuilder &hb, Location hl) {
        auto at = [&](OpBuilder &nb, Value j) {
          return add(nb, mul(nb, j, group), warp);
        };
        Value localMax =
            forLoop(hb, hl, lane, visible, c(hb, 32),
                    {floatConst(hb, hl, f32, -INFINITY)},
                    [&](OpBuilder &nb, Location nl, Value j, ValueRange acc) {
                      Value s = nb.create<memref::LoadOp>(
                          nl, scores, ValueRange{at(nb, j)});
                      return SmallVector<Value>{
                          nb.create<arith::MaximumFOp>(nl, acc[0], s)};
                    })[0];
        Value rowMax = warpAllReduce(hb, hl, localMax, /*max=*/true);
        // No visible key: max -inf; shift by 0 and divide by 1 (the sums
        // stay 0, so the output is 0).
        Value noKey =
            hb.create<arith::CmpFOp>(hl, arith::CmpFPredicate::OEQ, rowMax,
                                     floatConst(hb, hl, f32, -INFINITY));
        Value shift = hb.create<arith::SelectOp>(
            hl, noKey, floatConst(hb, hl, f32, 0.0), rowMax);
        Value localSum = forLoop(
            hb, hl, lane, visible, c(hb, 32), {floatConst(hb, hl, f32, 0.0)},
            [&](OpBuilder &nb, Location nl, Value j, ValueRange acc) {
              Value where = at(nb, j);
              Value e = nb.create<math::ExpOp>(
                  nl,
                  nb.create<arith::SubFOp>(
                      nl,
                      nb.create<memref::LoadOp>(nl, scores, ValueRange{where}),
                      shift));
              nb.create<memref::StoreOp>(nl, e, scores, ValueRange{where});
              return SmallVector<Value>{
                  nb.create<arith::AddFOp>(nl, acc[0], e)};
            })[0];
        Value total = warpAllReduce(hb, hl, localSum, /*max=*/false);
        total = hb.create<arith::SelectOp>(hl, noKey,
                                           floatConst(hb, hl, f32, 1.0), total);
        ifThen(hb, hl,
               hb.create<arith::CmpIOp>(hl, arith::CmpIPredicate::eq, lane,
                                        c(hb, 0)),
               [&](OpBuilder &wb, Location wl) {
                 wb.create<memref::StoreOp>(wl, total, totals,
                                            ValueRange{warp});
               });
      });
  b.create<gpu::BarrierOp>(l);

  // 3. Values: thread t takes columns t, t + kThreads, ...
  Value out = k.result(0);
  Type outElement = llvm::cast<MemRefType>(out.getType()).getElementType();
  for (int64_t first = 0; first < dv; first += kThreads) {
    Value col = add(b, tid, c(b, first));
    Value inside =
        b.create<arith::CmpIOp>(l, arith::CmpIPredicate::ult, col, c(b, dv));
    Value colAt = b.create<arith::MinUIOp>(l, col, c(b, dv - 1));
    SmallVector<Value> inits(group, zero(b));
    SmallVector<Value> sums = forLoopUnrolled(
        b, l, c(b, 0), visible, 1, kValueUnroll, inits,
        [&](OpBuilder &nb, Location nl, Value j) -> SmallVector<Value> {
          SmallVector<Value> reads{loadF32(
              nb, nl, vInput,
              add(nb, mul(nb, add(nb, mul(nb, batch, keys), j), dv), colAt))};
          if (vectorScores) {
            for (int64_t v = 0; v < group / 4; ++v) {
              Value four = nb.create<memref::LoadOp>(
                  nl, scoreVectors,
                  ValueRange{add(nb, mul(nb, j, group / 4), c(nb, v))});
              for (int64_t i = 0; i < 4; ++i)
                reads.push_back(nb.create<vector::ExtractOp>(
                    nl, four, ArrayRef<int64_t>{i}));
            }
          } else {
            for (int64_t g = 0; g < group; ++g)
              reads.push_back(nb.create<memref::LoadOp>(
                  nl, scores,
                  ValueRange{add(nb, mul(nb, j, group), c(nb, g))}));
          }
          return reads;
        },
        [&](OpBuilder &nb, Location nl, Value, Value valid,
            ArrayRef<Value> reads, ValueRange acc) -> SmallVector<Value> {
          SmallVector<Value> nextAcc;
          for (int64_t g = 0; g < group; ++g)
            nextAcc.push_back(nb.create<arith::SelectOp>(
                nl, valid,
                nb.create<arith::AddFOp>(
                    nl, acc[g],
                    nb.create<arith::MulFOp>(nl, reads[1 + g], reads[0])),
                acc[g]));
          return nextAcc;
        });
    ifThen(b, l, inside, [&](OpBuilder &wb, Location wl) {
      for (int64_t g = 0; g < group; ++g) {
        Value total =
            wb.create<memref::LoadOp>(wl, totals, ValueRange{c(wb, g)});
        Value row = add(wb, mul(wb, batch, heads), add(wb, head0, c(wb, g)));
        wb.create<memref::StoreOp>(
            wl,
            convert(wb, wl, wb.create<arith::DivFOp>(wl, sums[g], total),
                    outElement),
            out, ValueRange{add(wb, mul(wb, row, dv), col)});
      }
    });
  }
  return absl::OkStatus();
}

} // namespace kiln::codegen::ptx
