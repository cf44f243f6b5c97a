//===- DirectKernel.cpp - the skeleton shared by gpu-dialect kernels -------===//
//
// One gpu.module per op holding its kernels, and a host function that launches
// them in order on one stream (so a later kernel sees an earlier one's writes).
// Every kernel receives every buffer, flat, so the launch's parameter list is
// the op's buffer list whatever a kernel reads.
//
//===----------------------------------------------------------------------===//

#include "codegen/ptx/DirectKernel.h"

#include <tuple>

#include "ir/KilnOps.h"

#include "absl/strings/str_cat.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"

using namespace mlir;
namespace kir = kiln::ir;

namespace kiln::codegen::ptx {

namespace {

MemRefType flatBuffer(Type tensorType) {
  auto t = llvm::cast<RankedTensorType>(tensorType);
  return MemRefType::get({std::max<int64_t>(t.getNumElements(), 1)}, t.getElementType());
}

} // namespace

DirectKernels::DirectKernels(Operation *op, ModuleOp module,
                             const std::string &name)
    : DirectKernels(op, op->getOperandTypes(), module, name) {}

DirectKernels::DirectKernels(Operation *op, TypeRange inputs, ModuleOp module,
                             const std::string &name)
    : op(op), location(op->getLoc()), name(name), numInputs(inputs.size()) {
  for (Type t : inputs)
    buffers.push_back(flatBuffer(t));
  for (Type t : op->getResultTypes())
    buffers.push_back(flatBuffer(t));
  OpBuilder b(module.getContext());
  b.setInsertionPointToEnd(module.getBody());
  gpuModule = b.create<gpu::GPUModuleOp>(location, name + "_module");
  host = b.create<func::FuncOp>(location, name, b.getFunctionType(buffers, {}));
  b.setInsertionPointToStart(host.addEntryBlock());
  b.create<func::ReturnOp>(location);
}

OpBuilder DirectKernels::addKernel(const std::string &suffix, int64_t grid, int64_t block,
                                   int64_t dynamicShared) {
  Block &moduleBody = gpuModule.getBodyRegion().front();
  OpBuilder kb = moduleBody.mightHaveTerminator() ? OpBuilder::atBlockTerminator(&moduleBody)
                                                  : OpBuilder::atBlockEnd(&moduleBody);
  auto kernel = kb.create<gpu::GPUFuncOp>(
      location, absl::StrCat(name, "_", suffix, kernels++), kb.getFunctionType(buffers, {}),
      TypeRange{}, TypeRange{});
  kernel->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), kb.getUnitAttr());
  current = kernel;
  kernel.setKnownBlockSizeAttr(kb.getDenseI32ArrayAttr({static_cast<int32_t>(block), 1, 1}));
  kb.setInsertionPointToStart(&kernel.getBody().front());
  kb.create<gpu::ReturnOp>(location);

  OpBuilder hb = OpBuilder::atBlockTerminator(&host.getBody().front());
  auto c = [&](int64_t v) -> Value { return hb.create<arith::ConstantIndexOp>(location, v); };
  Value shared;
  if (dynamicShared > 0)
    // MLIR places the dynamic region behind a one-byte static symbol: 128
    // bytes of slack keep every view inside what the launch reserves.
    shared = hb.create<arith::ConstantOp>(
        location, hb.getI32IntegerAttr(static_cast<int32_t>(dynamicShared + 128)));
  hb.create<gpu::LaunchFuncOp>(location, kernel, gpu::KernelDim3{c(grid), c(1), c(1)},
                               gpu::KernelDim3{c(block), c(1), c(1)}, shared,
                               host.getArguments());
  return OpBuilder::atBlockTerminator(&kernel.getBody().front());
}

Value DirectKernels::operand(unsigned i) const {
  return current.getArgument(i);
}

