#!/usr/bin/env python3
"""Kiln against its peers on one GPU, side by side in one run.

Run on the GPU machine with what `make gpu-carry` puts in .gpu-carry/ (the static
runtime-only kiln-run, a bundle of bench/graphs, this script):

    cd .gpu-carry && python3 gpu_bench.py --kiln-run=./kiln-run --bundle=bench

Kiln's figures come from `kiln-run --bench=N` (device time per run between CUDA
events, inputs already resident); the peers' from torch with CUDA events around
the same number of back-to-back calls. Every row prints both, their ratio and the
row's floor (FLOPs over peak or bytes over bandwidth, with the bandwidth measured
by a device copy in this same run).

The MoE-layer rows (issue #7) time a second bundle, bench-moe.tar.gz next to this
script (--moe-bundle; a folder works too): DeepSeek-V3's MoE layer as Kiln's model
code builds it (bench/moe_layer_graph.cpp), routed experts only, forward and
forward+backward, against the same layer in torch with torch._grouped_mm and with a
per-expert loop. Without that bundle the rows still print, with '-' for Kiln.
--moe-check also compares Kiln's ptx Executables with its host ones (kiln-run's
compare mode, the host side on the CPU: slow at this shape).
"""
import argparse
import atexit
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile

import torch
import torch.nn.functional as F

H200_BF16_DENSE_TFLOPS = 989.0  # NVIDIA H200 SXM datasheet, dense bf16
H200_FP8_DENSE_TFLOPS = 1979.0  # the same, dense fp8 (H100 SXM: the same figures)


def time_ms(fn, iterations, warmup=3):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    start = torch.cuda.Event(enable_timing=True)
    end = torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(iterations):
        fn()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) / iterations


def kiln_times(kiln_run, bundle, iterations, cuda_graph, fatal=True, timeout=None):
    cmd = [kiln_run, f"--bundle={bundle}", f"--bench={iterations}"]
    if cuda_graph:
        cmd.append("--cuda-graph")
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        print(f"warning: kiln-run on {bundle} ran past {timeout} s; its rows print '-' for Kiln "
              "(fewer --moe-iterations?)", file=sys.stderr)
        return {}
    if out.returncode != 0:
        message = f"kiln-run failed ({out.returncode}) on {bundle}:\n{out.stdout}\n{out.stderr}"
        if fatal:
            sys.exit(message)
        print(f"warning: {message}\n(its rows print '-' for Kiln)", file=sys.stderr)
        return {}
    # Keyed by model hash: kiln-compile --model-hash tells apart variants of one graph
    # (gemm_bf16_8192 with Kiln's PTX, gemm_bf16_8192_cublas with the cuBLAS provider).
    times = {}
    for line in out.stdout.splitlines():
        m = re.match(r"bench model_hash=(\S*) entry=(\S+) bucket=\S* ms=(\S+) launches=(\d+)", line)
        # kiln.derive_state (hoisted casts of parameters) runs once, not per
        # call: it must not stand for the graph's time.
        if m and m.group(2) != "kiln.derive_state":
            times[m.group(1)] = (float(m.group(3)), int(m.group(4)))
    return times


# The shape of DESIGN.md's MoE row; the generated graph's header line overrides it,
# so the peers always run the shape Kiln's bundle was compiled at.
MOE_DEFAULT_SHAPE = dict(T=4096, H=2048, E=64, k=6, I=1408)
MOE_ROUTED_SCALING = 2.5  # DeepseekV3Config's routed_scaling_factor (the graph's default)


def open_moe_bundle(path):
    """The bundle folder of `path` (a folder, or a .tar.gz holding one), or None."""
    if not path or not os.path.exists(path):
        return None
    if os.path.isdir(path):
        return path
    out = tempfile.mkdtemp(prefix="kiln-bench-moe-")
    atexit.register(shutil.rmtree, out, ignore_errors=True)  # 130 MiB unpacked
    with tarfile.open(path) as tar:
        try:
            tar.extractall(out, filter="data")
        except TypeError:  # Pythons before the extraction filters
            tar.extractall(out)
    for root, _, files in os.walk(out):
        if "manifest.json" in files:
            return root
    return None


