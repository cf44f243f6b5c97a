#!/usr/bin/env bash
# Compiles every graph in tests/gpu/ into one bundle (host + ptx Executables) and,
# where a GPU is present, runs it through kiln-run, which compares the PTX results
# with the CPU executor's. Without a GPU the compile half still runs and the test
# reports itself skipped (exit 77).
# usage: run_bundles.sh BIN_DIR SRC_DIR OUT_DIR
set -euo pipefail
bin=$1 src=$2 out=$3
rm -rf "$out"
for graph in "$src"/*.mlir; do
  "$bin/kiln-compile" "$graph" --bundle="$out"
done
set +e
"$bin/kiln-run" --bundle="$out" > "$out/kiln-run.log" 2>&1
status=$?
set -e
cat "$out/kiln-run.log"
if [ $status -eq 2 ] && grep -q "no CUDA" "$out/kiln-run.log"; then
  echo "skipped: no CUDA device or driver on this machine"
  exit 77
fi
exit $status
