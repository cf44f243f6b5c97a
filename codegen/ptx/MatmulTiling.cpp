//===- MatmulTiling.cpp - where a tensor-core matmul block works ----------===//

#include "codegen/ptx/MatmulTiling.h"

#include <array>

#include "passes/Precision.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

using namespace mlir;
namespace kir = kiln::ir;

namespace kiln::codegen::ptx {

constexpr int64_t kChunk = 8; // elements per 16-byte copy

MatmulGeometry geometryOf(kir::MatmulOp matmul) {
  auto aType = llvm::cast<RankedTensorType>(matmul.getA().getType());
  auto bType = llvm::cast<RankedTensorType>(matmul.getB().getType());
  auto outType = llvm::cast<RankedTensorType>(matmul.getResult().getType());
  MatmulGeometry g;
  g.transposeA = matmul.getTransposeA();
  g.transposeB = matmul.getTransposeB();
  g.element = outType.getElementType();
  g.result = g.element;
  int64_t r = outType.getRank();
  g.m = outType.getDimSize(r - 2);
  g.n = outType.getDimSize(r - 1);
  g.batch = 1;
  for (int64_t i = 0; i < r - 2; ++i)
    g.batch *= outType.getDimSize(i);
  auto operand = [&](RankedTensorType t) {
    int64_t rank = t.getRank();
    return MatmulOperand{rank == 2 ? 1 : g.batch, t.getDimSize(rank - 2),
                         t.getDimSize(rank - 1), rank == 2};
  };
  g.a = operand(aType);
  g.b = operand(bType);
  g.k = g.transposeA ? g.a.rows : g.a.cols;
  // A batched [batch, M, K] times one shared B is one [batch * M, K] matmul
  // with the same bytes (decoding's [B, 1, H] activations against a weight):
  // one pass over B instead of one per batch entry.
  if (!g.a.broadcast && g.b.broadcast && !g.transposeA && g.batch > 1) {
    g.m *= g.batch;
    g.a = MatmulOperand{1, g.m, g.k, true};
    g.batch = 1;
  }
  return g;
}

MatmulGeometry groupedGeometryOf(kir::GroupedMatmulOp grouped) {
  auto xType = llvm::cast<RankedTensorType>(grouped.getX().getType());
  auto wType = llvm::cast<RankedTensorType>(grouped.getW().getType());
  MatmulGeometry g;
  g.transposeA = false;
  g.transposeB = grouped.getTransposeW();
  g.element = xType.getElementType();
  g.result = g.element;
  g.batch = 1;
  g.m = xType.getDimSize(0);
  g.k = xType.getDimSize(1);
  g.n = g.transposeB ? wType.getDimSize(1) : wType.getDimSize(2);
  g.groups = wType.getDimSize(0);
  g.a = MatmulOperand{1, g.m, g.k, true};
  g.b = MatmulOperand{g.groups, wType.getDimSize(1), wType.getDimSize(2), false};
  return g;
}

MatmulGeometry gateUpGeometryOf(kir::MoeGateUpOp gateUp) {
  auto xType = llvm::cast<RankedTensorType>(gateUp.getTokens().getType());
  auto wType = llvm::cast<RankedTensorType>(gateUp.getWGate().getType());
  MatmulGeometry g;
  g.transposeA = false;
  g.transposeB = true;
  g.element = xType.getElementType();
  g.result = g.element;
  g.batch = 1;
  g.m = llvm::cast<RankedTensorType>(gateUp.getOrder().getType()).getDimSize(0);
  g.k = xType.getDimSize(1);
  g.n = wType.getDimSize(1);
  g.groups = wType.getDimSize(0);
  g.a = MatmulOperand{1, g.m, g.k, true};
  g.b = MatmulOperand{g.groups, g.n, g.k, false};
  return g;
}

MatmulGeometry contractGeometryOf(kir::GroupedMatmulOp grouped) {
  auto xType = llvm::cast<RankedTensorType>(grouped.getX().getType());
  auto dyType = llvm::cast<RankedTensorType>(grouped.getW().getType());
  MatmulGeometry g;
  g.transposeA = true;
  g.transposeB = false;
  g.element = xType.getElementType();
  g.result = g.element;
  g.k = xType.getDimSize(0);
  g.m = xType.getDimSize(1);
  g.n = dyType.getDimSize(1);
  g.groups = llvm::cast<RankedTensorType>(grouped.getOffsets().getType()).getDimSize(0);
  g.batch = g.groups;
  g.a = MatmulOperand{1, g.k, g.m, true};
  g.b = MatmulOperand{1, g.k, g.n, true};
  return g;
}

MatmulGeometry scaledGeometryOf(kir::ScaledMatmulOp scaled) {
  auto aType = llvm::cast<RankedTensorType>(scaled.getA().getType());
  auto bType = llvm::cast<RankedTensorType>(scaled.getB().getType());
  MatmulGeometry g;
  g.transposeA = false;
  g.transposeB = true;
  g.element = aType.getElementType();
  g.result = llvm::cast<RankedTensorType>(scaled.getType()).getElementType();
  g.batch = 1;
  g.m = aType.getDimSize(0);
  g.k = aType.getDimSize(1);
  g.n = bType.getDimSize(0);
  g.a = MatmulOperand{1, g.m, g.k, true};
  g.b = MatmulOperand{1, g.n, g.k, true};
  return g;
}

bool isTensorCoreScaledRecipe(kir::ScaledMatmulOp scaled) {
  auto aType = llvm::cast<RankedTensorType>(scaled.getA().getType());
  auto bType = llvm::cast<RankedTensorType>(scaled.getB().getType());
  auto isF8 = [](Type t) {
    return llvm::isa<Float8E4M3FNType, Float8E5M2Type>(t);
  };
  Type out = llvm::cast<RankedTensorType>(scaled.getType()).getElementType();
  if (!isF8(aType.getElementType()) ||
      bType.getElementType() != aType.getElementType() ||
      !(out.isF32() || out.isBF16() || out.isF16()))
    return false;
  // The blocks over the K-major layouts: a [M, K] and b [N, K].
  auto kMajor = [](ArrayRef<int64_t> block, bool reversed) {
    return reversed ? std::array<int64_t, 2>{block[1], block[0]}
                    : std::array<int64_t, 2>{block[0], block[1]};
  };
  std::array<int64_t, 2> bBlock =
      kMajor(scaled.getBBlock(), !scaled.getTransposeB());
  if (kMajor(scaled.getABlock(), scaled.getTransposeA()) !=
          std::array<int64_t, 2>{1, 128} ||
      (bBlock != std::array<int64_t, 2>{128, 128} &&
       bBlock != std::array<int64_t, 2>{1, 128}))
    return false;
  int64_t m = aType.getDimSize(scaled.getTransposeA() ? 1 : 0);
  int64_t k = aType.getDimSize(scaled.getTransposeA() ? 0 : 1);
  int64_t n = bType.getDimSize(scaled.getTransposeB() ? 0 : 1);
  return m > 0 && n > 0 && k > 0 && k % 16 == 0;
}

bool isTensorCoreScaledMatmul(Operation *op) {
  auto scaled = llvm::dyn_cast<kir::ScaledMatmulOp>(op);
  return scaled && !scaled.getTransposeA() && scaled.getTransposeB() &&
         isTensorCoreScaledRecipe(scaled);
}

namespace {

bool isTensorCoreElement(Type e) { return e.isBF16() || e.isF16(); }

bool isGroupedRows(kir::GroupedMatmulOp grouped) {
  if (grouped.getMode() != ir::GroupedMatmulMode::rows)
    return false;
  auto xType = llvm::cast<RankedTensorType>(grouped.getX().getType());
  auto wType = llvm::cast<RankedTensorType>(grouped.getW().getType());
  auto outType = llvm::cast<RankedTensorType>(grouped.getResult().getType());
  Type e = xType.getElementType();
  if (!isTensorCoreElement(e) || wType.getElementType() != e || outType.getElementType() != e)
    return false;
  MatmulGeometry g = groupedGeometryOf(grouped);
  if (g.m == 0 || g.n == 0 || g.k == 0 || g.groups == 0)
    return false;
  return g.a.cols % kChunk == 0 && g.b.cols % kChunk == 0;
}

bool isDense(kir::MatmulOp matmul) {
  auto aType = llvm::cast<RankedTensorType>(matmul.getA().getType());
  auto bType = llvm::cast<RankedTensorType>(matmul.getB().getType());
  auto outType = llvm::cast<RankedTensorType>(matmul.getResult().getType());
  Type e = outType.getElementType();
  if (!isTensorCoreElement(e) || aType.getElementType() != e || bType.getElementType() != e)
    return false;
  // Batch dims: absent, or exactly the result's (no size-1 broadcasting).
  for (auto t : {aType, bType}) {
    if (t.getRank() == 2)
      continue;
    if (t.getRank() != outType.getRank())
      return false;
    for (int64_t i = 0; i + 2 < t.getRank(); ++i)
      if (t.getDimSize(i) != outType.getDimSize(i))
        return false;
  }
  MatmulGeometry g = geometryOf(matmul);
  if (g.m == 0 || g.n == 0 || g.k == 0 || g.batch == 0)
    return false;
  return g.a.cols % kChunk == 0 && g.b.cols % kChunk == 0;
}

} // namespace

bool isTensorCoreContract(Operation *op) {
  auto grouped = llvm::dyn_cast<kir::GroupedMatmulOp>(op);
  if (!grouped || grouped.getMode() != ir::GroupedMatmulMode::contract)
    return false;
  auto xType = llvm::cast<RankedTensorType>(grouped.getX().getType());
  auto dyType = llvm::cast<RankedTensorType>(grouped.getW().getType());
  auto outType = llvm::cast<RankedTensorType>(grouped.getResult().getType());
  Type e = xType.getElementType();
  if (!isTensorCoreElement(e) || dyType.getElementType() != e || outType.getElementType() != e)
    return false;
  MatmulGeometry g = contractGeometryOf(grouped);
  if (g.m == 0 || g.n == 0 || g.k == 0 || g.groups == 0)
    return false;
  return g.m % kChunk == 0 && g.n % kChunk == 0;
}

bool isTensorCoreMatmul(Operation *op) {
  if (auto matmul = llvm::dyn_cast<kir::MatmulOp>(op))
    return isDense(matmul);
  if (auto grouped = llvm::dyn_cast<kir::GroupedMatmulOp>(op))
    return isGroupedRows(grouped);
  return false;
}

bool isTensorCoreGateUp(Operation *op) {
  auto gateUp = llvm::dyn_cast<kir::MoeGateUpOp>(op);
  if (!gateUp)
    return false;
  Type e = gateUp.getTokens().getType().getElementType();
  if (!isTensorCoreElement(e))
    return false;
  for (Value v : op->getOperands().slice(1, 2))
    if (llvm::cast<RankedTensorType>(v.getType()).getElementType() != e ||
        v.getDefiningOp<kir::DequantizeOp>())
      return false;
  for (Type t : op->getResultTypes())
    if (llvm::cast<RankedTensorType>(t).getElementType() != e)
      return false;
  MatmulGeometry g = gateUpGeometryOf(gateUp);
  int64_t tokens = gateUp.getTokens().getType().getDimSize(0);
  return g.m > 0 && g.n > 0 && g.k > 0 && g.groups > 0 && tokens > 0 &&
         g.m % tokens == 0 && g.k % kChunk == 0;
}

std::optional<MatmulOperand> viewOperandOfA(const MatmulGeometry &g,
                                            const passes::StridedView &view) {
  int64_t bytes = g.element.getIntOrFloatBitWidth() / 8;
  if (g.transposeA || view.offset != 0 || view.shape.empty() ||
      view.shape.back() != g.k || view.strides.back() != 1)
    return std::nullopt;
  // Size-1 dims take any stride; the others, innermost first, must merge
  // into the rows, then the batch entries.
  SmallVector<std::pair<int64_t, int64_t>> dims;
  for (size_t d = 0; d + 1 < view.shape.size(); ++d)
    if (view.shape[d] != 1)
      dims.push_back({view.shape[d], view.strides[d]});
  auto take = [&](int64_t want) -> std::optional<int64_t> {
    int64_t have = 1, stride = 0, inner = 0;
    while (have < want && !dims.empty()) {
      auto [size, s] = dims.pop_back_val();
      if (have > 1 && s != inner)
        return std::nullopt;
      if (have == 1)
        stride = s;
      inner = s * size;
      have *= size;
    }
    if (have != want || (stride * bytes) % 16 != 0)
      return std::nullopt;
    return stride;
  };
  std::optional<int64_t> rows = take(g.a.rows), batch = take(g.a.batch);
  if (!rows || !batch || !dims.empty())
    return std::nullopt;
  MatmulOperand o = g.a;
  o.rowStride = *rows;
  o.batchStride = *batch;
  return o;
}

kir::MatmulOp transposedStoreOf(Operation *root) {
  auto transpose = llvm::dyn_cast_or_null<kir::TransposeOp>(root);
  if (!transpose || transpose.getPerm() != ArrayRef<int64_t>{1, 0, 2})
    return kir::MatmulOp();
  auto matmul = transpose.getX().getDefiningOp<kir::MatmulOp>();
  if (!matmul || !matmul->hasOneUse() ||
      matmul->getBlock() != transpose->getBlock() ||
      llvm::cast<RankedTensorType>(matmul.getType()).getRank() != 3 ||
      geometryOf(matmul).batch < 2)
    return kir::MatmulOp();
  return matmul;
}

std::optional<FusedViewOfA> fusedViewOfA(kir::MatmulOp matmul) {
  auto dispatch =
      llvm::dyn_cast_or_null<kir::DispatchOp>(matmul->getParentOp());
  if (!dispatch)
    return std::nullopt;
  std::optional<passes::StridedView> view =
      passes::stridedViewOf(matmul.getA());
  // The region's members besides the matmul, its terminator and the
  // transpose it may be stored through.
  size_t members = dispatch.getBody().front().getOperations().size() - 2 -
                   (transposedStoreOf(dispatch.getRoot()) == matmul ? 1 : 0);
  if (!view || view->ops.size() != members ||
      llvm::any_of(view->ops, [&](Operation *op) {
        return op->getParentOp() != dispatch;
      }))
    return std::nullopt;
  std::optional<MatmulOperand> operand =
      viewOperandOfA(geometryOf(matmul), *view);
  if (!operand)
    return std::nullopt;
  return FusedViewOfA{*view, *operand};
}

bool isTensorCoreInt4Weight(kir::DequantizeOp dequantize) {
  return passes::isGemmInt4Weight(dequantize) &&
         isTensorCoreMatmul(*dequantize->getUsers().begin());
}

bool isTensorCoreInt4Matmul(Operation *root) {
  if (!llvm::isa<kir::MatmulOp, kir::GroupedMatmulOp>(root))
    return false;
  auto dequantize = root->getOperand(1).getDefiningOp<kir::DequantizeOp>();
  auto dispatch = llvm::dyn_cast_or_null<kir::DispatchOp>(root->getParentOp());
  return dequantize && dispatch && dequantize->getBlock() == root->getBlock() &&
         dispatch.getBody().front().getOperations().size() == 3 &&
         isTensorCoreInt4Weight(dequantize);
}

SmallVector<Type> matmulKernelArgs(const MatmulGeometry &g, Type operandElement, Operation *op) {
  auto operandType = [&](const MatmulOperand &o) {
    return MemRefType::get({o.batch, o.rows, o.cols}, operandElement);
  };
  SmallVector<Type> args{operandType(g.a), operandType(g.b)};
  if (auto grouped = llvm::dyn_cast<kir::GroupedMatmulOp>(op))
    args.push_back(MemRefType::get(
        {g.groups},
        llvm::cast<RankedTensorType>(grouped.getOffsets().getType()).getElementType()));
  args.push_back(MemRefType::get({g.batch, g.m, g.n}, g.element));
  return args;
}

TilePlacement denseTilePlacement(OpBuilder &b, Location loc,
                                 const MatmulGeometry &g, int64_t blockM,
                                 int64_t blockN, int64_t bandRows,
                                 int64_t splitK) {
  auto c = [&](int64_t v) -> Value { return b.create<arith::ConstantIndexOp>(loc, v); };
  auto add = [&](Value x, Value y) -> Value { return b.create<arith::AddIOp>(loc, x, y); };
  auto mul = [&](Value x, Value y) -> Value { return b.create<arith::MulIOp>(loc, x, y); };
  auto div = [&](Value x, Value y) -> Value { return b.create<arith::DivUIOp>(loc, x, y); };
  auto rem = [&](Value x, Value y) -> Value { return b.create<arith::RemUIOp>(loc, x, y); };
  Value bz = b.create<gpu::BlockIdOp>(loc, gpu::Dimension::z);
  int64_t mTiles = (g.m + blockM - 1) / blockM, nTiles = (g.n + blockN - 1) / blockN;
  Value tileX = b.create<gpu::BlockIdOp>(loc, gpu::Dimension::x);
  if (splitK > 1)
    tileX = div(tileX, c(splitK));
  Value linear = add(
      mul(b.create<gpu::BlockIdOp>(loc, gpu::Dimension::y), c(nTiles)), tileX);
  Value band = div(linear, c(bandRows * nTiles));
  Value inBand = rem(linear, c(bandRows * nTiles));
  Value firstRow = mul(band, c(bandRows));
  Value rowsInBand =
      b.create<arith::MinUIOp>(loc, b.create<arith::SubIOp>(loc, c(mTiles), firstRow), c(bandRows));
  Value mTile = add(firstRow, rem(inBand, rowsInBand));
  Value nTile = div(inBand, rowsInBand);
  return {mul(mTile, c(blockM)), c(g.m), mul(nTile, c(blockN)),
          g.a.broadcast ? c(0) : bz, g.b.broadcast ? c(0) : bz, bz, Value()};
}

TilePlacement groupedTilePlacement(OpBuilder &b, Location loc, const MatmulGeometry &g,
                                   Value offsets, int64_t blockM, int64_t blockN) {
  Type i64 = b.getI64Type();
  auto c = [&](int64_t v) -> Value { return b.create<arith::ConstantIndexOp>(loc, v); };
  auto i64c = [&](int64_t v) -> Value {
    return b.create<arith::ConstantOp>(loc, b.getI64IntegerAttr(v));
  };
  Value tile = b.create<arith::IndexCastOp>(loc, i64,
                                            b.create<gpu::BlockIdOp>(loc, gpu::Dimension::y));
  // Carried: end of the previous group, tiles before this group, and the
  // found (group, first row of the tile, group end); group = E + 1 if none.
  SmallVector<Value> init{i64c(0), i64c(0), i64c(g.groups + 1), i64c(0), i64c(0)};
  auto scan = b.create<scf::ForOp>(
      loc, c(0), c(g.groups + 1), c(1), init,
      [&](OpBuilder &body, Location, Value e, ValueRange carried) {
        OpBuilder::InsertionGuard guard(b);
        b.setInsertionPoint(body.getInsertionBlock(), body.getInsertionPoint());
        Value isTail = b.create<arith::CmpIOp>(loc, arith::CmpIPredicate::eq, e, c(g.groups));
        Value offset = b.create<scf::IfOp>(
            loc, isTail,
            [&](OpBuilder &nb, Location l) {
              nb.create<scf::YieldOp>(l, ValueRange{i64c(g.m)});
            },
            [&](OpBuilder &nb, Location l) {
              Value eSafe = nb.create<arith::MinUIOp>(l, e, c(g.groups - 1));
              Value raw = nb.create<memref::LoadOp>(l, offsets, ValueRange{eSafe});
              Value v = raw.getType() == i64 ? raw : nb.create<arith::ExtSIOp>(l, i64, raw);
              nb.create<scf::YieldOp>(l, ValueRange{v});
            }).getResult(0);
        offset = b.create<arith::MinSIOp>(loc, b.create<arith::MaxSIOp>(loc, offset, i64c(0)),
                                          i64c(g.m));
        Value start = carried[0];
        Value end = b.create<arith::MaxSIOp>(loc, carried[0], offset);
        Value tiles = b.create<arith::DivSIOp>(
            loc, b.create<arith::AddIOp>(loc, b.create<arith::SubIOp>(loc, end, start),
                                         i64c(blockM - 1)),
            i64c(blockM));
        Value before = carried[1];
        Value after = b.create<arith::AddIOp>(loc, before, tiles);
        Value here = b.create<arith::AndIOp>(
            loc, b.create<arith::CmpIOp>(loc, arith::CmpIPredicate::sge, tile, before),
            b.create<arith::CmpIOp>(loc, arith::CmpIPredicate::slt, tile, after));
        Value row = b.create<arith::AddIOp>(
            loc, start,
            b.create<arith::MulIOp>(loc, b.create<arith::SubIOp>(loc, tile, before),
                                    i64c(blockM)));
        Value eI64 = b.create<arith::IndexCastOp>(loc, i64, e);
        b.create<scf::YieldOp>(
            loc, ValueRange{end, after, b.create<arith::SelectOp>(loc, here, eI64, carried[2]),
                            b.create<arith::SelectOp>(loc, here, row, carried[3]),
                            b.create<arith::SelectOp>(loc, here, end, carried[4])});
      });
  Value group = scan.getResult(2);
  auto toIndex = [&](Value v) {
    return b.create<arith::IndexCastOp>(loc, b.getIndexType(), v).getResult();
  };
  // Blocks past every tile (group E + 1) have an empty row range.
  Value active = b.create<arith::CmpIOp>(loc, arith::CmpIPredicate::slt, group, i64c(g.groups));
  Value weights = b.create<arith::MinUIOp>(loc, toIndex(group), c(g.groups - 1));
  Value colBase = b.create<arith::MulIOp>(loc, b.create<gpu::BlockIdOp>(loc, gpu::Dimension::x),
                                          c(blockN));
  return {toIndex(scan.getResult(3)), toIndex(scan.getResult(4)), colBase, c(0), weights, c(0),
          active};
}

TilePlacement contractTilePlacement(OpBuilder &b, Location loc, const MatmulGeometry &g,
                                    Value offsets, int64_t blockM, int64_t blockN) {
  Type i64 = b.getI64Type();
  auto c = [&](int64_t v) -> Value { return b.create<arith::ConstantIndexOp>(loc, v); };
  auto i64c = [&](int64_t v) -> Value {
    return b.create<arith::ConstantOp>(loc, b.getI64IntegerAttr(v));
  };
  Value group = b.create<gpu::BlockIdOp>(loc, gpu::Dimension::z);
  // Carried: the end of the previous group; after the loop, (begin, end) of this one.
  auto scan = b.create<scf::ForOp>(
      loc, c(0), b.create<arith::AddIOp>(loc, group, c(1)), c(1), ValueRange{i64c(0), i64c(0)},
      [&](OpBuilder &nb, Location l, Value e, ValueRange carried) {
        Value raw = nb.create<memref::LoadOp>(l, offsets, ValueRange{e});
        Value v = raw.getType() == i64 ? raw : nb.create<arith::ExtSIOp>(l, i64, raw);
        Value clamped = nb.create<arith::MinSIOp>(
            l, nb.create<arith::MaxSIOp>(l, v, i64c(0)), i64c(g.k));
        Value end = nb.create<arith::MaxSIOp>(l, carried[1], clamped);
        nb.create<scf::YieldOp>(l, ValueRange{carried[1], end});
      });
  auto toIndex = [&](Value v) {
    return b.create<arith::IndexCastOp>(loc, b.getIndexType(), v).getResult();
  };
  Value rowBase = b.create<arith::MulIOp>(loc, b.create<gpu::BlockIdOp>(loc, gpu::Dimension::y),
                                          c(blockM));
  Value colBase = b.create<arith::MulIOp>(loc, b.create<gpu::BlockIdOp>(loc, gpu::Dimension::x),
                                          c(blockN));
  TilePlacement p{rowBase, c(g.m), colBase, c(0), c(0), group, Value()};
  p.kBegin = toIndex(scan.getResult(0));
  p.kEnd = toIndex(scan.getResult(1));
  return p;
}

int64_t groupedRowTiles(const MatmulGeometry &g, int64_t blockM) {
  return (g.m + blockM - 1) / blockM + g.groups + 1;
}

} // namespace kiln::codegen::ptx
