"""Copy the model weights of every checkpoint of training runs as float16 (for the trip back from a GPU machine).

    python scripts/half_checkpoints.py DEST RUN_DIR [RUN_DIR ...]

DEST/<run>/step-NNNNNNN/<network>/{config.json,model.safetensors} (float16; no optimiser state) plus each run's
log.jsonl and config.json. ``load_model`` / ``load_state_dict`` cast them back to float32 on load.
"""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

from safetensors.torch import load_file, save_file


def main(dest: str, runs: list[str]) -> None:
    for run in map(Path, runs):
        out = Path(dest) / run.name
        out.mkdir(parents=True, exist_ok=True)
        for f in ("log.jsonl", "config.json"):
            if (run / f).exists():
                shutil.copy2(run / f, out / f)
        for ck in sorted((run / "checkpoints").glob("step-*")):
            for net in (p for p in ck.iterdir() if (p / "model.safetensors").exists()):
                d = out / ck.name / net.name
                d.mkdir(parents=True, exist_ok=True)
                w = {k: (v.half() if v.is_floating_point() else v) for k, v in load_file(str(net / "model.safetensors")).items()}
                save_file(w, str(d / "model.safetensors"))
                shutil.copy2(net / "config.json", d / "config.json")


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2:])
