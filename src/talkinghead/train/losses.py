"""Training losses, and the "full models" that compute them (FOMM's ``GeneratorFullModel`` design).

Everything here needs no downloaded weights: the perceptual loss of the papers (VGG-19 / VGGFace)
is replaced by an L1 image pyramid plus the discriminator's feature matching (pix2pixHD, Wang et
al. 2018), and the adversarial loss is the hinge loss (Lim & Ye 2017; as in Zakharov et al. 2019).

Each ``*GeneratorLoss`` module owns the trainable generator-side networks and returns
``(total, logs, outputs)``; the discriminator is passed in but is *not* a submodule (its
parameters belong to the discriminator's optimiser and DDP wrapper) and is frozen during the
generator step. Each ``*DiscriminatorLoss`` owns the discriminator and scores real vs detached fakes.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from talkinghead.config import StrictConfig
from talkinghead.models.blocks import AntiAliasInterpolation2d, make_coordinate_grid
from talkinghead.models.dense_motion import inverse2x2


@dataclass
class LossConfig(StrictConfig):
    """Loss weights (0 disables a term)."""

    l1: float = 1.0
    """Plain L1 between output and target (the reported reconstruction error)."""
    pyramid: float = 1.0
    """L1 summed over an anti-aliased image pyramid (the weight-free stand-in for a perceptual loss)."""
    pyramid_scales: tuple[float, ...] = (1.0, 0.5, 0.25, 0.125)
    ssim: float = 0.0
    """1 - SSIM (Wang et al. 2004, 11x11 Gaussian window, sigma 1.5): structure, as the eval reports it."""
    delta: float = 0.0
    """Refiner: weight of mean |correction| (an L1 penalty on the residual: the refiner only moves
    pixels where it is confident enough that the move lowers the error; 0: off)."""
    adversarial: float = 0.0
    """Hinge GAN loss (needs a discriminator in the config)."""
    feature_matching: float = 10.0
    """L1 between discriminator features of real and generated images (only with a discriminator)."""
    equivariance_value: float = 10.0
    """FOMM Sec. 3.4: keypoints of a randomly warped frame map back to the frame's keypoints."""
    equivariance_jacobian: float = 10.0
    match: float = 80.0
    """Zakharov et al. L_MCH: L1 between the embedding and the discriminator's video row W_i."""
    sigma_affine: float = 0.05
    sigma_tps: float = 0.005
    points_tps: int = 5

    def __post_init__(self) -> None:
        self.pyramid_scales = tuple(float(s) for s in self.pyramid_scales)


