"""Dense motion network (FOMM: Siarohin et al. 2019, Sec. 3.2-3.3).

From source and driving keypoints (with Jacobians) it builds K+1 sparse motions -- the identity
(background) and, per keypoint k, the first-order approximation around the driving keypoint
(Eq. 4)::

    T_{S<-D}(z) ~= T_{S<-R}(p_k) + J_k (z - T_{D<-R}(p_k)),   J_k = J_{S,k} J_{D,k}^{-1}

warps the source by each, and an hourglass sees the warped copies next to the heatmap
differences H_k(z) = exp(-|T_D(p_k) - z|^2 / s) - exp(-|T_S(p_k) - z|^2 / s) (Eq. 6). It predicts
soft masks M_k (softmax over K+1) that combine the sparse motions into one dense motion (Eq. 5)
and an occlusion map (Sec. 3.3) telling the generator which pixels must be inpainted.

Convention: keypoints and grids are (x, y) in [-1, 1]; ``grid_sample(align_corners=True)``.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from talkinghead.config import StrictConfig
from talkinghead.errors import ConfigError
from talkinghead.models.blocks import AntiAliasInterpolation2d, Hourglass, kp2gaussian, make_coordinate_grid
from talkinghead.models.modeling import PretrainedModel


@dataclass
class DenseMotionConfig(StrictConfig):
    """Architecture of :class:`DenseMotionNetwork` (FOMM ``dense_motion_params``)."""

    num_kp: int = 10
    num_channels: int = 3
    block_expansion: int = 64
    max_features: int = 1024
    num_blocks: int = 5
    scale_factor: float = 0.25
    """Motion is estimated at this fraction of the image size (then upsampled by the generator)."""
    kp_variance: float = 0.01
    estimate_occlusion_map: bool = True
    norm: str = "group"

    def __post_init__(self) -> None:
        if self.num_kp < 1 or self.block_expansion < 1 or self.num_blocks < 1:
            raise ConfigError(None, "num_kp, block_expansion and num_blocks must be >= 1")
        if not 0 < self.scale_factor <= 1 or self.kp_variance <= 0:
            raise ConfigError(None, "scale_factor must be in (0, 1] and kp_variance > 0")


def inverse2x2(m: torch.Tensor) -> torch.Tensor:
    """Closed-form inverse of (..., 2, 2) matrices (exportable to ONNX, unlike ``torch.inverse``)."""
    a, b, c, d = m[..., 0, 0], m[..., 0, 1], m[..., 1, 0], m[..., 1, 1]
    det = a * d - b * c
    det = torch.where(det.abs() < 1e-6, torch.full_like(det, 1e-6) * torch.sign(det + 1e-12), det)
    inv = torch.stack([torch.stack([d, -b], -1), torch.stack([-c, a], -1)], -2)
    return inv / det[..., None, None]


class DenseMotionNetwork(PretrainedModel):
    """(source, kp_source, kp_driving) -> {'deformation': (B, h, w, 2), 'mask', 'occlusion_map', ...}."""

    model_type = "dense_motion"
    config_class = DenseMotionConfig

    def __init__(self, config: DenseMotionConfig):
        super().__init__(config)
        c = config
        self.hourglass = Hourglass(c.block_expansion, (c.num_kp + 1) * (c.num_channels + 1), c.num_blocks,
                                   c.max_features, c.norm)
        self.mask = nn.Conv2d(self.hourglass.out_channels, c.num_kp + 1, kernel_size=7, padding=3)
        self.occlusion = (nn.Conv2d(self.hourglass.out_channels, 1, kernel_size=7, padding=3)
                          if c.estimate_occlusion_map else None)
        self.down = AntiAliasInterpolation2d(c.num_channels, c.scale_factor)

    def sparse_motions(self, hw: tuple[int, int], kp_s: torch.Tensor, kp_d: torch.Tensor,
                       jac_s: torch.Tensor | None, jac_d: torch.Tensor | None) -> torch.Tensor:
        """(B, K+1, h, w, 2): identity, then T_{S<-D} around each keypoint (Eq. 4)."""
        B, K = kp_d.shape[:2]
        h, w = hw
        grid = make_coordinate_grid(h, w, dtype=kp_d.dtype, device=kp_d.device).view(1, 1, h, w, 2)
        z = grid - kp_d.view(B, K, 1, 1, 2)  # z - T_D(p_k)
        if jac_s is not None and jac_d is not None:
            J = torch.matmul(jac_s, inverse2x2(jac_d))  # J_k = J_S J_D^-1, (B, K, 2, 2)
            z = torch.einsum("bkij,bkhwj->bkhwi", J, z)
        d2s = z + kp_s.view(B, K, 1, 1, 2)
        return torch.cat([grid.expand(B, 1, h, w, 2), d2s], dim=1)

    def forward(self, source: torch.Tensor, kp_source: torch.Tensor, kp_driving: torch.Tensor,
                jac_source: torch.Tensor | None = None, jac_driving: torch.Tensor | None = None
                ) -> dict[str, torch.Tensor]:
        c = self.config
        x = self.down(source)
        B, C, h, w = x.shape
        K = c.num_kp
        # Eq. 6: heatmap differences, with a zero map for the background.
        heat = kp2gaussian(kp_driving, (h, w), c.kp_variance) - kp2gaussian(kp_source, (h, w), c.kp_variance)
        heat = torch.cat([torch.zeros_like(heat[:, :1]), heat], dim=1).unsqueeze(2)  # (B, K+1, 1, h, w)
        motions = self.sparse_motions((h, w), kp_source, kp_driving, jac_source, jac_driving)
        # Source warped by each sparse motion: (B*(K+1), C, h, w) -> (B, K+1, C, h, w).
        rep = x.unsqueeze(1).expand(B, K + 1, C, h, w).reshape(B * (K + 1), C, h, w)
        deformed = F.grid_sample(rep, motions.reshape(B * (K + 1), h, w, 2), align_corners=True)
        deformed = deformed.view(B, K + 1, C, h, w)
        feat = self.hourglass(torch.cat([heat, deformed], dim=2).view(B, (K + 1) * (C + 1), h, w))
        mask = F.softmax(self.mask(feat), dim=1)  # (B, K+1, h, w): M_k of Eq. 5
        deformation = (motions * mask.unsqueeze(-1)).sum(dim=1)  # (B, h, w, 2)
        out = {"deformation": deformation, "mask": mask, "sparse_deformed": deformed}
        if self.occlusion is not None:
            out["occlusion_map"] = torch.sigmoid(self.occlusion(feat))  # (B, 1, h, w), 1 = visible
        return out
