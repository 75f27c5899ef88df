"""The training loop shared by the refiner, keypoint (FOMM) and few-shot (Zakharov) models.

``train(TrainConfig)``: builds the task (networks + the loss modules of :mod:`.losses`), the
dataset (:mod:`.data`: the video cache is built on first use), Adam optimisers, and runs
generator / discriminator steps with

* data parallelism: under torchrun each rank computes its slice of the global batch and DDP
  averages gradients (:mod:`.distributed`; gloo on CPU, NCCL on GPU, several nodes alike);
* bf16 autocast on GPUs (none on CPU);
* checkpoints every ``checkpoint_every`` steps and at the end (:mod:`.checkpoint`), automatic
  resume from the newest one, and a clean stop (with a checkpoint) after ``max_minutes``;
* ``log.jsonl`` (one JSON object per logged step) and ``samples/step-NNNNNNN.png`` grids.

Sampling is a pure function of (seed, step, position in the global batch), so a resumed run, or
the same run on a different number of processes, sees the same samples.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from tqdm import tqdm

from talkinghead.config import StrictConfig
from talkinghead.errors import ConfigError, OutputError
from talkinghead.io.atomic import atomic_folder, file_sha256
from talkinghead.train.data import DataConfig, build_dataset
from talkinghead.train.losses import LossConfig


@dataclass
class OptimConfig(StrictConfig):
    """Adam settings (generator side ``lr``, discriminator ``lr_d``)."""

    lr: float = 2e-4
    lr_d: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    weight_decay: float = 0.0
    grad_clip: float = 0.0
    """Clip the generator-side gradient norm to this (0: off)."""

    def __post_init__(self) -> None:
        self.betas = tuple(float(b) for b in self.betas)
        if len(self.betas) != 2 or self.lr <= 0 or self.lr_d <= 0:
            raise ConfigError(None, "betas must be two numbers and lr, lr_d > 0")


@dataclass
class TrainConfig(StrictConfig):
    """One training run (``configs/*.yaml``). Every nested mapping is strict too."""

    task: Literal["refiner", "keypoint", "fewshot"] = "refiner"
    model: dict = field(default_factory=dict)
    """Architecture: refiner -> RefinerConfig; keypoint -> {detector: KeypointConfig, generator:
    GeneratorConfig}; fewshot -> FewShotConfig (``n_videos`` is set from the data)."""
    discriminator: dict | None = None
    """None: no adversarial training. refiner / keypoint -> DiscriminatorConfig; fewshot -> {} (the
    projection discriminator shares the few-shot architecture)."""
    data: DataConfig = field(default_factory=DataConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    steps: int = 1000
    batch_size: int = 8
    """Global batch (divided evenly among data-parallel ranks)."""
    seed: int = 0
    log_every: int = 10
    sample_every: int = 200
    checkpoint_every: int = 200
    keep_last: int = 2
    max_minutes: float = 0.0
    """Stop (with a checkpoint) after this much wall time; 0: no limit."""
    precision: Literal["auto", "bf16", "fp32"] = "auto"
    """auto/bf16: bf16 autocast on GPUs; CPU always runs fp32."""
    threads: int = 0
    """torch CPU threads (0: torch's default)."""
    loader_threads: int = 2
    """Threads that build the next batches while the current step runs (0: build each in the loop)."""
    output: str = "out/train/run"

    def __post_init__(self) -> None:
        self._check_literals()
        for name, cls in (("data", DataConfig), ("loss", LossConfig), ("optim", OptimConfig)):
            if isinstance(getattr(self, name), dict):
                setattr(self, name, cls.from_dict(getattr(self, name)))
        if not isinstance(self.model, dict) or (self.discriminator is not None and not isinstance(self.discriminator, dict)):
            raise ConfigError(None, "model and discriminator must be mappings")
        if self.steps < 0 or self.batch_size < 1 or self.log_every < 1 or self.checkpoint_every < 1:
            raise ConfigError(None, "steps >= 0, batch_size, log_every and checkpoint_every >= 1 required")
        if self.loader_threads < 0:
            raise ConfigError(None, f"loader_threads must be >= 0, got {self.loader_threads}")
        model_configs(self)  # validate the architecture keys now, not at step 0

    @classmethod
    def from_yaml(cls, path: str | Path) -> "TrainConfig":
        import yaml

        from talkinghead.config import yaml_error_line

        try:
            raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except UnicodeDecodeError:
            raise ConfigError(str(path), "not a YAML text file (not UTF-8)") from None
        except yaml.YAMLError as e:
            raise ConfigError(str(path), f"not valid YAML ({yaml_error_line(e)})") from None
        except OSError as e:
            raise ConfigError(str(path), f"unreadable config ({e.strerror or e})") from None
        return cls.from_dict(raw, source=str(path))


def model_configs(cfg: TrainConfig) -> dict[str, StrictConfig]:
    """The strict architecture configs of a run, by network name."""
    from talkinghead.models.discriminator import DiscriminatorConfig
    from talkinghead.models.fewshot import FewShotConfig
    from talkinghead.models.generator import GeneratorConfig
    from talkinghead.models.keypoint import KeypointConfig
    from talkinghead.models.refiner import RefinerConfig

    m, out = dict(cfg.model), {}
    if cfg.task == "refiner":
        out["refiner"] = RefinerConfig.from_dict(m)
    elif cfg.task == "keypoint":
        extra = sorted(set(m) - {"detector", "generator"})
        if extra:
            raise ConfigError(None, f"unknown config key(s) for keypoint model: {', '.join(extra)}")
        out["detector"] = KeypointConfig.from_dict(m.get("detector"))
        gen = dict(m.get("generator") or {})
        gen.setdefault("num_kp", out["detector"].num_kp)
        out["generator"] = GeneratorConfig.from_dict(gen)
        if out["generator"].num_kp != out["detector"].num_kp:
            raise ConfigError(None, "generator.num_kp must equal detector.num_kp")
    else:
        out["fewshot"] = FewShotConfig.from_dict(m)
    if cfg.discriminator is not None:
        if cfg.task == "fewshot":
            if cfg.discriminator:
                raise ConfigError(None, "fewshot: discriminator takes no keys (it shares the model config); use {}")
        else:
            out["discriminator"] = DiscriminatorConfig.from_dict(cfg.discriminator)
    return out


# -- tasks ----------------------------------------------------------------------------------------------
@dataclass
class Task:
    """The networks of a run and the modules computing its losses."""

    networks: dict[str, Any]  # name -> PretrainedModel (all trainable networks, checkpointed)
    g_names: list[str]
    g_loss: torch.nn.Module
    d_loss: torch.nn.Module | None
    grid_keys: list[str]
    d_kwargs: Any = None  # (batch, outputs) -> kwargs of the discriminator (few-shot: y, idx, embedding)


def build_task(cfg: TrainConfig, n_videos: int = 1) -> Task:
    import dataclasses

    from talkinghead.train import losses as L

    mc = model_configs(cfg)
    torch.manual_seed(cfg.seed)  # identical initialisation on every rank
    disc = None
    if cfg.task == "refiner":
        from talkinghead.models.refiner import WarpRefiner

        nets = {"refiner": WarpRefiner(mc["refiner"])}
        g = L.RefinerGeneratorLoss(nets["refiner"], cfg.loss)
        keys = ["source", "lm_target", "warped", "prediction", "target", "delta"]
    elif cfg.task == "keypoint":
        from talkinghead.models.generator import OcclusionAwareGenerator
        from talkinghead.models.keypoint import KeypointDetector

        nets = {"detector": KeypointDetector(mc["detector"]), "generator": OcclusionAwareGenerator(mc["generator"])}
        g = L.KeypointGeneratorLoss(nets["detector"], nets["generator"], cfg.loss)
        keys = ["source", "driving", "deformed", "prediction"]
    else:
        from talkinghead.models.fewshot import Embedder, FewShotGenerator, ProjectionDiscriminator

        fc = dataclasses.replace(mc["fewshot"], n_videos=max(1, n_videos))
        nets = {"embedder": Embedder(fc), "generator": FewShotGenerator(fc)}
        g = L.FewShotGeneratorLoss(nets["embedder"], nets["generator"], cfg.loss)
        keys = ["reference", "landmarks", "prediction", "real"]
        if cfg.discriminator is not None:
            disc = ProjectionDiscriminator(fc)
    if cfg.discriminator is not None and disc is None:
        from talkinghead.models.discriminator import MultiScaleDiscriminator

        disc = MultiScaleDiscriminator(mc["discriminator"])
    g_names = list(nets)
    d_loss, d_kwargs = None, None
    if disc is not None:
        nets["discriminator"] = disc
        g._disc[0] = disc
        if cfg.task == "fewshot":
            d_loss = L.DiscriminatorLoss(disc, match=cfg.loss.match)
            d_kwargs = lambda b, o: {"y": o["landmarks"], "idx": b["video"], "embedding": o["embedding"]}  # noqa: E731
        else:
            d_loss = L.DiscriminatorLoss(disc)
            if cfg.task == "keypoint" and disc.config.use_kp:
                d_kwargs = lambda b, o: {"kp": o["kp_driving"]}  # noqa: E731
    return Task(nets, g_names, g, d_loss, keys, d_kwargs)


# -- batches ------------------------------------------------------------------------------------------
def item_seed(seed: int, step: int, pos: int) -> int:
    return int(np.random.default_rng([seed, step, pos, 7]).integers(0, 2**31 - 1))


def make_batch(ds, cfg: TrainConfig, step: int, rank: int, world: int, device) -> dict[str, torch.Tensor]:
    """This rank's slice of the global batch of ``step`` (a pure function of seed, step, position)."""
    if cfg.batch_size % world:
        raise ConfigError(None, f"batch_size {cfg.batch_size} must be divisible by the {world} processes")
    per = cfg.batch_size // world
    idx = np.random.default_rng([cfg.seed, step]).integers(0, len(ds), size=cfg.batch_size)
    pos = range(rank * per, (rank + 1) * per)
    items = [ds.item(int(idx[p]), np.random.default_rng([cfg.seed, step, p])) for p in pos]
    batch = {k: torch.from_numpy(np.stack([it[k] for it in items])).to(device) for k in items[0]}
    batch["seed"] = torch.tensor([item_seed(cfg.seed, step, p) for p in pos], dtype=torch.int64)
    return batch


class Prefetcher:
    """``make_batch`` of the coming steps on background threads (the numpy / OpenCV work releases the
    GIL), so a GPU step does not wait for its data. Batches are the ones ``make_batch`` gives: each is
    a pure function of its step. ``loader_threads=0``: built in the caller, one at a time."""

    def __init__(self, ds, cfg: TrainConfig, rank: int, world: int, device, end: int):
        from concurrent.futures import ThreadPoolExecutor

        self.args, self.device, self.end = (ds, cfg, rank, world), device, end
        self.depth = 2 * cfg.loader_threads
        self.pool = ThreadPoolExecutor(cfg.loader_threads, "batches") if cfg.loader_threads else None
        self.pending: dict[int, Any] = {}

    def get(self, step: int) -> dict[str, torch.Tensor]:
        if self.pool is None:
            return make_batch(*self.args, step, self.device)  # type: ignore[misc]
        ds, cfg, rank, world = self.args
        for s in range(step, min(self.end, step + self.depth)):
            if s not in self.pending:
                self.pending[s] = self.pool.submit(make_batch, ds, cfg, s, rank, world, torch.device("cpu"))
        batch = self.pending.pop(step).result()
        return {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> "Prefetcher":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# -- logging ------------------------------------------------------------------------------------------
def save_grid(path: Path, batch: dict, outs: dict, keys: list[str], max_rows: int = 4) -> None:
    """Rows = samples, columns = ``keys`` (looked up in outputs, then batch); written as PNG."""
    from talkinghead.io.image import write_image

    cols = []
    for k in keys:
        t = outs.get(k, batch.get(k))
        if t is None:
            continue
        t = t.detach().float()[:max_rows]
        if k == "delta":  # signed residual: 0.5 = no change, x4 for visibility
            t = (0.5 + 2.0 * t).clamp(0, 1)
        if k in ("source", "driving") and "kp_source" in outs:
            t = _draw_kp(t, outs["kp_source" if k == "source" else "kp_driving"][:max_rows])
        cols.append(t)
    grid = torch.cat([torch.cat(list(c), dim=1) for c in cols], dim=2)  # (3, rows*H, cols*W)
    img = (grid.clamp(0, 1) * 255 + 0.5).to(torch.uint8).permute(1, 2, 0).cpu().numpy()
    path.parent.mkdir(parents=True, exist_ok=True)
    write_image(path, img)


def _draw_kp(imgs: torch.Tensor, kp: torch.Tensor) -> torch.Tensor:
    import cv2

    out = []
    for im, k in zip(imgs, kp):
        a = np.ascontiguousarray((im.clamp(0, 1) * 255).byte().permute(1, 2, 0).cpu().numpy())
        H, W = a.shape[:2]
        for j, (x, y) in enumerate(k.cpu().numpy()):
            col = tuple(int(c) for c in (np.array(cv2.applyColorMap(np.uint8([[j * 25 % 256]]), cv2.COLORMAP_JET))[0, 0]))
            cv2.circle(a, (int((x + 1) / 2 * (W - 1)), int((y + 1) / 2 * (H - 1))), max(1, W // 64), col, -1)
        out.append(torch.from_numpy(a).permute(2, 0, 1).float() / 255)
    return torch.stack(out)


def _truncate_log(path: Path, step: int) -> None:
    """On resume: drop log lines of steps after the checkpoint (they will be redone)."""
    if not path.exists():
        return
    keep = [ln for ln in path.read_text().splitlines() if ln.strip() and json.loads(ln).get("step", 0) <= step]
    path.write_text("".join(ln + "\n" for ln in keep))


# -- the loop -------------------------------------------------------------------------------------------
def make_optimizers(cfg: TrainConfig, task: Task) -> dict[str, torch.optim.Optimizer]:
    """Adam for the generator-side networks ("g") and, with a discriminator, for it ("d"); the
    checkpoint stores their states under these names."""
    g_params = [p for n in task.g_names for p in task.networks[n].parameters()]
    opts = {"g": torch.optim.Adam(g_params, cfg.optim.lr, cfg.optim.betas, weight_decay=cfg.optim.weight_decay)}
    if task.d_loss is not None:
        opts["d"] = torch.optim.Adam(task.networks["discriminator"].parameters(), cfg.optim.lr_d, cfg.optim.betas)
    return opts


def train(cfg: TrainConfig, log=print, resume: bool = True, stop_at: int | None = None) -> dict:
    """Run (or resume) training. ``stop_at``: stop after this step, as if killed right after a checkpoint.

    Returns {'step', 'wall_s', 'last': last logged losses, 'output'}.
    """
    from talkinghead.train import checkpoint as ck
    from talkinghead.train import distributed as D

    info = D.init_distributed()
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    out = Path(cfg.output)
    if out.exists() and not out.is_dir():
        raise OutputError(out, "exists and is not a folder (the run folder: checkpoints and the model)")
    say = log if info.is_main else (lambda *a, **k: None)
    ds = build_dataset(cfg.data, cfg.task, log=say) if info.is_main else None
    D.barrier(info)  # rank 0 builds the cache; the others read it
    if ds is None:
        ds = build_dataset(cfg.data, cfg.task, log=say)
    task = build_task(cfg, getattr(ds, "n_videos", 1))
    for m in task.networks.values():
        m.to(info.device).train()
    task.g_loss.to(info.device)
    opts = make_optimizers(cfg, task)
    g_params = opts["g"].param_groups[0]["params"]
    start = 0
    last = ck.latest_checkpoint(out) if resume else None
    if last is not None:
        state = ck.load_checkpoint(last, task.networks, opts)
        start = int(state["step"])
        say(f"resumed from {last} (step {start})")
    start = D.broadcast_int(start, info)
    if info.is_main and not resume and (out / "checkpoints").is_dir() and any((out / "checkpoints").iterdir()):
        # restart: the old run's checkpoints are set aside (not deleted, not resumed from later: a newer
        # step of the abandoned run would otherwise win over this run's first checkpoints)
        aside = out / f"checkpoints.before-restart-{time.strftime('%Y%m%d-%H%M%S')}"
        (out / "checkpoints").rename(aside)
        say(f"restart: previous checkpoints moved to {aside}")
    D.barrier(info)
    if info.is_main:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2, default=list))
        _truncate_log(out / "log.jsonl", start)
    g_full = D.wrap_ddp(task.g_loss, info)
    d_full = D.wrap_ddp(task.d_loss, info) if task.d_loss is not None else None
    t0, step, logs = time.time(), start, {}
    end = cfg.steps if stop_at is None else min(cfg.steps, stop_at)
    with Prefetcher(ds, cfg, info.rank, info.world_size, info.device, end) as batches:  # closed on errors too
        while step < end:
            batch = batches.get(step)
            with D.autocast(info, cfg.precision):
                total, logs, outs = g_full(batch)
            opts["g"].zero_grad(set_to_none=True)
            total.backward()
            if cfg.optim.grad_clip > 0:
                logs["g_grad_norm"] = torch.nn.utils.clip_grad_norm_(g_params, cfg.optim.grad_clip).detach()
            opts["g"].step()
            logs["g_total"] = total.detach()
            if d_full is not None:
                kw = task.d_kwargs(batch, outs) if task.d_kwargs else {}
                with D.autocast(info, cfg.precision):
                    d_total, d_logs = d_full(outs["real"], outs["fake"].detach(), **kw)
                opts["d"].zero_grad(set_to_none=True)
                d_total.backward()
                opts["d"].step()
                logs.update(d_logs)
            step += 1
            if step % cfg.log_every == 0 or step == end:
                row = {"step": step, "wall_s": round(time.time() - t0, 2), **D.mean_logs(logs, info)}
                if info.is_main:
                    with open(out / "log.jsonl", "a") as f:
                        f.write(json.dumps(row) + "\n")
                    say(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()))
            over = cfg.max_minutes > 0 and (time.time() - t0) > 60 * cfg.max_minutes
            over = bool(D.broadcast_int(int(over), info))
            if info.is_main and (step % cfg.sample_every == 0 or step == end or over):
                save_grid(out / "samples" / f"step-{step:07d}.png", batch, outs, task.grid_keys)
            if step % cfg.checkpoint_every == 0 or step == end or over:
                if info.is_main:
                    ck.save_checkpoint(out, step, task.networks, opts, {"wall_s": time.time() - t0}, cfg.keep_last)
                D.barrier(info)
            if over:
                say(f"max_minutes reached at step {step}; stopping (resume continues from here)")
                break
    if info.is_main and step >= cfg.steps:
        for name, m in task.networks.items():
            m.save_pretrained(out / "final" / name, {"steps": step, "task": cfg.task})
    D.barrier(info)
    summary = {"step": step, "wall_s": time.time() - t0, "output": str(out),
               "last": {k: float(v) for k, v in logs.items()}}
    del g_full, d_full  # the DDP reducers go before their process group does
    D.cleanup(info)
    return summary


# -- few-shot personalisation (Zakharov et al. 2019, Sec. 3.3) ------------------------------------------
@dataclass
class FinetuneConfig(StrictConfig):
    """``talkinghead finetune``: options of the person-specific fine-tuning stage."""

    steps: int = 100
    """0: embedding only (psi' = P e_hat, no optimisation)."""
    lr: float = 5e-5
    lr_d: float = 2e-4
    batch_size: int = 4
    adversarial: bool = True
    flip: bool = True
    seed: int = 0
    threads: int = 0


def finetune_person(frames: np.ndarray, points: np.ndarray, model_dir: str | Path, out_dir: str | Path,
                    cfg: FinetuneConfig | None = None, sources: list[str] | None = None,
                    progress: bool = True) -> dict:
    """Personalise the meta-learnt few-shot model on K aligned frames and write a person folder.

    ``frames``: (K, S, S, 3) uint8 aligned crops at the model's ``image_size``; ``points``: (K, 478, 2)
    their landmarks (crop px). Generator and discriminator start from the embedding (psi' = P e_hat,
    w' = w_0 + e_hat) and are trained on the K pairs with the meta-learning losses minus L_MCH.
    Writes ``out_dir/{person.json, generator/, embedding.safetensors}``.
    """
    import torch.nn.functional as F
    from safetensors.torch import save_file

    from talkinghead.models.blocks import landmark_image
    from talkinghead.models.modeling import load_model
    from talkinghead.train.losses import DiscriminatorLoss, ImagePyramid, _adversarial, _Conditioned

    cfg = cfg or FinetuneConfig()
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    model_dir, out_dir = Path(model_dir), Path(out_dir).resolve()  # resolved: "-o ." has a name to write beside
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(out_dir, "exists and is not a folder (a person folder is written here)")
    if not out_dir.parent.is_dir():
        raise OutputError(out_dir, "directory does not exist")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not (out_dir / "person.json").is_file():
        raise OutputError(out_dir, "is a folder with other files in it (not a person folder): give a new or "
                                   "empty folder")
    E, G = load_model(model_dir / "embedder"), load_model(model_dir / "generator")
    S = G.config.image_size
    x = torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).float() / 255
    y = torch.stack([torch.from_numpy(landmark_image(p, S)).permute(2, 0, 1).float() / 255 for p in points])
    with torch.no_grad():
        e = E.embed(x, y)  # (1, D): Eq. 1 over the K photos
    Gp = G.personalize(e)
    t0, logs = time.time(), {}
    if cfg.steps > 0:
        torch.manual_seed(cfg.seed)
        Gp.train()
        Dp = None
        if cfg.adversarial and (model_dir / "discriminator").exists():
            Dp = load_model(model_dir / "discriminator").personalize(e).train()
        pyr = ImagePyramid((1.0, 0.5, 0.25, 0.125))
        opt_g = torch.optim.Adam(Gp.parameters(), cfg.lr, (0.5, 0.999))
        opt_d = torch.optim.Adam(Dp.parameters(), cfg.lr_d, (0.5, 0.999)) if Dp is not None else None
        lcfg = LossConfig()
        rng = np.random.default_rng(cfg.seed)
        bar = tqdm(range(cfg.steps), desc="fine-tuning", unit="step", leave=False, disable=not progress)
        for step in bar:
            idx = torch.from_numpy(rng.integers(0, len(x), cfg.batch_size))
            xb, yb = x[idx], y[idx]
            if cfg.flip:
                f = torch.from_numpy(rng.random(cfg.batch_size) < 0.5)
                xb = torch.where(f[:, None, None, None], xb.flip(-1), xb)
                yb = torch.where(f[:, None, None, None], yb.flip(-1), yb)
            pred = Gp(yb)
            loss = F.l1_loss(pred, xb) + pyr.l1(pred, xb)
            logs = {"l1": F.l1_loss(pred, xb).item()}
            if Dp is not None:
                loss = loss + _adversarial(_Conditioned(Dp, yb, None), lcfg, xb, pred, logs)
            opt_g.zero_grad(set_to_none=True)
            loss.backward()
            opt_g.step()
            if Dp is not None:
                d_loss, _ = DiscriminatorLoss(Dp)(xb, pred.detach(), y=yb, idx=None)
                opt_d.zero_grad(set_to_none=True)
                d_loss.backward()
                opt_d.step()
            if (step + 1) % max(1, cfg.steps // 20) == 0:
                bar.set_postfix(l1=f"{logs['l1']:.4f}")
    info = {"kind": "fewshot", "k": int(len(x)), "finetune_steps": int(cfg.steps), "image_size": S,
            "base_model": str(model_dir), "sources": sources or [],
            "source_sha256": [h for h in (file_sha256(p) for p in sources or []) if h],  # see person_notice
            "wall_s": round(time.time() - t0, 2),
            "final": {k: float(v) for k, v in logs.items()}}
    # Written beside the target and moved into place whole: an interrupted run leaves no half person;
    # an earlier person (or an empty folder) is replaced.
    with atomic_folder(out_dir) as tmp:
        Gp.eval().save_pretrained(tmp / "generator", {"k": len(x), "finetune_steps": cfg.steps})
        save_file({"embedding": e.contiguous()}, str(tmp / "embedding.safetensors"))
        (tmp / "person.json").write_text(json.dumps(info, indent=2) + "\n")
    return info


__all__ = ["TrainConfig", "OptimConfig", "FinetuneConfig", "train", "build_task", "make_batch",
           "finetune_person", "model_configs"]
