"""Building blocks shared by the neural renderer's networks, and the landmark image they condition on.

Tensor convention: images are (B, C, H, W) float in [0, 1] (RGB); coordinate grids and keypoints
are (x, y) in [-1, 1] with ``align_corners=True`` semantics (-1 = centre of the first pixel, +1 =
centre of the last), the convention of ``torch.nn.functional.grid_sample(align_corners=True)``
and of first-order-model (Siarohin et al. 2019), whose blocks these follow.

Normalisation is per sample by default (GroupNorm / InstanceNorm): data-parallel training then
gives exactly the gradients of one process on the whole batch (BatchNorm's batch statistics would
differ per rank; ``norm="batch"`` is available for single-process use).
"""
from __future__ import annotations

import math
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

Norm = Literal["group", "instance", "batch", "none"]


def make_norm(kind: str, channels: int, affine: bool = True) -> nn.Module:
    """A normalisation layer over ``channels`` (``group``: up to 8 groups that divide C)."""
    if kind == "group":
        groups = math.gcd(channels, 8)
        return nn.GroupNorm(groups, channels, affine=affine)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=affine)
    if kind == "batch":
        return nn.BatchNorm2d(channels, affine=affine)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm {kind!r}")


def check_shape(x: torch.Tensor, shape: tuple, name: str = "input") -> None:
    """Raise ``ValueError`` unless ``x.shape`` matches ``shape`` (None = any size), e.g. (None, 3, None, None)."""
    if x.dim() != len(shape) or any(s is not None and s != d for s, d in zip(shape, x.shape)):
        want = "x".join("*" if s is None else str(s) for s in shape)
        raise ValueError(f"{name}: expected shape {want}, got {tuple(x.shape)}")


# -- convolution blocks (FOMM modules/util.py layout) ----------------------------------------------
class ResBlock2d(nn.Module):
    """Pre-activation residual block, resolution and channels preserved."""

    def __init__(self, c: int, kernel: int = 3, norm: str = "group"):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, kernel, padding=kernel // 2)
        self.conv2 = nn.Conv2d(c, c, kernel, padding=kernel // 2)
        self.norm1, self.norm2 = make_norm(norm, c), make_norm(norm, c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.relu(self.norm1(x)))
        h = self.conv2(F.relu(self.norm2(h)))
        return x + h


class DownBlock2d(nn.Module):
    """conv -> norm -> relu -> 2x2 average pool (halves H and W)."""

    def __init__(self, c_in: int, c_out: int, kernel: int = 3, norm: str = "group"):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2)
        self.norm = make_norm(norm, c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(F.relu(self.norm(self.conv(x))), 2)


class UpBlock2d(nn.Module):
    """2x nearest upsample -> conv -> norm -> relu (doubles H and W)."""

    def __init__(self, c_in: int, c_out: int, kernel: int = 3, norm: str = "group"):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2)
        self.norm = make_norm(norm, c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.norm(self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))))


class SameBlock2d(nn.Module):
    """conv -> norm -> relu at the same resolution."""

    def __init__(self, c_in: int, c_out: int, kernel: int = 3, norm: str = "group"):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2)
        self.norm = make_norm(norm, c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.norm(self.conv(x)))


class Hourglass(nn.Module):
    """U-Net style encoder-decoder (FOMM's ``Hourglass``): ``out_channels = block_expansion + in_features``.

    ``num_blocks`` down blocks (channels ``min(max_features, block_expansion * 2**(i+1))``), then
    as many up blocks with skip concatenation; H and W must be divisible by ``2**num_blocks``.
    """

    def __init__(self, block_expansion: int, in_features: int, num_blocks: int = 3, max_features: int = 256,
                 norm: str = "group"):
        super().__init__()
        chans = [in_features] + [min(max_features, block_expansion * 2 ** (i + 1)) for i in range(num_blocks)]
        self.down = nn.ModuleList(DownBlock2d(chans[i], chans[i + 1], norm=norm) for i in range(num_blocks))
        up = []
        for i in reversed(range(num_blocks)):
            c_in = chans[i + 1] * (1 if i == num_blocks - 1 else 2)
            c_out = min(max_features, block_expansion * 2 ** i)
            up.append(UpBlock2d(c_in, c_out, norm=norm))  # c_out + skip chans[i] = 2 c_out below the top
        self.up = nn.ModuleList(up)
        self.num_blocks = num_blocks
        self.out_channels = block_expansion + in_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = [x]
        for blk in self.down:
            skips.append(blk(skips[-1]))
        out = skips.pop()
        for blk in self.up:
            out = blk(out)
            out = torch.cat([out, skips.pop()], dim=1)  # (B, c_up + c_skip, h, w)
        return out


