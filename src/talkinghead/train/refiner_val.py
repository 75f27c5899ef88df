"""Leave-clips-out validation of warp refiners on the training cache (no rendering: the cached
warp pairs of clips a run did not train on).

    python -m talkinghead.train.refiner_val --clips drive_f_lrs_01 ... --refiner DIR [DIR ...] \\
        [--variants 1 0 --variants 0.5 0.01 ...] [--stride 2] [--json out.json] \\
        [--cache out/cache/neural_val256 --part refine256_r256 --build]

``--build`` first renders the missing warp pairs of ``--clips`` into ``--cache`` (the training
cache's protocol, at the size and render size named by ``--part``; the 4 held-out test clips are
refused).

For each refiner folder and each (output_scale alpha, shrink tau) variant, the raw correction is
computed once per pair and shrunk: ``warp + alpha * soft_threshold(delta, tau)`` (what
:class:`talkinghead.models.refiner.WarpRefiner` does with those config fields). Reports L1, PSNR
and SSIM at the cache resolution (128 px), averaged per clip then over clips, for the warp and each
variant, and each variant's L1 / SSIM relative to the warp. With a cache built at the render size
(``--part refine256_r256``, e.g. ``--cache out/cache/neural_val256``), the refiner runs at its own
128 px and its correction is upsampled to 256 px and added to the 256-px warp, as in the renderer. Used to choose the shipped refiner's
checkpoint, ``output_scale`` and ``shrink`` without looking at the held-out test clips.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def raw_deltas(net, part: dict, idx: np.ndarray, batch: int = 16) -> np.ndarray:
    """(N, S, S, 3) float32 raw corrections (output_scale 1, shrink 0) for pairs ``idx``, at the
    network's resolution ``n`` (the cache's crops, of size S >= n, are resized to n first, as
    :meth:`talkinghead.render.neural.NeuralRenderer.refine` does)."""
    import torch

    from talkinghead.models.blocks import landmark_image
    from talkinghead.render.neural import _resize, _scale_points
    from talkinghead.train.data import to_chw

    n, S = net.config.size, part["warped"].shape[1]
    out = []
    for b in range(0, len(idx), batch):
        js = idx[b:b + batch]
        srcs = [int(part["pair_source"][j]) for j in js]
        t = lambda xs: torch.from_numpy(np.stack(xs))  # noqa: E731
        with torch.inference_mode():
            d = net(t([to_chw(_resize(np.asarray(part["warped"][j]), n)) for j in js]),
                    t([to_chw(_resize(np.asarray(part["source"][s]), n)) for s in srcs]),
                    t([to_chw(landmark_image(_scale_points(part["target_points"][j], S, n), n)) for j in js]),
                    t([to_chw(landmark_image(_scale_points(part["source_points"][s], S, n), n)) for s in srcs]))["raw_delta"]
        out.append(d.permute(0, 2, 3, 1).numpy())
    return np.concatenate(out)


def _apply(w: np.ndarray, raw: np.ndarray, a: float, t: float) -> np.ndarray:
    """warp (N, S, S, 3) uint8 + the correction ``raw`` shrunk with (a, t), as the renderer adds it."""
    import torch

    from talkinghead.models.refiner import shrink_correction
    from talkinghead.render.neural import add_correction

    return np.stack([add_correction(wi, shrink_correction(torch.from_numpy(ri), a, t).numpy()) for wi, ri in zip(w, raw)])


def _scores(imgs: np.ndarray, targets: np.ndarray) -> dict[str, float]:
    """Mean L1, PSNR and SSIM of ``imgs`` against ``targets``."""
    from talkinghead.eval.metrics import l1, ssim

    return {"l1": float(np.mean([l1(a, b) for a, b in zip(imgs, targets)])),
            "psnr": float(np.mean([_psnr(a, b) for a, b in zip(imgs, targets)])),
            "ssim": float(np.mean([ssim(a, b) for a, b in zip(imgs, targets)]))}


def _psnr(a, b) -> float:
    from talkinghead.eval.metrics import psnr

    return min(psnr(a, b), 60.0)  # a target that is the source frame itself is reproduced exactly


class _Akd:
    """Landmark error (AKD, fraction of the target's inter-ocular distance) of images against their targets,
    with mediapipe's face mesh on both, as in ``benchmarks/bench_neural.py reenact``; frames where either
    face is not found are skipped."""

    def __init__(self, mesh):
        self.mesh = mesh

    def points(self, img):
        f = self.mesh.detect(np.ascontiguousarray(img))
        return f[0].points[:, :2] if f else None

    def __call__(self, imgs, target_points) -> float:
        from talkinghead.eval.metrics import akd
        from talkinghead.face import topology as T

        errs = [akd(lm[:468], g[:468], T.interocular(g)) for img, g in zip(imgs, target_points)
                if g is not None and (lm := self.points(img)) is not None]
        return float(np.mean(errs)) if errs else float("nan")


def evaluate(refiner_dirs, clips, variants, cache="out/cache/neural", part_name="refine128_r256", stride=2,
             log=print, with_akd: bool = False) -> dict:
    if not with_akd:
        return _evaluate(refiner_dirs, clips, variants, cache, part_name, stride, log, None)
    from talkinghead.face.mesh import FaceMesh

    with FaceMesh(static=True) as mesh:
        return _evaluate(refiner_dirs, clips, variants, cache, part_name, stride, log, _Akd(mesh))


def _evaluate(refiner_dirs, clips, variants, cache, part_name, stride, log, akd_of: _Akd | None) -> dict:
    import torch

    from talkinghead.models.modeling import load_model
    from talkinghead.train.data import _load

    parts = {}
    for c in clips:
        d = Path(cache) / c / part_name
        parts[c] = {k: _load(d / f"{k}.npy") for k in
                    ("source", "source_points", "warped", "target", "target_points", "pair_source")}
    res = {"clips": list(clips), "stride": stride, "warp": {}, "refiners": {}}
    per_clip_warp, gt_points = {}, {}
    with_akd = akd_of is not None
    for c, p in parts.items():
        idx = np.arange(0, len(p["pair_source"]), stride)
        w, g = np.asarray(p["warped"])[idx], np.asarray(p["target"])[idx]
        per_clip_warp[c] = _scores(w, g)
        if akd_of is not None:
            gt_points[c] = [akd_of.points(x) for x in g]
            per_clip_warp[c]["akd"] = akd_of(w, gt_points[c])
    keys = ("l1", "psnr", "ssim") + (("akd",) if with_akd else ())
    res["warp"] = {k: float(np.mean([v[k] for v in per_clip_warp.values()])) for k in keys}
    res["warp_per_clip"] = {c: {k: float(x) for k, x in v.items()} for c, v in per_clip_warp.items()}
    log(f"warp: L1 {res['warp']['l1']:.5f} PSNR {res['warp']['psnr']:.3f} SSIM {res['warp']['ssim']:.5f}"
        + (f" AKD {100 * res['warp']['akd']:.3f}%" if with_akd else ""))
    for rd in refiner_dirs:
        net = load_model(rd).eval()
        acc = {tuple(v): {k: [] for k in keys} for v in variants}
        for c, p in parts.items():
            idx = np.arange(0, len(p["pair_source"]), stride)
            raw = raw_deltas(net, p, idx)
            w, g = np.asarray(p["warped"])[idx], np.asarray(p["target"])[idx]
            for (a, t), m in acc.items():
                out = _apply(w, raw, a, t)
                for k, v in _scores(out, g).items():
                    m[k].append(v)
                if akd_of is not None:
                    m["akd"].append(akd_of(out, gt_points[c]))
        rows = {}
        warp_l1 = np.array([per_clip_warp[c]["l1"] for c in parts])
        for (a, t), m in acc.items():
            r = {k: float(np.mean(v)) for k, v in m.items()}
            ratios = np.array(m["l1"]) / warp_l1
            r["l1_ratio_per_clip"] = [float(x) for x in ratios]
            r["l1_ratio_mean"] = float(ratios.mean())  # each clip weighs the same, easy or hard
            r["l1_rel"] = r["l1"] / res["warp"]["l1"]
            r["ssim_gain"] = r["ssim"] - res["warp"]["ssim"]
            r["psnr_gain"] = r["psnr"] - res["warp"]["psnr"]
            if akd_of is not None:
                r["akd_gain"] = r["akd"] - res["warp"]["akd"]  # > 0: worse landmarks than the warp
            rows[f"a{a:g}_t{t:g}"] = r
            log(f"{rd}  alpha {a:g} tau {t:g}: L1 {r['l1']:.5f} ({r['l1_rel']:.4f}x warp, per-clip mean "
                f"{r['l1_ratio_mean']:.4f}x, better on {int((ratios < 1).sum())}/{len(ratios)}) "
                f"PSNR {r['psnr']:.3f} ({r['psnr_gain']:+.3f}) SSIM {r['ssim']:.5f} ({r['ssim_gain']:+.5f})"
                + (f" AKD {100 * r['akd']:.3f}% ({100 * r['akd_gain']:+.3f})" if akd_of is not None else ""))
        res["refiners"][str(rd)] = rows
        del net
        torch.cuda.empty_cache() if torch.cuda.is_available() else None
    return res


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clips", nargs="+", required=True)
    p.add_argument("--refiner", nargs="+", required=True)
    p.add_argument("--variants", type=float, nargs=2, action="append", default=None, metavar=("ALPHA", "TAU"))
    p.add_argument("--cache", default="out/cache/neural")
    p.add_argument("--part", default="refine128_r256")
    p.add_argument("--stride", type=int, default=2)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", default=None)
    p.add_argument("--akd", action="store_true", help="also landmark error (AKD) of every variant (mediapipe; slower)")
    p.add_argument("--build", action="store_true", help="render missing warp pairs of --clips into --cache first")
    p.add_argument("--videos", default="../shared/data/real/videos")
    a = p.parse_args(argv)
    import re

    import cv2
    import torch

    torch.set_num_threads(a.threads)
    cv2.setNumThreads(a.threads)
    if a.build:
        from talkinghead.train.data import DEFAULT_HOLDOUT, DataConfig, build_cache

        bad = sorted(set(a.clips) & set(DEFAULT_HOLDOUT))
        if bad:
            raise SystemExit(f"refusing to build validation pairs of held-out test clips: {bad}")
        m = re.fullmatch(r"refine(\d+)_r(\d+)", a.part)
        if not m:
            raise SystemExit(f"--part must look like refine<S>_r<R>, got {a.part!r}")
        build_cache(DataConfig(videos=a.videos, cache=a.cache, size=int(m.group(1)), render_size=int(m.group(2)),
                               include=tuple(a.clips)), ("refine",))
    variants = a.variants or [(1.0, 0.0)]
    res = evaluate(a.refiner, a.clips, variants, a.cache, a.part, a.stride, with_akd=a.akd)
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