# -- elementary losses -------------------------------------------------------------------------------
def hinge_d(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """Discriminator hinge loss: E[max(0, 1 - D(x))] + E[max(0, 1 + D(G(z)))]."""
    return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()


def hinge_g(fake: torch.Tensor) -> torch.Tensor:
    """Generator hinge loss: -E[D(G(z))]."""
    return -fake.mean()


def feature_matching(real: list[torch.Tensor], fake: list[torch.Tensor]) -> torch.Tensor:
    """Mean over layers of L1(real features (detached), fake features)."""
    return sum(F.l1_loss(f, r.detach()) for r, f in zip(real, fake)) / max(len(real), 1)


def ssim_loss(pred: torch.Tensor, target: torch.Tensor, window: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """1 - mean SSIM over channels (images in [0, 1]; C1 = 0.01^2, C2 = 0.03^2)."""
    c = pred.shape[1]
    x = torch.arange(window, dtype=pred.dtype, device=pred.device) - (window - 1) / 2
    g = torch.exp(-x ** 2 / (2 * sigma ** 2))
    g = g / g.sum()
    k = (g[:, None] * g[None, :]).expand(c, 1, window, window).contiguous()

    def blur(t):
        return F.conv2d(t, k, groups=c)

    mu_x, mu_y = blur(pred), blur(target)
    sxx = blur(pred * pred) - mu_x ** 2
    syy = blur(target * target) - mu_y ** 2
    sxy = blur(pred * target) - mu_x * mu_y
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    s = ((2 * mu_x * mu_y + c1) * (2 * sxy + c2)) / ((mu_x ** 2 + mu_y ** 2 + c1) * (sxx + syy + c2))
    return 1.0 - s.mean()


class ImagePyramid(nn.Module):
    """Anti-aliased image pyramid; ``l1(pred, target)`` sums the per-level L1."""

    def __init__(self, scales: tuple[float, ...], channels: int = 3):
        super().__init__()
        self.levels = nn.ModuleList(AntiAliasInterpolation2d(channels, s) for s in scales)

    def l1(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return sum(F.l1_loss(lvl(pred), lvl(target)) for lvl in self.levels)


def _generators(seeds: torch.Tensor) -> list[torch.Generator]:
    return [torch.Generator().manual_seed(int(s)) for s in seeds.tolist()]


class RandomTransform:
    """FOMM's equivariance transform: a random affine map plus a thin-plate spline, per sample.

    Drawn from per-sample seeds, so a sample gets the same transform however the batch is split
    across processes. Coordinates are (x, y) in [-1, 1].
    """

    def __init__(self, seeds: torch.Tensor, sigma_affine: float, sigma_tps: float, points_tps: int):
        B = len(seeds)
        gens = _generators(seeds)
        self.theta = torch.stack([torch.eye(2, 3) + sigma_affine * torch.randn(2, 3, generator=g) for g in gens])
        self.ctrl = make_coordinate_grid(points_tps, points_tps).view(1, 1, -1, 2)
        self.params = torch.stack([sigma_tps * torch.randn(1, points_tps ** 2, generator=g) for g in gens])
        self.B = B

    def warp_coordinates(self, coords: torch.Tensor) -> torch.Tensor:
        """(B or 1, N, 2) -> (B, N, 2)."""
        theta, ctrl, params = (t.to(coords.device, coords.dtype) for t in (self.theta, self.ctrl, self.params))
        out = torch.einsum("bij,bnj->bni", theta[:, :, :2], coords.expand(self.B, -1, -1)) + theta[:, None, :, 2]
        d = (coords.view(coords.shape[0], -1, 1, 2) - ctrl).abs().sum(-1)  # (B|1, N, P) L1 distances
        u = d ** 2 * torch.log(d + 1e-6)  # TPS radial basis
        return out + (u * params).sum(dim=2, keepdim=True)  # FOMM adds the TPS term to x and y alike

    def transform_frame(self, frame: torch.Tensor) -> torch.Tensor:
        B, _, H, W = frame.shape
        grid = make_coordinate_grid(H, W, dtype=frame.dtype, device=frame.device).view(1, H * W, 2)
        grid = self.warp_coordinates(grid).view(B, H, W, 2)
        return F.grid_sample(frame, grid, padding_mode="reflection", align_corners=True)

    def jacobian(self, coords: torch.Tensor) -> torch.Tensor:
        """d warp / d coords at ``coords`` (B, K, 2) -> (B, K, 2, 2), differentiable (create_graph)."""
        if not coords.requires_grad:
            coords = coords.detach().requires_grad_(True)
        new = self.warp_coordinates(coords)
        gx = torch.autograd.grad(new[..., 0].sum(), coords, create_graph=True)[0]
        gy = torch.autograd.grad(new[..., 1].sum(), coords, create_graph=True)[0]
        return torch.stack([gx, gy], dim=-2)


def _frozen(module: nn.Module):
    """Context: parameters of ``module`` need no gradient (the discriminator during the G step)."""
    class _C:
        def __enter__(self):
            self.flags = [p.requires_grad for p in module.parameters()]
            for p in module.parameters():
                p.requires_grad_(False)

        def __exit__(self, *exc):
            for p, f in zip(module.parameters(), self.flags):
                p.requires_grad_(f)
    return _C()


def _adversarial(disc, cfg: LossConfig, real: torch.Tensor, fake: torch.Tensor, logs: dict, **kw) -> torch.Tensor:
    """Generator-side adversarial + feature-matching terms for a (multi-scale) discriminator."""
    if disc is None or (cfg.adversarial == 0 and cfg.feature_matching == 0):
        return fake.new_zeros(())
    total = fake.new_zeros(())
    with _frozen(disc):
        out_fake = _as_scales(disc(fake, **kw))
        with torch.no_grad():
            out_real = _as_scales(disc(real, **kw))
        adv = sum(hinge_g(s) for _, s in out_fake.values()) / len(out_fake)
        fm = sum(feature_matching(out_real[k][0], f) for k, (f, _) in out_fake.items()) / len(out_fake)
    logs["g_adv"], logs["g_fm"] = adv.detach(), fm.detach()
    total = total + cfg.adversarial * adv + cfg.feature_matching * fm
    return total


def _as_scales(out) -> dict:
    """A discriminator's output as {scale: (features, scores)} (single-scale ones get one key)."""
    return out if isinstance(out, dict) else {"s1": out}


class DiscriminatorLoss(nn.Module):
    """Hinge loss of a discriminator on (real, detached fake); owns the discriminator."""

    def __init__(self, disc: nn.Module, match: float = 0.0):
        super().__init__()
        self.disc = disc
        self.match = match

    def forward(self, real: torch.Tensor, fake: torch.Tensor, embedding: torch.Tensor | None = None,
                **kw) -> tuple[torch.Tensor, dict]:
        out_real = _as_scales(self.disc(real, **kw))
        out_fake = _as_scales(self.disc(fake.detach(), **kw))
        loss = sum(hinge_d(out_real[k][1], out_fake[k][1]) for k in out_real) / len(out_real)
        logs = {"d_hinge": loss.detach(),
                "d_real": sum(s.mean() for _, s in out_real.values()).detach() / len(out_real),
                "d_fake": sum(s.mean() for _, s in out_fake.values()).detach() / len(out_fake)}
        if embedding is not None and self.match > 0:  # Zakharov L_MCH also pulls W_i towards e_i
            mch = F.l1_loss(self.disc.W[kw["idx"]], embedding.detach())
            loss = loss + self.match * mch
            logs["d_match"] = mch.detach()
        return loss, logs


# -- full models ------------------------------------------------------------------------------------
class RefinerGeneratorLoss(nn.Module):
    """Warp refiner: L1 + pyramid L1 (+ hinge/FM) between ``refiner(warp, ...)`` and the real frame."""

    def __init__(self, refiner: nn.Module, cfg: LossConfig, disc: nn.Module | None = None):
        super().__init__()
        self.refiner, self.cfg = refiner, cfg
        self.pyramid = ImagePyramid(cfg.pyramid_scales)
        self._disc = [disc]  # a list: not registered as a submodule

    def forward(self, batch: dict[str, torch.Tensor]):
        cfg, logs = self.cfg, {}
        out = self.refiner(batch["warped"], batch["source"], batch["lm_target"], batch["lm_source"])
        pred, target = out["prediction"], batch["target"]
        l1 = F.l1_loss(pred, target)
        pyr = self.pyramid.l1(pred, target)
        logs.update(l1=l1.detach(), pyramid=pyr.detach(), warp_l1=F.l1_loss(batch["warped"], target).detach(),
                    mask=out["mask"].mean().detach())
        total = cfg.l1 * l1 + cfg.pyramid * pyr + _adversarial(self._disc[0], cfg, target, pred, logs)
        if cfg.ssim:
            ss = ssim_loss(pred.float(), target.float())
            logs["ssim_loss"] = ss.detach()
            total = total + cfg.ssim * ss
        if cfg.delta:
            dm = out["delta"].abs().mean()
            logs["delta_abs"] = dm.detach()
            total = total + cfg.delta * dm
        return total, logs, {"prediction": pred, "delta": out["delta"], "fake": pred, "real": target}


class KeypointGeneratorLoss(nn.Module):
    """FOMM (Sec. 3.4): reconstruction of the driving frame from the source + equivariance constraints."""

    def __init__(self, detector: nn.Module, generator: nn.Module, cfg: LossConfig, disc: nn.Module | None = None):
        super().__init__()
        self.detector, self.generator, self.cfg = detector, generator, cfg
        self.pyramid = ImagePyramid(cfg.pyramid_scales)
        self._disc = [disc]

    def forward(self, batch: dict[str, torch.Tensor]):
        cfg, logs = self.cfg, {}
        src, drv = batch["source"], batch["driving"]
        kp_s, kp_d = self.detector(src), self.detector(drv)
        out = self.generator(src, kp_s["value"], kp_d["value"], kp_s.get("jacobian"), kp_d.get("jacobian"))
        pred = out["prediction"]
        l1 = F.l1_loss(pred, drv)
        pyr = self.pyramid.l1(pred, drv)
        logs.update(l1=l1.detach(), pyramid=pyr.detach())
        total = cfg.l1 * l1 + cfg.pyramid * pyr
        disc = self._disc[0]
        if disc is not None:
            kw = {"kp": kp_d["value"].detach()} if getattr(disc.config, "use_kp", False) else {}
            total = total + _adversarial(disc, cfg, drv, pred, logs, **kw)
        if cfg.equivariance_value > 0 or cfg.equivariance_jacobian > 0:
            tf = RandomTransform(batch["seed"], cfg.sigma_affine, cfg.sigma_tps, cfg.points_tps)
            kp_t = self.detector(tf.transform_frame(drv))
            eq_v = (kp_d["value"] - tf.warp_coordinates(kp_t["value"])).abs().mean()
            logs["eq_value"] = eq_v.detach()
            total = total + cfg.equivariance_value * eq_v
            if cfg.equivariance_jacobian > 0 and "jacobian" in kp_t:
                jt = torch.matmul(tf.jacobian(kp_t["value"]), kp_t["jacobian"])
                prod = torch.matmul(inverse2x2(kp_d["jacobian"]), jt)
                eq_j = (torch.eye(2, dtype=prod.dtype, device=prod.device) - prod).abs().mean()
                logs["eq_jacobian"] = eq_j.detach()
                total = total + cfg.equivariance_jacobian * eq_j
        return total, logs, {"prediction": pred, "deformed": out["deformed"], "fake": pred, "real": drv,
                             "kp_source": kp_s["value"].detach(), "kp_driving": kp_d["value"].detach()}


class FewShotGeneratorLoss(nn.Module):
    """Zakharov et al. meta-learning (Sec. 3.2): embed K frames, generate the (K+1)-th from its landmarks.

    L = L_CNT (pyramid L1 here) + L_ADV (hinge + feature matching) + L_MCH (|W_i - e_hat_i|_1).
    """

    def __init__(self, embedder: nn.Module, generator: nn.Module, cfg: LossConfig, disc: nn.Module | None = None):
        super().__init__()
        self.embedder, self.generator, self.cfg = embedder, generator, cfg
        self.pyramid = ImagePyramid(cfg.pyramid_scales)
        self._disc = [disc]

    def forward(self, batch: dict[str, torch.Tensor]):
        cfg, logs = self.cfg, {}
        frames, lms, vid = batch["frames"], batch["landmarks"], batch["video"]  # (B, K+1, 3, H, W) x 2, (B,)
        B, K1 = frames.shape[:2]
        K = K1 - 1
        e = self.embedder(frames[:, :K].flatten(0, 1), lms[:, :K].flatten(0, 1)).view(B, K, -1)
        if "shots" in batch:  # mixed episode sizes: Eq. 1 over each episode's first K' frames only
            m = (torch.arange(K, device=e.device)[None] < batch["shots"][:, None]).to(e.dtype)[..., None]
            e = (e * m).sum(1) / m.sum(1)
        else:
            e = e.mean(1)  # Eq. 1: the average of the K frames' embeddings
        target, y = frames[:, K], lms[:, K]
        pred = self.generator(y, e)
        l1 = F.l1_loss(pred, target)
        pyr = self.pyramid.l1(pred, target)
        logs.update(l1=l1.detach(), pyramid=pyr.detach())
        total = cfg.l1 * l1 + cfg.pyramid * pyr
        disc = self._disc[0]
        if disc is not None:
            total = total + _adversarial(_Conditioned(disc, y, vid), cfg, target, pred, logs)
            if cfg.match > 0 and not disc.config.person:
                mch = F.l1_loss(e, disc.W[vid].detach())
                logs["match"] = mch.detach()
                total = total + cfg.match * mch
        return total, logs, {"prediction": pred, "fake": pred, "real": target, "landmarks": y,
                             "embedding": e.detach(), "reference": frames[:, 0]}


class _Conditioned(nn.Module):
    """``D(x, y, i)`` seen as ``D(x)`` for the shared adversarial helper."""

    def __init__(self, disc: nn.Module, y: torch.Tensor, idx: torch.Tensor):
        super().__init__()
        self.d, self.y, self.idx = [disc], y, idx

    def parameters(self, recurse: bool = True):
        return self.d[0].parameters(recurse)

    def forward(self, x: torch.Tensor):
        return self.d[0](x, self.y, self.idx)
