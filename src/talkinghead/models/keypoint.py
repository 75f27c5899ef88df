"""Unsupervised keypoint detector with local affine Jacobians (FOMM: Siarohin et al. 2019, Sec. 3.1-3.2).

An hourglass on the (down-scaled) image predicts one heatmap per keypoint; a spatial softmax turns
each into a probability map and the keypoint is its expectation (soft-argmax). A second head
predicts four channels per keypoint, averaged under the same map, giving the 2x2 Jacobian
``J_k = d T_{X<-R} / d p |_{p_k}`` of the first-order Taylor expansion (Eq. 1-2). Nothing here is
face-specific: keypoints are learnt from motion alone (equivariance, Sec. 3.4), so the model works
for any object category.

Convention: image (B, 3, H, W) in [0, 1]; keypoints (B, K, 2) (x, y) in [-1, 1] (align_corners).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from talkinghead.config import StrictConfig
from talkinghead.errors import ConfigError
from talkinghead.models.blocks import AntiAliasInterpolation2d, Hourglass, check_shape, heatmap_to_keypoints
from talkinghead.models.modeling import PretrainedModel


@dataclass
class KeypointConfig(StrictConfig):
    """Architecture of :class:`KeypointDetector` (FOMM ``kp_detector_params``)."""

    num_kp: int = 10
    """Number of keypoints K."""
    num_channels: int = 3
    block_expansion: int = 32
    max_features: int = 1024
    num_blocks: int = 5
    temperature: float = 0.1
    """Softmax temperature of the heatmaps (lower = peakier)."""
    estimate_jacobian: bool = True
    scale_factor: float = 0.25
    """The hourglass runs on the image resized by this factor (FOMM: 0.25 at 256 px)."""
    norm: str = "group"

    def __post_init__(self) -> None:
        if self.num_kp < 1 or self.block_expansion < 1 or self.num_blocks < 1:
            raise ConfigError(None, "num_kp, block_expansion and num_blocks must be >= 1")
        if not 0 < self.scale_factor <= 1 or self.temperature <= 0:
            raise ConfigError(None, "scale_factor must be in (0, 1] and temperature > 0")
        if self.norm not in ("group", "instance", "batch", "none"):
            raise ConfigError(None, f"norm must be group|instance|batch|none, got {self.norm!r}")


class KeypointDetector(PretrainedModel):
    """image -> {'value': (B, K, 2), 'jacobian': (B, K, 2, 2), 'heatmap': (B, K, h, w)}."""

    model_type = "keypoint_detector"
    config_class = KeypointConfig

    def __init__(self, config: KeypointConfig):
        super().__init__(config)
        c = config
        self.predictor = Hourglass(c.block_expansion, c.num_channels, c.num_blocks, c.max_features, c.norm)
        self.kp = nn.Conv2d(self.predictor.out_channels, c.num_kp, kernel_size=7, padding=3)
        if c.estimate_jacobian:
            self.jacobian = nn.Conv2d(self.predictor.out_channels, 4 * c.num_kp, kernel_size=7, padding=3)
            # Start at J = identity: zero weights, bias (1, 0, 0, 1) (FOMM keypoint_detector.py).
            nn.init.zeros_(self.jacobian.weight)
            with torch.no_grad():
                self.jacobian.bias.copy_(torch.tensor([1.0, 0.0, 0.0, 1.0]).repeat(c.num_kp))
        else:
            self.jacobian = None
        self.down = AntiAliasInterpolation2d(c.num_channels, c.scale_factor)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        check_shape(x, (None, self.config.num_channels, None, None), "image")
        feat = self.predictor(self.down(x))
        logits = self.kp(feat)  # (B, K, h, w)
        B, K, h, w = logits.shape
        heat = F.softmax(logits.flatten(2) / self.config.temperature, dim=2).view(B, K, h, w)
        out = {"value": heatmap_to_keypoints(heat), "heatmap": heat}
        if self.jacobian is not None:
            jac = self.jacobian(feat).view(B, K, 4, h, w)
            jac = (jac * heat[:, :, None]).sum(dim=(3, 4))  # heatmap-weighted average, (B, K, 4)
            out["jacobian"] = jac.view(B, K, 2, 2)
        return out
