"""Strict dataclass configs: unknown keys and bad values raise ``ConfigError``."""
from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from talkinghead.errors import ConfigError


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(value: Any, tp: Any, what: str, source: str | None) -> Any:
    """``value`` checked against the annotation ``tp`` (and gently converted); ConfigError if it
    does not fit. Types this does not know pass unchanged."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arm in (a for a in args if a is not type(None)):
            try:
                return _coerce(value, arm, what, source)
            except ConfigError as e:
                errors.append(e)
        raise errors[0] if len(errors) == 1 else ConfigError(
            source, f"{what}: expected {' or '.join(_type_name(a) for a in args)}, got {value!r}")
    if origin is Literal:
        if value not in args:
            raise ConfigError(source, f"{what}: must be one of {args}, got {value!r}")
        return value

    def bad(expected: str):
        return ConfigError(source, f"{what}: expected {expected}, got {value!r}")

    if tp is bool:
        if not isinstance(value, bool):
            raise bad("true or false")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad("a whole number")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad("a number")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise bad("text")
        return value
    if origin in (tuple, list) or tp in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise bad("a list")
        if not args:
            el = [Any] * len(value)
        elif origin is list or (len(args) == 2 and args[1] is Ellipsis):  # list[int] / tuple[int, ...]
            el = [args[0]] * len(value)
        else:  # tuple[float, float]: one type per place
            if len(args) != len(value):
                raise bad(f"a list of {len(args)}")
            el = list(args)
        out = [_coerce(v, t, f"{what}[{i}]", source) for i, (v, t) in enumerate(zip(value, el))]
        return tuple(out) if (origin or tp) is tuple else out
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise bad("a mapping")
        return value
    if isinstance(tp, type) and issubclass(tp, StrictConfig):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise bad(f"a mapping of {tp.__name__} keys")
        return tp.from_dict(value, source=source)
    return value


class StrictConfig:
    """Mixin: ``from_dict`` rejects unknown keys; ``__post_init__`` checks Literal choices."""

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None, source: str | None = None):
        """Build from a mapping (YAML/JSON/CSV): unknown keys and values of the wrong type (a text
        where a number or a yes/no is expected, a list for a number...) raise ConfigError naming
        ``source``; ints are taken for floats, lists for tuples, mappings for nested configs."""
        if d is not None and not isinstance(d, dict):
            raise ConfigError(source, f"{cls.__name__}: expected a mapping of keys to values, got {d!r}")
        d = dict(d or {})
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ConfigError(source, f"unknown config key(s) for {cls.__name__}: {', '.join(unknown)}")
        try:
            hints = typing.get_type_hints(cls)
        except Exception:  # noqa: BLE001 - an annotation that does not resolve: values go unchecked
            hints = {}
        d = {k: _coerce(v, hints[k], f"{cls.__name__}.{k}", source) if k in hints else v for k, v in d.items()}
        try:
            return cls(**d)
        except ConfigError as e:
            if e.path is None and source is not None:
                raise ConfigError(source, e.reason) from None
            raise

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


NEURAL_ASSETS = Path(__file__).resolve().parent / "assets" / "neural"
"""The bundled neural renderers' folders (``refiner/``, ``fewshot/``), one model folder each."""
MAX_RENDER_WORKERS = 32  # RenderOutput.workers and the CLI's --workers accept 0 .. this


MIN_RESOLUTION, MAX_RESOLUTION = 128, 2160  # RenderOutput.resolution (0 = the face crop's scale)
MAX_FACE_INDEX = 99  # the face detector is asked for face_index + 1 faces


@dataclass
class RenderOutput(StrictConfig):
    """Options every portrait pipeline shares: face crop, face choice and the output file."""

    size: int = 256
    """Face-crop resolution in px (256 or 512): the face is rendered at this size."""
    resolution: int = 512
    """Short side of the output video in px, at most the photo's own. The warp renderer redoes its
    warp on the photo at this scale, so it keeps its detail; a neural renderer's face crop is
    resampled into it. 0 = the face crop's scale (the photo scaled so the crop is ``size`` px)."""
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
    workers: int | None = None
    """Render processes beside the main one (None = auto: one per spare core, at most 3, for clips
    of 100 frames or more; 0 = render in the main process). The frames are the same either way."""

    def __post_init__(self) -> None:
        self._check_literals()
        if self.workers is not None and not 0 <= self.workers <= MAX_RENDER_WORKERS:
            raise ConfigError(None, f"workers must be in [0, {MAX_RENDER_WORKERS}], got {self.workers}")
        if self.resolution != 0 and not MIN_RESOLUTION <= self.resolution <= MAX_RESOLUTION:
            raise ConfigError(None, f"resolution must be 0 or in [{MIN_RESOLUTION}, {MAX_RESOLUTION}] px, "
                                    f"got {self.resolution}")
        if self.size not in (128, 256, 384, 512):
            raise ConfigError(None, f"size must be 256 or 512 (128/384 also allowed), got {self.size}")
        if self.face_index is not None and not 0 <= self.face_index <= MAX_FACE_INDEX:
            raise ConfigError(None, f"face_index must be in [0, {MAX_FACE_INDEX}], got {self.face_index}")
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
        if not 0 <= int(self.seed) < 2**63:
            raise ConfigError(None, f"seed must be a whole number in [0, 2^63), got {self.seed}")


def yaml_error_line(e: Exception) -> str:
    """A PyYAML error as one line: "line 3, column 7: mapping values are not allowed here"."""
    mark = getattr(e, "problem_mark", None)
    problem = getattr(e, "problem", None) or str(e).splitlines()[0]
    return f"line {mark.line + 1}, column {mark.column + 1}: {problem}" if mark is not None else problem