def moe_shape(bundle_dir):
    """T, H, E, k, I from the header kiln-bench-moe-graph writes, else the default."""
    shape = dict(MOE_DEFAULT_SHAPE)
    graph = os.path.join(bundle_dir or "", "moe_layer_fwd.mlir")
    if bundle_dir and os.path.exists(graph):
        with open(graph) as f:
            m = re.search(r"T=(\d+) H=(\d+) E=(\d+) top-(\d+) I=(\d+)", f.readline())
        if m:
            shape = dict(zip(("T", "H", "E", "k", "I"), map(int, m.groups())))
    return shape


def moe_route(x, router, k):
    """DeepseekMoe's router with one expert group and a zero correction bias: sigmoid
    scores in f32, top-k, weights normalised over the k and scaled."""
    scores = torch.sigmoid(x.float() @ router.float().t())  # [T, E]
    weights, experts = torch.topk(scores, k, dim=-1)
    weights = weights / (weights.sum(-1, keepdim=True) + 1e-20) * MOE_ROUTED_SCALING
    return weights, experts


def moe_grouped_mm(x, router, w_gate, w_up, w_down, k):
    """Kiln's dispatch step for step: token-expert pairs sorted by expert (stable),
    the three expert GEMMs as torch._grouped_mm over the sorted rows (offs = the
    cumulative end row of each expert), weighted rows added back per token."""
    weights, experts = moe_route(x, router, k)
    flat = experts.reshape(-1)
    order = torch.argsort(flat, stable=True)
    token_of = order // k
    offs = torch.cumsum(torch.bincount(flat, minlength=w_gate.shape[0]), 0).to(torch.int32)
    rows = x[token_of]
    # Weights are stored [E, out, in] (Kiln's and transformers' layout): mat_b is
    # their transposed view [E, in, out].
    g = torch._grouped_mm(rows, w_gate.transpose(-2, -1), offs=offs)
    u = torch._grouped_mm(rows, w_up.transpose(-2, -1), offs=offs)
    out = torch._grouped_mm(F.silu(g) * u, w_down.transpose(-2, -1), offs=offs)
    out = out * weights.reshape(-1)[order].to(x.dtype).unsqueeze(1)
    return torch.zeros_like(x).index_add(0, token_of, out)


def moe_loop(x, router, w_gate, w_up, w_down, k):
    """transformers' per-expert loop (DeepseekV3 experts, stacked weights): for
    each expert with tokens, gather its rows, run its MLP, index_add them back."""
    weights, experts = moe_route(x, router, k)
    y = torch.zeros_like(x)
    mask = F.one_hot(experts, w_gate.shape[0]).permute(2, 0, 1)  # [E, T, k]
    for e in range(w_gate.shape[0]):
        token, slot = torch.where(mask[e])
        if token.numel() == 0:
            continue
        h = x[token]
        o = F.linear(F.silu(F.linear(h, w_gate[e])) * F.linear(h, w_up[e]), w_down[e])
        y.index_add_(0, token, o * weights[token, slot, None].to(x.dtype))
    return y


