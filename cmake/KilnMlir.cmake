# Helpers for targets that include MLIR headers. MLIR's headers are heavy and these targets
# are not hot, so they build at -O1 with a precompiled header; everything links the shared
# libMLIR.so (fast links on 2 cores) rather than the static component archives.
function(kiln_mlir_target target)
  target_compile_options(${target} PRIVATE -O1 -fno-rtti -Wno-deprecated-declarations)
  # The shared header is built -fPIC for libraries; executables compile -fPIE and
  # could not use it (GCC would warn and ignore it), so they skip it.
  get_target_property(type ${target} TYPE)
  if(NOT type STREQUAL "EXECUTABLE")
    target_precompile_headers(${target} REUSE_FROM KilnMlirPch)
  endif()
  target_link_libraries(${target} PUBLIC MLIR LLVM absl::status absl::statusor absl::strings absl::str_format)
endfunction()

# One precompiled header shared by every MLIR-heavy target.
add_library(KilnMlirPch STATIC ${CMAKE_SOURCE_DIR}/cmake/pch_anchor.cpp)
target_compile_options(KilnMlirPch PRIVATE -O1 -fno-rtti -Wno-deprecated-declarations)
target_precompile_headers(KilnMlirPch PRIVATE
  <mlir/IR/Builders.h>
  <mlir/IR/BuiltinOps.h>
  <mlir/IR/BuiltinTypes.h>
  <mlir/IR/Dialect.h>
  <mlir/IR/OpDefinition.h>
  <mlir/IR/OpImplementation.h>
  <mlir/IR/PatternMatch.h>
  <mlir/Dialect/Func/IR/FuncOps.h>
  <mlir/Interfaces/InferTypeOpInterface.h>
  <mlir/Interfaces/SideEffectInterfaces.h>
  <mlir/Pass/Pass.h>
  <mlir/Pass/PassManager.h>
  <mlir/Transforms/DialectConversion.h>
  <llvm/ADT/SmallVector.h>
  <llvm/ADT/StringRef.h>)
target_link_libraries(KilnMlirPch PUBLIC MLIR LLVM)
