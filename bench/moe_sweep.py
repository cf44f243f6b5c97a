#!/usr/bin/env python3
"""The MoE layer forward over token counts: Kiln against torch._grouped_mm.

Run on the GPU machine with what `make gpu-carry` puts in .gpu-carry/:

    cd .gpu-carry && python3 moe_sweep.py --kiln-run=./kiln-run --json=moe_sweep.json

The bundle (bench-moe-sweep.tar.gz) holds DeepSeek-V3's routed-expert layer as
Kiln's model code builds it (bench/moe_layer_graph.cpp) at each token count T,
told apart by model hash (moe_fwd_T<T>). The peer is gpu_bench.py's
torch._grouped_mm layer (the same routing, stable sort by expert, three grouped
GEMMs, weighted index_add), eager: its bincount sizes its output on the host, so
it cannot be captured in a CUDA graph. Kiln runs with CUDA graphs where its
entries allow them (the table says which).

Every row has its floor: the larger of the bytes that must move over the copy
bandwidth measured in this run (every selected expert's three weight matrices
read once, the router, the tokens in and out) and the FLOPs over the dense bf16
peak. At small T the layer is memory-bound and the row's GB/s says how close
Kiln is to reading each selected expert once. `bench/plot_moe_sweep.py` draws
the JSON this writes.
"""
import argparse
import json
import os
import re
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gpu_bench import (H200_BF16_DENSE_TFLOPS, kiln_times, moe_grouped_mm,  # noqa: E402
                       moe_route, open_moe_bundle, time_ms)


def uniform(*size, fan_in, dev):
    """DeepseekMoe's initialisers: uniform(+-1/sqrt(fan_in)), in bf16."""
    bound = fan_in ** -0.5
    return ((torch.rand(*size, device=dev, dtype=torch.float32) * 2 - 1)
            .mul_(bound).to(torch.bfloat16))


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--kiln-run", required=True)
    p.add_argument("--bundle", default=os.path.join(here, "bench-moe-sweep.tar.gz"),
                   help="the sweep bundle: a folder or a .tar.gz of one")
    p.add_argument("--hidden", type=int, default=2048)
    p.add_argument("--experts", type=int, default=64)
    p.add_argument("--topk", type=int, default=6)
    p.add_argument("--inter", type=int, default=1408)
    p.add_argument("--iterations", type=int, default=20)
    p.add_argument("--json", help="write the rows here")
    args = p.parse_args()
    if not torch.cuda.is_available():
        sys.exit("no CUDA device: this bench runs on the GPU machine")
    bundle = open_moe_bundle(args.bundle)
    if not bundle:
        sys.exit(f"no sweep bundle at '{args.bundle}' (make gpu-carry writes it)")
    dev = torch.device("cuda")
    H, E, k, I = args.hidden, args.experts, args.topk, args.inter

    graphs = True
    kiln = kiln_times(args.kiln_run, bundle, args.iterations, cuda_graph=True, fatal=False)
    if not kiln:
        graphs = False
        kiln = kiln_times(args.kiln_run, bundle, args.iterations, cuda_graph=False)
    tokens = sorted(int(m.group(1)) for h in kiln
                    if (m := re.fullmatch(r"moe_fwd_T(\d+)", h)))
    if not tokens:
        sys.exit(f"kiln-run found no moe_fwd_T<T> entries in {bundle}")

    n = 1 << 28
    src = torch.randn(n, device=dev, dtype=torch.bfloat16)
    dst = torch.empty_like(src)
    copy_ms = time_ms(lambda: dst.copy_(src), args.iterations)
    copy_gbs = 2 * n * 2 / copy_ms / 1e6
    del src, dst

    torch.manual_seed(0)
    router = uniform(E, H, fan_in=H, dev=dev)
    w_gate = uniform(E, I, H, fan_in=H, dev=dev)
    w_up = uniform(E, I, H, fan_in=H, dev=dev)
    w_down = uniform(E, H, I, fan_in=I, dev=dev)
    rows = []
    for T in tokens:
        x = torch.randn(T, H, device=dev, dtype=torch.bfloat16)
        with torch.no_grad():
            _, experts = moe_route(x, router, k)
            hit = int((torch.bincount(experts.reshape(-1), minlength=E) > 0).sum())
            peer_ms = time_ms(lambda: moe_grouped_mm(x, router, w_gate, w_up, w_down, k),
                              args.iterations)
        kiln_ms, launches = kiln[f"moe_fwd_T{T}"]
        weight_bytes = hit * 3 * H * I * 2 + E * H * 2
        bytes_moved = weight_bytes + 2 * T * H * 2
        flops = 2 * T * k * 3 * H * I + 2 * T * H * E
        memory_ms = bytes_moved / (copy_gbs * 1e6)
        compute_ms = flops / (H200_BF16_DENSE_TFLOPS * 1e9)
        rows.append(dict(T=T, kiln_ms=kiln_ms, peer_ms=peer_ms, launches=launches,
                         experts_hit=hit, bytes=bytes_moved, flops=flops,
                         floor_ms=max(memory_ms, compute_ms),
                         bound="memory" if memory_ms >= compute_ms else "compute",
                         kiln_gbs=bytes_moved / kiln_ms / 1e6,
                         peer_gbs=bytes_moved / peer_ms / 1e6))

    name = torch.cuda.get_device_name()
    print(f"# {name}, torch {torch.__version__}; MoE layer forward, H={H} E={E} top-{k} "
          f"I={I} bf16, routed experts only; {args.iterations} timed calls per row; "
          f"Kiln {'with' if graphs else 'without'} CUDA graphs, torch eager; "
          f"copy bandwidth {copy_gbs:.0f} GB/s")
    print("| T | Kiln ms | torch._grouped_mm ms | Kiln / peer speed | Kiln GB/s (of copy) "
          "| experts hit | floor ms (bound) | Kiln vs floor | launches |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['T']} | {r['kiln_ms']:.3f} | {r['peer_ms']:.3f} | "
              f"{r['peer_ms'] / r['kiln_ms']:.2f}x | {r['kiln_gbs']:.0f} "
              f"({100 * r['kiln_gbs'] / copy_gbs:.0f}%) | {r['experts_hit']} | "
              f"{r['floor_ms']:.3f} ({r['bound']}) | "
              f"{100 * r['floor_ms'] / r['kiln_ms']:.0f}% | {r['launches']} |")
    if args.json:
        with open(args.json + ".tmp", "w") as f:
            json.dump(dict(device=name, torch=torch.__version__, hidden=H, experts=E,
                           topk=k, inter=I, copy_gbs=copy_gbs, cuda_graphs=graphs,
                           rows=rows), f, indent=1)
        os.replace(args.json + ".tmp", args.json)


if __name__ == "__main__":
    main()
