#!/usr/bin/env python3
"""Draws moe_sweep.py's results: the MoE layer forward's time against the token
count (Kiln, torch._grouped_mm and the floor), and the bandwidth each reaches
against the copy bandwidth measured in the same run.

    python3 bench/plot_moe_sweep.py tests/gpu/moe_sweep.json docs/moe_sweep.png
"""
import json
import os
import sys


def plot(results_path, png_path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results = json.load(open(results_path))
    rows = results["rows"]
    ts = [r["T"] for r in rows]
    fig, (time_ax, bw_ax) = plt.subplots(1, 2, figsize=(10, 4.2), dpi=120)
    kiln_label = "Kiln" + (" (CUDA graphs)" if results.get("cuda_graphs") else "")
    time_ax.plot(ts, [r["kiln_ms"] for r in rows], "o-", label=kiln_label)
    time_ax.plot(ts, [r["peer_ms"] for r in rows], "s--",
                 label="torch._grouped_mm (eager)")
    time_ax.plot(ts, [r["floor_ms"] for r in rows], ":", color="gray",
                 label="floor (bytes / copy bandwidth or FLOPs / peak)")
    time_ax.set_ylabel("ms per forward")
    bw_ax.plot(ts, [r["kiln_gbs"] for r in rows], "o-", label=kiln_label)
    bw_ax.plot(ts, [r["peer_gbs"] for r in rows], "s--",
               label="torch._grouped_mm (eager)")
    bw_ax.axhline(results["copy_gbs"], color="gray", linestyle=":",
                  label=f"device copy {results['copy_gbs']:.0f} GB/s")
    bw_ax.set_ylabel("GB/s\n(selected experts' weights once, tokens in and out)")
    for ax in (time_ax, bw_ax):
        ax.set_xscale("log", base=2)
        ax.set_xticks(ts)
        ax.set_xticklabels([str(t) for t in ts])
        ax.set_xlabel("tokens T")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    time_ax.set_yscale("log")
    fig.suptitle(f"MoE layer forward, H={results['hidden']} E={results['experts']} "
                 f"top-{results['topk']} I={results['inter']} bf16, "
                 f"{results['device']}", fontsize=9)
    fig.tight_layout()
    fig.savefig(png_path + ".tmp.png")
    os.replace(png_path + ".tmp.png", png_path)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: plot_moe_sweep.py RESULTS.json OUT.png")
    plot(sys.argv[1], sys.argv[2])
