#!/usr/bin/env bash
# One GPU session (device tool, KERAS_BACKEND=jax): throughput figures, then the seed recipe and the
# shipped recipe on the grouped hold-out. Prepare .gpu/ first (../shared/gpu/README.md), then:
#   run: bash bench/gpu_session.sh        (carry: [".gpu"]; results land in $OUT)
set -u
OUT=${OUT:-/tmp/gpu_out}
mkdir -p "$OUT"
DATA=.gpu/Pap-Smear-master/severe_dysplastic
run() { bash .gpu/gpu_env.sh python3 "$@"; }
run bench/bench_gpu.py --out "$OUT/gpu.json" 2>&1 | tail -20
run bench/quality.py --recipe bench/recipes/seed.config --name seed_gpu --data "$DATA" \
    --workdir /tmp/q_seed --out "$OUT/quality_seed_gpu.json" 2>&1 | tail -3
run bench/quality.py --recipe projects/Pap-Smear/train_eval_infer.config --name shipped_gpu --data "$DATA" \
    --workdir /tmp/q_shipped --out "$OUT/quality_shipped_gpu.json" --set train.workers=8 2>&1 | tail -3
