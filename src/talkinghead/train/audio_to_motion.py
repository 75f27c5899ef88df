"""Train the audio-to-motion network on the project's real talking clips (fixed seeds).

    python -m talkinghead.train.audio_to_motion --data ../shared/data/real --cache out/cache \
        --out out/audio_model --members 5 --smooth-sigma 1 --lags configs/audio_av_lags.json \
        && cp out/audio_model/audio_to_motion.* src/talkinghead/assets/      (= make train-audio)

Recipe (see ``assets/AUDIO_MODEL.md`` for the numbers of the shipped model):

1. Track every ``videos/talk_*`` clip with our own face analysis
   (:func:`talkinghead.drivers.video.track_driver`) and cache its canonical landmarks, head pose and
   16 kHz audio under ``--cache`` (:func:`prepare`).
2. Targets at 25 fps (:func:`clip_targets`): mouth-region landmark offsets from the clip's own
   closed-mouth neutral (median of the 10 % least-open frames), the mouth opening, a brow raise
   and the head rotation minus its 2 s moving average; each clip's articulation amplitude is
   normalised (:func:`amplitude_gain`).
3. PCA of the mouth offsets on the training speakers only (:func:`fit_basis`); the held-out
   speakers (:data:`VAL_CLIPS`) are never used for fitting, lags or model selection.
4. A/V offsets of the training clips (several are not in sync) from 4-fold held-out predictions
   (:func:`estimate_lags`); targets are re-aligned.
5. The anticipatory opening before utterance onsets, from the training clips (:func:`onset_profile`);
   the whitened PCA of the pretrained speech features (:mod:`talkinghead.models.speech_embedding`)
   that joins the log-mel input (:func:`fit_embedding`; ``--embed-dims 0``: log-mel only).
6. Training (:func:`train`): random 2.56 s windows, speed perturbation (0.9-1.1), VTLP, noise,
   spectral tilt and band masks; AdamW + one-cycle schedule, EMA weights; the step count was chosen
   by 4-fold cross-validation over the training speakers.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from talkinghead.train.audio_data import (
    SPEEDS,
    VAL_CLIPS,
    ClipData,
    amplitude_gain,
    augment_mel,
    build_clip,
    clip_targets,
    fit_basis,
    fit_embedding,
    mouth_region,
    onset_profile,
    opening_weights,
    prepare,
    speed_perturb,
)


# -- training -----------------------------------------------------------------------------------

def _loss(model, pred, y, wts):
    """Vertex-space mouth MSE + opening (+ optional 1 - Pearson r) + velocity + small brow / head terms."""
    K = model.config.n_mouth
    var = model.mouth_std ** 2
    dz = pred[..., :K] - y[..., :K]
    l_mouth = (dz ** 2 * var).sum(-1).mean() / var.sum()
    ow = (model.mouth_basis * model.mouth_std[:, None]) @ model.open_weights  # (K,) z -> opening
    o_var = ((y[..., :K] @ ow).var() + 1e-6).detach()
    l_open = ((dz @ ow) ** 2).mean() / o_var
    # 1 - Pearson r of the opening per window (the sync metric; scale-free)
    po, to = pred[..., :K] @ ow, y[..., :K] @ ow
    po, to = po - po.mean(1, keepdim=True), to - to.mean(1, keepdim=True)
    r = (po * to).sum(1) / (po.norm(dim=1) * to.norm(dim=1) + 1e-6)
    l_corr = (1 - r).mean()
    vel = dz[:, 1:] - dz[:, :-1]
    l_vel = (vel ** 2 * var).sum(-1).mean() / var.sum()
    l_brow = ((pred[..., K] - y[..., K]) ** 2).mean()
    l_head = ((pred[..., K + 1:] - y[..., K + 1:]) ** 2).mean()
    total = (l_mouth + wts["open"] * l_open + wts["corr"] * l_corr + wts["vel"] * l_vel + wts["brow"] * l_brow
             + wts["head"] * l_head)
    parts = {"mouth": l_mouth, "open": l_open, "corr": l_corr, "vel": l_vel, "brow": l_brow, "head": l_head}
    return total, {k: float(v.detach()) for k, v in parts.items()}


def predict_clip(model, clip: ClipData) -> np.ndarray:
    """Whitened predictions (T, D) of a whole clip (eval mode)."""
    import torch

    model.eval()
    with torch.no_grad():
        y = model(torch.from_numpy(clip.mel)[None], torch.from_numpy(clip.speech)[None])[0].numpy()
    return y


def best_lag(a: np.ndarray, b: np.ndarray, max_lag: int) -> tuple[int, float, float]:
    """(lag, r at lag, r at 0) maximising corr(a[k], b[k + lag])."""
    from talkinghead.eval.speech import lagged_corr

    rs = {L: lagged_corr(a, b, L) for L in range(-max_lag, max_lag + 1)}
    L = max(rs, key=lambda k: -np.inf if np.isnan(rs[k]) else rs[k])
    return L, rs[L], rs[0]


def train(clips: list[ClipData], val: list[ClipData], model, steps: int, seed: int, batch: int = 16,
          window: int = 64, lr: float = 2e-3, weights: dict | None = None, ema_decay: float = 0.995,
          weight_decay: float = 0.02, eval_every: int = 250, bandlimit: float = 0.0, log=print) -> dict:
    """AdamW + one-cycle cosine schedule on random windows (clips sampled by length x weight)."""
    import torch

    wts = {"open": 0.5, "corr": 0.0, "vel": 0.5, "brow": 0.05, "head": 0.05, **(weights or {})}
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    p = np.array([max(c.T - window, 1) ** 0.75 for c in clips], np.float64)
    p /= p.sum()
    t0 = time.time()
    hist = []
    # Exponential moving average of the weights (Polyak averaging): the EMA model is what we keep.
    ema = {k: v.detach().clone() for k, v in model.state_dict().items()}
    for step in range(steps):
        model.train()
        mels, spk, ys = [], [], []
        for ci in rng.choice(len(clips), size=batch, p=p):
            c = clips[ci]
            W = min(window, c.T)
            s = int(rng.integers(0, c.T - W + 1))
            mel = augment_mel(c.mel[4 * s: 4 * (s + W)], rng, bandlimit)
            sp = c.speech[4 * s: 4 * (s + W)]
            y = c.y[s: s + W]
            if W < window:  # pad short clips with their own edge (masked out below by repetition)
                pad = window - W
                mel = np.pad(mel, ((0, 4 * pad), (0, 0)), mode="edge")
                sp = np.pad(sp, (0, 4 * pad))
                y = np.pad(y, ((0, pad), (0, 0)), mode="edge")
            mels.append(mel)
            spk.append(sp)
            ys.append(y)
        pred = model(torch.from_numpy(np.stack(mels)), torch.from_numpy(np.stack(spk)))
        loss, parts = _loss(model, pred, torch.from_numpy(np.stack(ys)), wts)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        with torch.no_grad():
            d = min(ema_decay, (step + 1) / (step + 10))
            for k, v in model.state_dict().items():
                if v.dtype.is_floating_point:
                    ema[k].mul_(d).add_(v.detach(), alpha=1 - d)
                else:
                    ema[k].copy_(v)
        if (step + 1) % eval_every == 0 or step == steps - 1:
            live = {k: v.detach().clone() for k, v in model.state_dict().items()}
            model.load_state_dict(ema)
            v = validate(model, val) if val else {}
            model.load_state_dict(live)
            hist.append({"step": step + 1, "loss": float(loss.detach()), **parts, **v})
            log(f"step {step + 1:5d} loss {float(loss.detach()):.4f} "
                + " ".join(f"{k} {x:.3f}" for k, x in parts.items())
                + (f" | val r {v['r']:.3f} lmd {v['lmd']:.4f}" if v else "") + f" ({time.time() - t0:.0f}s)")
    model.load_state_dict(ema)
    return {"history": hist, "seconds": time.time() - t0}


def validate(model, val: list[ClipData]) -> dict:
    """Mean over held-out clips of the opening correlation (lag 0) and lip LMD (canonical units)."""
    import torch

    from talkinghead.eval.speech import lagged_corr

    rs, lmds = [], []
    for c in val:
        y = predict_clip(model, c)
        with torch.no_grad():
            dec = model.decode(torch.from_numpy(y))
        rs.append(lagged_corr(dec["opening"].numpy(), c.opening, 0))
        lmds.append(float(np.linalg.norm(dec["mouth"].numpy()[..., :2] - c.mouth[..., :2], axis=-1).mean()))
    return {"r": float(np.mean(rs)), "lmd": float(np.mean(lmds))}


def _new_model(cfg, index: np.ndarray, basis: dict, seed: int):  # noqa: C901 - plain setup
    import torch

    from talkinghead.models.audio_to_motion import AudioToMotion

    torch.manual_seed(seed)
    m = AudioToMotion(cfg)
    m.mouth_index.copy_(torch.from_numpy(index))
    m.mouth_basis.copy_(torch.from_numpy(basis["basis"]))
    m.mouth_std.copy_(torch.from_numpy(basis["std"]))
    m.open_weights.copy_(torch.from_numpy(opening_weights(index, basis["width"]).astype(np.float32)))
    m.brow_std.fill_(float(basis["brow_std"]))
    m.head_std.copy_(torch.from_numpy(basis["head_std"]))
    m.mouth_width.fill_(basis["width"])
    if "onset_open" in basis:
        m.onset_open.copy_(torch.from_numpy(basis["onset_open"]))
    if cfg.embed_dims:
        for k in ("embed_mean", "embed_std", "embed_proj"):
            getattr(m, k).copy_(torch.from_numpy(basis[k]))
    return m


def _build(names: list[str], targets: dict, basis: dict, lags: dict[str, int], embed: bool = False) -> list[ClipData]:
    """Training clips at every speed, re-aligned by ``lags`` and amplitude-normalised."""
    cl = []
    for k in names:
        g = amplitude_gain(targets[k])
        for s in SPEEDS:
            a, tg = speed_perturb(targets[k]["audio"], targets[k], s)
            cl.append(build_clip(k, a, tg, basis, s, int(round(lags.get(k, 0) / s)), g, embed))
    return cl


def estimate_lags(names: list[str], targets: dict, basis: dict, cfg, steps: int, seed: int, folds: int = 4,
                  log=print) -> dict[str, dict]:
    """Audio/video offset of each training clip, SyncNet-style but with our own model: train on
    the other folds, predict this clip's mouth opening, take the best lag within +/-15 frames.
    A lag is used only when it raises r by > 0.05 to > 0.25 (otherwise 0)."""
    rng = np.random.default_rng(seed)
    order = [names[i] for i in rng.permutation(len(names))]
    out = {}
    embed = cfg.embed_dims > 0
    for f in range(folds):
        held = order[f::folds]
        m = _new_model(cfg, np.asarray(basis["index"]), basis, seed)
        train(_build([k for k in names if k not in held], targets, basis, {}, embed), [], m, steps,
              seed + 100 + f, log=lambda *a: None)
        import torch

        for k in held:
            c = build_clip(k, targets[k]["audio"], targets[k], basis, 1.0, embed=embed)
            with torch.no_grad():
                o = m.decode(torch.from_numpy(predict_clip(m, c)))["opening"].numpy()
            L, rL, r0 = best_lag(o, c.opening, 15)
            use = L if (rL - r0 > 0.05 and rL > 0.25) else 0
            out[k] = {"lag": int(use), "best_lag": int(L), "r_best": float(rL), "r0": float(r0)}
            log(f"  lag {k:22s} r0 {r0:+.2f} best {rL:+.2f} at {L:+d} -> {use:+d}")
    return out


def model_onset_frames() -> int:
    from talkinghead.models.audio_to_motion import ONSET_FRAMES

    return ONSET_FRAMES


def run(data: Path, cache: Path, out: Path, steps: int = 1000, seed: int = 0, n_mouth: int = 12,
        channels: int = 64, dilations: tuple[int, ...] = (1, 2, 4, 1, 2), dropout: float = 0.2,
        norm: str = "mean", floor_db: float = 0.0, realign: bool = True, lags_file: Path | None = None,
        members: int = 1, smooth_sigma: float = 0.0, embed_dims: int = 16, log=print) -> dict:
    """The whole recipe (see the module docstring); returns a summary dict."""
    import torch

    from talkinghead.models.audio_to_motion import AudioToMotionConfig, save_pretrained

    t_start = time.time()
    torch.manual_seed(seed)
    np.random.seed(seed)
    files = prepare(data, cache, log=log)
    index = mouth_region()
    targets = {f.stem: clip_targets(f, index) for f in files}
    train_names = [k for k in targets if k not in VAL_CLIPS]
    val_names = [k for k in targets if k in VAL_CLIPS]
    basis = fit_basis({k: targets[k] for k in train_names}, n_mouth)
    basis["index"] = index
    basis["onset_open"] = onset_profile(targets, train_names, frames=int(model_onset_frames()))
    log(f"anticipatory opening before onsets (frames -{len(basis['onset_open'])}..-1): "
        f"{np.round(basis['onset_open'], 3).tolist()}")
    log(f"train clips {len(train_names)} ({sum(targets[k]['mouth'].shape[0] for k in train_names) / 25:.0f}s), "
        f"val clips {len(val_names)} ({', '.join(val_names)}); PCA {n_mouth} comps explain {basis['explained']:.3f}")
    embed = embed_dims > 0
    if embed:
        from talkinghead.models.speech_embedding import N_FEATURES

        basis.update(fit_embedding(targets, train_names, embed_dims))
    cfg = AudioToMotionConfig(channels=channels, n_mouth=n_mouth, n_points=len(index), dilations=dilations,
                              dropout=dropout, norm=norm, floor_db=floor_db, embed_dims=embed_dims,
                              embed_features=N_FEATURES if embed else 0)  # one member (lags, training)
    lags: dict[str, int] = {}
    lag_info: dict = {}
    if realign:
        recipe = "" if (norm, floor_db) == ("mean", 0.0) else f"_{norm}_floor{floor_db:g}"
        if tuple(dilations) != (1, 2, 4, 1, 2):
            recipe += "_dil" + "-".join(str(d) for d in dilations)
        if embed:
            recipe += f"_emb{embed_dims}"
        lag_file = Path(lags_file) if lags_file else cache / f"lags_seed{seed}_steps{steps}{recipe}.json"
        if lag_file.exists():
            lag_info = json.loads(lag_file.read_text())
            log(f"A/V lags from {lag_file}")
        else:
            log("estimating A/V lags of the training clips (4-fold, held-out predictions)")
            lag_info = estimate_lags(train_names, targets, basis, cfg, steps, seed, log=log)
            lag_file.write_text(json.dumps(lag_info, indent=2))
        lags = {k: v["lag"] for k, v in lag_info.items()}
    val = [build_clip(k, targets[k]["audio"], targets[k], basis, 1.0, embed=embed) for k in val_names]
    clips = _build(train_names, targets, basis, lags, embed)
    model = _new_model(cfg, index, basis, seed)
    res = train(clips, val, model, steps, seed, log=log)
    if members > 1:
        # Ensemble: members trained alike with seeds seed .. seed + members - 1, outputs averaged.
        ens = _new_model(AudioToMotionConfig(**{**cfg.to_dict(), "members": members}), index, basis, seed)
        ens.load_member(0, model)
        for i in range(1, members):
            log(f"ensemble member {i + 1}/{members} (seed {seed + i})")
            m_i = _new_model(cfg, index, basis, seed + i)
            r_i = train(clips, val, m_i, steps, seed + i, log=log)
            res["seconds"] += r_i["seconds"]
            ens.load_member(i, m_i)
        model = ens
    if smooth_sigma > 0:  # inference-time output smoothing (not used while training)
        model.config.smooth_sigma = float(smooth_sigma)
    if members > 1 or smooth_sigma > 0:
        v = validate(model, val) if val else {}
        res["history"].append({"step": steps, "ensemble": members, "smooth_sigma": smooth_sigma, **v})
        if v:
            log(f"final ({members} member(s), smoothing sigma {smooth_sigma:g}): val r {v['r']:.3f} lmd {v['lmd']:.4f}")
    summary = {"final": res["history"][-1] if res["history"] else {}, "train_seconds": res["seconds"],
               "lags": lags, "lag_estimates": lag_info, "train_clips": train_names, "val_clips": val_names,
               "train_audio_s": sum(targets[k]["mouth"].shape[0] for k in train_names) / 25,
               "pca_explained": basis["explained"], "steps": steps, "seed": seed,
               "wall_s": time.time() - t_start, "n_params": sum(p.numel() for p in model.parameters())}
    meta = {"train_clips": ",".join(train_names), "val_clips": ",".join(val_names), "steps": str(steps),
            "seed": str(seed), "members": str(members), "smooth_sigma": f"{smooth_sigma:g}", "norm": norm,
            "floor_db": f"{floor_db:g}", "embed_dims": str(embed_dims), "lags": json.dumps(lags),
            "wall_s": f"{summary['wall_s']:.0f}"}
    save_pretrained(model, out / "audio_to_motion", meta)
    (out / "train_summary.json").write_text(json.dumps(summary, indent=2, default=float) + "\n")
    log(f"saved {out / 'audio_to_motion.safetensors'} ({summary['wall_s']:.0f}s total)")
    return summary


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Train the audio-to-motion network (fixed seeds).")
    ap.add_argument("--data", type=Path, default=Path("../shared/data/real"), help="shared real-media folder")
    ap.add_argument("--cache", type=Path, default=Path("out/cache"), help="tracking/feature cache folder")
    ap.add_argument("--out", type=Path, default=Path("out/audio_model"), help="where to write the weights")
    ap.add_argument("--steps", type=int, default=1000, help="optimiser steps (per fold model, and final)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n-mouth", type=int, default=12)
    ap.add_argument("--channels", type=int, default=64)
    ap.add_argument("--norm", choices=("mean", "meanvar"), default="mean",
                    help="input normalisation of the log-mels (see AudioToMotionConfig.norm)")
    ap.add_argument("--floor-db", type=float, default=0.0,
                    help="level-relative log-mel floor, dB below the window's 99th percentile (0 = off)")
    ap.add_argument("--dilations", default="1,2,4,1,2",
                    help="comma-separated dilations of the residual blocks (kernel 3; receptive field "
                         "+/- (1 + sum) output frames)")
    ap.add_argument("--lags", type=Path, default=None,
                    help="A/V offsets of the training clips from this JSON (written by an earlier run) "
                         "instead of the cached/estimated ones of this recipe")
    ap.add_argument("--members", type=int, default=1,
                    help="ensemble size: networks trained with seeds seed .. seed + members - 1, outputs averaged")
    ap.add_argument("--smooth-sigma", type=float, default=0.0,
                    help="inference-time Gaussian smoothing of the outputs over time (std in frames; 0 = off)")
    ap.add_argument("--embed-dims", type=int, default=16,
                    help="PCA components of the pretrained speech features added to the log-mel input "
                         "(models/speech_embedding.py; 0 = log-mel only)")
    ap.add_argument("--no-realign", action="store_true", help="skip the A/V offset re-alignment pass")
    ap.add_argument("--prepare-only", action="store_true", help="only track and cache the clips")
    a = ap.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    if not (a.data / "videos").is_dir():
        print(f"error: {a.data}/videos not found", file=sys.stderr)
        return 2
    if a.prepare_only:
        prepare(a.data, a.cache)
        return 0
    run(a.data, a.cache, a.out, steps=a.steps, seed=a.seed, n_mouth=a.n_mouth, channels=a.channels,
        norm=a.norm, floor_db=a.floor_db, realign=not a.no_realign,
        dilations=tuple(int(d) for d in a.dilations.split(",")), lags_file=a.lags, members=a.members,
        smooth_sigma=a.smooth_sigma, embed_dims=a.embed_dims)
    return 0


if __name__ == "__main__":
    sys.exit(main())
