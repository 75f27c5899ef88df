"""Start a training run from float16 weights that came back from a GPU machine (no optimiser state).

    python scripts/seed_checkpoint.py CONFIG HALF_STEP_DIR [OUTPUT]

HALF_STEP_DIR is one ``step-NNNNNNN`` folder written by ``scripts/half_checkpoints.py``. Writes
``OUTPUT/checkpoints/step-NNNNNNN`` (OUTPUT defaults to the config's ``output``) with the weights
cast back to float32 and a fresh Adam state, so ``talkinghead train --config CONFIG`` resumes from
that step (the training data must be in the config's cache). Used when a full checkpoint
(optimiser included) does not fit on the trip to the GPU.
"""
from __future__ import annotations

import sys
from pathlib import Path

from safetensors.torch import load_file

from talkinghead.models.modeling import load_state
from talkinghead.train import checkpoint as ck
from talkinghead.train.data import build_dataset
from talkinghead.train.loop import TrainConfig, build_task, make_optimizers


def main(config: str, half_step_dir: str, output: str | None = None) -> Path:
    cfg = TrainConfig.from_yaml(config)
    ds = build_dataset(cfg.data, cfg.task)  # as training does: the few-shot discriminator is sized by the videos
    task = build_task(cfg, getattr(ds, "n_videos", 1))
    src = Path(half_step_dir)
    step = int(src.name.split("-")[1])
    for name, m in task.networks.items():
        load_state(m, {k: v.float() for k, v in load_file(str(src / name / "model.safetensors")).items()}, src / name)
    return ck.save_checkpoint(output or cfg.output, step, task.networks, make_optimizers(cfg, task), keep_last=0)


if __name__ == "__main__":
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    print(main(*sys.argv[1:]))
