"""Few-shot talking-head model (Zakharov et al. 2019, "Few-Shot Adversarial Learning of Realistic
Neural Talking Head Models", Sec. 3).

* :class:`Embedder` ``E(x, y; phi)``: a frame and its landmark image -> an N-d vector; a person's
  embedding is the mean over K frames, ``e_hat = 1/K sum_k E(x_k, y_k)`` (Eq. 1).
* :class:`FewShotGenerator` ``G(y, e_hat; psi, P)``: landmark image -> frame. Downsampling residual
  blocks with instance norm, residual and upsampling blocks whose AdaIN scales/biases are
  ``psi_hat = P e_hat`` (Sec. 3.2). After fine-tuning (Sec. 3.3) the person-specific ``psi'``
  (initialised to ``P e_hat``) is a parameter of the generator itself (``config.person = True``).
* :class:`ProjectionDiscriminator` ``D(x, y, i; theta, W, w_0, b)``: ``V(x, y)`` is a residual
  downsampling network + sum pooling, and the realism score is ``V^T (W_i + w_0) + b`` (Eq. 3,
  projection discriminator of Miyato & Koyama 2018). In fine-tuning ``W_i + w_0`` is replaced by
  ``w'``, initialised to ``w_0 + e_hat_new``.

Convention: images (B, 3, H, W) in [0, 1]; landmark images (B, 3, H, W) in [0, 1] drawn by
:func:`talkinghead.models.blocks.landmark_image` at the model's ``image_size``.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from talkinghead.config import StrictConfig
from talkinghead.errors import ConfigError
from talkinghead.models.blocks import AdaIN, AdaINResBlock, ResDown, ResUpAdaIN, check_shape
from talkinghead.models.modeling import PretrainedModel


@dataclass
class FewShotConfig(StrictConfig):
    """Architecture shared by the embedder, generator and discriminator of the few-shot model."""

    image_size: int = 64
    """Working resolution (px); a multiple of ``2**num_down``."""
    channels: int = 32
    """Width of the first level; doubles per downsampling, capped at ``max_channels``."""
    max_channels: int = 256
    num_down: int = 3
    num_res: int = 2
    """AdaIN residual blocks at the bottleneck of the generator."""
    embed_dim: int = 256
    n_videos: int = 1
    """Rows of the discriminator's W (one per training video; Eq. 3)."""
    person: bool = False
    """Generator / discriminator after fine-tuning: psi' and w' are own parameters."""
    sn: bool = True
    """Spectral norm in the embedder and discriminator."""

    def __post_init__(self) -> None:
        if self.image_size % (2 ** self.num_down):
            raise ConfigError(None, f"image_size {self.image_size} must be divisible by 2**num_down")
        if min(self.channels, self.max_channels, self.num_down, self.embed_dim, self.n_videos) < 1:
            raise ConfigError(None, "channels, max_channels, num_down, embed_dim and n_videos must be >= 1")
        if self.num_res < 0:
            raise ConfigError(None, "num_res must be >= 0")

    def widths(self) -> list[int]:
        return [min(self.max_channels, self.channels * 2 ** i) for i in range(self.num_down + 1)]


class _Encoder(nn.Module):
    """cat(x, y) -> residual downsampling -> ReLU -> global pooling -> (B, embed_dim).

    The paper sum-pools; we average (same up to a constant factor at a fixed resolution) so the
    projection scores of Eq. 3 stay O(1) and do not grow with the image size.
    """

    def __init__(self, c: FewShotConfig):
        super().__init__()
        w = c.widths()
        self.first = ResDown(6, w[0], sn=c.sn, down=False)
        self.blocks = nn.ModuleList(ResDown(w[i], w[i + 1], sn=c.sn) for i in range(c.num_down))
        self.last = ResDown(w[-1], c.embed_dim, sn=c.sn, down=False)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        h = self.first(torch.cat([x, y], dim=1))
        feats = [h]
        for blk in self.blocks:
            h = blk(h)
            feats.append(h)
        h = self.last(h)
        feats.append(h)
        return feats, F.relu(h).mean(dim=(2, 3))


