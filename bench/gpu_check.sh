#!/usr/bin/env bash
# One device call's check and timings, run on the GPU machine from the folder
# `make gpu-carry` fills (.gpu-carry/), with $OUT set to a folder that comes
# back:
#   1. the tests bundle through kiln-run with CUDA graphs (every tests/gpu
#      graph against the CPU executor), the newest kernels' rows printed;
#   2. the wgmma tile-width sweep (kiln-run --bench, tile_width_sweep.py);
#   3. decode bf16 with the GEMM fusions (decode/) and without
#      (decode-unfused/, --fuse-gemms=false), alternated three times, and
#      whether two runs give the same greedy tokens;
#   4. an ncu profile of about three decode steps summed by op;
#   5. the MoE token sweep against torch._grouped_mm, if time is left.
# Everything also goes to $OUT/check.log.
cd "$(dirname "$0")"
exec > >(tee -a "$OUT/check.log") 2>&1
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
echo "== tests bundle (--cuda-graph)"
timeout 200 ./kiln-run --bundle=tests --cuda-graph > "$OUT/tests.log" 2>&1
echo "tests rc=$? PASS=$(grep -c ' PASS$' "$OUT/tests.log") FAIL=$(grep -c ' FAIL$' "$OUT/tests.log")"
grep -E ' FAIL$|error|Error' "$OUT/tests.log" | head -20
for t in ${CHECK_GRAPHS:-moe_gate_up gated_matmul strided_operand tile_width sibling_matmuls transposed_store router_sigmoid}; do
  grep -A8 "model_hash=$t " "$OUT/tests.log" | head -9
done
tail -1 "$OUT/tests.log"
echo "== tile-width sweep (kiln-run --bench=300, device time per run)"
timeout 120 ./kiln-run --bundle=sweep --bench=300 > "$OUT/sweep.log" 2>&1; echo "sweep rc=$?"
python3 tile_width_sweep.py table "$OUT/sweep.log"
D="--config=deepseek_465m.json --batch=64 --prompt-len=16 --new-tokens=256 --greedy-only --runs=2"
for r in 1 2 3; do
  for b in decode-unfused decode; do
    echo "== decode bf16, $b, round $r"
    timeout 60 ./kiln-bench-decode --bundle=$b $D --tokens-out="$OUT/tok-$b-$r.txt" 2>&1 | grep -E 'tokens_per_s|rror'
  done
done
cmp -s "$OUT/tok-decode-1.txt" "$OUT/tok-decode-2.txt" && echo "greedy tokens: two runs of decode/ identical" || echo "greedy tokens: decode/ runs DIFFER"
echo "== ncu bf16, decode/ (600 launches, about three decode steps)"
timeout 150 ncu --csv --metrics gpu__time_duration.sum --launch-skip 4000 --launch-count 600 \
  ./kiln-bench-decode --bundle=decode $D --runs=1 --no-cuda-graph > "$OUT/ncu.csv" 2> "$OUT/ncu.err"
python3 ncu_summary.py "$OUT/ncu.csv" --top 30
echo "== elapsed ${SECONDS}s"
if [ $SECONDS -lt 330 ]; then
  echo "== MoE token sweep (moe_sweep.py)"
  timeout $((560 - SECONDS)) python3 moe_sweep.py --kiln-run=./kiln-run --json="$OUT/moe_sweep.json" > "$OUT/moe_sweep.log" 2>&1
  echo "moe_sweep rc=$?"; tail -14 "$OUT/moe_sweep.log"
fi
echo "== elapsed ${SECONDS}s"
