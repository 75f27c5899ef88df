"""Training checkpoints: weights, optimiser state and step, all without pickle.

::

    <out>/checkpoints/step-0000200/
        <name>/config.json + model.safetensors     each network (talkinghead.models.modeling layout)
        optimizer.safetensors                      every optimiser's tensor state ("<opt>.<param>.<key>")
        state.json                                 step, optimiser hyper-parameters and scalar state, extras

A checkpoint is written into a temporary folder and renamed into place, so a run killed at any
moment leaves only complete checkpoints; :func:`latest_checkpoint` finds the newest one to resume.
"""
from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import torch

from talkinghead.errors import InputError
from talkinghead.io.atomic import atomic_folder
from talkinghead.models.modeling import load_state, save_pretrained

_STEP_RE = re.compile(r"^step-(\d+)$")


def optimizer_state(opts: dict[str, torch.optim.Optimizer]) -> tuple[dict[str, torch.Tensor], dict]:
    """Split optimiser states into tensors (for safetensors) and JSON-able rest."""
    tensors, meta = {}, {}
    for name, opt in opts.items():
        sd = opt.state_dict()
        scalars = {}
        for pid, st in sd["state"].items():
            for k, v in st.items():
                if torch.is_tensor(v):
                    tensors[f"{name}.{pid}.{k}"] = v.detach().cpu().contiguous().clone()
                else:
                    scalars.setdefault(str(pid), {})[k] = v
        meta[name] = {"param_groups": sd["param_groups"], "scalars": scalars}
    return tensors, meta


def load_optimizer_state(opts: dict[str, torch.optim.Optimizer], tensors: dict[str, torch.Tensor], meta: dict) -> None:
    for name, opt in opts.items():
        if name not in meta:
            raise InputError(None, f"checkpoint has no state for optimizer {name!r}")
        state: dict[int, dict[str, Any]] = {}
        prefix = f"{name}."
        for key, v in tensors.items():
            if key.startswith(prefix):
                pid, k = key[len(prefix):].split(".", 1)
                state.setdefault(int(pid), {})[k] = v
        for pid, sc in meta[name]["scalars"].items():
            state.setdefault(int(pid), {}).update(sc)
        groups = [{k: (tuple(v) if isinstance(v, list) and k != "params" else v) for k, v in g.items()}
                  for g in meta[name]["param_groups"]]  # JSON made tuples (betas) lists
        opt.load_state_dict({"state": state, "param_groups": groups})


def save_checkpoint(out: str | os.PathLike, step: int, models: dict, opts: dict[str, torch.optim.Optimizer],
                    extra: dict | None = None, keep_last: int = 2) -> Path:
    """Write ``out/checkpoints/step-NNNNNNN`` atomically and prune all but the last ``keep_last``."""
    from safetensors.torch import save_file

    root = Path(out) / "checkpoints"
    final = root / f"step-{step:07d}"
    root.mkdir(parents=True, exist_ok=True)
    with atomic_folder(final) as tmp:
        for name, m in models.items():
            save_pretrained(m, tmp / name)
        tensors, meta = optimizer_state(opts)
        save_file(tensors, str(tmp / "optimizer.safetensors"))
        (tmp / "state.json").write_text(json.dumps({"step": step, "optimizers": meta, "extra": extra or {}}, indent=1))
    for old in list_checkpoints(out)[:-keep_last] if keep_last > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    return final


def list_checkpoints(out: str | os.PathLike) -> list[Path]:
    root = Path(out) / "checkpoints"
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir() if (m := _STEP_RE.match(p.name)) and (p / "state.json").exists()]
    return [p for _, p in sorted(found)]


def latest_checkpoint(out: str | os.PathLike) -> Path | None:
    cks = list_checkpoints(out)
    return cks[-1] if cks else None


def load_checkpoint(path: str | os.PathLike, models: dict, opts: dict[str, torch.optim.Optimizer]) -> dict:
    """Restore weights (strict) and optimiser state in place; returns state.json (step, extra)."""
    from safetensors.torch import load_file

    p = Path(path)
    state = json.loads((p / "state.json").read_text())
    for name, m in models.items():
        load_state(m, load_file(str(p / name / "model.safetensors")), p / name)
    load_optimizer_state(opts, load_file(str(p / "optimizer.safetensors")), state["optimizers"])
    return state