class Embedder(PretrainedModel):
    """``E(x, y)`` (Eq. 1): (B, 3, H, W) frames + landmark images -> (B, embed_dim)."""

    model_type = "fewshot_embedder"
    config_class = FewShotConfig

    def __init__(self, config: FewShotConfig):
        super().__init__(config)
        self.net = _Encoder(config)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.net(x, y)[1]

    def embed(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Person embedding from K frames: (K, 3, H, W) x 2 -> (1, embed_dim), the mean of Eq. 1."""
        return self(x, y).mean(dim=0, keepdim=True)


class _OutAdaIN(nn.Module):
    """AdaIN + ReLU before the output conv; ``n_params = 2 C``."""

    def __init__(self, c: int):
        super().__init__()
        self.norm = AdaIN(c)
        self.n_params = 2 * c

    def forward(self, x: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        g, b = p.chunk(2, dim=1)
        return F.relu(self.norm(x, 1 + g, b))


class FewShotGenerator(PretrainedModel):
    """``G(y, e)``: landmark image (B, 3, H, W) + embedding (B, D) -> frame (B, 3, H, W) in [0, 1]."""

    model_type = "fewshot_generator"
    config_class = FewShotConfig

    def __init__(self, config: FewShotConfig):
        super().__init__(config)
        c = config
        w = c.widths()
        self.first = nn.Conv2d(3, w[0], 7, padding=3)
        self.down = nn.ModuleList(ResDown(w[i], w[i + 1], norm="instance") for i in range(c.num_down))
        self.res = nn.ModuleList(AdaINResBlock(w[-1]) for _ in range(c.num_res))
        self.up = nn.ModuleList(ResUpAdaIN(w[i + 1], w[i]) for i in reversed(range(c.num_down)))
        # The last normalisation is adaptive too: a plain instance norm here would strip the
        # per-person colour the AdaIN blocks inject, and every identity would look the same.
        self.out_norm = _OutAdaIN(w[0])
        self.out = nn.Conv2d(w[0], 3, 3, padding=1)
        self.adain = [*self.res, *self.up, self.out_norm]
        self.n_params = sum(b.n_params for b in self.adain)
        # psi_hat = P e_hat (Sec. 3.2); small init so AdaIN starts near identity (gamma = 1 + ...).
        self.P = nn.Linear(c.embed_dim, self.n_params, bias=False)
        nn.init.normal_(self.P.weight, std=0.02 / max(1.0, c.embed_dim ** 0.5))
        self.psi = nn.Parameter(torch.zeros(self.n_params)) if c.person else None

    def adain_params(self, e: torch.Tensor) -> torch.Tensor:
        """``psi_hat = P e_hat`` (B, n_params)."""
        return self.P(e)

    def forward(self, y: torch.Tensor, e: torch.Tensor | None = None, psi: torch.Tensor | None = None) -> torch.Tensor:
        check_shape(y, (None, 3, None, None), "landmark image")
        if psi is None:
            if e is not None:
                psi = self.adain_params(e)
            elif self.psi is not None:
                psi = self.psi[None].expand(y.shape[0], -1)
            else:
                raise ValueError("a meta-learnt generator needs an embedding e (or psi)")
        h = self.first(y)
        for blk in self.down:
            h = blk(h)
        params = torch.split(psi, [b.n_params for b in self.adain], dim=1)
        for blk, p in zip(self.adain, params):
            h = blk(h, p)  # the last one is the output AdaIN (+ ReLU)
        return torch.sigmoid(self.out(h))

    def personalize(self, e: torch.Tensor) -> "FewShotGenerator":
        """Fine-tuning initialisation (Sec. 3.3): a copy whose own psi' = P e_hat (e: (1, D))."""
        cfg = FewShotConfig.from_dict({**self.config.to_dict(), "person": True})
        g = FewShotGenerator(cfg)
        g.load_state_dict({**copy.deepcopy(self.state_dict()), "psi": self.adain_params(e).detach()[0]})
        return g


class ProjectionDiscriminator(PretrainedModel):
    """``D(x, y, i)`` (Eq. 3): returns (features of V, realism score (B,))."""

    model_type = "fewshot_discriminator"
    config_class = FewShotConfig

    def __init__(self, config: FewShotConfig):
        super().__init__(config)
        c = config
        self.V = _Encoder(c)
        self.W = nn.Parameter(torch.randn(c.n_videos, c.embed_dim) * 0.02)
        self.w0 = nn.Parameter(torch.zeros(c.embed_dim))
        self.b = nn.Parameter(torch.zeros(()))
        self.w_prime = nn.Parameter(torch.zeros(c.embed_dim)) if c.person else None

    def forward(self, x: torch.Tensor, y: torch.Tensor, idx: torch.Tensor | None = None
                ) -> tuple[list[torch.Tensor], torch.Tensor]:
        feats, v = self.V(x, y)
        if self.w_prime is not None:
            w = self.w_prime[None].expand(v.shape[0], -1)
        elif idx is not None:
            w = self.W[idx] + self.w0
        else:
            raise ValueError("a meta-learnt discriminator needs video indices")
        return feats, (v * w).sum(dim=1) + self.b

    def personalize(self, e: torch.Tensor) -> "ProjectionDiscriminator":
        """Fine-tuning initialisation (Sec. 3.3): a copy with w' = w_0 + e_hat."""
        cfg = FewShotConfig.from_dict({**self.config.to_dict(), "person": True})
        d = ProjectionDiscriminator(cfg)
        d.load_state_dict({**copy.deepcopy(self.state_dict()), "w_prime": (self.w0 + e[0]).detach()})
        return d
