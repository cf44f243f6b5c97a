#!/usr/bin/env python3
"""Batch invariance of kiln-serve: a request's tokens alone equal its tokens
among 63 others.

Starts a server (--server BINARY, its flags after --) or uses a running one
(--url), sends --requests completions one at a time, then all of them at once
(twice, in two orders, so each lands in other slots beside other neighbours),
and compares every request's token ids (return_token_ids, ignore_eos: fixed
lengths). Requests mix greedy and sampled decoding, prompt lengths and seeds.
Only the standard library, so it runs on CI and on the GPU machine alike.

Exit 0: identical; 1: a difference or an error (printed); 77: skipped, the
server found no CUDA device.

    batch_invariance.py --server=build/bin/kiln-serve -- --model=DIR --device=cuda --slots=64
"""
import argparse
import concurrent.futures
import json
import random
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

SKIP = 77


def post(url, body, timeout):
    req = urllib.request.Request(url + "/v1/completions", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as res:
            return json.load(res)
    except urllib.error.HTTPError as e:
        raise RuntimeError(f"HTTP {e.code}: {e.read().decode(errors='replace')}") from None


def make_requests(model, count, vocab, max_prompt, max_tokens, seed):
    rng = random.Random(seed)
    out = []
    for i in range(count):
        length = rng.randint(1, max_prompt)
        out.append({"model": model,
                    "prompt": [rng.randrange(3, vocab) for _ in range(length)],
                    "max_tokens": max_tokens,
                    "temperature": [0.0, 0.7, 1.0][i % 3],
                    "top_p": 0.9 if i % 4 == 1 else 1.0,
                    "seed": 1000 + i,
                    "ignore_eos": True,
                    "return_token_ids": True})
    return out


def tokens_of(answer):
    return answer["choices"][0]["token_ids"]


def check(url, model, count=64, vocab=256, max_prompt=16, max_tokens=32, seed=0,
          timeout=600, log=print):
    """Returns (ok, message). Every request alone, then all together twice."""
    requests = make_requests(model, count, vocab, max_prompt, max_tokens, seed)
    alone = [tokens_of(post(url, r, timeout)) for r in requests]
    for i, toks in enumerate(alone):
        if len(toks) != max_tokens:
            return False, f"request {i} alone made {len(toks)} tokens, not {max_tokens}"
    for round_, order in enumerate([list(range(count)), list(reversed(range(count)))]):
        with concurrent.futures.ThreadPoolExecutor(max_workers=count) as pool:
            futures = {i: pool.submit(post, url, requests[i], timeout) for i in order}
            together = {i: tokens_of(f.result()) for i, f in futures.items()}
        differ = [i for i in range(count) if together[i] != alone[i]]
        if differ:
            i = differ[0]
            at = next(k for k, (a, b) in enumerate(zip(alone[i], together[i])) if a != b)
            return False, (f"round {round_}: {len(differ)}/{count} requests differ among "
                           f"{count - 1} others; request {i} (temperature "
                           f"{requests[i]['temperature']}) first at token {at}: alone "
                           f"{alone[i][at:at + 6]}, together {together[i][at:at + 6]}")
        log(f"round {round_}: {count} concurrent requests, each {max_tokens} tokens, "
            f"identical to alone")
    return True, f"{count} requests x {max_tokens} tokens: identical alone and among {count - 1} others"


def start_server(binary, flags, timeout=600):
    """Runs the server on a free port; (process, url) or exits 77 without CUDA."""
    proc = subprocess.Popen([binary, "--port=0"] + flags, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    lines = []
    deadline = time.time() + timeout
    while time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        m = re.search(r"on (http://[0-9.]+:[0-9]+)", line)
        if m:
            # Whatever the server prints later must not fill the pipe.
            threading.Thread(target=proc.stdout.read, daemon=True).start()
            return proc, m.group(1)
    proc.kill()
    proc.wait()
    text = "".join(lines)
    print(text, end="")
    if "no CUDA" in text:
        print("skipped: no CUDA device or driver on this machine")
        sys.exit(SKIP)
    sys.exit("the server did not start")


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--server", help="kiln-serve or kiln-serve-rt; its flags follow --")
    p.add_argument("--url", help="a running server instead")
    p.add_argument("--model", help="the served model name (default: /v1/models' first)")
    p.add_argument("--requests", type=int, default=64)
    p.add_argument("--vocab", type=int, default=256, help="prompt ids are drawn below it")
    p.add_argument("--max-prompt", type=int, default=16)
    p.add_argument("--max-tokens", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("flags", nargs="*")
    args = p.parse_args()
    if bool(args.server) == bool(args.url):
        sys.exit("pass --server (with its flags after --) or --url")
    proc = None
    url = args.url
    if args.server:
        proc, url = start_server(args.server, args.flags)
    try:
        model = args.model
        if not model:
            with urllib.request.urlopen(url + "/v1/models", timeout=30) as res:
                model = json.load(res)["data"][0]["id"]
        ok, message = check(url, model, args.requests, args.vocab, args.max_prompt,
                            args.max_tokens, args.seed)
    except Exception as e:  # a failed request is a failed check
        ok, message = False, f"error: {e}"
    finally:
        if proc:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
    print(("PASS: " if ok else "FAIL: ") + message)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
