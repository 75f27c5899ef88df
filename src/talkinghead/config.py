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
class RenderOutput(StrictConfig):
    """Options every portrait pipeline shares: face crop, face choice and the output file."""

    size: int = 256
    """Face-crop resolution in px (256 or 512); the output frame is the photo at the matching scale."""
    face_index: int | None = None
    """Which face to animate when there are several (left to right); None = the largest."""
    renderer: Literal["warp", "neural"] = "warp"
    """warp: geometric warp renderer; neural: warp + the trained refiner (talkinghead.pipelines.renderers)."""
    person: str | None = None
    """A person folder from ``talkinghead finetune`` (few-shot generator); overrides ``renderer``."""
    max_output_side: int = 1920
    crf: int = 18
    label: bool = False
    """Draw a visible "AI-generated" mark (the invisible watermark and C2PA credentials are always on)."""
    sign_cert: str | None = None
    """PEM certificate chain for the C2PA signature (default: a local identity created on first use)."""
    sign_key: str | None = None

    def __post_init__(self) -> None:
        self._check_literals()
        if self.size not in (128, 256, 384, 512):
            raise ConfigError(None, f"size must be 256 or 512 (128/384 also allowed), got {self.size}")
        if self.face_index is not None and self.face_index < 0:
            raise ConfigError(None, f"face_index must be >= 0, got {self.face_index}")
        if not 0 <= self.crf <= 51:
            raise ConfigError(None, f"crf must be in [0, 51], got {self.crf}")


@dataclass
class AnimateConfig(RenderOutput):
    """Options of the animate pipeline (CLI flags map one to one)."""

    relative: bool = True
    """Relative transfer (driver motion relative to its reference frame) vs absolute."""
    reference: Literal["first", "neutral"] = "neutral"
    """Which driver frame relative motion is measured from."""
    mode: Literal["auto", "face", "object"] = "auto"
    strength: MotionStrength = field(default_factory=MotionStrength)
    mouth_interior: Literal["transfer", "synth"] = "transfer"

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.strength, dict):
            self.strength = MotionStrength.from_dict(self.strength)


@dataclass
class SpeakConfig(RenderOutput):
    """Options of the speak pipeline (speech or text -> talking portrait; CLI flags map one to one)."""

    voice: str = "en"
    """espeak-ng voice / language for --text (e.g. en, en-us, de, fr, es, cmn)."""
    rate: int = 160
    """TTS speaking rate in words per minute (80..450)."""
    blink_rate: float = 17.0
    """Blinks per minute (0 = none; humans: 10-30)."""
    head_motion: float = 1.0
    """Gain of the head motion (0 = none, 1 = natural, up to 3)."""
    expression: float = 1.0
    """Gain of brow raises on prosodic accents (0..3)."""
    mouth: float = 1.0
    """Gain of the mouth motion (0..3)."""
    still: bool = False
    """No head motion, gaze shifts or brow raises (the mouth moves and the eyes keep blinking)."""
    visemes: bool = True
    """Use phoneme timing (TTS, or a transcript) to sharpen visemes."""
    seed: int = 0
    """Seed of blinks, gaze and sway (same inputs + seed = same video)."""
    chunk_seconds: float = 30.0
    """Audio is run through the network in chunks of this length (constant memory)."""
    model: str | None = None
    """Audio-to-motion weights (path to <stem>.safetensors with <stem>.json); None = bundled."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 80 <= int(self.rate) <= 450:
            raise ConfigError(None, f"rate must be in [80, 450] words per minute, got {self.rate}")
        if not 0.0 <= float(self.blink_rate) <= 60.0:
            raise ConfigError(None, f"blink_rate must be in [0, 60] per minute, got {self.blink_rate}")
        for k in ("head_motion", "expression", "mouth"):
            if not 0.0 <= float(getattr(self, k)) <= 3.0:
                raise ConfigError(None, f"{k} must be in [0, 3], got {getattr(self, k)}")
        if not 1.0 <= float(self.chunk_seconds) <= 600.0:
            raise ConfigError(None, f"chunk_seconds must be in [1, 600], got {self.chunk_seconds}")
        if not str(self.voice).strip():
            raise ConfigError(None, "voice must not be empty")
