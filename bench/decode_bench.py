#!/usr/bin/env python3
"""Decode tokens/s: Kiln's generate() against transformers' generate, same weights.

Run on the GPU machine from .gpu-carry/ (make gpu-carry puts the static
kiln-bench-decode, the bundle it reads and this script there):

    python3 decode_bench.py --kiln=./kiln-bench-decode --bundle=decode \
        --config=deepseek_465m.json

Builds DeepseekV3ForCausalLM from the config with torch.manual_seed(--seed) in
bf16, writes its weights as a Hugging Face checkpoint in the published
per-expert layout (what Kiln's loader reads), times transformers' generate
(greedy, --new-tokens tokens per row, min_new_tokens so EOS cannot stop a row,
after a warm-up), then runs Kiln's runner on the same checkpoint and prints a
markdown row with both rates, their ratio and the floor (every weight read once
per decode step at the copy bandwidth measured here).
"""
import argparse
import json
import os
import re
import subprocess
import sys
import time

import torch
from safetensors.torch import save_file


def per_expert_state(model, cfg):
    """The state dict in the published layout: one Linear per routed expert."""
    out = {}
    inter = cfg.moe_intermediate_size
    for name, t in model.state_dict().items():
        t = t.detach().contiguous().clone()
        if name.endswith("mlp.experts.gate_up_proj"):
            base = name[: -len("gate_up_proj")]
            for ex in range(t.shape[0]):
                out[f"{base}{ex}.gate_proj.weight"] = t[ex, :inter].contiguous()
                out[f"{base}{ex}.up_proj.weight"] = t[ex, inter:].contiguous()
        elif name.endswith("mlp.experts.down_proj"):
            base = name[: -len("down_proj")]
            for ex in range(t.shape[0]):
                out[f"{base}{ex}.down_proj.weight"] = t[ex].contiguous()
        else:
            out[name] = t
    return out


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
    args = p.parse_args()
    if not torch.cuda.is_available():
        sys.exit("no CUDA device: this bench runs on the GPU machine")
    from transformers import DeepseekV3Config, DeepseekV3ForCausalLM
    import transformers

    raw = json.load(open(args.config))
    fields = {k: v for k, v in raw.items() if k not in ("architectures", "model_type")}
    cfg = DeepseekV3Config(**fields)
    torch.manual_seed(args.seed)
    model = DeepseekV3ForCausalLM(cfg).to(torch.bfloat16).cuda().eval()
    params = sum(p.numel() for p in model.parameters())

    os.makedirs(args.workdir, exist_ok=True)
    save_file(per_expert_state(model, cfg), os.path.join(args.workdir, "model.safetensors"),
              metadata={"format": "pt"})
    with open(os.path.join(args.workdir, "config.json"), "w") as f:
        json.dump(raw, f, indent=2)

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
    mask = torch.ones_like(ids)
    kwargs = dict(attention_mask=mask, do_sample=False, pad_token_id=0)
    with torch.no_grad():
        model.generate(ids, max_new_tokens=8, min_new_tokens=8, **kwargs)  # warm-up
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        out = model.generate(ids, max_new_tokens=args.new_tokens, min_new_tokens=args.new_tokens,
                             **kwargs)
        torch.cuda.synchronize()
        hf_s = time.perf_counter() - t0
    hf_tokens = (out.shape[1] - args.prompt_len) * args.batch
    hf_rate = hf_tokens / hf_s

    cmd = [args.kiln, f"--bundle={args.bundle}", f"--config={args.config}",
           f"--checkpoint={args.workdir}", f"--batch={args.batch}",
           f"--prompt-len={args.prompt_len}", f"--new-tokens={args.new_tokens}",
           f"--seed={args.seed}"]
    run = subprocess.run(cmd, capture_output=True, text=True)
    print(run.stdout + run.stderr, end="")
    m = re.search(r"tokens_per_s=(\S+)", run.stdout)
    kiln_rate = float(m.group(1)) if run.returncode == 0 and m else None

    bytes_per_step = params * 2
    floor_rate = args.batch / (bytes_per_step / (copy_tbs * 1e12))
    print(f"# {torch.cuda.get_device_name()}, torch {torch.__version__}, transformers "
          f"{transformers.__version__}; {params / 1e6:.0f}M params bf16, batch {args.batch}, "
          f"prompt {args.prompt_len}, {args.new_tokens} new tokens, greedy")
    print("| work | Kiln tokens/s | peer tokens/s | Kiln / peer | floor |")
    print("|---|---|---|---|---|")
    ratio = f"{kiln_rate / hf_rate:.2f}x" if kiln_rate else "-"
    kr = f"{kiln_rate:.0f}" if kiln_rate else "-"
    print(f"| decode, DeepseekV3 {params / 1e6:.0f}M, batch {args.batch} vs transformers generate | "
          f"{kr} | {hf_rate:.0f} ({hf_s:.2f} s) | {ratio} | {floor_rate:.0f} tokens/s: every weight "
          f"read once per step at {copy_tbs:.2f} TB/s |")
    print("transformers first row:", out[0, args.prompt_len:args.prompt_len + 12].tolist())


if __name__ == "__main__":
    main()
