#!/usr/bin/env bash
# The post-training stages on a lent GPU (issue 5), as one script: what only a CUDA device shows.
#  1. rollout speed under ZeRO-3 against plain `generate` on the same weights, on the GPU
#     (`harness.stages.bench_rollout`, needs a policy checkpoint: CHECKPOINT, e.g. <run>/rejection/hf);
#  2. the whole tiny-cpu pipeline (pretrain -> SFT -> RMs -> RS -> PPO, oracle eval after each
#     policy stage) on NCCL in bf16, with generation, the reference policy and the RMs on the GPU.
# Usage: bash benchmarks/posttrain_gpu.sh OUT_DIR [CHECKPOINT]
#   EXTRA="key=value ..." adds pipeline overrides (e.g. a short dry run on a CPU).
set -u
out=${1:?usage: posttrain_gpu.sh OUT_DIR [CHECKPOINT]}
ckpt=${2:-}
run=${RUN_DIR:-/tmp/posttrain_gpu_run}
# shellcheck source=benchmarks/gpu_setup.sh
source "$(dirname "$0")/gpu_setup.sh"

if [ -n "$ckpt" ]; then
  timeout "${BENCH_TIMEOUT:-120}" "$py" -m harness.stages.bench_rollout --checkpoint "$ckpt" --prompts 64 \
    --new-tokens 224 --naive > "$out/rollout.log" 2>&1
  echo "rollout bench exit $?"; grep '^{' "$out/rollout.log" | tee "$out/rollout.json"
fi

rm -rf "$run"
# shellcheck disable=SC2086
timeout "${PIPELINE_TIMEOUT:-420}" "$py" -m harness pipeline --preset tiny-cpu --out "$run" --no-progress ${EXTRA:-} \
  > "$out/pipeline.log" 2>&1
echo "pipeline exit $?"; tail -5 "$out/pipeline.log"
for f in pipeline.json ppo/ppo_state.json pretrain/metrics.jsonl; do
  [ -f "$run/$f" ] && cp "$run/$f" "$out/$(echo "$f" | tr / _)"
done
"$py" - "$run" <<'EOF'
import json, sys
from pathlib import Path
run = Path(sys.argv[1])
p = run / "pipeline.json"
if p.exists():
    d = json.loads(p.read_text())
    for name, s in d["stages"].items():
        ev = s.get("eval") or {}
        print(name, f"{s.get('wall_time_s', 0):.0f} s", {k: round(ev[k], 3) for k in ("helpfulness", "safety", "kl_to_sft") if k in ev})
    print("total", round(d.get("total_wall_time_s", 0)), "s")
EOF