class AntiAliasInterpolation2d(nn.Module):
    """Gaussian blur then subsample by ``scale`` (FOMM): a band-limited image pyramid level."""

    def __init__(self, channels: int, scale: float):
        super().__init__()
        sigma = (1 / scale - 1) / 2
        ks = 2 * round(sigma * 4) + 1
        self.ka = ks // 2
        self.kb = self.ka - 1 if ks % 2 == 0 else self.ka
        ax = torch.arange(ks, dtype=torch.float32)
        g = torch.exp(-((ax - (ks - 1) / 2) ** 2) / (2 * max(sigma, 1e-6) ** 2))
        k2 = torch.outer(g, g)
        k2 = k2 / k2.sum()
        self.register_buffer("weight", k2.view(1, 1, ks, ks).repeat(channels, 1, 1, 1), persistent=False)
        self.groups, self.scale = channels, scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.scale == 1.0:
            return x
        x = F.pad(x, (self.ka, self.kb, self.ka, self.kb))
        x = F.conv2d(x, self.weight.to(x.dtype), groups=self.groups)
        return F.interpolate(x, scale_factor=self.scale, mode="nearest")


# -- keypoint geometry -----------------------------------------------------------------------------
def make_coordinate_grid(h: int, w: int, dtype=torch.float32, device=None) -> torch.Tensor:
    """(h, w, 2) grid of (x, y) in [-1, 1], pixel centres (align_corners=True convention)."""
    x = torch.linspace(-1, 1, w, dtype=dtype, device=device)
    y = torch.linspace(-1, 1, h, dtype=dtype, device=device)
    yy, xx = torch.meshgrid(y, x, indexing="ij")
    return torch.stack([xx, yy], dim=-1)


def kp2gaussian(kp: torch.Tensor, hw: tuple[int, int], variance: float) -> torch.Tensor:
    """Gaussian blobs at keypoints: (B, K, 2) in [-1, 1] -> (B, K, h, w), peak 1 (FOMM Eq. 6 terms)."""
    grid = make_coordinate_grid(*hw, dtype=kp.dtype, device=kp.device)  # (h, w, 2)
    diff = grid[None, None] - kp[:, :, None, None, :]  # (B, K, h, w, 2)
    return torch.exp(-0.5 * (diff ** 2).sum(-1) / variance)


def heatmap_to_keypoints(heatmap: torch.Tensor) -> torch.Tensor:
    """Soft-argmax: (B, K, h, w) probability maps (summing to 1) -> (B, K, 2) expected (x, y) in [-1, 1]."""
    grid = make_coordinate_grid(*heatmap.shape[2:], dtype=heatmap.dtype, device=heatmap.device)
    return (heatmap[..., None] * grid[None, None]).sum(dim=(2, 3))


