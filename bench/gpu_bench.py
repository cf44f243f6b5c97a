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
"""
import argparse
import re
import subprocess
import sys

import torch

H200_BF16_DENSE_TFLOPS = 989.0  # NVIDIA H200 SXM datasheet, dense bf16


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


def kiln_times(kiln_run, bundle, iterations, cuda_graph):
    cmd = [kiln_run, f"--bundle={bundle}", f"--bench={iterations}"]
    if cuda_graph:
        cmd.append("--cuda-graph")
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"kiln-run failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    # Keyed by model hash: kiln-compile --model-hash tells apart variants of one graph
    # (gemm_bf16_8192 with Kiln's PTX, gemm_bf16_8192_cublas with the cuBLAS provider).
    times = {}
    for line in out.stdout.splitlines():
        m = re.match(r"bench model_hash=(\S*) entry=(\S+) bucket=\S* ms=(\S+) launches=(\d+)", line)
        if m:
            times[m.group(1)] = (float(m.group(3)), int(m.group(4)))
    return times


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--kiln-run", required=True)
    p.add_argument("--bundle", required=True)
    p.add_argument("--iterations", type=int, default=20)
    args = p.parse_args()
    if not torch.cuda.is_available():
        sys.exit("no CUDA device: this bench runs on the GPU machine")
    dev = torch.device("cuda")
    name = torch.cuda.get_device_name()
    kiln = kiln_times(args.kiln_run, args.bundle, args.iterations, cuda_graph=False)
    rows = []

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

    print(f"# {name}, torch {torch.__version__}, {args.iterations} timed calls per row")
    print(f"| work | Kiln ms | peer ms | Kiln / peer speed | throughput | floor |")
    print(f"|---|---|---|---|---|---|")
    for label, k, peer, throughput, floor in rows:
        ratio = f"{peer / k:.2f}x" if k else "-"
        kms = f"{k:.3f}" if k else "-"
        print(f"| {label} | {kms} | {peer:.3f} | {ratio} | {throughput} | {floor} |")
    for entry, (ms, launches) in sorted(kiln.items()):
        print(f"kiln entry {entry}: {ms:.4f} ms, {launches} kernel launches")


if __name__ == "__main__":
    main()
