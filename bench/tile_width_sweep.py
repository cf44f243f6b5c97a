#!/usr/bin/env python3
"""The wgmma tile-width sweep: each GEMM of the 465M bench model's decode step
(batch 64) as a one-kernel graph, once per hand-written `kiln.tile_n` and once
without it (the width kiln-select-kernels picks).

    python3 bench/tile_width_sweep.py graphs OUT_DIR
    python3 bench/tile_width_sweep.py table KILN_RUN_LOG

`graphs` writes OUT_DIR/<shape>_t<width>.mlir (t0: no attribute). Compile each
with `kiln-compile G --model-hash=<stem> --target=ptx --bundle=B` and time the
bundle on the GPU machine with `kiln-run --bundle=B --bench=300`. `table` turns
that output (its `bench model_hash=... ms=...` lines) into a markdown table of
microseconds, shape by width.
"""
import os
import re
import sys

M = 64  # decode batch
BF16 = "bf16"

# name: (K, N, form); form is "dense", "gated" (SwiGLU pair) or "gate_up"
# (the routed experts: 256 rows = 64 tokens x top-4 over 32 experts).
SHAPES = {
    "q_a": (1024, 384, "dense"),
    "kv_a": (1024, 288, "dense"),
    "q_b": (384, 1536, "dense"),
    "o_proj": (1024, 1024, "dense"),
    "shared_down": (512, 1024, "dense"),
    "dense_down": (2816, 1024, "dense"),
    "lm_head": (1024, 32000, "dense"),
    "shared_gated": (1024, 512, "gated"),
    "dense_gated": (1024, 2816, "gated"),
    "experts_gate_up": (1024, 512, "gate_up"),
}
EXPERTS, TOP_K = 32, 4


def t(*dims, dtype=BF16):
    return "tensor<" + "x".join(str(d) for d in dims) + "x" + dtype + ">"


def attr(width):
    return f" {{kiln.tile_n = {width} : i64}}" if width else ""


def dense(k, n, width):
    a, b, c = t(M, k), t(n, k), t(M, n)
    return f"""func.func @main(%x: {a} {{kiln.name = "x"}}, %w: {b} {{kiln.name = "w"}}) -> ({c} {{kiln.name = "y"}}) {{
  %0 = kiln.dispatch kernel "wgmma_matmul"{attr(width)} : {c} {{
    %m = kiln.matmul %x, %w {{transpose_a = false, transpose_b = true}} : ({a}, {b}) -> {c}
    kiln.yield %m : {c}
  }}
  return %0 : {c}
}}
"""


def gated(k, n, width):
    a, b, c = t(M, k), t(n, k), t(M, n)
    return f"""func.func @main(%x: {a} {{kiln.name = "x"}}, %wg: {b} {{kiln.name = "w_gate"}}, %wu: {b} {{kiln.name = "w_up"}}) -> ({c} {{kiln.name = "y"}}) {{
  %0 = kiln.dispatch kernel "wgmma_gated_matmul"{attr(width)} : {c} {{
    %u = kiln.matmul %x, %wu {{transpose_a = false, transpose_b = true}} : ({a}, {b}) -> {c}
    %g = kiln.matmul %x, %wg {{transpose_a = false, transpose_b = true}} : ({a}, {b}) -> {c}
    %s = kiln.silu %g : ({c}) -> {c}
    %y = kiln.mul %s, %u : ({c}, {c}) -> {c}
    kiln.yield %y : {c}
  }}
  return %0 : {c}
}}
"""


def gate_up(k, n, width):
    rows = M * TOP_K
    a, w, c = t(M, k), t(EXPERTS, n, k), t(rows, n)
    order, offsets = t(rows, dtype="i64"), t(EXPERTS, dtype="i64")
    # Routed from random scores, as the decode step routes (about 8 rows an
    # expert).
    scores, ids, weights = t(M, EXPERTS, dtype="f32"), t(M, TOP_K, dtype="i64"), t(M, TOP_K, dtype="f32")
    return f"""func.func @main(%x: {a} {{kiln.name = "x"}}, %scores: {scores} {{kiln.name = "scores"}}, %bias: {t(EXPERTS, dtype="f32")} {{kiln.name = "bias"}}, %eg: {w} {{kiln.name = "experts_gate"}}, %eu: {w} {{kiln.name = "experts_up"}}) -> ({c} {{kiln.name = "act"}}) {{
  %e, %wt = kiln.moe_route %scores, %bias {{num_groups = 1 : i64, topk_group = 1 : i64, top_k = {TOP_K} : i64, normalize = true, epsilon = 1.0e-20 : f64, scaling = 2.5 : f64}} : ({scores}, {t(EXPERTS, dtype="f32")}) -> ({ids}, {weights})
  %order, %slot, %offsets = kiln.moe_plan %e {{num_experts = {EXPERTS} : i64}} : ({ids}) -> ({order}, {ids}, {offsets})
  %0:3 = kiln.dispatch kernel "wgmma_moe_gate_up"{attr(width)} : {c}, {c}, {c} {{
    %act, %gate, %up = kiln.moe_gate_up %x, %eg, %eu, %order, %offsets : ({a}, {w}, {w}, {order}, {offsets}) -> ({c}, {c}, {c})
    kiln.yield %act, %gate, %up : {c}, {c}, {c}
  }}
  return %0#0 : {c}
}}
"""


def widths(form, n):
    widest = 128 if form != "dense" else 256
    return [0] + [w for w in (32, 64, 128, 256) if w <= widest and w <= max(64, n)]


def table(log):
    times = {}
    for line in open(log):
        m = re.match(r"bench model_hash=(\S+)_t(\d+) .* ms=([0-9.]+)", line)
        if m:
            times[(m.group(1), int(m.group(2)))] = float(m.group(3)) * 1000
    cols = [0, 32, 64, 128, 256]
    print("| GEMM (M = 64) | K x N | " +
          " | ".join("picked" if c == 0 else str(c) for c in cols) + " |")
    print("|---|---|" + "---|" * len(cols))
    for name, (k, n, form) in SHAPES.items():
        row = [times.get((name, c)) for c in cols]
        if not any(row):
            continue
        best = min(v for v in row if v)
        cells = ["-" if v is None else
                 (f"**{v:.2f}**" if v == best else f"{v:.2f}") for v in row]
        print(f"| {name} ({form}) | {k} x {n} | " + " | ".join(cells) + " |")


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "table":
        return table(sys.argv[2])
    if len(sys.argv) != 3 or sys.argv[1] != "graphs":
        sys.exit(__doc__)
    out = sys.argv[2]
    os.makedirs(out, exist_ok=True)
    make = {"dense": dense, "gated": gated, "gate_up": gate_up}
    for name, (k, n, form) in SHAPES.items():
        for width in widths(form, n):
            with open(os.path.join(out, f"{name}_t{width}.mlir"), "w") as f:
                f.write(make[form](k, n, width))


if __name__ == "__main__":
    main()
