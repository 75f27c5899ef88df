#!/usr/bin/env bash
# Train the two refiner variants side by side on one GPU from a packed cache (no videos, no mediapipe
# needed there: torch + OpenCV + PyYAML + safetensors). Made with:
#   .venv/bin/python -m talkinghead.train.cache_pack pack out/cache/neural pack/cache_refine --parts refine128_r256 --qp 8
# Usage on the GPU machine, from the repo root:  OUT=dir bash scripts/gpu_refiner.sh
set -euo pipefail
export PYTHONPATH=src PYTHONUNBUFFERED=1
PY=${PY:-python3}
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
t0=$(date +%s)
$PY -m talkinghead.train.cache_pack unpack pack/cache_refine out/cache/neural
echo "unpacked in $(( $(date +%s) - t0 )) s"
for v in a b; do
  $PY -m talkinghead.train.cli_train train --config configs/refiner_gpu_$v.yaml > "$OUT/train_$v.log" 2>&1 &
done
wait
echo "trained in $(( $(date +%s) - t0 )) s"
tail -n 3 "$OUT"/train_*.log
tar -cf - out/train/refiner_gpu_a out/train/refiner_gpu_b | gzip -1 | split -b 15m - "$OUT/runs.tgz.part-"
ls -la "$OUT"
