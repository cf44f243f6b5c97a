//===- AttentionMask.h - which keys each query of kiln.attention sees -*- C++ -*-===//
//
// One definition of kiln.attention's visibility mask (valid_len and the causal
// limit with q_offset), shared by its decomposition and its gradient rule so the
// two can never disagree.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_IR_ATTENTIONMASK_H
#define KILN_IR_ATTENTIONMASK_H

#include "ir/KilnOps.h"
#include "ir/PrimitiveBuilder.h"

namespace kiln::ir {

/// i1 visibility of key j to query i, broadcastable to scores of rank
/// `scoreRank` ([B, H..., Sq, Sk]); null when every key is visible.
mlir::Value attentionVisibility(PrimitiveBuilder &pb, AttentionOp op,
                                int64_t scoreRank);

} // namespace kiln::ir

#endif // KILN_IR_ATTENTIONMASK_H
