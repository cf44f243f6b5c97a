#!/usr/bin/env python3
"""Snapshots what the ptx target emits for a folder of .kx Executables.

For every ptx Executable under the given folders (bundles or loose .kx files),
writes one text file holding each launch step in order (kernel, grid, block,
shared bytes, tensor maps without buffer ids) and one file per PTX module, so
two compilers' outputs can be compared with `diff -r`. Buffer ids and arena
offsets are left out: they follow the order values are first seen, which a
pass may change without changing any kernel.

Usage: ptx_snapshot.py OUT_DIR DIR_OR_KX...   (needs protoc on PATH)
"""
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def decode(path):
    with open(path, 'rb') as f:
        data = f.read()
    out = subprocess.run(
        ['protoc', '--decode=kiln.proto.Executable', '-I',
         os.path.join(ROOT, 'executor'), 'executable.proto'],
        input=data, capture_output=True, check=True)
    return out.stdout.decode()


def unescape(s):
    return bytes(s, 'latin-1').decode('unicode_escape').encode('latin-1').decode()


def snapshot(path, out_dir, name):
    text = decode(path)
    if 'target: "ptx"' not in text:
        return 0
    modules = re.findall(r'modules \{\n  name: "([^"]*)"\n  ptx: "((?:[^"\\]|\\.)*)"',
                         text)
    lines = []
    for m in re.finditer(r'launch \{\n((?:      .*\n)*?)    \}', text):
        body = re.sub(r'\s*buffer(s)?: \d+', '', m.group(1))
        lines.append(' '.join(body.split()))
    for g in re.finditer(r'gemm \{\n((?:      .*\n)*?)    \}', text):
        lines.append('gemm ' + ' '.join(g.group(1).split()))
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, name + '.launches'), 'w') as f:
        f.write('\n'.join(lines) + '\n')
    for mod, ptx in modules:
        with open(os.path.join(out_dir, f'{name}.{mod}.ptx'), 'w') as f:
            f.write(unescape(ptx))
    return 1


def main():
    out = sys.argv[1]
    count = 0
    for src in sys.argv[2:]:
        files = [src] if src.endswith('.kx') else [
            os.path.join(d, f) for d, _, fs in os.walk(src) for f in fs
            if f.endswith('.kx')]
        for path in sorted(files):
            rel = os.path.relpath(path, os.path.dirname(src.rstrip('/')))
            count += snapshot(path, out, rel.replace('/', '__'))
    print(f'{count} ptx Executables snapshotted into {out}')


if __name__ == '__main__':
    main()
