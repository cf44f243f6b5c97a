"""The transformers side that decode_bench.py, serve_bench.py and
tests/fixtures/deepseek/make_parity.py share: the random DeepseekV3ForCausalLM
of a config.json and its weights in the published per-expert layout (what
Kiln's loader reads), and how far Kiln's greedy tokens agree with it.

torch and transformers are imported inside the functions, so that importing
this module does not change which scripts answer --help without them. It
travels next to the scripts: make gpu-carry and make serve-carry copy it into
.gpu-carry/.
"""
import json
import os


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


def bench_model(raw, seed):
    """(cfg, model, parameter count): DeepseekV3ForCausalLM of the config.json
    dict `raw`, initialised after torch.manual_seed(seed), in bf16 on the GPU."""
    import torch
    from transformers import DeepseekV3Config, DeepseekV3ForCausalLM

    fields = {k: v for k, v in raw.items() if k not in ("architectures", "model_type")}
    cfg = DeepseekV3Config(**fields)
    torch.manual_seed(seed)
    model = DeepseekV3ForCausalLM(cfg).to(torch.bfloat16).cuda().eval()
    params = sum(p.numel() for p in model.parameters())
    return cfg, model, params


def write_checkpoint(model, cfg, raw, out_dir):
    """Writes out_dir/model.safetensors (per-expert layout) and out_dir/config.json
    (`raw` as given): a checkpoint both Kiln and transformers load."""
    from safetensors.torch import save_file

    os.makedirs(out_dir, exist_ok=True)
    save_file(per_expert_state(model, cfg), os.path.join(out_dir, "model.safetensors"),
              metadata={"format": "pt"})
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(raw, f, indent=2)


def agreeing_prefixes(kiln_rows, hf_rows):
    """Per pair of token rows, how many leading tokens are the same: greedy rows
    part where bf16 rounding tips a near tie, so a prefix, not equality, is the
    measure."""
    prefixes = []
    for a, b in zip(kiln_rows, hf_rows):
        n = 0
        while n < min(len(a), len(b)) and a[n] == b[n]:
            n += 1
        prefixes.append(n)
    return prefixes
