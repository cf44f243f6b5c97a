#!/usr/bin/env python3
"""Sums Nsight Compute's per-kernel device times by the kiln op that launched them.

Kiln names each kernel k<N>_<op>[_<part>]_kernel (PtxCodegen), so the time of a
graph splits by op. Feed it the CSV of
  ncu --csv --metrics gpu__time_duration.sum <kiln-run --bench=1 ...>
and it prints a table: op, launches, total and mean microseconds, share.
"""
import argparse
import collections
import csv
import io
import re
import sys


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("csv", nargs="?", default="-", help="ncu --csv output (default stdin)")
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--list", metavar="OP", help="also print each launch of this op, in order")
    args = p.parse_args()
    text = sys.stdin.read() if args.csv == "-" else open(args.csv).read()
    # ncu prints its own log lines before the CSV header.
    start = text.find('"ID"')
    if start < 0:
        sys.exit("no ncu CSV found (is the input ncu --csv output?)")
    rows = csv.DictReader(io.StringIO(text[start:]))
    total = collections.Counter()
    count = collections.Counter()
    listed = []
    for row in rows:
        if row.get("Metric Name") != "gpu__time_duration.sum":
            continue
        value = float(row["Metric Value"].replace(",", ""))
        unit = row.get("Metric Unit", "nsecond")
        us = value / 1000.0 if unit.startswith("n") else value * (1000.0 if unit.startswith("m") else 1.0)
        name = row["Kernel Name"]
        m = re.match(r"k\d+_(.*?)(?:_kernel)?$", name)
        op = m.group(1) if m else name
        op = re.sub(r"_kernel.*$", "", op)
        total[op] += us
        count[op] += 1
        if args.list and op == args.list:
            listed.append((name, us))
    grand = sum(total.values())
    print(f"| op (kernel) | launches | total us | mean us | share |")
    print("|---|---|---|---|---|")
    for op, us in total.most_common(args.top):
        print(f"| {op} | {count[op]} | {us:.1f} | {us / count[op]:.2f} | {100 * us / grand:.1f}% |")
    print(f"| all | {sum(count.values())} | {grand:.1f} | | 100% |")
    for name, us in listed:
        print(f"{name}: {us:.1f} us")


if __name__ == "__main__":
    main()
