"""Warp refiner: repairs the geometric warp renderer's output (mouth interior, disocclusions, detail).

A small U-Net (Ronneberger et al. 2015) sees the warped crop, the source crop and the landmark
images of source and target (:func:`talkinghead.models.blocks.landmark_image`) and predicts a
residual ``r`` (tanh) and a mask ``m`` (sigmoid); the output is ``warp + m * r``. The residual head
starts at zero, so an untrained refiner returns the warp unchanged, and training only moves pixels
where a correction lowers the loss (a residual formulation as in Geng et al. 2018's refinement of
warp-guided portraits).

It runs at ``config.size`` (e.g. 128 px); :class:`talkinghead.render.neural.NeuralRenderer`
upsamples ``m * r`` to the crop size and adds it to the full-resolution warp.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from talkinghead.config import StrictConfig
from talkinghead.errors import ConfigError
from talkinghead.models.blocks import ResBlock2d, SameBlock2d, check_shape, make_norm
from talkinghead.models.modeling import PretrainedModel

IN_CHANNELS = 12  # warp RGB, source RGB, target landmarks (3), source landmarks (3)


@dataclass
class RefinerConfig(StrictConfig):
    """Architecture of :class:`WarpRefiner`."""

    size: int = 128
    """Working resolution (px); a multiple of ``2**num_down``."""
    channels: int = 32
    max_channels: int = 128
    num_down: int = 3
    num_res: int = 2
    norm: str = "group"
    output_scale: float = 1.0
    """Inference-time shrinkage ``alpha`` of the correction (chosen on validation clips; 1: as trained)."""
    shrink: float = 0.0
    """Soft threshold ``tau`` on the correction (intensity units in [0, 1]): per-pixel corrections
    smaller than ``tau`` are dropped and larger ones are reduced by ``tau``, so the refiner leaves the
    warp untouched where it is unsure (0: off)."""

    def __post_init__(self) -> None:
        if self.size % (2 ** self.num_down):
            raise ConfigError(None, f"size {self.size} must be divisible by 2**num_down")
        if min(self.channels, self.max_channels, self.num_down) < 1 or self.num_res < 0:
            raise ConfigError(None, "channels, max_channels, num_down must be >= 1 and num_res >= 0")
        if self.norm not in ("group", "instance", "batch", "none"):
            raise ConfigError(None, f"norm must be group|instance|batch|none, got {self.norm!r}")
        if not (0.0 <= self.output_scale <= 1.0) or not (0.0 <= self.shrink < 1.0):
            raise ConfigError(None, "output_scale must be in [0, 1] and shrink in [0, 1)")


class _Down(nn.Module):
    def __init__(self, c_in: int, c_out: int, norm: str):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 4, stride=2, padding=1)  # strided: cheaper than conv + pool
        self.norm = make_norm(norm, c_out)

    def forward(self, x):
        return F.relu(self.norm(self.conv(x)))


class _Up(nn.Module):
    def __init__(self, c_in: int, c_skip: int, c_out: int, norm: str):
        super().__init__()
        self.conv = nn.Conv2d(c_in + c_skip, c_out, 3, padding=1)
        self.norm = make_norm(norm, c_out)

    def forward(self, x, skip):
        x = F.interpolate(x, size=skip.shape[2:], mode="bilinear", align_corners=False)
        return F.relu(self.norm(self.conv(torch.cat([x, skip], dim=1))))


class WarpRefiner(PretrainedModel):
    """(warped, source, lm_target, lm_source), each (B, 3, S, S) in [0, 1] -> refined (B, 3, S, S)."""

    model_type = "warp_refiner"
    config_class = RefinerConfig

    def __init__(self, config: RefinerConfig):
        super().__init__(config)
        c = config
        w = [min(c.max_channels, c.channels * 2 ** i) for i in range(c.num_down + 1)]
        self.first = SameBlock2d(IN_CHANNELS, w[0], kernel=5, norm=c.norm)
        self.down = nn.ModuleList(_Down(w[i], w[i + 1], c.norm) for i in range(c.num_down))
        self.res = nn.Sequential(*(ResBlock2d(w[-1], norm=c.norm) for _ in range(c.num_res)))
        self.up = nn.ModuleList(_Up(w[i + 1], w[i], w[i], c.norm) for i in reversed(range(c.num_down)))
        self.head = nn.Conv2d(w[0], 4, 3, padding=1)
        with torch.no_grad():  # residual starts at exactly zero: output == warp before training
            self.head.weight[:3].zero_()
            self.head.bias.zero_()

    def forward(self, warped: torch.Tensor, source: torch.Tensor, lm_target: torch.Tensor,
                lm_source: torch.Tensor) -> dict[str, torch.Tensor]:
        for name, t in (("warped", warped), ("source", source), ("lm_target", lm_target), ("lm_source", lm_source)):
            check_shape(t, (None, 3, None, None), name)
        h = self.first(torch.cat([warped, source, lm_target, lm_source], dim=1))
        skips = [h]
        for blk in self.down:
            h = blk(h)
            skips.append(h)
        h = self.res(skips.pop())
        for blk in self.up:
            h = blk(h, skips.pop())
        out = self.head(h)
        residual, mask = torch.tanh(out[:, :3]), torch.sigmoid(out[:, 3:])
        raw = mask * residual
        delta = shrink_correction(raw, self.config.output_scale, self.config.shrink)
        return {"prediction": (warped + delta).clamp(0, 1), "delta": delta, "raw_delta": raw, "mask": mask}


def shrink_correction(delta: torch.Tensor, output_scale: float = 1.0, shrink: float = 0.0) -> torch.Tensor:
    """``output_scale * soft_threshold(delta, shrink)``: small, uncertain corrections become exactly
    zero, the rest shrink (what ``RefinerConfig.output_scale`` / ``shrink`` do to the raw correction)."""
    if shrink > 0:
        delta = torch.sign(delta) * F.relu(delta.abs() - shrink)
    return output_scale * delta if output_scale != 1.0 else delta
