#!/usr/bin/env bash
# The small-gpu numbers in BENCHMARKS.md ("small-gpu on one GPU"), as one script for a lent GPU:
#  1. the engine benchmark in bf16 (harness ZeRO-3 against a plain PyTorch loop, MFU against the
#     card's measured bf16 matmul peak);
#  2. the GPU tests (`pytest -m gpu`: NCCL + bf16 ZeRO-3, CPU golden losses reproduced on GPU);
#  3. a real `harness pretrain --preset small-gpu` run on the generated world for STEPS steps,
#     then its tokens/s and MFU from metrics.jsonl.
# Usage: bash benchmarks/small_gpu.sh OUT_DIR [STEPS]    (PRESET=tiny-cpu to try the script on a CPU)
set -u
out=${1:?usage: small_gpu.sh OUT_DIR [STEPS]}
steps=${2:-300}
preset=${PRESET:-small-gpu}
run=${RUN_DIR:-/tmp/small_gpu_run}
# shellcheck source=benchmarks/gpu_setup.sh
source "$(dirname "$0")/gpu_setup.sh"

bench_steps=${BENCH_STEPS:-60}
timeout "${BENCH_TIMEOUT:-200}" "$py" -m harness.bench --preset "$preset" --precisions bf16 --steps "$bench_steps" --rounds 2 \
  --write "$out/bench.md" --section engine_gpu > "$out/bench.log" 2>&1
echo "bench exit $?"; tail -3 "$out/bench.log"

timeout "${TEST_TIMEOUT:-150}" "$py" -m pytest -q -p no:cacheprovider -m gpu tests/test_gpu.py -rs > "$out/gpu_tests.log" 2>&1
echo "gpu tests exit $?"; tail -3 "$out/gpu_tests.log"

rm -rf "$run"
overrides=(run.max_steps="$steps" run.checkpoint_every=1000000 run.eval_every=100)
timeout "${PRETRAIN_TIMEOUT:-300}" "$py" -m harness pretrain --preset "$preset" --out "$run" "${overrides[@]}" > "$out/pretrain.log" 2>&1
echo "pretrain exit $?"; tail -3 "$out/pretrain.log"
cp "$run/metrics.jsonl" "$out/" 2>/dev/null
"$py" -m harness.bench --run "$run" --preset "$preset" --write "$out/bench.md" --section pretrain_gpu "${overrides[@]}" 2>&1 | tail -8
