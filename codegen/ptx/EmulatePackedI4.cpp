//===- EmulatePackedI4.cpp - kiln-emulate-packed-i4 -----------------------===//
//
// Kernels index i4 memrefs element by element; device buffers hold i4 packed
// two to a byte (executor/DType.h). Each i4 buffer becomes the flat i8 memref
// of its bytes, a load a byte load and a shift, a store an atomic and/or of
// its nibble. (MLIR's own narrow-type emulation, as of LLVM 19, leaves its
// store's strided-metadata op on the i4 memref it replaces.)
//
//===----------------------------------------------------------------------===//

#include "codegen/ptx/PtxPasses.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Transforms/DialectConversion.h"

namespace kiln::codegen::ptx {
#define GEN_PASS_DEF_EMULATEPACKEDI4
#include "codegen/ptx/PtxPasses.h.inc"
} // namespace kiln::codegen::ptx

using namespace mlir;

namespace kiln::codegen::ptx {
namespace {

/// i4 memrefs of a static shape and the identity layout, the only kind
/// kernels make: their buffers.
bool isPackedI4(Type type) {
  auto memref = llvm::dyn_cast<MemRefType>(type);
  return memref && memref.getElementType().isInteger(4) &&
         memref.hasStaticShape() && memref.getLayout().isIdentity();
}

bool mentionsI4MemRef(Operation *op) {
  auto i4 = [](Type t) {
    auto memref = llvm::dyn_cast<BaseMemRefType>(t);
    return memref && memref.getElementType().isInteger(4);
  };
  if (llvm::any_of(op->getOperandTypes(), i4) ||
      llvm::any_of(op->getResultTypes(), i4))
    return true;
  for (Region &region : op->getRegions())
    for (Block &block : region)
      if (llvm::any_of(block.getArgumentTypes(), i4))
        return true;
  return false;
}

/// The row-major flat index of `indices` into `type`'s shape, and from it
/// the byte index and the nibble's bit offset (0 or 4) as an i8.
struct NibbleAddress {
  Value byte, shift;
};

NibbleAddress nibbleAddress(OpBuilder &b, Location loc, MemRefType type,
                            ValueRange indices) {
  Value flat = b.create<arith::ConstantIndexOp>(loc, 0);
  for (auto [dim, index] : llvm::zip(type.getShape(), indices)) {
    Value size = b.create<arith::ConstantIndexOp>(loc, dim);
    flat = b.create<arith::AddIOp>(
        loc, b.create<arith::MulIOp>(loc, flat, size), index);
  }
  Value one = b.create<arith::ConstantIndexOp>(loc, 1);
  Value byte = b.create<arith::ShRUIOp>(loc, flat, one);
  Value odd = b.create<arith::AndIOp>(loc, flat, one);
  Value bit = b.create<arith::ShLIOp>(loc, odd,
                                      b.create<arith::ConstantIndexOp>(loc, 2));
  Value shift = b.create<arith::IndexCastUIOp>(loc, b.getI8Type(), bit);
  return {byte, shift};
}

struct LoadNibble : OpConversionPattern<memref::LoadOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(memref::LoadOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    if (!isPackedI4(op.getMemRefType()))
      return failure();
    Location loc = op.getLoc();
    NibbleAddress at =
        nibbleAddress(rewriter, loc, op.getMemRefType(), adaptor.getIndices());
    Value byte = rewriter.create<memref::LoadOp>(loc, adaptor.getMemref(),
                                                 ValueRange{at.byte});
    Value shifted = rewriter.create<arith::ShRUIOp>(loc, byte, at.shift);
    rewriter.replaceOpWithNewOp<arith::TruncIOp>(op, op.getType(), shifted);
    return success();
  }
};

struct StoreNibble : OpConversionPattern<memref::StoreOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(memref::StoreOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    if (!isPackedI4(op.getMemRefType()))
      return failure();
    Location loc = op.getLoc();
    NibbleAddress at =
        nibbleAddress(rewriter, loc, op.getMemRefType(), adaptor.getIndices());
    Type i8 = rewriter.getI8Type();
    Value wide = rewriter.create<arith::ExtUIOp>(loc, i8, adaptor.getValue());
    Value bits = rewriter.create<arith::ShLIOp>(loc, wide, at.shift);
    Value ones = rewriter.create<arith::ConstantIntOp>(loc, 0xF, i8);
    Value keep = rewriter.create<arith::XOrIOp>(
        loc, rewriter.create<arith::ShLIOp>(loc, ones, at.shift),
        rewriter.create<arith::ConstantIntOp>(loc, -1, i8));
    // Another thread may be writing the byte's other nibble: clear ours and
    // set it with atomics, which touch only our bits.
    rewriter.create<memref::AtomicRMWOp>(loc, arith::AtomicRMWKind::andi, keep,
                                         adaptor.getMemref(),
                                         ValueRange{at.byte});
    rewriter.create<memref::AtomicRMWOp>(loc, arith::AtomicRMWKind::ori, bits,
                                         adaptor.getMemref(),
                                         ValueRange{at.byte});
    rewriter.eraseOp(op);
    return success();
  }
};

struct EmulatePackedI4Pass : impl::EmulatePackedI4Base<EmulatePackedI4Pass> {
  void runOnOperation() override {
    gpu::GPUModuleOp module = getOperation();
    bool any = false;
    module.walk([&](Operation *op) { any |= mentionsI4MemRef(op); });
    if (!any)
      return;

    MLIRContext *ctx = &getContext();
    TypeConverter converter;
    converter.addConversion([](Type type) { return type; });
    converter.addConversion([](MemRefType type) -> std::optional<Type> {
      if (!type.getElementType().isInteger(4))
        return type;
      if (!isPackedI4(type))
        return std::nullopt;
      int64_t bytes = (type.getNumElements() + 1) / 2;
      return MemRefType::get({bytes}, IntegerType::get(type.getContext(), 8),
                             MemRefLayoutAttrInterface(),
                             type.getMemorySpace());
    });
    // Values stay i4 in registers; only memory changes layout.
    ConversionTarget target(*ctx);
    target.markUnknownOpDynamicallyLegal(
        [](Operation *op) { return !mentionsI4MemRef(op); });
    RewritePatternSet patterns(ctx);
    patterns.add<LoadNibble, StoreNibble>(converter, ctx);
    populateFunctionOpInterfaceTypeConversionPattern<gpu::GPUFuncOp>(patterns,
                                                                     converter);
    if (failed(applyPartialConversion(module, target, std::move(patterns)))) {
      module.emitError("kiln-emulate-packed-i4: an i4 memref that is not a "
                       "static identity-layout buffer, or an op other than "
                       "load and store on one");
      signalPassFailure();
    }
  }
};

} // namespace
} // namespace kiln::codegen::ptx
