//===- LoopNestKernel.cpp - a region as one loop nest ---------------------===//
//
// The loop_nest provider: a kiln.dispatch region becomes a func.func over
// memrefs whose body is linalg (or one scf.parallel) on buffers, so the rest of
// the path (parallel loops -> gpu -> NVVM -> PTX) is stock MLIR. Regions of
// same-size elementwise ops are flat vector kernels, regions holding row
// reductions are row kernels, and single ops take their family's builder.
//
//===----------------------------------------------------------------------===//

#include "codegen/ptx/LoopNestKernel.h"

#include "absl/strings/str_cat.h"
#include "codegen/ptx/LoopNestBuilder.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

using namespace mlir;
namespace kir = kiln::ir;

namespace kiln::codegen::ptx {
namespace loopnest {

absl::Status LoopNestBuilder::build() {

  if (auto body = elementwiseBody(b, op)) {
    SmallVector<SmallVector<int64_t>> shapes;
    for (Value operand : op->getOperands())
      shapes.push_back(canonicalShape(
          llvm::cast<RankedTensorType>(operand.getType()).getShape()));
    bool ok = true;
    elementwise(
        b, loc, readers, shapes, result(0), outShape(),
        [&](OpBuilder &nb, Location l, ValueRange s) -> Value {
          FailureOr<Value> v = body->fn(nb, l, s);
          if (failed(v)) {
            ok = false;
            return s[0];
          }
          return *v;
        },
        body->compute);
    return ok ? absl::OkStatus()
              : unsupported(op, "no scalar lowering for this element type");
  }
  if (op->hasTrait<kir::KilnIndexRemap>())
    return buildRemap();
  if (auto iota = llvm::dyn_cast<kir::IotaOp>(op))
    return buildIota(iota.getDimensionAttr().getInt());
  if (op->hasTrait<kir::KilnReduction>())
    return buildReduction();
  if (auto argmax = llvm::dyn_cast<kir::ArgmaxOp>(op))
    return buildArgmax(argmax.getAxisAttr().getInt(), argmax.getKeepdims());
  if (llvm::isa<kir::OneHotOp>(op))
    return buildOneHot();
  if (llvm::isa<kir::DynamicUpdateSliceOp>(op))
    return buildDynamicUpdateSlice();
  if (auto scatter = llvm::dyn_cast<kir::ScatterAddOp>(op))
    return buildScatterAdd(scatter.getAxisAttr().getInt());
  if (auto grouped = llvm::dyn_cast<kir::GroupedMatmulOp>(op))
    return grouped.getMode() == kir::GroupedMatmulMode::rows
               ? buildGroupedRows(grouped.getTransposeW())
               : buildGroupedContract();
  if (llvm::isa<kir::RandomUniformOp, kir::RandomNormalOp>(op))
    return buildRandom(llvm::isa<kir::RandomNormalOp>(op));
  if (auto matmul = llvm::dyn_cast<kir::MatmulOp>(op))
    return buildMatmul(matmul.getTransposeA(), matmul.getTransposeB());
  if (auto gather = llvm::dyn_cast<kir::GatherOp>(op))
    return buildGather(gather.getAxisAttr().getInt());
  if (auto take = llvm::dyn_cast<kir::TakeAlongAxisOp>(op))
    return buildTakeAlongAxis(take.getAxisAttr().getInt());
  return unsupported(op, "no kernel for this op yet");
}

SmallVector<Value> LoopNestBuilder::loops(
    OpBuilder &nb, Location l, ArrayRef<int64_t> sizes, ValueRange inits,
    const std::function<SmallVector<Value>(OpBuilder &, Location, ValueRange,
                                           ValueRange)> &step) {
  SmallVector<Value> ivs;
  std::function<SmallVector<Value>(OpBuilder &, size_t, ValueRange)> nest =
      [&](OpBuilder &ob, size_t depth,
          ValueRange carried) -> SmallVector<Value> {
    if (depth == sizes.size())
      return step(ob, l, ivs, carried);
    Value lo = ob.create<arith::ConstantIndexOp>(l, 0);
    Value hi = ob.create<arith::ConstantIndexOp>(l, sizes[depth]);
    Value one = ob.create<arith::ConstantIndexOp>(l, 1);
    auto loop = ob.create<scf::ForOp>(
        l, lo, hi, one, carried,
        [&](OpBuilder &ib, Location il, Value iv, ValueRange args) {
          ivs.push_back(iv);
          SmallVector<Value> next = nest(ib, depth + 1, args);
          ivs.pop_back();
          ib.create<scf::YieldOp>(il, next);
        });
    return SmallVector<Value>(loop.getResults());
  };
  return nest(nb, 0, inits);
}

} // namespace loopnest

namespace {

using namespace loopnest;

/// The flat-region kernel: a parallel loop over groups of kVector consecutive
/// elements. Each iteration loads its kVector elements of every full-size
/// input, computes, then stores: with the loads adjacent (math lowerings may
/// contain inline asm, which would split them) and the buffers' 16-byte
/// alignment assumed (arena offsets are 256-aligned, allocations more), LLVM's
/// load-store vectorizer turns them and the stores into 16-byte accesses.
absl::Status
buildFlatVectorKernel(OpBuilder &b, Operation *root, func::FuncOp func,
                      const std::function<Reader(Value)> &readerFor,
                      const std::function<SmallVector<int64_t>(Value)> &shapeOf,
                      int64_t count, Preloaded &preloaded) {
  Location loc = root->getLoc();
  std::optional<ElementwiseBody> body = elementwiseBody(b, root);
  SmallVector<Reader> readers;
  SmallVector<SmallVector<int64_t>> shapes;
  for (Value operand : root->getOperands()) {
    readers.push_back(readerFor(operand));
    shapes.push_back(shapeOf(operand));
  }
  Value out = func.getArguments().back();
  Type element = llvm::cast<MemRefType>(out.getType()).getElementType();
  auto c = [&](OpBuilder &nb, int64_t v) -> Value {
    return nb.create<arith::ConstantIndexOp>(loc, v);
  };
  bool ok = true;
  b.create<scf::ParallelOp>(
      loc, ValueRange{c(b, 0)}, ValueRange{c(b, count / kVector)},
      ValueRange{c(b, 1)}, [&](OpBuilder &nb, Location l, ValueRange ivs) {
        // Inside the loop, so the assumption moves into the outlined kernel.
        for (BlockArgument arg : func.getArguments())
          nb.create<memref::AssumeAlignmentOp>(l, arg, 16);
        Value base = nb.create<arith::MulIOp>(l, ivs[0], c(nb, kVector));
        SmallVector<Value> flatIndex, results;
        for (int64_t j = 0; j < kVector; ++j)
          flatIndex.push_back(nb.create<arith::AddIOp>(l, base, c(nb, j)));
        for (BlockArgument arg : func.getArguments().drop_back())
          if (llvm::cast<MemRefType>(arg.getType()).getNumElements() == count)
            for (int64_t j = 0; j < kVector; ++j)
              preloaded[{arg, flatIndex[j]}] =
                  nb.create<memref::LoadOp>(l, arg, flatIndex[j]).getResult();
        for (int64_t j = 0; j < kVector; ++j) {
          SmallVector<Value> scalars = readBroadcast(
              nb, l, readers, shapes, {count}, flatIndex[j], body->compute);
          FailureOr<Value> r = body->fn(nb, l, scalars);
          if (failed(r)) {
            ok = false;
            r = scalars[0];
          }
          results.push_back(convert(nb, l, *r, element));
        }
        for (int64_t j = 0; j < kVector; ++j)
          nb.create<memref::StoreOp>(l, results[j], out, flatIndex[j]);
      });
  return ok ? absl::OkStatus()
            : unsupported(root, "no scalar lowering for this element type");
}

/// The row kernel of a region holding reductions (kiln-form-fusions admits
/// them only over the trailing `cols` elements of the root's shape): one warp
/// (or block, rowLanes) per row first reduces each fused reduction over the
/// row (warpReduceRow, in program order, so a later one may read an earlier
/// one) and keeps the value in `rowValues`, where the region's readers find
/// it; then the lanes stride over the row computing the root.
absl::Status
buildRowKernel(OpBuilder &b, Operation *root, func::FuncOp func,
               ArrayRef<Operation *> reductions,
               const std::function<Reader(Value)> &readerFor,
               const std::function<SmallVector<int64_t>(Value)> &shapeOf,
               llvm::DenseMap<Operation *, Value> &rowValues) {
  Location loc = root->getLoc();
  int64_t count = llvm::cast<RankedTensorType>(root->getResult(0).getType())
                      .getNumElements();
  int64_t cols = warpRowLength(reductions.front());
  int64_t rows = count / cols, lanes = rowLanes(cols, rows);
  SmallVector<int64_t> rootShape = shapeOf(root->getResult(0));
  std::optional<ElementwiseBody> body = elementwiseBody(b, root);
  if (!body)
    return unsupported(root, "a row region's root must be elementwise "
                             "(kiln-form-fusions keeps it so)");
  Value out = func.getArguments().back();
  Type element = llvm::cast<MemRefType>(out.getType()).getElementType();
  auto c = [&](OpBuilder &nb, int64_t v) -> Value {
    return nb.create<arith::ConstantIndexOp>(loc, v);
  };
  bool ok = true;
  b.create<scf::ParallelOp>(
      loc, ValueRange{c(b, 0)}, ValueRange{c(b, rows * lanes)},
      ValueRange{c(b, 1)}, [&](OpBuilder &nb, Location l, ValueRange ivs) {
        Value row = nb.create<arith::DivUIOp>(l, ivs[0], c(nb, lanes));
        Value lane = nb.create<arith::RemUIOp>(l, ivs[0], c(nb, lanes));
        Value rowBase = nb.create<arith::MulIOp>(l, row, c(nb, cols));
        for (Operation *reduction : reductions) {
          Value operand = reduction->getOperand(0);
          Type compute = computeType(
              nb,
              llvm::cast<RankedTensorType>(operand.getType()).getElementType());
          Reader in = readerFor(operand);
          SmallVector<int64_t> inShape = shapeOf(operand);
          Value partials =
              lanes > 32 ? rowPartials(nb, l, func->getParentOfType<ModuleOp>(),
                                       compute)
                         : Value();
          Value v = warpReduceRow(
              nb, l, reduction, lane, cols, lanes, compute,
              [&](OpBuilder &ib, Location il, Value k) {
                Value flat = ib.create<arith::AddIOp>(il, rowBase, k);
                return convert(ib, il,
                               in(ib, il, delinearize(ib, il, flat, inShape)),
                               compute);
              },
              partials);
          // Rounded to the reduction's type, as its stored result would be.
          rowValues[reduction] = convert(
              nb, l, v,
              llvm::cast<RankedTensorType>(reduction->getResult(0).getType())
                  .getElementType());
        }
        SmallVector<Reader> readers;
        SmallVector<SmallVector<int64_t>> shapes;
        for (Value operand : root->getOperands()) {
          readers.push_back(readerFor(operand));
          shapes.push_back(shapeOf(operand));
        }
        // The root over the row, its operands read kRowUnroll elements at a
        // time before any is stored (forEachStrided).
        forEachStrided(
            nb, l, lane, cols, lanes, ValueRange{},
            [&](OpBuilder &ib, Location il, Value k) -> SmallVector<Value> {
              Value flat = ib.create<arith::AddIOp>(il, rowBase, k);
              return readBroadcast(ib, il, readers, shapes, rootShape,
                                   delinearize(ib, il, flat, rootShape),
                                   body->compute);
            },
            [&](OpBuilder &ib, Location il, Value k, Value valid,
                ArrayRef<Value> scalars, ValueRange) -> SmallVector<Value> {
              FailureOr<Value> r = body->fn(ib, il, scalars);
              if (failed(r)) {
                ok = false;
                r = scalars[0];
              }
              Value stored = convert(ib, il, *r, element);
              Value flat = ib.create<arith::AddIOp>(il, rowBase, k);
              ib.create<scf::IfOp>(il, valid, [&](OpBuilder &tb, Location tl) {
                tb.create<memref::StoreOp>(tl, stored, out, flat);
                tb.create<scf::YieldOp>(tl);
              });
              return {};
            });
      });
  return ok ? absl::OkStatus()
            : unsupported(root, "no scalar lowering for this element type");
}

} // namespace

absl::Status buildLoopNestKernel(Operation *root,
                                 const llvm::DenseSet<Operation *> &fused,
                                 ModuleOp module, const std::string &name,
                                 SmallVectorImpl<Value> &inputs) {
  // The kernel's inputs: every operand the fused tree reads from outside it, in
  // operand order and not deduplicated, so an unfused op's operand i is input
  // i.
  llvm::DenseMap<Value, unsigned> inputIndex;
  std::function<void(Operation *)> collect = [&](Operation *o) {
    for (Value v : o->getOperands()) {
      Operation *def = v.getDefiningOp();
      if (def && fused.contains(def)) {
        collect(def);
        continue;
      }
      inputIndex.try_emplace(v, inputs.size());
      inputs.push_back(v);
    }
  };
  collect(root);
  // Reductions fused into this region, in program order (a row kernel).
  SmallVector<Operation *> reductions;
  std::function<void(Operation *)> findReductions = [&](Operation *o) {
    for (Value v : o->getOperands())
      if (Operation *def = v.getDefiningOp(); def && fused.contains(def)) {
        if (def->hasTrait<kir::KilnReduction>() &&
            !llvm::is_contained(reductions, def))
          reductions.push_back(def);
        findReductions(def);
      }
  };
  findReductions(root);
  llvm::sort(reductions,
             [](Operation *a, Operation *c) { return a->isBeforeInBlock(c); });

  // Flat regions: an elementwise root whose every value has the root's element
  // count or one element. Every tensor is then a flat vector (one-element ones
  // broadcast), no index is delinearised, and each thread computes kVector
  // consecutive elements.
  int64_t count = llvm::cast<RankedTensorType>(root->getResult(0).getType())
                      .getNumElements();
  auto numElements = [](Value v) {
    return llvm::cast<RankedTensorType>(v.getType()).getNumElements();
  };
  bool flat = isElementwise(root) && count % kVector == 0 && count > 0 &&
              reductions.empty();
  // An index remap inside the region reads at computed indices: not flat (a
  // reshape keeps the flat position, so it is).
  std::function<void(Operation *)> checkFlat = [&](Operation *o) {
    for (Value v : o->getOperands()) {
      flat &= numElements(v) == count || numElements(v) == 1;
      if (Operation *def = v.getDefiningOp(); def && fused.contains(def)) {
        flat &= !def->hasTrait<kir::KilnIndexRemap>();
        checkFlat(def);
      }
    }
  };
  checkFlat(root);
  auto shapeOf = [&](Value v) -> SmallVector<int64_t> {
    if (flat)
      return {numElements(v)};
    return canonicalShape(llvm::cast<RankedTensorType>(v.getType()).getShape());
  };

  OpBuilder b(module.getContext());
  b.setInsertionPointToEnd(module.getBody());
  SmallVector<Type> args;
  for (Value v : inputs)
    args.push_back(MemRefType::get(
        shapeOf(v),
        llvm::cast<RankedTensorType>(v.getType()).getElementType()));
  // Results are written through a flat view: every kernel is one flat loop.
  for (Type t : root->getResultTypes()) {
    auto tensor = llvm::cast<RankedTensorType>(t);
    args.push_back(
        MemRefType::get({std::max<int64_t>(tensor.getNumElements(), 1)},
                        tensor.getElementType()));
  }
  auto func =
      b.create<func::FuncOp>(root->getLoc(), name, b.getFunctionType(args, {}));
  Block *entry = func.addEntryBlock();
  b.setInsertionPointToStart(entry);

  // A fused producer is recomputed where its consumer reads it, rounded to its
  // own element type as its stored result would be, so fusion never changes a
  // bit.
  bool bodyFailed = false;
  // Inputs the flat kernel loaded up front, by (buffer, index value).
  Preloaded preloaded;
  llvm::DenseMap<Operation *, Value> rowValues;
  std::function<Reader(Value)> readerFor = [&](Value v) -> Reader {
    Operation *def = v.getDefiningOp();
    if (def && fused.contains(def) && def->hasTrait<kir::KilnReduction>())
      // The row kernel reduced it already: every element of the row reads it.
      return [&rowValues, def](OpBuilder &, Location, ValueRange) -> Value {
        return rowValues.lookup(def);
      };
    if (!def || !fused.contains(def)) {
      Value memref = func.getArgument(inputIndex.lookup(v));
      return [&preloaded, memref](OpBuilder &nb, Location l,
                                  ValueRange idx) -> Value {
        if (idx.size() == 1)
          if (auto it = preloaded.find({memref, idx[0]}); it != preloaded.end())
            return it->second;
        return nb.create<memref::LoadOp>(l, memref, idx);
      };
    }
    SmallVector<Reader> operands;
    SmallVector<SmallVector<int64_t>> shapes;
    for (Value operand : def->getOperands()) {
      operands.push_back(readerFor(operand));
      shapes.push_back(shapeOf(operand));
    }
    if (def->hasTrait<kir::KilnIndexRemap>())
      return
          [def, operands](OpBuilder &nb, Location l, ValueRange idx) -> Value {
            return readRemapped(nb, l, def, operands, idx);
          };
    if (llvm::isa<kir::ReshapeOp>(def))
      // The same row-major position in the operand's shape (the identity in
      // a flat kernel, where both shapes are the element count).
      return [operand = operands[0], from = shapeOf(v), to = shapes[0]](
                 OpBuilder &nb, Location l, ValueRange idx) -> Value {
        if (from == to)
          return operand(nb, l, idx);
        Value flat = nb.create<arith::ConstantIndexOp>(l, 0);
        for (auto [i, size] : llvm::enumerate(from))
          flat = nb.create<arith::AddIOp>(
              l,
              nb.create<arith::MulIOp>(
                  l, flat, nb.create<arith::ConstantIndexOp>(l, size)),
              idx[i]);
        return operand(nb, l, delinearize(nb, l, flat, to));
      };
    auto element = llvm::cast<RankedTensorType>(v.getType()).getElementType();
    return [&bodyFailed, def, operands, shapes, element, shape = shapeOf(v)](
               OpBuilder &nb, Location l, ValueRange idx) -> Value {
      std::optional<ElementwiseBody> body = elementwiseBody(nb, def);
      SmallVector<Value> scalars =
          readBroadcast(nb, l, operands, shapes, shape, idx, body->compute);
      FailureOr<Value> r = body->fn(nb, l, scalars);
      if (failed(r)) {
        bodyFailed = true;
        return scalars[0];
      }
      return convert(nb, l, *r, element);
    };
  };
  // The body: a row kernel, the flat vector kernel, or the op's own builder.
  absl::Status status;
  if (!reductions.empty()) {
    status = buildRowKernel(b, root, func, reductions, readerFor, shapeOf,
                            rowValues);
  } else if (flat) {
    status = buildFlatVectorKernel(b, root, func, readerFor, shapeOf, count,
                                   preloaded);
  } else {
    SmallVector<Reader> readers;
    for (Value operand : root->getOperands())
      readers.push_back(readerFor(operand));
    LoopNestBuilder builder(root, func, b, std::move(readers), inputs.size());
    status = builder.build();
  }
  if (status.ok() && bodyFailed)
    status = unsupported(
        root, "a fused producer has no scalar lowering for its element type");
  if (!status.ok()) {
    func.erase();
    return status;
  }
  b.create<func::ReturnOp>(root->getLoc());
  return absl::OkStatus();
}

} // namespace kiln::codegen::ptx
