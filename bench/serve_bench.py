#!/usr/bin/env python3
"""kiln-serve under load against transformers generate, same weights and prompts.

Run on the GPU machine from .gpu-carry/ (make serve-carry puts the runtime-only
kiln-serve-rt, the shared libraries it needs, the serving bundle of the 465M
bench model, this script, deepseek_hf.py, plot_serve_bench.py and
batch_invariance.py there):

    python3 serve_bench.py --server=./kiln-serve-rt --bundle=serve \\
        --config=deepseek_465m.json --out=serve-bench

Builds DeepseekV3ForCausalLM from the config with torch.manual_seed(--seed) in
bf16 and writes it as a servable model directory (config.json, per-expert
model.safetensors, a byte-tokenizer tokenizer_config.json). Then:

1. transformers generate (greedy, --new-tokens per row, min_new_tokens so EOS
   cannot stop a row) on the first c prompts as one batch for each concurrency
   c, after a full-length warm-up at that batch size: output tokens/s, time to
   first token (a 1-token generate of the batch) and inter-token latency
   ((whole - first) / (new tokens - 1)).
2. kiln-serve-rt --device=cuda on the same directory: max(2c, 8) streamed
   /v1/completions requests of the same prompts (greedy, ignore_eos,
   return_token_ids), c in flight at once through asyncio + aiohttp (httpx
   where aiohttp is missing): output tokens/s over the level's wall time, and
   per request the time to first token and the gaps between tokens, p50 and
   p99. A full-length warm-up of 16 requests comes first.
3. Batch invariance on the GPU (batch_invariance.py's check): 64 requests alone
   and together must give identical tokens.
4. How many leading greedy tokens of Kiln's and transformers' rows agree.

Prints a markdown table, writes OUT/serve_bench.json, OUT/kiln-serve.log and,
with matplotlib, OUT/serve_bench.png (plot_serve_bench.py).
"""
import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import deepseek_hf


def percentile(values, q):
    if not values:
        return None
    values = sorted(values)
    k = (len(values) - 1) * q / 100
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def transformers_side(args, raw, prompts, levels, model_dir):
    """Writes the model directory; returns per-level results and greedy rows."""
    import torch
    import transformers

    cfg, model, params = deepseek_hf.bench_model(raw, args.seed)
    deepseek_hf.write_checkpoint(model, cfg, raw, model_dir)
    with open(os.path.join(model_dir, "tokenizer_config.json"), "w") as f:
        json.dump({"tokenizer_class": "KilnByteTokenizer", "bos_token": "<bos>",
                   "eos_token": "<eos>", "pad_token": "<pad>",
                   "model_max_length": raw["max_position_embeddings"]}, f, indent=2)

    results, rows = {}, None
    with torch.no_grad():
        for c in levels:
            ids = torch.tensor(prompts[:c], device="cuda")
            kw = dict(attention_mask=torch.ones_like(ids), do_sample=False, pad_token_id=0)
            model.generate(ids, max_new_tokens=args.new_tokens,
                           min_new_tokens=args.new_tokens, **kw)  # full-length warm-up
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            model.generate(ids, max_new_tokens=1, min_new_tokens=1, **kw)
            torch.cuda.synchronize()
            ttft = time.perf_counter() - t0
            t0 = time.perf_counter()
            out = model.generate(ids, max_new_tokens=args.new_tokens,
                                 min_new_tokens=args.new_tokens, **kw)
            torch.cuda.synchronize()
            whole = time.perf_counter() - t0
            made = (out.shape[1] - ids.shape[1]) * c
            results[c] = {"requests": c, "output_tokens": made, "seconds": whole,
                          "tokens_per_s": made / whole, "ttft_s": ttft,
                          "itl_s": (whole - ttft) / max(args.new_tokens - 1, 1)}
            print(f"transformers c={c}: {made / whole:.0f} tokens/s ({whole:.2f} s), "
                  f"ttft {ttft * 1e3:.1f} ms", flush=True)
            rows = out[:, ids.shape[1]:].tolist()
    info = {"device": torch.cuda.get_device_name(), "torch": torch.__version__,
            "transformers": transformers.__version__, "params": params}
    del model
    torch.cuda.empty_cache()
    return results, rows, info


def start_server(args, model_dir, log_path):
    env = dict(os.environ)
    if args.lib_dir:
        env["LD_LIBRARY_PATH"] = os.path.abspath(args.lib_dir) + (
            ":" + env["LD_LIBRARY_PATH"] if env.get("LD_LIBRARY_PATH") else "")
    cmd = [args.server, f"--model={model_dir}", "--device=cuda", "--port=0",
           f"--slots={args.slots}", f"--context={args.context}",
           f"--prefill-chunk={args.prefill_chunk}", f"--dtype={args.dtype}",
           f"--threads={max(args.slots, max(args.levels)) + 64}", "--max-queue=4096",
           "--served-model-name=bench", f"--cuda-graphs={args.cuda_graphs}"]
    if args.bundle:
        cmd.append(f"--bundle={args.bundle}")
    print("+", " ".join(cmd), flush=True)
    log = open(log_path, "w")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env)
    deadline = time.time() + 600
    while time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        log.write(line)
        log.flush()
        m = re.search(r"on (http://[0-9.]+:[0-9]+)", line)
        if m:
            def drain():
                for rest in proc.stdout:
                    log.write(rest)
                    log.flush()
            threading.Thread(target=drain, daemon=True).start()
            return proc, m.group(1)
    proc.kill()
    log.close()
    sys.exit(f"kiln-serve did not start; see {log_path}:\n" + open(log_path).read())


