//===- DecodeBundleKey.h - the decode bench's bundle key --------*- C++ -*-===//
//
// kiln-bench-decode-export writes the decode entries under this key and
// kiln-bench-decode reads them back by it: model hash
// "deepseek-decode-<dtype>", entry "generate", bucket
// "b<batch>_p<prompt>_m<max length>" with "_greedy" for argmax-only entries
// and "_<precision>" for a precision policy other than bf16, "_unhoisted"
// when compiled without kiln-hoist-derived-state, target ptx.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_BENCH_DECODEBUNDLEKEY_H
#define KILN_BENCH_DECODEBUNDLEKEY_H

#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"
#include "executor/Bundle.h"

namespace kiln::bench {

struct DecodeBucket {
  std::string dtype = "bf16";
  int64_t batch = 64, promptLen = 16, newTokens = 256;
  bool greedyOnly = false;
  std::string precision = "bf16";
  bool hoistDerivedState = true;
};

inline BundleKey decodeBundleKey(const DecodeBucket &b,
                                 const std::string &compilerVersion) {
  return BundleKey{absl::StrCat("deepseek-decode-", b.dtype), "generate",
                   absl::StrCat("b", b.batch, "_p", b.promptLen, "_m",
                                b.promptLen + b.newTokens,
                                b.greedyOnly ? "_greedy" : "",
                                b.precision != "bf16" ? "_" + b.precision : "",
                                b.hoistDerivedState ? "" : "_unhoisted"),
                   "ptx", compilerVersion};
}

} // namespace kiln::bench

#endif // KILN_BENCH_DECODEBUNDLEKEY_H
