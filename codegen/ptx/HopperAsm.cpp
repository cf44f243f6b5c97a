//===- HopperAsm.cpp - the sm_90a instructions of Kiln's kernels ----------===//

#include "codegen/ptx/HopperAsm.h"

#include "absl/strings/str_cat.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"

using namespace mlir;

namespace kiln::codegen::ptx::hopper {

Value inlinePtx(OpBuilder &b, Location l, Type result, ValueRange operands,
                const std::string &text, const std::string &constraints) {
  auto op = b.create<LLVM::InlineAsmOp>(
      l, result ? TypeRange{result} : TypeRange{}, operands, text, constraints,
      /*has_side_effects=*/true, /*is_align_stack=*/false,
      LLVM::AsmDialectAttr::get(b.getContext(), LLVM::AsmDialect::AD_ATT),
      /*operand_attrs=*/ArrayAttr());
  return result ? op.getResult(0) : Value();
}

Value sharedAddress(OpBuilder &b, Location l, Value memref) {
  Value index = b.create<memref::ExtractAlignedPointerAsIndexOp>(l, memref);
  return b.create<arith::IndexCastUIOp>(l, b.getI32Type(), index);
}

Value kernelParamAddress(OpBuilder &b, Location l, const std::string &kernel,
                         int index) {
  return inlinePtx(b, l, b.getI64Type(), {},
                   absl::StrCat("{ .reg .b64 t; mov.b64 t, ", kernel, "_param_",
                                index, "; cvta.param.u64 $0, t; }"),
                   "=l");
}

namespace {

Value i32(OpBuilder &b, Location l, int64_t v) {
  return b.create<arith::ConstantOp>(
      l, b.getI32IntegerAttr(static_cast<int32_t>(v)));
}

/// The NVVM ops take shared memory as an LLVM pointer of address space 3;
/// the kernels compute 32-bit shared-window addresses (what wgmma's
/// descriptors need).
Value sharedPtr(OpBuilder &b, Location l, Value address) {
  return b.create<LLVM::IntToPtrOp>(
      l, LLVM::LLVMPointerType::get(b.getContext(), NVVM::kSharedMemorySpace),
      address);
}

/// How long (ns) one try_wait may suspend the thread before it retries, as
/// CUTLASS and MLIR's nvgpu lowering choose.
constexpr int64_t kTryWaitSuspendNs = 10000000;

} // namespace

void mbarrierInit(OpBuilder &b, Location l, Value bar, int64_t count) {
  b.create<NVVM::MBarrierInitSharedOp>(l, sharedPtr(b, l, bar),
                                       i32(b, l, count),
                                       /*predicate=*/Value());
}

void fenceBarrierInit(OpBuilder &b, Location l) {
  b.create<NVVM::FenceMbarrierInitOp>(l);
  b.create<NVVM::FenceProxyOp>(
      l, NVVM::ProxyKind::async_shared,
      NVVM::SharedSpaceAttr::get(b.getContext(),
                                 NVVM::SharedSpace::shared_cta));
}

void mbarrierArriveExpectTx(OpBuilder &b, Location l, Value bar,
                            int64_t bytes) {
  b.create<NVVM::MBarrierArriveExpectTxSharedOp>(l, sharedPtr(b, l, bar),
                                                 i32(b, l, bytes),
                                                 /*predicate=*/Value());
}

void mbarrierArrive(OpBuilder &b, Location l, Value bar) {
  // The returned barrier state is not needed.
  b.create<NVVM::MBarrierArriveSharedOp>(l, b.getI64Type(),
                                         sharedPtr(b, l, bar));
}

void cpAsync16(OpBuilder &b, Location l, Value dst, Value src, Value bytes) {
  inlinePtx(b, l, Type(), {dst, src, bytes},
            "{ .reg .b64 g; cvta.to.global.u64 g, $1; "
            "cp.async.cg.shared.global [$0], [g], 16, $2; }",
            "r,l,r,~{memory}");
}

void cpAsyncArrive(OpBuilder &b, Location l, Value bar) {
  inlinePtx(b, l, Type(), {bar},
            "cp.async.mbarrier.arrive.noinc.shared::cta.b64 [$0];",
            "r,~{memory}");
}

void fenceProxyAsync(OpBuilder &b, Location l) {
  inlinePtx(b, l, Type(), {}, "fence.proxy.async.shared::cta;", "~{memory}");
}

void mbarrierWait(OpBuilder &b, Location l, Value bar, Value parity) {
  // Spins in PTX (try_wait in a loop) until the phase completes.
  b.create<NVVM::MBarrierTryWaitParitySharedOp>(l, sharedPtr(b, l, bar), parity,
                                                i32(b, l, kTryWaitSuspendNs));
}

void tmaLoad(OpBuilder &b, Location l, Value dst, Value map, ValueRange coords,
             Value bar) {
  Value descriptor = b.create<LLVM::IntToPtrOp>(
      l, LLVM::LLVMPointerType::get(b.getContext()), map);
  b.create<NVVM::CpAsyncBulkTensorGlobalToSharedClusterOp>(
      l, sharedPtr(b, l, dst), descriptor, coords, sharedPtr(b, l, bar),
      /*im2colOffsets=*/ValueRange{}, /*multicastMask=*/Value(),
      /*l2CacheHint=*/Value(), /*predicate=*/Value());
}

void setMaxRegisters(OpBuilder &b, Location l, int64_t count, bool increase) {
  b.create<NVVM::SetMaxRegisterOp>(l, static_cast<int32_t>(count),
                                   increase
                                       ? NVVM::SetMaxRegisterAction::increase
                                       : NVVM::SetMaxRegisterAction::decrease);
}

void clusterSync(OpBuilder &b, Location l) {
  b.create<NVVM::ClusterArriveOp>(l, /*aligned=*/nullptr);
  b.create<NVVM::ClusterWaitOp>(l, /*aligned=*/nullptr);
}

Value clusterRank(OpBuilder &b, Location l) {
  return b.create<NVVM::ClusterId>(l, b.getI32Type());
}

std::pair<Value, Value> loadClusterPair(OpBuilder &b, Location l, Value address,
                                        Value rank) {
  Type f32 = b.getF32Type();
  auto pair = LLVM::LLVMStructType::getLiteral(b.getContext(), {f32, f32});
  Value loaded = inlinePtx(b, l, pair, {address, rank},
                           "{ .reg .b32 a; mapa.shared::cluster.u32 a, $2, $3; "
                           "ld.shared::cluster.v2.f32 {$0, $1}, [a]; }",
                           "=f,=f,r,r,~{memory}");
  return {b.create<LLVM::ExtractValueOp>(l, loaded, 0),
          b.create<LLVM::ExtractValueOp>(l, loaded, 1)};
}

} // namespace kiln::codegen::ptx::hopper
