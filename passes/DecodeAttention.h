//===- DecodeAttention.h - the one-query, one-kv-head attention form -*- C++
//-*-===//
//
// A decode step's attention over MLA's absorbed cache is multi-query: one
// query per head, every head reading the one latent "kv head". The ptx
// target runs it with a kernel that reads each cache row once for a block's
// heads, and reads the key through the concat that joins the latent and RoPE
// caches (kiln-form-fusions puts that concat in the attention's region).
// kiln-form-fusions and the kernel table share here which attentions take
// that kernel and how its blocks split the heads.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_PASSES_DECODEATTENTION_H
#define KILN_PASSES_DECODEATTENTION_H

#include <cstdint>

namespace kiln::ir {
class AttentionOp;
class ConcatOp;
} // namespace kiln::ir

namespace kiln::passes {

/// Heads a decode-attention block takes: a power of two of at most 8 that
/// divides the heads, whose scores (keys x heads f32) fit the block's shared
/// memory and whose queries fit its registers; 0 when not even one head fits.
int64_t decodeAttentionHeadsPerBlock(int64_t heads, int64_t keys, int64_t dk);

/// Whether the decode-attention kernel runs `op`: float (not fp8) operands
/// of one type, one query position, one kv head, static shapes, and a head
/// group that fits (decodeAttentionHeadsPerBlock).
bool isDecodeAttention(ir::AttentionOp op);

/// The concat along the last axis that makes `op`'s key, reshaped to its
/// [B, 1, keys, dk] (the latent and RoPE caches joined per row), when that
/// concat and its reshape have no other reader: the decode-attention kernel
/// reads the key through it, so the joined copy is never written. Null
/// otherwise (or when `op` is not a decode attention).
ir::ConcatOp fusedKeyConcat(ir::AttentionOp op);

} // namespace kiln::passes

#endif // KILN_PASSES_DECODEATTENTION_H
