//===- OpsModel.cpp - rotary, attention and the token losses --------------===//
//
// Composite model ops: built as single kiln ops so passes can pick a fused
// kernel or decompose them.
//
//===----------------------------------------------------------------------===//

#include "frontend/GraphImpl.h"
#include "frontend/Ops.h"
#include "ir/KilnOps.h"

#include <cmath>

namespace kiln {

using namespace detail;

Tensor rotary(const Tensor &x, const Tensor &cos, const Tensor &sin,
              bool interleaved, SourceLoc loc) {
  return buildOne<ir::RotaryOp>({&x, &cos, &sin},
                                {boolAttr("interleaved", interleaved)}, loc);
}

Tensor attention(const Tensor &q, const Tensor &k, const Tensor &v,
                 const AttentionOptions &options, SourceLoc loc) {
  double scale = options.scale.value_or(q.rank() == 4 && q.dim(-1) > 0
                                            ? 1.0 / std::sqrt(double(q.dim(-1)))
                                            : 1.0);
  std::vector<const Tensor *> operands = {&q, &k, &v};
  if (options.validLen)
    operands.push_back(&*options.validLen);
  if (options.qOffset)
    operands.push_back(&*options.qOffset);
  return buildOne<ir::AttentionOp>(
      operands,
      {floatAttr("scale", scale), boolAttr("causal", options.causal),
       segmentsAttr(
           {1, 1, 1, options.validLen ? 1 : 0, options.qOffset ? 1 : 0})},
      loc);
}

Tensor crossEntropy(const Tensor &logits, const Tensor &labels, SourceLoc loc) {
  return buildOne<ir::CrossEntropyOp>({&logits, &labels}, {}, loc);
}

Tensor tokenLogprobs(const Tensor &logits, const Tensor &tokens,
                     SourceLoc loc) {
  return buildOne<ir::TokenLogprobsOp>({&logits, &tokens}, {}, loc);
}

} // namespace kiln
