"""Save and load trained components: one folder each, ``config.json`` + ``model.safetensors``.

Layout (diffusers' ``save_pretrained`` convention, without pickles)::

    refiner/
      config.json         {"model_type": "refiner", "config": {...RefinerConfig...}, "metadata": {...}}
      model.safetensors   every parameter and persistent buffer, in its own dtype (bit-exact)

:func:`load_model` reads any such folder: ``model_type`` picks the class from the registry that
each :class:`PretrainedModel` subclass joins by declaring ``model_type``; its config is rebuilt with
``from_dict`` (unknown keys raise), and the state dict must match exactly (no missing or unexpected
keys, same shapes). Nothing is unpickled.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from talkinghead.config import StrictConfig
from talkinghead.errors import ConfigError, InputError

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
_REGISTRY: dict[str, type["PretrainedModel"]] = {}


class PretrainedModel(nn.Module):
    """Base of every trained network: ``Model(config)``, ``save_pretrained(dir)``, ``from_pretrained(dir)``."""

    model_type: ClassVar[str] = ""
    config_class: ClassVar[type[StrictConfig]]

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        if cls.__dict__.get("model_type"):
            _REGISTRY[cls.model_type] = cls

    def __init__(self, config: StrictConfig):
        super().__init__()
        if not isinstance(config, self.config_class):
            raise TypeError(f"{type(self).__name__} needs a {self.config_class.__name__}, got {type(config).__name__}")
        self.config = config

    def save_pretrained(self, directory: str | os.PathLike, metadata: dict[str, Any] | None = None) -> Path:
        return save_pretrained(self, directory, metadata)

    @classmethod
    def from_pretrained(cls, directory: str | os.PathLike, map_location: str = "cpu"):
        model = load_model(directory, map_location)
        if not isinstance(model, cls):
            raise InputError(directory, f"holds a {type(model).__name__}, expected {cls.__name__}")
        return model

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def state_tensors(module: nn.Module) -> dict[str, torch.Tensor]:
    """The state dict as independent contiguous CPU tensors (safetensors refuses shared storage)."""
    return {k: v.detach().to("cpu").contiguous().clone() for k, v in module.state_dict().items()}


def save_pretrained(model: PretrainedModel, directory: str | os.PathLike,
                    metadata: dict[str, Any] | None = None) -> Path:
    """Write ``directory/config.json`` and ``directory/model.safetensors`` (atomically: temp + rename)."""
    from safetensors.torch import save_file

    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    cfg = {"model_type": model.model_type, "config": model.config.to_dict(), "metadata": metadata or {}}
    tmp_w, tmp_c = d / (WEIGHTS_NAME + ".tmp"), d / (CONFIG_NAME + ".tmp")
    save_file(state_tensors(model), str(tmp_w), metadata={"format": "pt", "model_type": model.model_type})
    tmp_c.write_text(json.dumps(cfg, indent=2, default=_jsonable) + "\n")
    os.replace(tmp_w, d / WEIGHTS_NAME)
    os.replace(tmp_c, d / CONFIG_NAME)
    return d


def _jsonable(x):
    if isinstance(x, tuple):
        return list(x)
    raise TypeError(f"not JSON serialisable: {type(x).__name__}")


def read_config(directory: str | os.PathLike) -> tuple[type[PretrainedModel], StrictConfig, dict]:
    """(class, config, metadata) from ``directory/config.json``; unknown keys or types raise."""
    path = Path(directory) / CONFIG_NAME
    if not path.is_file():
        raise InputError(path, "missing model config (expected a folder with config.json + model.safetensors)")
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise InputError(path, f"unreadable model config ({e})") from None
    if not isinstance(raw, dict):
        raise ConfigError(str(path), "model config must be a JSON object")
    extra = sorted(set(raw) - {"model_type", "config", "metadata"})
    if extra:
        raise ConfigError(str(path), f"unknown key(s) in model config: {', '.join(extra)}")
    kind = raw.get("model_type")
    if kind not in _registry():
        raise ConfigError(str(path), f"unknown model_type {kind!r} (known: {', '.join(sorted(_registry()))})")
    cls = _registry()[kind]
    return cls, cls.config_class.from_dict(raw.get("config"), source=str(path)), raw.get("metadata") or {}


def load_model(directory: str | os.PathLike, map_location: str = "cpu") -> PretrainedModel:
    """Build the model saved in ``directory`` and load its weights (strict: exact key set and shapes)."""
    from safetensors.torch import load_file

    cls, cfg, meta = read_config(directory)
    model = cls(cfg)
    wpath = Path(directory) / WEIGHTS_NAME
    if not wpath.is_file():
        raise InputError(wpath, "missing weights file")
    try:
        sd = load_file(str(wpath), device=map_location)
    except Exception as e:  # noqa: BLE001 - safetensors raises several types for a bad file
        raise InputError(wpath, f"unreadable safetensors file ({e})") from None
    load_state(model, sd, wpath)
    model.metadata = meta
    return model.eval()


def load_state(module: nn.Module, sd: dict[str, torch.Tensor], where: str | os.PathLike | None = None) -> None:
    """``load_state_dict(strict=True)`` with one-line errors for missing/unexpected keys or shapes."""
    own = module.state_dict()
    missing, unexpected = sorted(set(own) - set(sd)), sorted(set(sd) - set(own))
    bad = [k for k in own if k in sd and tuple(own[k].shape) != tuple(sd[k].shape)]
    if missing or unexpected or bad:
        parts = []
        if missing:
            parts.append(f"missing {missing[:5]}{'...' if len(missing) > 5 else ''}")
        if unexpected:
            parts.append(f"unexpected {unexpected[:5]}{'...' if len(unexpected) > 5 else ''}")
        if bad:
            parts.append(f"shape mismatch {bad[:5]}")
        raise InputError(where, "weights do not match the model: " + "; ".join(parts))
    module.load_state_dict(sd, strict=True)


def _registry() -> dict[str, type[PretrainedModel]]:
    # Import every model module so its classes register (cheap: torch is already imported).
    from talkinghead.models import (dense_motion, discriminator, fewshot, generator, keypoint,  # noqa: F401
                                    refiner)

    return _REGISTRY
