//===- SymbolBinder.h - resolve a dlopen'ed library's entry points -*- C++ -*-===//
//
// The driver, cuBLAS and NCCL are loaded at run time; each loader resolves
// its function pointers through one binder that collects the names the
// library lacks, so the error lists all of them at once.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_EXECUTOR_CUDA_SYMBOLBINDER_H
#define KILN_EXECUTOR_CUDA_SYMBOLBINDER_H

#include <dlfcn.h>

#include <string>
#include <type_traits>

#include "absl/strings/str_cat.h"

namespace kiln::cuda {

class SymbolBinder {
public:
  explicit SymbolBinder(void *library) : library(library) {}

  /// Points `fn` at `symbol`, or records it as missing (and sets null).
  template <typename Fn> void operator()(Fn &fn, const char *symbol) {
    void *p = dlsym(library, symbol);
    if (!p)
      absl::StrAppend(&missingNames, missingNames.empty() ? "" : ", ", symbol);
    fn = reinterpret_cast<std::remove_reference_t<Fn>>(p);
  }

  /// The symbols not found, comma-separated; empty when all were.
  const std::string &missing() const { return missingNames; }

private:
  void *library;
  std::string missingNames;
};

} // namespace kiln::cuda

#endif // KILN_EXECUTOR_CUDA_SYMBOLBINDER_H