Value DirectKernels::addSharedBuffer(ArrayRef<int64_t> shape, Type element) {
  auto workgroup = gpu::AddressSpaceAttr::get(element.getContext(), gpu::AddressSpace::Workgroup);
  return current.addWorkgroupAttribution(
      MemRefType::get(shape, element, MemRefLayoutAttrInterface(), workgroup), location);
}

Value DirectKernels::result(unsigned i) const { return operand(numInputs + i); }

Value indexConst(OpBuilder &b, Location l, int64_t v) {
  return b.create<arith::ConstantIndexOp>(l, v);
}

Value threadIndex(OpBuilder &b, Location l) {
  return b.create<gpu::ThreadIdOp>(l, gpu::Dimension::x);
}

Value blockIndex(OpBuilder &b, Location l) {
  return b.create<gpu::BlockIdOp>(l, gpu::Dimension::x);
}

Value globalThreadIndex(OpBuilder &b, Location l, int64_t blockSize) {
  return b.create<arith::AddIOp>(
      l,
      b.create<arith::MulIOp>(l, blockIndex(b, l), indexConst(b, l, blockSize)),
      threadIndex(b, l));
}

ValueRange forLoop(OpBuilder &b, Location l, Value lo, Value hi, Value step, ValueRange inits,
                   const std::function<SmallVector<Value>(OpBuilder &, Location, Value,
                                                          ValueRange)> &body) {
  auto loop = b.create<scf::ForOp>(
      l, lo, hi, step, inits, [&](OpBuilder &nb, Location nl, Value iv, ValueRange args) {
        nb.create<scf::YieldOp>(nl, body(nb, nl, iv, args));
      });
  return loop.getResults();
}

SmallVector<Value> forLoopUnrolled(
    OpBuilder &b, Location l, Value lo, Value hi, int64_t step, int64_t unroll,
    ValueRange inits,
    const std::function<SmallVector<Value>(OpBuilder &, Location, Value)> &read,
    const std::function<SmallVector<Value>(OpBuilder &, Location, Value, Value,
                                           ArrayRef<Value>, ValueRange)> &use) {
  auto loop = b.create<scf::ForOp>(
      l, lo, hi, indexConst(b, l, step * unroll), inits,
      [&](OpBuilder &nb, Location nl, Value first, ValueRange carried) {
        // first < hi inside the loop, so hi - 1 is a valid index.
        Value last = nb.create<arith::SubIOp>(nl, hi, indexConst(nb, nl, 1));
        SmallVector<Value> ks, valid;
        SmallVector<SmallVector<Value>> reads;
        for (int64_t j = 0; j < unroll; ++j) {
          Value k = j == 0 ? first
                           : nb.create<arith::AddIOp>(
                                 nl, first, indexConst(nb, nl, j * step));
          ks.push_back(k);
          valid.push_back(
              nb.create<arith::CmpIOp>(nl, arith::CmpIPredicate::ult, k, hi));
          reads.push_back(read(nb, nl, nb.create<arith::MinUIOp>(nl, k, last)));
        }
        SmallVector<Value> acc(carried.begin(), carried.end());
        for (int64_t j = 0; j < unroll; ++j)
          acc = use(nb, nl, ks[j], valid[j], reads[j], acc);
        nb.create<scf::YieldOp>(nl, acc);
      });
  return SmallVector<Value>(loop.getResults().begin(), loop.getResults().end());
}

void ifThen(OpBuilder &b, Location l, Value cond,
            const std::function<void(OpBuilder &, Location)> &body) {
  b.create<scf::IfOp>(l, cond, [&](OpBuilder &tb, Location tl) {
    body(tb, tl);
    tb.create<scf::YieldOp>(tl);
  });
}

