"""Occlusion-aware generator (FOMM: Siarohin et al. 2019, Sec. 3.3) and keypoint motion transfer.

The source is encoded, its feature map warped by the dense motion ``T_{S<-D}`` and multiplied by
the occlusion map (Eq. 7: ``xi' = O (.) f_w(xi, T)``), then decoded; occluded regions are
inpainted by the decoder. :class:`OcclusionAwareGenerator` owns its dense motion network, so one
folder (``config.json`` + ``model.safetensors``) holds everything but the keypoint detector.

:func:`relative_keypoints` is the relative motion transfer of Sec. 3.5 / Eq. 8.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from talkinghead.config import StrictConfig
from talkinghead.errors import ConfigError
from talkinghead.models.blocks import DownBlock2d, ResBlock2d, SameBlock2d, UpBlock2d, check_shape
from talkinghead.models.dense_motion import DenseMotionConfig, DenseMotionNetwork, inverse2x2
from talkinghead.models.modeling import PretrainedModel


@dataclass
class GeneratorConfig(StrictConfig):
    """Architecture of :class:`OcclusionAwareGenerator` (FOMM ``generator_params``)."""

    num_kp: int = 10
    num_channels: int = 3
    block_expansion: int = 64
    max_features: int = 512
    num_down_blocks: int = 2
    num_bottleneck_blocks: int = 6
    estimate_jacobian: bool = True
    norm: str = "group"
    output_skip: bool = False
    """False: FOMM (the decoder paints every pixel). True: ``O * warp(source) + (1 - O) * decoded``
    with the occlusion map O at full resolution, so the decoder only inpaints what the warp cannot
    show: trains in minutes instead of days (our CPU configs; per-sample norms also strip the
    global colour a from-scratch decoder would have to carry through)."""
    dense_motion: DenseMotionConfig = field(default_factory=DenseMotionConfig)
    """Its ``num_kp`` and ``num_channels`` always follow the generator's own."""

    def __post_init__(self) -> None:
        if isinstance(self.dense_motion, dict):
            self.dense_motion = DenseMotionConfig.from_dict(self.dense_motion)
        if self.dense_motion.num_kp != self.num_kp or self.dense_motion.num_channels != self.num_channels:
            self.dense_motion = dataclasses.replace(self.dense_motion, num_kp=self.num_kp,
                                                    num_channels=self.num_channels)
        if self.block_expansion < 1 or self.num_down_blocks < 1:
            raise ConfigError(None, "block_expansion and num_down_blocks must be >= 1")


def warp(x: torch.Tensor, deformation: torch.Tensor) -> torch.Tensor:
    """Backward-warp ``x`` (B, C, H, W) by a (B, h, w, 2) sampling grid, resized to (H, W) when needed."""
    H, W = x.shape[2:]
    if deformation.shape[1:3] != (H, W):
        deformation = F.interpolate(deformation.permute(0, 3, 1, 2), size=(H, W), mode="bilinear",
                                    align_corners=True).permute(0, 2, 3, 1)
    return F.grid_sample(x, deformation, align_corners=True)


class OcclusionAwareGenerator(PretrainedModel):
    """(source, kp_source, kp_driving[, jacobians]) -> {'prediction': (B, 3, H, W) in [0, 1], ...}."""

    model_type = "fomm_generator"
    config_class = GeneratorConfig

    def __init__(self, config: GeneratorConfig):
        super().__init__(config)
        c = config
        self.dense_motion = DenseMotionNetwork(c.dense_motion)
        self.first = SameBlock2d(c.num_channels, c.block_expansion, kernel=7, norm=c.norm)
        ch = [min(c.max_features, c.block_expansion * 2 ** i) for i in range(c.num_down_blocks + 1)]
        self.down_blocks = nn.ModuleList(DownBlock2d(ch[i], ch[i + 1], norm=c.norm) for i in range(c.num_down_blocks))
        self.bottleneck = nn.Sequential(*(ResBlock2d(ch[-1], norm=c.norm) for _ in range(c.num_bottleneck_blocks)))
        self.up_blocks = nn.ModuleList(UpBlock2d(ch[i + 1], ch[i], norm=c.norm)
                                       for i in reversed(range(c.num_down_blocks)))
        self.final = nn.Conv2d(c.block_expansion, c.num_channels, kernel_size=7, padding=3)

    def forward(self, source: torch.Tensor, kp_source: torch.Tensor, kp_driving: torch.Tensor,
                jac_source: torch.Tensor | None = None, jac_driving: torch.Tensor | None = None
                ) -> dict[str, torch.Tensor]:
        check_shape(source, (None, self.config.num_channels, None, None), "source")
        if not self.config.estimate_jacobian:
            jac_source = jac_driving = None
        out = self.first(source)
        for blk in self.down_blocks:
            out = blk(out)
        motion = self.dense_motion(source, kp_source, kp_driving, jac_source, jac_driving)
        out = warp(out, motion["deformation"])
        if "occlusion_map" in motion:
            occ = motion["occlusion_map"]
            if occ.shape[2:] != out.shape[2:]:
                occ = F.interpolate(occ, size=out.shape[2:], mode="bilinear", align_corners=True)
            out = out * occ  # Eq. 7
        out = self.bottleneck(out)
        for blk in self.up_blocks:
            out = blk(out)
        pred = torch.sigmoid(self.final(out))
        deformed = warp(source, motion["deformation"])
        if self.config.output_skip and "occlusion_map" in motion:
            occ = F.interpolate(motion["occlusion_map"], size=pred.shape[2:], mode="bilinear", align_corners=True)
            pred = occ * deformed + (1 - occ) * pred
        return {"prediction": pred, "deformed": deformed, **motion}


def relative_keypoints(kp_source: dict, kp_driving: dict, kp_driving_initial: dict,
                       adapt_jacobian: bool = True) -> dict:
    """Relative motion transfer (Eq. 8): the driver's motion since its first frame, applied to the source.

    ``p_new = p_S + (p_D - p_D1)`` and ``J_new = J_D J_D1^-1 J_S``. (FOMM also rescales the
    displacement by the ratio of the keypoint convex hulls; we leave scale to the crop alignment.)
    """
    out = {"value": kp_source["value"] + (kp_driving["value"] - kp_driving_initial["value"])}
    if adapt_jacobian and "jacobian" in kp_driving and "jacobian" in kp_source:
        jd = torch.matmul(kp_driving["jacobian"], inverse2x2(kp_driving_initial["jacobian"]))
        out["jacobian"] = torch.matmul(jd, kp_source["jacobian"])
    elif "jacobian" in kp_source:
        out["jacobian"] = kp_source["jacobian"]
    return out
