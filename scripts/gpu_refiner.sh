#!/usr/bin/env bash
# Train refiner variants side by side on one GPU from a packed cache (no videos, no mediapipe needed
# there: torch + OpenCV + PyYAML + safetensors). The cache was packed with
#   .venv/bin/python -m talkinghead.train.cache_pack pack out/cache/neural pack/cache_refine --parts refine128_r256 --qp 8
# Usage on the GPU machine, from the repo root:  OUT=dir bash scripts/gpu_refiner.sh NAME [NAME ...]
# (NAME: configs/NAME.yaml, e.g. refiner_gpu_tiny refiner_gpu_tiny_val). Each run resumes from its newest
# checkpoint. Brings back every checkpoint's weights as float16 (OUT/weights.tgz.part-*) and each run's
# newest full checkpoint, optimiser included, for resuming (not the _val clones: space) (OUT/resume.tgz.part-*).
set -euo pipefail
export PYTHONPATH=src PYTHONUNBUFFERED=1
PY=${PY:-python3}
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
t0=$(date +%s)
[ -d out/cache/neural ] || $PY -m talkinghead.train.cache_pack unpack pack/cache_refine out/cache/neural
echo "unpacked in $(( $(date +%s) - t0 )) s"
runs=()
for v in "$@"; do
  $PY -m talkinghead.train.cli_train train --config "configs/$v.yaml" ${TRAIN_ARGS:-} > "$OUT/train_$v.log" 2>&1 &
  runs+=("out/train/$v")
done
wait
echo "trained in $(( $(date +%s) - t0 )) s"
for v in "$@"; do tail -n 2 "$OUT/train_$v.log"; done
$PY scripts/half_checkpoints.py out/half "${runs[@]}"
tar -cf - -C out half | gzip -1 | split -b 15m - "$OUT/weights.tgz.part-"
last=()
for r in "${runs[@]}"; do [[ $r == *_val ]] && continue; last+=("$(ls -d "$r"/checkpoints/step-* | tail -n 1)"); done
tar -cf - "${last[@]}" | gzip -1 | split -b 15m - "$OUT/resume.tgz.part-"
ls -la "$OUT"