Value shuffle(OpBuilder &b, Location l, Value v, int32_t offset, gpu::ShuffleMode mode) {
  Type t = v.getType();
  unsigned bits = t.getIntOrFloatBitWidth();
  if (bits == 32)
    return b.create<gpu::ShuffleOp>(l, v, offset, 32, mode).getShuffleResult();
  // The NVVM lowering shuffles 32-bit registers: move a 64-bit value as halves.
  Type i32 = b.getI32Type(), i64 = b.getI64Type();
  Value asInt = llvm::isa<FloatType>(t) ? b.create<arith::BitcastOp>(l, i64, v).getResult() : v;
  Value lo = b.create<arith::TruncIOp>(l, i32, asInt);
  Value hi = b.create<arith::TruncIOp>(
      l, i32, b.create<arith::ShRUIOp>(l, asInt, b.create<arith::ConstantOp>(
                                                     l, b.getI64IntegerAttr(32))));
  lo = b.create<gpu::ShuffleOp>(l, lo, offset, 32, mode).getShuffleResult();
  hi = b.create<gpu::ShuffleOp>(l, hi, offset, 32, mode).getShuffleResult();
  Value joined = b.create<arith::OrIOp>(
      l, b.create<arith::ExtUIOp>(l, i64, lo),
      b.create<arith::ShLIOp>(l, b.create<arith::ExtUIOp>(l, i64, hi),
                              b.create<arith::ConstantOp>(l, b.getI64IntegerAttr(32))));
  return llvm::isa<FloatType>(t) ? b.create<arith::BitcastOp>(l, t, joined).getResult() : joined;
}

Value warpAllReduce(OpBuilder &b, Location l, Value x, bool max) {
  for (int32_t offset = 16; offset >= 1; offset /= 2) {
    Value other = shuffle(b, l, x, offset, gpu::ShuffleMode::XOR);
    x = max ? b.create<arith::MaximumFOp>(l, x, other).getResult()
            : b.create<arith::AddFOp>(l, x, other).getResult();
  }
  return x;
}

std::pair<Value, Value> betterCandidate(OpBuilder &b, Location l, Value score,
                                        Value index, Value otherScore,
                                        Value otherIndex) {
  Value greater =
      b.create<arith::CmpFOp>(l, arith::CmpFPredicate::OGT, otherScore, score);
  Value tie = b.create<arith::AndIOp>(
      l,
      b.create<arith::CmpFOp>(l, arith::CmpFPredicate::OEQ, otherScore, score),
      b.create<arith::CmpIOp>(l, arith::CmpIPredicate::slt, otherIndex, index));
  Value take = b.create<arith::OrIOp>(l, greater, tie);
  return {b.create<arith::SelectOp>(l, take, otherScore, score),
          b.create<arith::SelectOp>(l, take, otherIndex, index)};
}

std::pair<Value, Value> warpBestCandidate(OpBuilder &b, Location l, Value score,
                                          Value index) {
  for (int32_t offset = 16; offset >= 1; offset /= 2)
    std::tie(score, index) = betterCandidate(
        b, l, score, index, shuffle(b, l, score, offset, gpu::ShuffleMode::XOR),
        shuffle(b, l, index, offset, gpu::ShuffleMode::XOR));
  return {score, index};
}

int64_t nextPowerOfTwo(int64_t n) {
  int64_t p = 1;
  while (p < n)
    p *= 2;
  return p;
}

AxisRows axisRows(ArrayRef<int64_t> shape, int64_t axis) {
  AxisRows r;
  for (int64_t d = 0; d < static_cast<int64_t>(shape.size()); ++d) {
    if (d < axis)
      r.outer *= shape[d];
    else if (d == axis)
      r.n = shape[d];
    else
      r.inner *= shape[d];
  }
  return r;
}

Value rowBase(OpBuilder &b, Location l, Value row, const AxisRows &r) {
  if (r.inner == 1)
    return b.create<arith::MulIOp>(l, row, indexConst(b, l, r.n));
  Value o = b.create<arith::DivUIOp>(l, row, indexConst(b, l, r.inner));
  Value i = b.create<arith::RemUIOp>(l, row, indexConst(b, l, r.inner));
  return b.create<arith::AddIOp>(
      l, b.create<arith::MulIOp>(l, o, indexConst(b, l, r.n * r.inner)), i);
}

} // namespace kiln::codegen::ptx
