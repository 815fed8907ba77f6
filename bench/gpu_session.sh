#!/usr/bin/env bash
# One GPU session (device tool, KERAS_BACKEND=jax): throughput figures, then the shipped recipe on the
# grouped hold-out. Prepare .gpu/ first (../shared/gpu/README.md), then:
#   run: bash bench/gpu_session.sh        (carry: [".gpu"]; results land in $OUT)
set -u
OUT=${OUT:-/tmp/gpu_out}
mkdir -p "$OUT"
DATA=.gpu/Pap-Smear-master/severe_dysplastic
run() { bash .gpu/gpu_env.sh python3 -m "$@"; }
run bench.gpu --out "$OUT/gpu.json" 2>&1 | tail -20
run bench.quality --recipe projects/Pap-Smear/train_eval_infer.config --name shipped_gpu --data "$DATA" \
    --workdir /tmp/q_shipped --out "$OUT/quality_gpu.json" --set train.workers=8 2>&1 | tail -3
