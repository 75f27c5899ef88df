"""Audio-to-motion network: log-mel frames (100 Hz) -> mouth, brow and head motion (25 fps).

A small non-causal temporal convolution network in the spirit of the audio encoders of
Vougioukas et al. 2019 ("Realistic speech-driven facial animation with GANs", Sec. 3.1: 0.2-1 s
of audio context per video frame) and of SadTalker's ExpNet / MakeItTalk's content branch, which
regress low-dimensional expression coefficients (3DMM / landmark offsets) from mel features. Here
the coefficients are a PCA basis of mouth-region *canonical* landmark offsets from the speaker's
own closed-mouth neutral (our motion space, inter-ocular distance = 1), so any face can use them.

Input normalisation is part of the model: each band's mean over the speech frames of the window
is removed (channel/level/speaker colouring), which keeps the input language- and mic-agnostic.

Outputs per video frame (all whitened; :meth:`AudioToMotion.decode` undoes it):
    mouth (K)  PCA coefficients / their training std
    brow  (1)  brow raise (canonical units, up > 0) / std
    head  (3)  (yaw, pitch, roll) offsets from the slow head trend, degrees / std

Weights: ``<stem>.safetensors`` (tensors, including the PCA basis as buffers) next to
``<stem>.json`` (the :class:`AudioToMotionConfig`); :func:`save_pretrained` /
:func:`from_pretrained`. Nothing is unpickled.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from talkinghead.config import StrictConfig
from talkinghead.errors import ConfigError, InputError


ONSET_FRAMES = 12  # frames (0.48 s) of anticipatory opening before an utterance onset


@dataclass
class AudioToMotionConfig(StrictConfig):
    """Architecture of :class:`AudioToMotion` (stored as ``<stem>.json``)."""

    n_mels: int = 80
    """Input log-mel bands (100 Hz frames)."""
    mel_per_frame: int = 4
    """Mel frames per output frame (100 Hz -> 25 fps)."""
    channels: int = 128
    """Width of the temporal conv stack."""
    dilations: tuple[int, ...] = (1, 2, 4, 8, 1, 2)
    """One residual block per entry (kernel 3); receptive field = 1 + 2 * sum(dilations) frames."""
    dropout: float = 0.1
    n_mouth: int = 12
    """Mouth PCA components."""
    n_points: int = 0
    """Landmarks in the mouth region (set when the PCA basis is fitted)."""
    norm: str = "mean"
    """Input normalisation over the speech frames of the window: "mean" (each band's mean removed,
    / 4) or "meanvar" (each band's mean removed, then divided by the std over speech frames and
    bands of the result: a noisy recording's compressed dynamic range is expanded to a standard one)."""
    floor_db: float = 0.0
    """If > 0, a level-relative floor applied first: log-mel values more than ``floor_db`` below the
    window's 99th percentile (over all frames and bands) are raised to it, so clean and noisy, loud
    and quiet recordings share one noise floor (the fixed -60 dBFS floor of the features clips
    quiet studio recordings but not noisy ones). 0 = off."""
    members: int = 1
    """Ensemble size: independently trained conv stacks (different seeds) on the same normalised
    input, whose whitened outputs are averaged (variance reduction on a small training set)."""
    smooth_sigma: float = 0.0
    """Inference only (eval mode): the outputs are low-passed over time with a Gaussian of this std
    (output frames; 0 = off), which removes frame-to-frame jitter of the regression."""
    embed_dims: int = 0
    """If > 0, the input also carries the frozen pretrained speech features of
    :mod:`talkinghead.models.speech_embedding` (``embed_features`` per 100 Hz frame after the
    ``n_mels`` log-mel bands), reduced inside the model to this many whitened PCA components."""
    embed_features: int = 0
    """Pretrained speech features per frame in the input (0 when ``embed_dims`` is 0)."""

    def __post_init__(self) -> None:
        self.dilations = tuple(int(d) for d in self.dilations)
        if self.n_mels <= 0 or self.channels <= 0 or self.n_mouth <= 0 or self.mel_per_frame <= 0:
            raise ConfigError(None, "n_mels, channels, n_mouth and mel_per_frame must be > 0")
        if not self.dilations or min(self.dilations) < 1:
            raise ConfigError(None, f"dilations must be >= 1, got {self.dilations}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(None, f"dropout must be in [0, 1), got {self.dropout}")
        if not 0.0 <= self.floor_db <= 120.0:
            raise ConfigError(None, f"floor_db must be in [0, 120], got {self.floor_db}")
        if not 1 <= int(self.members) <= 32:
            raise ConfigError(None, f"members must be in [1, 32], got {self.members}")
        self.members = int(self.members)
        if not 0.0 <= float(self.smooth_sigma) <= 5.0:
            raise ConfigError(None, f"smooth_sigma must be in [0, 5], got {self.smooth_sigma}")
        self.smooth_sigma = float(self.smooth_sigma)
        if not 0 <= int(self.embed_dims) <= int(self.embed_features):
            raise ConfigError(None, f"embed_dims must be in [0, embed_features={self.embed_features}], "
                                    f"got {self.embed_dims}")
        self.embed_dims, self.embed_features = int(self.embed_dims), int(self.embed_features)
        if self.norm not in ("mean", "meanvar"):
            raise ConfigError(None, f"norm must be 'mean' or 'meanvar', got {self.norm!r}")

    @property
    def n_out(self) -> int:
        return self.n_mouth + 1 + 3

    @property
    def n_inputs(self) -> int:
        """Channels of the model's input per 100 Hz frame (log-mel bands + pretrained features)."""
        return self.n_mels + (self.embed_features if self.embed_dims else 0)

    @property
    def context_frames(self) -> int:
        """Output frames of context each side that the receptive field covers."""
        return sum(self.dilations) + 1


class _ChannelNorm(nn.Module):
    """LayerNorm over channels at each time step of a (B, C, T) tensor."""

    def __init__(self, c: int):
        super().__init__()
        self.ln = nn.LayerNorm(c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ln(x.transpose(1, 2)).transpose(1, 2)


class _Block(nn.Module):
    """Pre-norm residual block: LN -> dilated conv (k=3) -> GELU -> dropout -> 1x1 conv."""

    def __init__(self, c: int, dilation: int, dropout: float):
        super().__init__()
        self.norm = _ChannelNorm(c)
        self.conv = nn.Conv1d(c, c, 3, padding=dilation, dilation=dilation)
        self.proj = nn.Conv1d(c, c, 1)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.proj(self.drop(torch.nn.functional.gelu(self.conv(self.norm(x)))))


def _make_stack(m: nn.Module, cfg: "AudioToMotionConfig") -> None:
    """The conv stack's layers as attributes of ``m`` (inp, down, blocks, norm, head)."""
    C = cfg.channels
    m.inp = nn.Conv1d(cfg.n_mels + cfg.embed_dims, C, 3, padding=1)
    m.down = nn.Conv1d(C, C, cfg.mel_per_frame, stride=cfg.mel_per_frame)
    m.blocks = nn.ModuleList(_Block(C, d, cfg.dropout) for d in cfg.dilations)
    m.norm = _ChannelNorm(C)
    m.head = nn.Conv1d(C, cfg.n_out, 1)


def _run_stack(m: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """(B, F, T4) normalised features -> (B, n_out, T) through the stack of ``m``."""
    x = m.down(torch.nn.functional.gelu(m.inp(x)))  # (B, C, T)
    for blk in m.blocks:
        x = blk(x)
    return m.head(m.norm(x))


class _Stack(nn.Module):
    """One extra ensemble member's conv stack."""

    def __init__(self, cfg: "AudioToMotionConfig"):
        super().__init__()
        _make_stack(self, cfg)


class AudioToMotion(nn.Module):
    """``model(mel, speech_mask) -> (B, T, n_out)`` whitened motion parameters.

    Args (forward):
        mel: (B, 4T, n_inputs) raw log-mel power (natural log), 100 Hz, followed by the raw
            pretrained speech features when ``config.embed_dims`` > 0
            (:func:`talkinghead.drivers.speech_features.model_input` builds it).
        speech: (B, 4T) bool/float mask of speech frames for the input normalisation, or None
            (all frames).
    """

    def __init__(self, config: AudioToMotionConfig | None = None):
        super().__init__()
        cfg = config or AudioToMotionConfig()
        self.config = cfg
        _make_stack(self, cfg)  # member 0 (the only one when members == 1)
        if cfg.members > 1:
            self.extra = nn.ModuleList(_Stack(cfg) for _ in range(cfg.members - 1))
        P3 = max(cfg.n_points, 1) * 3
        # Motion-space decoding (fitted on the training set; saved with the weights).
        self.register_buffer("mouth_index", torch.zeros(max(cfg.n_points, 1), dtype=torch.int64))
        self.register_buffer("mouth_basis", torch.zeros(cfg.n_mouth, P3))  # orthonormal rows
        self.register_buffer("mouth_std", torch.ones(cfg.n_mouth))
        self.register_buffer("open_weights", torch.zeros(P3))  # offsets -> mouth-opening change
        self.register_buffer("brow_std", torch.ones(1))
        self.register_buffer("head_std", torch.ones(3))
        self.register_buffer("mouth_width", torch.ones(1))  # mean neutral mouth width (training)
        # Anticipation: mouth opening (Motion.mouth units) ONSET_FRAMES .. 1 frames before an utterance
        # onset that follows a pause (speakers part the lips / inhale before speaking), from training data.
        self.register_buffer("onset_open", torch.zeros(ONSET_FRAMES))
        if cfg.embed_dims:  # pretrained features -> whitened PCA (fitted on the training clips)
            self.register_buffer("embed_mean", torch.zeros(cfg.embed_features))
            self.register_buffer("embed_std", torch.ones(cfg.embed_features))
            self.register_buffer("embed_proj", torch.zeros(cfg.embed_features, cfg.embed_dims))

    def normalize(self, mel: torch.Tensor, speech: torch.Tensor | None) -> torch.Tensor:
        """Subtract each band's mean over speech frames (all frames where there are < 2); with
        ``norm="meanvar"`` also divide by the std of the result over those frames and all bands."""
        if self.config.floor_db > 0:  # on the log-mel bands only
            F = self.config.n_mels
            q = torch.quantile(mel[..., :F].reshape(mel.shape[0], -1), 0.99, dim=1).reshape(-1, 1, 1)
            floored = torch.maximum(mel[..., :F], q - self.config.floor_db * 0.1 * 2.302585093)
            mel = torch.cat([floored, mel[..., F:]], dim=-1)
        if speech is None:
            w = torch.ones_like(mel[..., :1])
        else:
            w = speech.to(mel.dtype).unsqueeze(-1)  # (B, T4, 1)
            w = torch.where(w.sum(dim=1, keepdim=True) >= 2, w, torch.ones_like(w))
        n = w.sum(dim=1, keepdim=True).clamp(min=1.0)
        x = mel - (mel * w).sum(dim=1, keepdim=True) / n
        if self.config.norm == "meanvar":
            var = ((x ** 2) * w).sum(dim=(1, 2), keepdim=True) / (n * x.shape[-1])
            return x / (var + 1e-2).sqrt()
        return x / 4.0

    def forward(self, mel: torch.Tensor, speech: torch.Tensor | None = None) -> torch.Tensor:
        B, T4, F = mel.shape
        if F != self.config.n_inputs or T4 % self.config.mel_per_frame:
            raise ValueError(f"input must be (B, 4T, {self.config.n_inputs}), got {tuple(mel.shape)}")
        if self.config.embed_dims:
            # Whitened PCA of the pretrained features, x4 to the log-mel's scale (normalize divides
            # by 4): both then lose their mean over the speech frames alike.
            e = (mel[..., self.config.n_mels:] - self.embed_mean) / self.embed_std
            mel = torch.cat([mel[..., :self.config.n_mels], 4.0 * (e @ self.embed_proj)], dim=-1)
        x = self.normalize(mel, speech).transpose(1, 2)  # (B, T4, F) -> (B, F, T4)
        y = _run_stack(self, x)
        if self.config.members > 1:
            for m in self.extra:
                y = y + _run_stack(m, x)
            y = y / self.config.members
        if self.config.smooth_sigma > 0 and not self.training:
            y = self._smooth(y)
        return y.transpose(1, 2)  # (B, n_out, T) -> (B, T, n_out)

    def _smooth(self, y: torch.Tensor) -> torch.Tensor:
        """Gaussian low-pass over time of (B, C, T), edge-replicated (a symmetric kernel: no lag)."""
        sig = self.config.smooth_sigma
        r = int(math.ceil(3 * sig))
        if r < 1:
            return y
        x = torch.arange(-r, r + 1, dtype=y.dtype, device=y.device)
        k = torch.exp(-0.5 * (x / sig) ** 2)
        k = (k / k.sum()).reshape(1, 1, -1).repeat(y.shape[1], 1, 1)
        return torch.nn.functional.conv1d(torch.nn.functional.pad(y, (r, r), mode="replicate"), k, groups=y.shape[1])

    def load_member(self, i: int, single: "AudioToMotion") -> None:
        """Copy the conv stack of a single-member model into ensemble member ``i``."""
        dst = self if i == 0 else self.extra[i - 1]
        src = single.state_dict()
        with torch.no_grad():
            for name in ("inp", "down", "blocks", "norm", "head"):
                for k, v in getattr(dst, name).state_dict(keep_vars=True).items():
                    v.copy_(src[f"{name}.{k}"])

    def decode(self, y: torch.Tensor) -> dict[str, torch.Tensor]:
        """Whitened outputs (..., n_out) -> mouth offsets (..., P, 3), opening change (...),
        brow raise (...), head (..., 3) in degrees."""
        K = self.config.n_mouth
        coef = y[..., :K] * self.mouth_std
        flat = coef @ self.mouth_basis  # (..., P * 3)
        return {
            "mouth": flat.reshape(*flat.shape[:-1], -1, 3),
            "opening": flat @ self.open_weights,
            "brow": y[..., K] * self.brow_std[0],
            "head": y[..., K + 1: K + 4] * self.head_std,
        }


def _paths(path: str | os.PathLike) -> tuple[Path, Path]:
    p = Path(os.fspath(path))
    stem = p.with_suffix("") if p.suffix in (".safetensors", ".json") else p
    return stem.with_suffix(".safetensors"), stem.with_suffix(".json")


def save_pretrained(model: AudioToMotion, path: str | os.PathLike, metadata: dict[str, str] | None = None) -> Path:
    """Write ``<stem>.safetensors`` (all parameters and buffers, float32) and ``<stem>.json``."""
    from safetensors.torch import save_file

    st, js = _paths(path)
    st.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    save_file(tensors, os.fspath(st), metadata={k: str(v) for k, v in (metadata or {}).items()})
    os.chmod(st, 0o644)
    cfg = model.config.to_dict()
    cfg["dilations"] = list(cfg["dilations"])
    js.write_text(json.dumps(cfg, indent=2) + "\n")
    return st


def from_pretrained(path: str | os.PathLike | None = None) -> AudioToMotion:
    """Load a model saved by :func:`save_pretrained` (default: the bundled asset), in eval mode.

    Every tensor must be present with the expected shape (no silent partial loads).
    """
    from safetensors.torch import load_file

    if path is None:
        from importlib import resources

        path = Path(os.fspath(resources.files("talkinghead") / "assets" / "audio_to_motion"))
    given = Path(os.fspath(path))
    if given.suffix not in ("", ".safetensors", ".json") and given.is_file():
        raise InputError(given, "not an audio-to-motion model (give its .safetensors file, with the .json beside it)")
    st, js = _paths(path)
    for f in (st, js):
        if not f.is_file():
            raise InputError(f, "audio-to-motion model file not found")
    try:
        cfg = AudioToMotionConfig.from_dict(json.loads(js.read_text()), source=os.fspath(js))
    except (json.JSONDecodeError, TypeError) as e:
        raise InputError(js, f"invalid model config ({e})") from None
    model = AudioToMotion(cfg)
    try:
        state = load_file(os.fspath(st))
    except Exception as e:  # noqa: BLE001 - safetensors raises several types for a bad file
        raise InputError(st, f"unreadable safetensors file ({e})") from None
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    bad = [k for k in expected if k in state and state[k].shape != expected[k].shape]
    if missing or unexpected or bad:
        raise InputError(st, f"weights do not match the config (missing {missing[:3]}, unexpected "
                             f"{unexpected[:3]}, wrong shape {bad[:3]})")
    model.load_state_dict(state, strict=True)
    return model.eval()
