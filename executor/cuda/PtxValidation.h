//===- PtxValidation.h - what the CUDA executor checks on load --*- C++ -*-===//
//
// The CUDA executor's rules on top of the shared Executable checks, run before
// any device is opened so that a bad Executable is named without a GPU.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_EXECUTOR_CUDA_PTXVALIDATION_H
#define KILN_EXECUTOR_CUDA_PTXVALIDATION_H

#include <string>

#include "executor/ExecutableValidation.h"
#include "executor/executable.pb.h"

namespace kiln::cuda {

/// Target "ptx"; launch, alias, copy, constant and gemm steps with their
/// operands; arena offsets for every buffer nothing else provides.
ExecutableRules ptxExecutableRules();

/// "entry 'e' step 3 (kernel 'k' at f.mlir:1:2)": how errors name a step.
std::string describePtxStep(const proto::EntryPoint &entry, int i);

} // namespace kiln::cuda

#endif // KILN_EXECUTOR_CUDA_PTXVALIDATION_H
