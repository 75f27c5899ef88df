"""Multi-scale patch discriminator (FOMM: Siarohin et al. 2019, after pix2pixHD, Wang et al. 2018).

Each scale's discriminator is a stack of strided 4x4 conv blocks (instance norm, leaky ReLU,
optional spectral norm) ending in a 1x1 conv: a map of real/fake scores. It returns its
intermediate feature maps too, for the feature-matching loss. Optionally the keypoint heatmaps
are concatenated to the image (FOMM ``use_kp``), so the discriminator judges image and motion.

The image pyramid uses :class:`AntiAliasInterpolation2d` (Gaussian blur + subsample).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from talkinghead.config import StrictConfig
from talkinghead.errors import ConfigError
from talkinghead.models.blocks import AntiAliasInterpolation2d, kp2gaussian
from talkinghead.models.modeling import PretrainedModel


@dataclass
class DiscriminatorConfig(StrictConfig):
    """Architecture of :class:`MultiScaleDiscriminator` (FOMM ``discriminator_params``)."""

    num_channels: int = 3
    block_expansion: int = 32
    num_blocks: int = 4
    max_features: int = 512
    scales: tuple[float, ...] = (1.0,)
    sn: bool = True
    """Spectral normalisation of every conv (Miyato et al. 2018)."""
    use_kp: bool = False
    num_kp: int = 10
    kp_variance: float = 0.01

    def __post_init__(self) -> None:
        self.scales = tuple(float(s) for s in self.scales)
        if not self.scales or any(not 0 < s <= 1 for s in self.scales):
            raise ConfigError(None, f"scales must be in (0, 1], got {self.scales}")
        if self.num_blocks < 1 or self.block_expansion < 1:
            raise ConfigError(None, "num_blocks and block_expansion must be >= 1")


class _DownBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, norm: bool, pool: bool, sn: bool):
        super().__init__()
        conv = nn.Conv2d(c_in, c_out, kernel_size=4, padding=1)
        self.conv = nn.utils.parametrizations.spectral_norm(conv) if sn else conv
        self.norm = nn.InstanceNorm2d(c_out, affine=True) if norm else nn.Identity()
        self.pool = pool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.leaky_relu(self.norm(self.conv(x)), 0.2)
        return F.avg_pool2d(x, 2) if self.pool else x


class PatchDiscriminator(nn.Module):
    """image (B, C, H, W) [+ keypoints] -> (feature maps, score map (B, 1, h, w))."""

    def __init__(self, c: DiscriminatorConfig):
        super().__init__()
        c_in = c.num_channels + (c.num_kp if c.use_kp else 0)
        ch = [c_in] + [min(c.max_features, c.block_expansion * 2 ** (i + 1)) for i in range(c.num_blocks)]
        self.blocks = nn.ModuleList(_DownBlock(ch[i], ch[i + 1], norm=i != 0, pool=i != c.num_blocks - 1, sn=c.sn)
                                    for i in range(c.num_blocks))
        conv = nn.Conv2d(ch[-1], 1, kernel_size=1)
        self.conv = nn.utils.parametrizations.spectral_norm(conv) if c.sn else conv
        self.cfg = c

    def forward(self, x: torch.Tensor, kp: torch.Tensor | None = None) -> tuple[list[torch.Tensor], torch.Tensor]:
        if self.cfg.use_kp:
            if kp is None:
                raise ValueError("this discriminator was built with use_kp=True: pass the keypoints")
            x = torch.cat([x, kp2gaussian(kp, x.shape[2:], self.cfg.kp_variance)], dim=1)
        feats = []
        for blk in self.blocks:
            x = blk(x)
            feats.append(x)
        return feats, self.conv(x)


class MultiScaleDiscriminator(PretrainedModel):
    """One :class:`PatchDiscriminator` per scale: ``{scale: (features, scores)}``."""

    model_type = "multiscale_discriminator"
    config_class = DiscriminatorConfig

    def __init__(self, config: DiscriminatorConfig):
        super().__init__(config)
        self.discs = nn.ModuleDict({_key(s): PatchDiscriminator(config) for s in config.scales})
        self.pyramid = nn.ModuleDict({_key(s): AntiAliasInterpolation2d(config.num_channels, s)
                                      for s in config.scales})

    def forward(self, x: torch.Tensor, kp: torch.Tensor | None = None
                ) -> dict[str, tuple[list[torch.Tensor], torch.Tensor]]:
        return {k: d(self.pyramid[k](x), kp) for k, d in self.discs.items()}


def _key(s: float) -> str:
    return f"s{s:g}".replace(".", "_")