async def stream_one(session, url, body, kind):
    """One streamed completion: (send time, token arrival times, token ids)."""
    t0 = time.perf_counter()
    times, ids = [], []

    def take(line):
        if not line.startswith("data: ") or line == "data: [DONE]":
            return
        event = json.loads(line[6:])
        if "error" in event:
            raise RuntimeError(event["error"]["message"])
        for choice in event.get("choices", []):
            new = choice.get("token_ids") or []
            now = time.perf_counter()
            times.extend([now] * len(new))
            ids.extend(new)

    if kind == "aiohttp":
        async with session.post(url + "/v1/completions", json=body) as res:
            if res.status != 200:
                raise RuntimeError(f"HTTP {res.status}: {await res.text()}")
            async for raw in res.content:
                take(raw.decode().strip())
    else:
        async with session.stream("POST", url + "/v1/completions", json=body) as res:
            if res.status_code != 200:
                raise RuntimeError(f"HTTP {res.status_code}: {(await res.aread()).decode()}")
            async for line in res.aiter_lines():
                take(line.strip())
    return t0, times, ids


async def run_level(url, prompts, concurrency, count, new_tokens):
    try:
        import aiohttp
        kind = "aiohttp"
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=concurrency),
            timeout=aiohttp.ClientTimeout(total=3600))
    except ImportError:
        import httpx
        kind = "httpx"
        session = httpx.AsyncClient(timeout=3600, limits=httpx.Limits(
            max_connections=concurrency, max_keepalive_connections=concurrency))
    gate = asyncio.Semaphore(concurrency)

    async def one(i):
        body = {"model": "bench", "prompt": prompts[i % len(prompts)],
                "max_tokens": new_tokens, "temperature": 0, "ignore_eos": True,
                "return_token_ids": True, "stream": True}
        async with gate:
            return await stream_one(session, url, body, kind)

    start = time.perf_counter()
    try:
        done = await asyncio.gather(*(one(i) for i in range(count)))
    finally:
        await (session.close() if kind == "aiohttp" else session.aclose())
    wall = time.perf_counter() - start
    ttft, itl, tokens, rows = [], [], 0, []
    for t0, times, ids in done:
        if len(ids) != new_tokens:
            raise RuntimeError(f"a request got {len(ids)} tokens, not {new_tokens}")
        tokens += len(ids)
        ttft.append(times[0] - t0)
        itl.extend(b - a for a, b in zip(times, times[1:]))
        rows.append(ids)
    return {"requests": count, "output_tokens": tokens, "seconds": wall,
            "tokens_per_s": tokens / wall,
            "ttft_p50_s": percentile(ttft, 50), "ttft_p99_s": percentile(ttft, 99),
            "itl_p50_s": percentile(itl, 50), "itl_p99_s": percentile(itl, 99),
            "itl_mean_s": statistics.fmean(itl) if itl else None, "client": kind}, rows


