//===- HopperAsm.cpp - sm_90a instructions as inline PTX ------------------===//

#include "codegen/ptx/HopperAsm.h"

#include "absl/strings/str_cat.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

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

Value kernelParamAddress(OpBuilder &b, Location l, const std::string &kernel, int index) {
  return inlinePtx(b, l, b.getI64Type(), {},
                   absl::StrCat("{ .reg .b64 t; mov.b64 t, ", kernel, "_param_", index,
                                "; cvta.param.u64 $0, t; }"),
                   "=l");
}

namespace {
Value i32(OpBuilder &b, Location l, int64_t v) {
  return b.create<arith::ConstantOp>(l, b.getI32IntegerAttr(static_cast<int32_t>(v)));
}
} // namespace

void mbarrierInit(OpBuilder &b, Location l, Value bar, int64_t count) {
  inlinePtx(b, l, Type(), {bar, i32(b, l, count)}, "mbarrier.init.shared::cta.b64 [$0], $1;",
            "r,r");
}

void fenceBarrierInit(OpBuilder &b, Location l) {
  inlinePtx(b, l, Type(), {}, "fence.mbarrier_init.release.cluster; fence.proxy.async.shared::cta;",
            "~{memory}");
}

void mbarrierArriveExpectTx(OpBuilder &b, Location l, Value bar, int64_t bytes) {
  inlinePtx(b, l, Type(), {bar, i32(b, l, bytes)},
            "mbarrier.arrive.expect_tx.shared::cta.b64 _, [$0], $1;", "r,r");
}

void mbarrierArrive(OpBuilder &b, Location l, Value bar) {
  inlinePtx(b, l, Type(), {bar}, "mbarrier.arrive.shared::cta.b64 _, [$0];", "r,~{memory}");
}

void mbarrierWait(OpBuilder &b, Location l, Value bar, Value parity) {
  auto loop = b.create<scf::WhileOp>(l, TypeRange{}, ValueRange{});
  {
    OpBuilder::InsertionGuard guard(b);
    Block *before = b.createBlock(&loop.getBefore());
    b.setInsertionPointToStart(before);
    Value done = inlinePtx(b, l, b.getI32Type(), {bar, parity},
                           "{ .reg .pred p; mbarrier.try_wait.parity.shared::cta.b64 p, [$1], $2; "
                           "selp.b32 $0, 1, 0, p; }",
                           "=r,r,r,~{memory}");
    Value pending = b.create<arith::CmpIOp>(l, arith::CmpIPredicate::eq, done, i32(b, l, 0));
    b.create<scf::ConditionOp>(l, pending, ValueRange{});
    Block *after = b.createBlock(&loop.getAfter());
    b.setInsertionPointToStart(after);
    b.create<scf::YieldOp>(l);
  }
}

void tmaLoad(OpBuilder &b, Location l, Value dst, Value map, ValueRange coords, Value bar) {
  size_t rank = coords.size();
  std::string list;
  for (size_t i = 0; i < rank; ++i)
    absl::StrAppend(&list, i ? ", " : "", "$", i + 2);
  std::string text = absl::StrCat(
      "cp.async.bulk.tensor.", rank, "d.shared::cluster.global.tile.mbarrier::complete_tx::bytes",
      " [$0], [$1, {", list, "}], [$", rank + 2, "];");
  SmallVector<Value> operands{dst, map};
  operands.append(coords.begin(), coords.end());
  operands.push_back(bar);
  std::string constraints = "r,l";
  for (size_t i = 0; i < rank; ++i)
    constraints += ",r";
  constraints += ",r";
  inlinePtx(b, l, Type(), operands, text, constraints);
}

void setMaxRegisters(OpBuilder &b, Location l, int64_t count, bool increase) {
  inlinePtx(b, l, Type(), {},
            absl::StrCat("setmaxnreg.", increase ? "inc" : "dec", ".sync.aligned.u32 ", count, ";"),
            "~{memory}");
}

} // namespace kiln::codegen::ptx::hopper
