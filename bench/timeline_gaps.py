#!/usr/bin/env python3
"""Where a replayed step's wall time goes: kernels against the gaps between them.

ncu runs kernels one at a time from a cold L2, so its sums say what each kernel
costs alone but not what a CUDA-graph replay spends between launches. Feed this
the kernel trace of Nsight Systems,
  nsys profile --cuda-graph-trace=node -o T <kiln-bench-decode ...>
  nsys stats --report cuda_gpu_trace --format csv --output T T.nsys-rep
and it prints, over the kernels from --skip on, the busy time (kernels
running), the idle time between one kernel's end and the next one's start, and
the gaps' median and 90th percentile, per step when --per-step names how many
kernels a step launches.
"""
import argparse
import csv
import statistics
import sys


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("csv", help="nsys stats cuda_gpu_trace CSV")
    p.add_argument("--skip", type=int, default=0, help="kernels to skip first (warm-up, prefill)")
    p.add_argument("--count", type=int, default=0, help="kernels to take (0: all after --skip)")
    p.add_argument("--per-step", type=int, default=0, help="kernels per decode step")
    args = p.parse_args()
    with open(args.csv) as f:
        rows = [r for r in csv.DictReader(f) if r.get("Name") and "memcpy" not in r["Name"].lower()
                and "memset" not in r["Name"].lower()]
    spans = sorted((int(r["Start (ns)"]), int(r["Duration (ns)"])) for r in rows)
    spans = spans[args.skip:]
    if args.count:
        spans = spans[:args.count]
    if len(spans) < 2:
        sys.exit("fewer than two kernels in the window")
    busy = sum(d for _, d in spans)
    wall = spans[-1][0] + spans[-1][1] - spans[0][0]
    gaps = [max(0, s2 - (s1 + d1)) for (s1, d1), (s2, _) in zip(spans, spans[1:])]
    gaps.sort()
    print(f"kernels {len(spans)}  wall {wall / 1e6:.3f} ms  busy {busy / 1e6:.3f} ms "
          f"({100 * busy / wall:.0f}%)  idle {(wall - busy) / 1e6:.3f} ms")
    print(f"gap median {statistics.median(gaps) / 1e3:.2f} us  p90 {gaps[int(0.9 * len(gaps))] / 1e3:.2f} us"
          f"  max {gaps[-1] / 1e3:.1f} us")
    if args.per_step:
        steps = len(spans) / args.per_step
        print(f"per step ({args.per_step} kernels): wall {wall / steps / 1e3:.0f} us, "
              f"busy {busy / steps / 1e3:.0f} us, idle {(wall - busy) / steps / 1e3:.0f} us")


if __name__ == "__main__":
    main()