def moe_rows(kiln, shape, iterations, slow_iterations, dev, notes):
    """The MoE-layer rows: forward, and forward+backward, each against
    torch._grouped_mm and against the per-expert loop."""
    T, H, E, k, I = shape["T"], shape["H"], shape["E"], shape["k"], shape["I"]
    torch.manual_seed(0)
    bf16 = torch.bfloat16

    def uniform(*size, fan_in):  # DeepseekMoe's initialisers
        bound = fan_in ** -0.5
        return (torch.rand(*size, device=dev, dtype=torch.float32) * 2 - 1).mul_(bound).to(bf16)

    x = torch.randn(T, H, device=dev, dtype=bf16)
    dy = torch.randn(T, H, device=dev, dtype=bf16)
    router = uniform(E, H, fan_in=H)
    w_gate, w_up = uniform(E, I, H, fan_in=H), uniform(E, I, H, fan_in=H)
    w_down = uniform(E, H, I, fan_in=I)
    tag = f"T={T} H={H} E={E} top-{k} I={I} bf16, routed experts only"

    peers = [("torch._grouped_mm", moe_grouped_mm), ("per-expert loop (transformers-style)", moe_loop)]
    if not hasattr(torch, "_grouped_mm"):
        notes.append(f"torch {torch.__version__} has no torch._grouped_mm: its MoE rows are left out")
        peers = peers[1:]

    # The peers must agree with each other before their times mean anything.
    with torch.no_grad():
        outs = [fn(x, router, w_gate, w_up, w_down, k).float() for _, fn in peers]
        _, experts = moe_route(x, router, k)
    load = torch.bincount(experts.reshape(-1), minlength=E)
    notes.append(f"MoE routing: tokens per expert min {load.min().item()} / mean {T * k / E:.0f} "
                 f"/ max {load.max().item()}")
    if len(outs) == 2:
        rel = ((outs[0] - outs[1]).abs().max() / outs[1].abs().max()).item()
        grads = []
        for _, fn in peers:
            leaves = [t.detach().requires_grad_() for t in (x, w_gate, w_up, w_down)]
            y = fn(leaves[0], router, *leaves[1:], k)
            grads.append(torch.autograd.grad(y, leaves, dy))
        grad_rel = ", ".join(
            f"{n} {((a.float() - b.float()).abs().max() / b.float().abs().max()).item():.2e}"
            for n, a, b in zip(("dx", "d_gate", "d_up", "d_down"), *grads))
        notes.append(f"MoE peers agree (max |diff| / max |ref|, torch._grouped_mm vs loop): "
                     f"y {rel:.2e}, {grad_rel}")

    flops_fwd = 2 * T * k * (H * 2 * I + I * H)  # gate, up and down GEMMs of each pair
    for label, fwd_bwd, flops, entry in (("forward", False, flops_fwd, "moe_layer_fwd"),
                                         ("forward+backward", True, 3 * flops_fwd, "moe_layer_fwd_bwd")):
        k_ms = kiln.get(entry, (None, 0))[0]
        floor_ms = flops / (H200_BF16_DENSE_TFLOPS * 1e12) * 1e3
        for peer_name, fn in peers:
            if fwd_bwd:
                leaves = [t.detach().requires_grad_() for t in (x, w_gate, w_up, w_down)]

                def call(fn=fn, leaves=leaves):
                    xr, g, u, d = leaves
                    y = fn(xr, router, g, u, d, k)
                    # Gradients w.r.t. the input and the expert weights, as Kiln's
                    # entry computes them (dx includes the router's path).
                    torch.autograd.grad(y, leaves, dy)
            else:
                def call(fn=fn):
                    with torch.no_grad():
                        fn(x, router, w_gate, w_up, w_down, k)
            # The loop peers are slow: fewer timed calls keep the run short.
            peer = time_ms(call, iterations if fn is moe_grouped_mm else slow_iterations, warmup=2)
            throughput = (f"Kiln {flops / k_ms / 1e9:.0f} / peer {flops / peer / 1e9:.0f} TFLOP/s"
                          if k_ms else f"peer {flops / peer / 1e9:.0f} TFLOP/s")
            yield (f"MoE layer {label} ({tag}) vs {peer_name}", k_ms, peer, throughput,
                   f"floor {floor_ms:.3f} ms ({flops / 1e9:.0f} GFLOP at 989 TFLOP/s)")


def blockwise_scaled_mm(a8, w8, scale_a, scale_b):
    """torch's DeepSeek-V3 recipe: a [M, K] in 1x128 tiles, w [N, K] in 128x128
    blocks (cuBLASLt's blockwise scaling on SM90). _scaled_mm wants b = w.t()
    and the scales in cuBLASLt's layouts: a's [M, K/128] M-major, b's
    [K/128, N/128] as the transpose of w's row-major [N/128, K/128]."""
    return torch._scaled_mm(a8, w8.t(), scale_a=scale_a, scale_b=scale_b,
                            out_dtype=torch.bfloat16)


