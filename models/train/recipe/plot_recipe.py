#!/usr/bin/env python3
"""Draws recipe_sweep.py's JSON: held-out accuracy after SFT and after GRPO,
one pair of bars per (variant, seed), with binomial standard errors.

  models/train/recipe/plot_recipe.py docs/recipe.json docs/recipe.png
"""

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main():
    src, dst = sys.argv[1], sys.argv[2]
    with open(src) as f:
        runs = json.load(f)["runs"]
    labels = ["%s\nseed %d" % (r["variant"], r["seed"]) for r in runs]
    x = range(len(runs))
    w = 0.38
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(runs) + 2), 4.2))
    ax.bar([i - w / 2 for i in x], [100 * r["sft_accuracy"] for r in runs], w,
           yerr=[r["sft_se_points"] for r in runs], capsize=2,
           label="after SFT", color="#9bb7d4")
    ax.bar([i + w / 2 for i in x], [100 * r["grpo_accuracy"] for r in runs], w,
           yerr=[r["grpo_se_points"] for r in runs], capsize=2,
           label="after GRPO", color="#d9822b")
    for i, r in zip(x, runs):
        top = 100 * max(r["sft_accuracy"], r["grpo_accuracy"])
        ax.text(i, top + 3, "%+.1f" % r["gain_points"], ha="center", fontsize=8)
    ax.set_xticks(list(x))
    ax.set_xticklabels(labels, fontsize=7)
    ax.set_ylabel("held-out accuracy, % (greedy, 500 problems)")
    ax.set_ylim(0, 108)
    ax.set_title("kiln-train SFT then GRPO: accuracy per task variant and seed")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(dst, dpi=110)


if __name__ == "__main__":
    main()
