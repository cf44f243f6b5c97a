#!/usr/bin/env python3
"""Draws serve_bench.py's results: output tokens/s against concurrency, Kiln
(kiln-serve) and transformers generate, log-scaled concurrency.

    python3 plot_serve_bench.py serve-bench/serve_bench.json docs/serve_bench.png
"""
import json
import sys


def plot(results_path, png_path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results = json.load(open(results_path))
    levels = results["levels"]
    xs = [row["concurrency"] for row in levels]
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=120)
    ax.plot(xs, [row["kiln"]["tokens_per_s"] for row in levels], "o-",
            label="Kiln (kiln-serve, streamed HTTP)")
    hf = [(row["concurrency"], row["transformers"]["tokens_per_s"])
          for row in levels if row.get("transformers")]
    if hf:
        ax.plot([x for x, _ in hf], [y for _, y in hf], "s--",
                label="transformers generate (one static batch)")
    ax.set_xscale("log", base=2)
    ax.set_xticks(xs)
    ax.set_xticklabels([str(x) for x in xs])
    ax.set_xlabel("concurrent requests")
    ax.set_ylabel("output tokens/s")
    info, args = results.get("info", {}), results.get("args", {})
    params = info.get("params")
    ax.set_title(f"DeepseekV3 {params / 1e6:.0f}M {args.get('dtype', '')}, "
                 f"{args.get('new_tokens', '?')} new tokens per request\n"
                 f"{info.get('device', '')}" if params else "kiln-serve throughput",
                 fontsize=9)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(png_path)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: plot_serve_bench.py RESULTS.json OUT.png")
    plot(sys.argv[1], sys.argv[2])