def metrics_text(url):
    import urllib.request
    with urllib.request.urlopen(url + "/metrics", timeout=30) as res:
        return res.read().decode()


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--server", required=True, help="kiln-serve-rt (or kiln-serve)")
    p.add_argument("--bundle", help="kiln-serve --export-bundle's folder (needed by -rt)")
    p.add_argument("--config", required=True, help="the config.json the bundle was exported for")
    p.add_argument("--lib-dir", default=os.path.join(HERE, "lib"),
                   help="shared libraries for the server (LD_LIBRARY_PATH)")
    p.add_argument("--out", default="serve-bench")
    p.add_argument("--levels", type=lambda s: [int(x) for x in s.split(",")],
                   default=[1, 16, 64, 256])
    p.add_argument("--slots", type=int, default=256)
    p.add_argument("--context", type=int, default=288)
    p.add_argument("--prefill-chunk", type=int, default=16)
    p.add_argument("--dtype", default="bf16")
    p.add_argument("--cuda-graphs", default="true", choices=["true", "false"])
    p.add_argument("--prompt-len", type=int, default=32)
    p.add_argument("--new-tokens", type=int, default=256)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--skip-transformers", action="store_true")
    p.add_argument("--skip-invariance", action="store_true")
    args = p.parse_args()
    if args.prompt_len + args.new_tokens > args.context:
        sys.exit(f"--prompt-len + --new-tokens exceeds --context {args.context}")
    os.makedirs(args.out, exist_ok=True)
    model_dir = os.path.join(args.out, "model")
    raw = json.load(open(args.config))

    import random
    rng = random.Random(args.seed)
    pool = max(max(2 * c, 8) for c in args.levels)
    prompts = [[rng.randrange(2, raw["vocab_size"]) for _ in range(args.prompt_len)]
               for _ in range(pool)]

    hf, hf_rows, info = ({}, None, {})
    if not args.skip_transformers:
        hf, hf_rows, info = transformers_side(args, raw, prompts, args.levels, model_dir)
    elif not os.path.exists(os.path.join(model_dir, "model.safetensors")):
        sys.exit(f"--skip-transformers needs {model_dir} from an earlier run")

    proc, url = start_server(args, model_dir, os.path.join(args.out, "kiln-serve.log"))
    results = {"info": info, "args": {k: v for k, v in vars(args).items()},
               "levels": [], "invariance": None, "greedy_agreement": None}
    try:
        asyncio.run(run_level(url, prompts, 16, 16, args.new_tokens))  # warm-up
        kiln_rows = None
        for c in args.levels:
            level, rows = asyncio.run(run_level(url, prompts, c, max(2 * c, 8),
                                                args.new_tokens))
            if c == max(args.levels):
                kiln_rows = rows
            row = {"concurrency": c, "kiln": level, "transformers": hf.get(c)}
            if hf.get(c):
                row["ratio"] = level["tokens_per_s"] / hf[c]["tokens_per_s"]
            results["levels"].append(row)
            print(f"kiln c={c}: {level['tokens_per_s']:.0f} tokens/s, ttft p50 "
                  f"{level['ttft_p50_s'] * 1e3:.1f} ms p99 {level['ttft_p99_s'] * 1e3:.1f} ms, "
                  f"itl p50 {level['itl_p50_s'] * 1e3:.2f} ms p99 "
                  f"{level['itl_p99_s'] * 1e3:.2f} ms", flush=True)
        if hf_rows and kiln_rows:
            prefixes = deepseek_hf.agreeing_prefixes(kiln_rows, hf_rows)
            results["greedy_agreement"] = {
                "mean_prefix": sum(prefixes) / len(prefixes),
                "median_prefix": sorted(prefixes)[len(prefixes) // 2],
                "rows_all_equal": sum(n == args.new_tokens for n in prefixes),
                "rows": len(prefixes)}
        if not args.skip_invariance:
            import batch_invariance
            ok, message = batch_invariance.check(url, "bench", count=64,
                                                 vocab=raw["vocab_size"], max_prompt=32,
                                                 max_tokens=32)
            results["invariance"] = {"ok": ok, "message": message}
            print(("batch invariance PASS: " if ok else "batch invariance FAIL: ") + message,
                  flush=True)
        with open(os.path.join(args.out, "metrics.txt"), "w") as f:
            f.write(metrics_text(url))
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()

    path = os.path.join(args.out, "serve_bench.json")
    with open(path, "w") as f:
        json.dump(results, f, indent=2)
    print(f"# {info.get('device', '?')}, torch {info.get('torch', '?')}, transformers "
          f"{info.get('transformers', '?')}; DeepseekV3 {info.get('params', 0) / 1e6:.0f}M "
          f"{args.dtype}, prompts of {args.prompt_len} tokens, {args.new_tokens} new tokens "
          f"each, greedy; kiln-serve {args.slots} slots, context {args.context}, prefill "
          f"chunk {args.prefill_chunk}, CUDA graphs {args.cuda_graphs}")
    print("| concurrency | Kiln tokens/s | transformers tokens/s | Kiln / transformers | "
          "Kiln TTFT p50 / p99 ms | Kiln ITL p50 / p99 ms | transformers TTFT / ITL ms |")
    print("|---|---|---|---|---|---|---|")
    for row in results["levels"]:
        k, h = row["kiln"], row["transformers"]
        hf_cols = (f"{h['tokens_per_s']:.0f} | {row['ratio']:.2f}x"
                   if h else "- | -")
        hf_lat = f"{h['ttft_s'] * 1e3:.1f} / {h['itl_s'] * 1e3:.2f}" if h else "-"
        print(f"| {row['concurrency']} | {k['tokens_per_s']:.0f} | {hf_cols} | "
              f"{k['ttft_p50_s'] * 1e3:.1f} / {k['ttft_p99_s'] * 1e3:.1f} | "
              f"{k['itl_p50_s'] * 1e3:.2f} / {k['itl_p99_s'] * 1e3:.2f} | {hf_lat} |")
    if results["greedy_agreement"]:
        g = results["greedy_agreement"]
        print(f"greedy agreement with transformers (concurrency {max(args.levels)}): rows agree "
              f"on their first {g['mean_prefix']:.1f} tokens on average (median "
              f"{g['median_prefix']}); {g['rows_all_equal']}/{g['rows']} on all "
              f"{args.new_tokens}")
    try:
        import plot_serve_bench
        png = os.path.join(args.out, "serve_bench.png")
        plot_serve_bench.plot(path, png)
        print("wrote", png)
    except ImportError as e:
        print("no plot:", e)
    print("wrote", path)
    if results["invariance"] and not results["invariance"]["ok"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