# -- adaptive instance normalisation (Huang & Belongie 2017; Zakharov et al. 2019 Sec. 3.2) -----------
class AdaIN(nn.Module):
    """Instance norm whose per-channel scale and bias are given at call time: ``gamma * IN(x) + beta``."""

    def __init__(self, channels: int):
        super().__init__()
        self.channels = channels
        self.norm = nn.InstanceNorm2d(channels, affine=False)

    def forward(self, x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
        return self.norm(x) * gamma[:, :, None, None] + beta[:, :, None, None]


class AdaINResBlock(nn.Module):
    """Residual block with AdaIN after each conv (Zakharov et al. 2019, after Brock et al. 2019).

    ``n_params`` = 4 C: (gamma1, beta1, gamma2, beta2), sliced from the generator's projected embedding.
    """

    def __init__(self, c: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1)
        self.n1, self.n2 = AdaIN(c), AdaIN(c)
        self.n_params = 4 * c

    def forward(self, x: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        g1, b1, g2, b2 = p.chunk(4, dim=1)  # each (B, C)
        h = self.conv1(F.relu(self.n1(x, 1 + g1, b1)))
        h = self.conv2(F.relu(self.n2(h, 1 + g2, b2)))
        return x + h


class ResDown(nn.Module):
    """Residual downsampling block (BigGAN-style, Zakharov et al. 2019 embedder / discriminator)."""

    def __init__(self, c_in: int, c_out: int, sn: bool = False, norm: str = "none", down: bool = True):
        super().__init__()
        wrap = nn.utils.spectral_norm if sn else (lambda m: m)
        self.c1 = wrap(nn.Conv2d(c_in, c_out, 3, padding=1))
        self.c2 = wrap(nn.Conv2d(c_out, c_out, 3, padding=1))
        self.skip = wrap(nn.Conv2d(c_in, c_out, 1))
        self.n1, self.n2 = make_norm(norm, c_in), make_norm(norm, c_out)
        self.down = down

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.c2(F.relu(self.n2(self.c1(F.relu(self.n1(x))))))
        s = self.skip(x)
        if self.down:
            h, s = F.avg_pool2d(h, 2), F.avg_pool2d(s, 2)
        return h + s


class ResUpAdaIN(nn.Module):
    """Residual upsampling block with AdaIN (generator decoder); ``n_params = 2 c_in + 2 c_out``."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.c1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.c2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1)
        self.n1, self.n2 = AdaIN(c_in), AdaIN(c_out)
        self.c_in, self.c_out = c_in, c_out
        self.n_params = 2 * c_in + 2 * c_out

    def forward(self, x: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        g1, b1, g2, b2 = torch.split(p, [self.c_in, self.c_in, self.c_out, self.c_out], dim=1)
        up = F.interpolate(x, scale_factor=2.0, mode="nearest")
        h = self.c1(F.relu(self.n1(up, 1 + g1, b1)))
        h = self.c2(F.relu(self.n2(h, 1 + g2, b2)))
        return h + self.skip(up)


# -- landmark images (the conditioning input of the refiner and the few-shot generator) ----------------
# Zakharov et al. 2019 rasterise landmarks as coloured line segments; we draw 3 channels:
# 0 = face oval, brows and nose; 1 = eyes and irises; 2 = lips, with the mouth opening filled.
_NOSE = [168, 6, 197, 195, 5, 4, 1, 19, 94, 2]
_NOSTRILS = [98, 97, 2, 326, 327]


def landmark_image(points: np.ndarray, size: int, thickness: float | None = None) -> np.ndarray:
    """Rasterise 478 mediapipe landmarks (crop px, (x, y)) into a (size, size, 3) uint8 image.

    Lines are anti-aliased; thickness defaults to ``max(1, size / 128)`` px so the picture looks
    the same at every resolution (render at the model's size, not downsampled).
    """
    import cv2

    from talkinghead.face import topology as T

    p = np.asarray(points, np.float64)[:, :2]
    if p.shape[0] < T.N_LANDMARKS:
        raise ValueError(f"expected 478 landmarks, got {p.shape}")
    th = max(1, int(round(thickness if thickness is not None else size / 128)))
    chans = [np.zeros((size, size), np.uint8) for _ in range(3)]

    def poly(c, idx, closed, fill=False):
        pts = np.round(p[idx] * 16).astype(np.int32)[None]
        if fill:
            cv2.fillPoly(chans[c], pts, 255, cv2.LINE_AA, shift=4)
        cv2.polylines(chans[c], pts, closed, 255, th, cv2.LINE_AA, shift=4)

    poly(0, T.FACE_OVAL, True)
    poly(0, T.LEFT_BROW, False)
    poly(0, T.RIGHT_BROW, False)
    poly(0, _NOSE, False)
    poly(0, _NOSTRILS, False)
    poly(1, T.LEFT_EYE, True)
    poly(1, T.RIGHT_EYE, True)
    for iris in (T.LEFT_IRIS, T.RIGHT_IRIS):
        poly(1, iris[1:], True, fill=True)
    poly(2, T.OUTER_LIPS, True)
    poly(2, T.INNER_LIPS, True, fill=True)
    return np.stack(chans, axis=-1)


def to_tensor(img: np.ndarray) -> torch.Tensor:
    """(H, W, C) uint8 -> (1, C, H, W) float32 in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)[None].float() / 255.0


def to_image(x: torch.Tensor) -> np.ndarray:
    """(1, C, H, W) or (C, H, W) float in [0, 1] -> (H, W, C) uint8 (rounded, clipped)."""
    if x.dim() == 4:
        x = x[0]
    return (x.detach().float().clamp(0, 1) * 255 + 0.5).to(torch.uint8).permute(1, 2, 0).cpu().numpy()