def fp8_gemm_rows(kiln, size, iterations, dev, notes):
    """fp8 GEMM size^3 with 1x128 / 128x128 block scales against torch._scaled_mm
    with the same scales, and the per-tensor-scaled cuBLASLt figure beside it."""
    m = n = k = size
    a8 = torch.randn(m, k, device=dev).to(torch.float8_e4m3fn)
    w8 = torch.randn(n, k, device=dev).to(torch.float8_e4m3fn)
    sa = (torch.rand(k // 128, m, device=dev) + 0.5).t()  # [M, K/128], M-major
    sw = torch.rand(n // 128, k // 128, device=dev) + 0.5  # w's [N/128, K/128]
    flops = 2 * m * n * k
    floor_ms = flops / (H200_FP8_DENSE_TFLOPS * 1e12) * 1e3
    kms = kiln.get(f"gemm_fp8_{size}", (None, 0))[0]
    rows = []
    try:
        out = blockwise_scaled_mm(a8, w8, sa, sw.t())
        # The recipe's result, to be sure torch ran the blockwise path: the
        # dequantized product in f32.
        ref = (a8.float() * sa.repeat_interleave(128, dim=1)) @ (
            w8.float() * sw.repeat_interleave(128, 0).repeat_interleave(128, 1)).t()
        err = ((out.float() - ref).norm() / ref.norm()).item()
        notes.append(f"torch._scaled_mm blockwise {size}^3: relative error {err:.2e} against "
                     "the dequantized f32 product")
        peer = time_ms(lambda: blockwise_scaled_mm(a8, w8, sa, sw.t()), iterations, warmup=10)
        rows.append((f"fp8 GEMM {size}^3, 1x128 / 128x128 block scales, vs torch._scaled_mm "
                     "blockwise (cuBLASLt)", kms, peer,
                     f"Kiln {flops / kms / 1e9:.0f} / torch {flops / peer / 1e9:.0f} TFLOP/s"
                     if kms else "", f"floor {floor_ms:.3f} ms (1979 TFLOP/s)"))
    except (RuntimeError, TypeError) as e:
        notes.append(f"torch._scaled_mm refused the blockwise recipe: {e}")
    one = torch.ones((), device=dev)
    per_tensor = time_ms(lambda: torch._scaled_mm(a8, w8.t(), scale_a=one, scale_b=one,
                                                  out_dtype=torch.bfloat16),
                         iterations, warmup=10)
    rows.append((f"fp8 GEMM {size}^3 per-tensor scales (reference: a coarser recipe) vs "
                 "torch._scaled_mm", kms, per_tensor,
                 f"Kiln (blockwise) {flops / kms / 1e9:.0f} / cuBLASLt per-tensor "
                 f"{flops / per_tensor / 1e9:.0f} TFLOP/s" if kms else
                 f"cuBLASLt per-tensor {flops / per_tensor / 1e9:.0f} TFLOP/s",
                 f"floor {floor_ms:.3f} ms (1979 TFLOP/s)"))
    return rows


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--kiln-run", required=True)
    p.add_argument("--bundle", required=True)
    p.add_argument("--iterations", type=int, default=20)
    here = os.path.dirname(os.path.abspath(__file__))
    p.add_argument("--moe-bundle", default=os.path.join(here, "bench-moe.tar.gz"),
                   help="bundle of the MoE-layer graphs: a folder or a .tar.gz of one "
                        "(default: bench-moe.tar.gz next to this script; '' skips Kiln's MoE times)")
    p.add_argument("--moe-iterations", type=int, default=5,
                   help="timed calls of Kiln's MoE entries and of the per-expert loop peers "
                        "(both are slow; torch._grouped_mm gets --iterations)")
    p.add_argument("--moe-check", action="store_true",
                   help="also compare the MoE bundle's ptx Executables with its host ones "
                        "(kiln-run compare mode; the host side runs on the CPU and is slow)")
    args = p.parse_args()
    if not torch.cuda.is_available():
        sys.exit("no CUDA device: this bench runs on the GPU machine")
    dev = torch.device("cuda")
    name = torch.cuda.get_device_name()
    kiln = kiln_times(args.kiln_run, args.bundle, args.iterations, cuda_graph=False)
    rows = []
    notes = []
    moe_dir = open_moe_bundle(args.moe_bundle)
    if moe_dir:
        kiln.update(kiln_times(args.kiln_run, moe_dir, args.moe_iterations, cuda_graph=False,
                               fatal=False, timeout=480))
        if args.moe_check:
            out = subprocess.run([args.kiln_run, f"--bundle={moe_dir}"], capture_output=True, text=True)
            notes.append(f"kiln-run compare on the MoE bundle (exit {out.returncode}):\n"
                         f"{out.stdout}{out.stderr}")
    else:
        notes.append(f"no MoE bundle at '{args.moe_bundle}' (make gpu-carry writes "
                     "bench-moe.tar.gz): Kiln's MoE times print '-'")

    # Copy bandwidth: the floor of every bandwidth-bound row, measured here.
    n = 1 << 28
    src = torch.randn(n, device=dev, dtype=torch.bfloat16)
    dst = torch.empty_like(src)
    copy_ms = time_ms(lambda: dst.copy_(src), args.iterations)
    copy_tbs = 2 * n * 2 / copy_ms / 1e9
    rows.append(("device copy 2^28 bf16 (read+write)", None, copy_ms, f"{copy_tbs:.2f} TB/s", ""))

    for size in (4096, 8192):
        a = torch.randn(size, size, device=dev, dtype=torch.bfloat16)
        b = torch.randn(size, size, device=dev, dtype=torch.bfloat16)
        peer = time_ms(lambda: torch.matmul(a, b), args.iterations)
        flops = 2 * size**3
        entry = f"gemm_bf16_{size}"
        k = kiln.get(entry, (None, 0))[0]
        floor_ms = flops / (H200_BF16_DENSE_TFLOPS * 1e12) * 1e3
        rows.append((f"bf16 GEMM {size}^3 vs torch.matmul (cuBLAS)", k, peer,
                     f"Kiln {flops / k / 1e9:.0f} / cuBLAS {flops / peer / 1e9:.0f} TFLOP/s" if k else "",
                     f"floor {floor_ms:.3f} ms (989 TFLOP/s)"))
        # The same graph compiled with --provider=matmul=cublas: Kiln's executor
        # calling cuBLAS, so the ratio is the provider's overhead (ideally 1.00x).
        kc = kiln.get(f"{entry}_cublas", (None, 0))[0]
        if kc:
            rows.append((f"bf16 GEMM {size}^3, Kiln's cuBLAS provider vs torch.matmul", kc, peer,
                         f"Kiln+cuBLAS {flops / kc / 1e9:.0f} / torch {flops / peer / 1e9:.0f} TFLOP/s",
                         f"floor {floor_ms:.3f} ms (989 TFLOP/s)"))

    rows.extend(fp8_gemm_rows(kiln, 8192, args.iterations, dev, notes))

    g = torch.randn(n, device=dev, dtype=torch.bfloat16)
    u = torch.randn(n, device=dev, dtype=torch.bfloat16)
    eager = time_ms(lambda: torch.nn.functional.silu(g) * u, args.iterations)
    compiled_fn = torch.compile(lambda x, y: torch.nn.functional.silu(x) * y)
    compiled = time_ms(lambda: compiled_fn(g, u), args.iterations)
    bytes_moved = 3 * n * 2
    k = kiln.get("silu_mul_bf16", (None, 0))[0]
    floor_ms = bytes_moved / (copy_tbs * 1e12) * 1e3
    for label, peer in (("torch.compile", compiled), ("torch eager", eager)):
        rows.append((f"silu(g)*u 2^28 bf16 vs {label}", k, peer,
                     f"Kiln {bytes_moved / k / 1e9:.2f} / peer {bytes_moved / peer / 1e9:.2f} TB/s" if k else "",
                     f"floor {floor_ms:.3f} ms at the copy bandwidth"))

    rows.extend(moe_rows(kiln, moe_shape(moe_dir), args.iterations, args.moe_iterations, dev, notes))

    print(f"# {name}, torch {torch.__version__}, {args.iterations} timed calls per row "
          f"({args.moe_iterations} for Kiln's MoE entries and the per-expert loop)")
    print(f"| work | Kiln ms | peer ms | Kiln / peer speed | throughput | floor |")
    print(f"|---|---|---|---|---|---|")
    for label, k, peer, throughput, floor in rows:
        ratio = f"{peer / k:.2f}x" if k else "-"
        kms = f"{k:.3f}" if k else "-"
        print(f"| {label} | {kms} | {peer:.3f} | {ratio} | {throughput} | {floor} |")
    for entry, (ms, launches) in sorted(kiln.items()):
        print(f"kiln entry {entry}: {ms:.4f} ms, {launches} kernel launches")
    for note in notes:
        print(note)


if __name__ == "__main__":
    main()
