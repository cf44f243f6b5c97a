#!/usr/bin/env python3
"""Runs kiln-train's SFT + GRPO recipe for seeds x task variants; writes a JSON.

Each run is a whole `kiln-train` (SFT, then GRPO, as `make demo` runs it) with
`--set='seed: S task { ... }'` plus the recipe's own --set overrides, in its own
output folder. The held-out accuracies come from the run's metrics.jsonl: the
first eval/accuracy (after SFT), the last (after GRPO) and any in between
(eval.every). Standard errors are binomial, sqrt(p (1 - p) / n) with n the
eval.problems (500 by default); the gain's is the two combined as if
independent (an upper bound: both evaluate the same problems).

Python 3 standard library only. Example (the table of docs/RECIPE.md):

  models/train/recipe/recipe_sweep.py --kiln-train build/bin/kiln-train \
      --work /tmp/recipe --out docs/recipe.json --seeds 1 2 3 \
      --variants default digits1 digits3 addsub mul

Runs one kiln-train at a time (each uses every core); prefix with `nice` on a
shared machine. An existing result in --out for the same variant, seed and
settings is kept, so an interrupted sweep continues where it stopped.
"""

import argparse
import json
import math
import os
import subprocess
import sys
import time

# Task variants: name -> (the task { } textproto fragment, other settings the
# variant needs). Three-digit operands and products have longer workings than
# the default 64 positions and 40 new tokens hold.
LONG = "model { max_position_embeddings: 128 } grpo { max_new_tokens: 80 }"
VARIANTS = {
    "default": ("", ""),  # 2-digit addition, the demo's task
    "digits1": ("digits: 1", ""),
    "digits3": ("digits: 3", LONG),
    "addsub": ('ops: "+-"', ""),
    "sub": ('ops: "-"', ""),
    "mul": ('ops: "*"', LONG),
    "mul1": ('digits: 1 ops: "*"', ""),
}


def accuracies(metrics_path):
    accs = []
    with open(metrics_path) as f:
        for line in f:
            d = json.loads(line)
            if "eval/accuracy" in d:
                accs.append((d["step"], d["eval/accuracy"]))
    return accs


def se(p, n):
    return math.sqrt(p * (1 - p) / n)


def run_one(args, variant, seed):
    task, extra = VARIANTS[variant]
    sets = ['seed: %d task { %s } %s' % (seed, task, extra)] + list(args.set)
    out_dir = os.path.join(args.work, "%s_s%d" % (variant, seed))
    cmd = [args.kiln_train, "--output-dir=" + out_dir]
    cmd += ["--set=" + s for s in sets]
    if os.path.isdir(out_dir):
        subprocess.run(["rm", "-rf", out_dir], check=True)
    os.makedirs(args.work, exist_ok=True)
    t0 = time.time()
    with open(out_dir + ".log", "w") as log:
        subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, check=True)
    wall = time.time() - t0
    accs = accuracies(os.path.join(out_dir, "metrics.jsonl"))
    n = args.problems
    sft, grpo = accs[0][1], accs[-1][1]
    return {
        "variant": variant,
        "task": task,
        "seed": seed,
        "variant_settings": extra,
        "settings": sets[1:],
        "sft_accuracy": sft,
        "grpo_accuracy": grpo,
        "gain_points": 100 * (grpo - sft),
        "sft_se_points": 100 * se(sft, n),
        "grpo_se_points": 100 * se(grpo, n),
        "gain_se_points": 100 * math.hypot(se(sft, n), se(grpo, n)),
        "curve": [{"step": s, "accuracy": a} for s, a in accs],
        "wall_seconds": round(wall, 1),
    }


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--kiln-train", default="build/bin/kiln-train")
    p.add_argument("--work", default="recipe-sweep", help="run folders")
    p.add_argument("--out", default="recipe.json")
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    p.add_argument("--variants", nargs="+", default=["default"],
                   choices=sorted(VARIANTS))
    p.add_argument("--set", action="append", default=[],
                   help="extra textproto override for every run (repeatable)")
    p.add_argument("--problems", type=int, default=500,
                   help="eval.problems, for the standard errors")
    args = p.parse_args()

    results = []
    if os.path.exists(args.out):
        with open(args.out) as f:
            results = json.load(f)["runs"]
    for variant in args.variants:
        for seed in args.seeds:
            done = [r for r in results if r["variant"] == variant
                    and r["seed"] == seed and r["settings"] == list(args.set)]
            if done:
                continue
            r = run_one(args, variant, seed)
            results.append(r)
            print("%-8s seed %d: SFT %.1f%%  GRPO %.1f%%  gain %+.1f (se %.1f)  %.0fs"
                  % (variant, seed, 100 * r["sft_accuracy"],
                     100 * r["grpo_accuracy"], r["gain_points"],
                     r["gain_se_points"], r["wall_seconds"]), flush=True)
            with open(args.out, "w") as f:
                json.dump({"runs": results}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
