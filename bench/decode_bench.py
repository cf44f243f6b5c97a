#!/usr/bin/env python3
"""Decode tokens/s: Kiln's generate() against transformers' generate, same weights.

Run on the GPU machine from .gpu-carry/ (make gpu-carry puts the static
kiln-bench-decode, the bundle it reads, this script and deepseek_hf.py there):

    python3 decode_bench.py --kiln=./kiln-bench-decode --bundle=decode \
        --config=deepseek_465m.json

Builds DeepseekV3ForCausalLM from the config with torch.manual_seed(--seed) in
bf16, writes its weights as a Hugging Face checkpoint in the published
per-expert layout (what Kiln's loader reads), times transformers' generate
(greedy, --new-tokens tokens per row, min_new_tokens so EOS cannot stop a row),
then runs Kiln's runner on the same checkpoint and the same prompts, and prints
a markdown row with both rates, their ratio and the floor (every weight read
once per decode step at the copy bandwidth measured here).

Both sides get their best: a warm-up generation of the full length first (an
8-token warm-up measured transformers about 4x slower than it is), then the
best of --runs timed generations. Both read the same prompts, so their greedy
tokens are compared: the script prints how many leading tokens of each row
agree (bf16 rounding differs between the two, so rows may part where two
logits are within rounding of each other).
"""
import argparse
import json
import os
import re
import subprocess
import sys
import time

import torch

import deepseek_hf


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--kiln", required=True, help="path of kiln-bench-decode")
    p.add_argument("--bundle", required=True)
    p.add_argument("--config", required=True, help="the config.json the bundle was exported from")
    p.add_argument("--workdir", default="decode-checkpoint")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--prompt-len", type=int, default=16)
    p.add_argument("--new-tokens", type=int, default=256)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--runs", type=int, default=3,
                   help="timed generations per side after the warm-up; the best counts")
    p.add_argument("--greedy-only", action="store_true",
                   help="time the bundle entry exported with --greedy-only (argmax "
                        "entries, no sampler sort; greedy, as the peer's generate is)")
    args = p.parse_args()
    if not torch.cuda.is_available():
        sys.exit("no CUDA device: this bench runs on the GPU machine")
    import transformers

    raw = json.load(open(args.config))
    cfg, model, params = deepseek_hf.bench_model(raw, args.seed)
    deepseek_hf.write_checkpoint(model, cfg, raw, args.workdir)

    dev = torch.device("cuda")
    n = 1 << 28
    src = torch.randn(n, device=dev, dtype=torch.bfloat16)
    dst = torch.empty_like(src)
    for _ in range(3):
        dst.copy_(src)
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(20):
        dst.copy_(src)
    torch.cuda.synchronize()
    copy_tbs = 2 * n * 2 * 20 / (time.perf_counter() - t0) / 1e12
    del src, dst

    gen = torch.Generator().manual_seed(args.seed)
    ids = torch.randint(2, cfg.vocab_size, (args.batch, args.prompt_len), generator=gen).to(dev)
    prompts_path = os.path.join(args.workdir, "prompts.txt")
    with open(prompts_path, "w") as f:
        for row in ids.tolist():
            f.write(" ".join(map(str, row)) + "\n")
    mask = torch.ones_like(ids)
    kwargs = dict(attention_mask=mask, do_sample=False, pad_token_id=0,
                  max_new_tokens=args.new_tokens, min_new_tokens=args.new_tokens)
    hf_s = None
    with torch.no_grad():
        model.generate(ids, **kwargs)  # warm-up of the full length
        for _ in range(args.runs):
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            out = model.generate(ids, **kwargs)
            torch.cuda.synchronize()
            elapsed = time.perf_counter() - t0
            hf_s = elapsed if hf_s is None else min(hf_s, elapsed)
    hf_tokens = (out.shape[1] - args.prompt_len) * args.batch
    hf_rate = hf_tokens / hf_s
    hf_rows = out[:, args.prompt_len:].tolist()

    tokens_path = os.path.join(args.workdir, "kiln-tokens.txt")
    cmd = [args.kiln, f"--bundle={args.bundle}", f"--config={args.config}",
           f"--checkpoint={args.workdir}", f"--batch={args.batch}",
           f"--prompt-len={args.prompt_len}", f"--new-tokens={args.new_tokens}",
           f"--seed={args.seed}", f"--runs={args.runs}", f"--prompts={prompts_path}",
           f"--tokens-out={tokens_path}"]
    if args.greedy_only:
        cmd.append("--greedy-only")
    run = subprocess.run(cmd, capture_output=True, text=True)
    print(run.stdout + run.stderr, end="")
    m = re.search(r"tokens_per_s=(\S+)", run.stdout)
    kiln_rate = float(m.group(1)) if run.returncode == 0 and m else None
    agreement = None
    if kiln_rate:
        kiln_rows = [list(map(int, line.split())) for line in open(tokens_path)]
        prefixes = deepseek_hf.agreeing_prefixes(kiln_rows, hf_rows)
        agreement = (sum(prefixes) / len(prefixes), sum(n == args.new_tokens for n in prefixes),
                     sorted(prefixes)[len(prefixes) // 2])

    bytes_per_step = params * 2
    floor_rate = args.batch / (bytes_per_step / (copy_tbs * 1e12))
    print(f"# {torch.cuda.get_device_name()}, torch {torch.__version__}, transformers "
          f"{transformers.__version__}; {params / 1e6:.0f}M params bf16, batch {args.batch}, "
          f"prompt {args.prompt_len}, {args.new_tokens} new tokens, greedy; best of "
          f"{args.runs} runs after a full-length warm-up, same prompts both sides")
    print("| work | Kiln tokens/s | peer tokens/s | Kiln / peer | floor |")
    print("|---|---|---|---|---|")
    ratio = f"{kiln_rate / hf_rate:.2f}x" if kiln_rate else "-"
    kr = f"{kiln_rate:.0f}" if kiln_rate else "-"
    print(f"| decode, DeepseekV3 {params / 1e6:.0f}M, batch {args.batch} vs transformers generate | "
          f"{kr} | {hf_rate:.0f} ({hf_s:.2f} s) | {ratio} | {floor_rate:.0f} tokens/s: every weight "
          f"read once per step at {copy_tbs:.2f} TB/s |")
    print("transformers first row:", hf_rows[0][:12])
    if agreement:
        mean, whole, median = agreement
        print(f"greedy agreement on the same prompts: rows agree on their first {mean:.1f} "
              f"tokens on average (median {median}); {whole}/{args.batch} rows agree on all "
              f"{args.new_tokens}")


if __name__ == "__main__":
    main()
