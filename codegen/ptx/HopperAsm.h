//===- HopperAsm.h - the sm_90a instructions of Kiln's kernels --*- C++ -*-===//
//
// The Hopper instructions Kiln's kernels use: mbarriers with transaction
// counts, their fences, bulk tensor copies (TMA), setmaxnreg and the cluster
// barrier, built as MLIR 19's NVVM ops. Inline PTX (inlinePtx) remains only
// where NVVM 19 has no op: the address of a by-value kernel parameter
// (kernelParamAddress), a read of another block's shared memory (mapa), the
// packed red.add.noftz.bf16x2 of ScatterAddKernel.cpp; and wgmma, which
// WgmmaMatmul.cpp issues as one block with its fence and commit
// (nvvm.wgmma.mma_async would take the kernel's separate accumulator
// registers packed into one LLVM struct per call). Shared-memory addresses
// are 32-bit values of the shared window.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_CODEGEN_PTX_HOPPERASM_H
#define KILN_CODEGEN_PTX_HOPPERASM_H

#include <string>
#include <utility>

#include "mlir/IR/Builders.h"

namespace kiln::codegen::ptx::hopper {

/// Emits `text` as inline PTX with `constraints` over `operands`; returns the
/// single result (null when `result` is null). Side-effecting, so never moved
/// or dropped.
mlir::Value inlinePtx(mlir::OpBuilder &b, mlir::Location l, mlir::Type result,
                      mlir::ValueRange operands, const std::string &text,
                      const std::string &constraints);

/// The 32-bit shared-window address of a workgroup memref's first element.
mlir::Value sharedAddress(mlir::OpBuilder &b, mlir::Location l, mlir::Value memref);

/// The generic address of kernel parameter `index` of `kernel`: a tensor map
/// that PtxCodegen declares as `.param .align 64 .b8 [128]` (PTX names kernel
/// parameters <kernel>_param_<index>).
mlir::Value kernelParamAddress(mlir::OpBuilder &b, mlir::Location l, const std::string &kernel,
                               int index);

void mbarrierInit(mlir::OpBuilder &b, mlir::Location l, mlir::Value bar, int64_t count);
/// Makes initialised barriers visible to the async proxy (the copy engine).
void fenceBarrierInit(mlir::OpBuilder &b, mlir::Location l);
/// This thread's arrival that also expects `bytes` of copies to complete.
void mbarrierArriveExpectTx(mlir::OpBuilder &b, mlir::Location l, mlir::Value bar,
                            int64_t bytes);
void mbarrierArrive(mlir::OpBuilder &b, mlir::Location l, mlir::Value bar);
/// Spins until the phase of parity `parity` (an i32 0/1) of `bar` completes.
void mbarrierWait(mlir::OpBuilder &b, mlir::Location l, mlir::Value bar, mlir::Value parity);

/// One bulk tensor copy of a box at `coords` (i32, innermost first) from the
/// tensor map at generic address `map` into shared `dst`, completing on `bar`.
void tmaLoad(mlir::OpBuilder &b, mlir::Location l, mlir::Value dst, mlir::Value map,
             mlir::ValueRange coords, mlir::Value bar);

/// cp.async of 16 bytes from global `src` (a generic i64 address) to shared
/// `dst` (i32), reading `bytes` (an i32, 16 or 0) of them and filling the
/// rest with zeros.
void cpAsync16(mlir::OpBuilder &b, mlir::Location l, mlir::Value dst,
               mlir::Value src, mlir::Value bytes);
/// An arrival on `bar` once this thread's earlier cp.asyncs have landed,
/// counted in the barrier's arrival count (.noinc).
void cpAsyncArrive(mlir::OpBuilder &b, mlir::Location l, mlir::Value bar);
/// Orders this thread's view of shared memory written through the generic
/// proxy (st.shared, cp.async) before its later async-proxy reads (wgmma).
void fenceProxyAsync(mlir::OpBuilder &b, mlir::Location l);

/// setmaxnreg: every warp of a warpgroup moves its per-thread register budget
/// to `count` (a multiple of 8 in [24, 256]) down or up.
void setMaxRegisters(mlir::OpBuilder &b, mlir::Location l, int64_t count, bool increase);

/// barrier.cluster arrive (release) and wait (acquire) for every thread of
/// the cluster: shared-memory writes before it are visible to the cluster's
/// reads after it. Not .aligned: warps may reach it diverged.
void clusterSync(mlir::OpBuilder &b, mlir::Location l);

/// This block's rank in its cluster (an i32).
mlir::Value clusterRank(mlir::OpBuilder &b, mlir::Location l);

/// Two f32 at shared address `address` (i32) of the cluster's block `rank`
/// (mapa + ld.shared::cluster: distributed shared memory).
std::pair<mlir::Value, mlir::Value> loadClusterPair(mlir::OpBuilder &b,
                                                    mlir::Location l,
                                                    mlir::Value address,
                                                    mlir::Value rank);

} // namespace kiln::codegen::ptx::hopper

#endif // KILN_CODEGEN_PTX_HOPPERASM_H
