#!/usr/bin/env bash
# Train several configs side by side on one GPU from a packed cache (no videos, no mediapipe needed
# there: torch + OpenCV + PyYAML + safetensors). The caches were packed here with
#   .venv/bin/python -m talkinghead.train.cache_pack pack out/cache/neural pack/cache_refine --parts refine128_r256 --qp 8
#   .venv/bin/python -m talkinghead.train.cache_pack pack out/cache/neural pack/cache_fs --parts aligned64 --qp 8
# Usage on the GPU machine, from the repo root (carry the pack folder):
#   OUT=dir PACK=pack/cache_refine bash scripts/gpu_train.sh NAME [NAME ...]
# (NAME: configs/NAME.yaml, e.g. refiner_gpu_mid refiner_gpu_mid_val, or fewshot_gpu with PACK=pack/cache_fs).
# Each run resumes from its newest checkpoint (TRAIN_ARGS adds train options, e.g. "--max-minutes 5").
# The device copies the working tree plus carried paths, 64 MiB in all: with the tracked tree at ~18 MB the
# 53 MB refiner pack does not fit in one call. Session 6 split it (pack/ra, pack/rb: alternate clip folders
# hard-linked, each with index.json), unpacked pack/ra in a first call (out/cache/neural stays on the warm
# machine), then carried pack/rb with the weights to resume and ran this script with SKIP_UNPACK=1 after
# unpacking pack/rb. Weights that came back as float16 only: scripts/seed_checkpoint.py turns them into a
# checkpoint (fresh Adam) to resume from.
# Brings back every checkpoint's weights as float16 (OUT/weights.tgz.part-*) and each run's newest full
# checkpoint, optimiser included, for resuming in a later session (OUT/resume.tgz.part-*; not the _val
# clones, for space: at most 8 files and 64 MB come back).
set -euo pipefail
export PYTHONPATH=src PYTHONUNBUFFERED=1
PY=${PY:-python3}
PACK=${PACK:-pack/cache_refine}
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
t0=$(date +%s)
[ -n "${SKIP_UNPACK:-}" ] || $PY -m talkinghead.train.cache_pack unpack "$PACK" out/cache/neural
echo "unpacked in $(( $(date +%s) - t0 )) s"
runs=()
for v in "$@"; do
  $PY -m talkinghead.interfaces.cli_train train --config "configs/$v.yaml" ${TRAIN_ARGS:-} > "$OUT/train_$v.log" 2>&1 &
  runs+=("out/train/$v")
done
wait
echo "trained in $(( $(date +%s) - t0 )) s"
for v in "$@"; do tail -n 2 "$OUT/train_$v.log"; done
rm -rf out/half
$PY scripts/half_checkpoints.py out/half "${runs[@]}"
tar -cf - -C out half | gzip -1 | split -b 15m - "$OUT/weights.tgz.part-"
last=()
for r in "${runs[@]}"; do [[ $r == *_val ]] && continue; last+=("$(ls -d "$r"/checkpoints/step-* | tail -n 1)"); done
tar -cf - "${last[@]}" | gzip -1 | split -b 15m - "$OUT/resume.tgz.part-"
ls -la "$OUT"
