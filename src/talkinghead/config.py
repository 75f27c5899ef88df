"""Strict dataclass configs: unknown keys and bad values raise ``ConfigError``."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from talkinghead.errors import ConfigError


class StrictConfig:
    """Mixin: ``from_dict`` rejects unknown keys; ``__post_init__`` checks Literal choices."""

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None, source: str | None = None):
        d = dict(d or {})
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ConfigError(source, f"unknown config key(s) for {cls.__name__}: {', '.join(unknown)}")
        return cls(**d)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **kw):
        bad = sorted(set(kw) - {f.name for f in dataclasses.fields(self)})
        if bad:
            raise ConfigError(None, f"unknown config key(s) for {type(self).__name__}: {', '.join(bad)}")
        return dataclasses.replace(self, **kw)

    def _check_literals(self) -> None:
        hints = {f.name: f.type for f in dataclasses.fields(self)}
        for name, tp in hints.items():
            if isinstance(tp, str) and tp.startswith("Literal["):
                choices = eval(tp, {"Literal": Literal}).__args__  # noqa: S307 - our own annotations
                if getattr(self, name) not in choices:
                    raise ConfigError(None, f"{name} must be one of {choices}, got {getattr(self, name)!r}")


@dataclass
class MotionStrength(StrictConfig):
    """Per-channel gains applied to the driver's motion (0 = none, 1 = as driven)."""

    pose: float = 1.0
    expression: float = 1.0
    eyes: float = 1.0
    mouth: float = 1.0

    def __post_init__(self) -> None:
        for k in ("pose", "expression", "eyes", "mouth"):
            v = getattr(self, k)
            if not (0.0 <= float(v) <= 3.0):
                raise ConfigError(None, f"strength {k} must be in [0, 3], got {v}")


@dataclass
class AnimateConfig(StrictConfig):
    """Options of the animate pipeline (CLI flags map one to one)."""

    size: int = 256
    """Face-crop resolution in px (256 or 512); the output frame is the photo at the matching scale."""
    relative: bool = True
    """Relative transfer (driver motion relative to its reference frame) vs absolute."""
    reference: Literal["first", "neutral"] = "neutral"
    """Which driver frame relative motion is measured from."""
    mode: Literal["auto", "face", "object"] = "auto"
    face_index: int | None = None
    """Which face to animate when there are several (left to right); None = the largest."""
    strength: MotionStrength = field(default_factory=MotionStrength)
    mouth_interior: Literal["transfer", "synth"] = "transfer"
    max_output_side: int = 1920
    crf: int = 18

    def __post_init__(self) -> None:
        self._check_literals()
        if isinstance(self.strength, dict):
            self.strength = MotionStrength.from_dict(self.strength)
        if self.size not in (128, 256, 384, 512):
            raise ConfigError(None, f"size must be 256 or 512 (128/384 also allowed), got {self.size}")
        if self.face_index is not None and self.face_index < 0:
            raise ConfigError(None, f"face_index must be >= 0, got {self.face_index}")
        if not 0 <= self.crf <= 51:
            raise ConfigError(None, f"crf must be in [0, 51], got {self.crf}")
