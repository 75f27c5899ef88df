"""Neural renderer benchmarks and evaluations (CPU; one torch thread unless --threads).

    python benchmarks/bench_neural.py speed     [--size 256] [--frames 50]
    python benchmarks/bench_neural.py reenact   [--clips talk_m_grid_03a ...] [--max-frames 100] [--json out.json]
    python benchmarks/bench_neural.py fewshot   --model DIR [--k 1 8 32] [--finetune-steps 40]
    python benchmarks/bench_neural.py keypoints --model out/train/keypoint_shapes/final

* speed: ms per frame of the warp renderer alone, warp + refiner (NeuralRenderer), the few-shot
  generator and the FOMM generator (default architecture, untrained: speed only) at --size px.
* reenact: held-out self-reenactment (the protocol of talkinghead.eval.reenact: source = first
  frame, driver = the clip) with the warp renderer and with warp + refiner from the *same* warp
  render; L1 / PSNR / SSIM / AKD (+ L1 in the mouth box) against the real crops, and the static source.
* fewshot: on held-out clips, K frames of the first half are embedded (K = 1, 8, 32), the second
  half is generated from its landmarks; embedding-only vs fine-tuned; static (first frame) baseline.
* keypoints: FOMM on held-out procedural shapes (seed not seen in training): self-reenactment L1;
  keypoint error (AKD, px) between the generated frame and the driving frame; and the error (px) of
  the true object and disc centres regressed linearly from the detected keypoints (fitted on
  training videos), for driving, generated and static-source frames vs the driving frame's truth.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "real"
HELD_OUT = ["talk_m_grid_03a", "talk_m_grid_03b", "talk_f_vidtimit", "drive_m_trump"]


def _clip_path(stem: str) -> Path:
    """A video file path as given, or the stem of a clip in ../shared/data/real/videos."""
    if Path(stem).is_file():
        return Path(stem)
    for p in (SHARED / "videos").glob(stem + ".*"):
        return p
    raise SystemExit(f"clip {stem}: not a file, and not found under {SHARED / 'videos'}")


# -- speed -------------------------------------------------------------------------------------------
def bench_speed(a) -> dict:
    import torch

    from talkinghead.config import AnimateConfig
    from talkinghead.pipelines.source import prepare_source
    from talkinghead.render.neural import NeuralRenderer
    from talkinghead.render.warp import WarpRenderer

    portrait = a.portrait or str(SHARED / "portraits" / "photo_f_may.png")
    src = prepare_source(portrait, AnimateConfig(size=a.size, mode="face"), log=lambda *x: None)
    pts = src.points[:, :2]
    from talkinghead.face import topology as T

    def targets():
        for i in range(a.frames):
            t = pts.copy()
            t += np.array([2.0 * np.sin(i / 5), 1.5 * np.cos(i / 7)], np.float32)
            t[T.INNER_LIPS[6:15]] += np.array([0, 4.0 * (1 + np.sin(i / 3))], np.float32)  # lower lip drops
            yield t

    def timeit(r) -> float:
        r.prepare(src.crop, pts)
        r.render(pts)  # warm-up
        ts = []
        for t in targets():
            t0 = time.perf_counter()
            r.render(t)
            ts.append(time.perf_counter() - t0)
        return 1000 * float(np.median(ts))

    res = {"size": a.size, "threads": torch.get_num_threads(), "frames": a.frames}
    res["warp_ms"] = timeit(WarpRenderer())
    res["warp_refiner_ms"] = timeit(NeuralRenderer("refiner", a.refiner))
    fs = Path(a.fewshot) if a.fewshot else ROOT / "src" / "talkinghead" / "assets" / "neural" / "fewshot"
    if (fs / "generator").exists():
        res["fewshot_ms"] = timeit(NeuralRenderer("fewshot", fs))
    from talkinghead.models.generator import GeneratorConfig, OcclusionAwareGenerator
    from talkinghead.models.keypoint import KeypointConfig, KeypointDetector

    kd, g = KeypointDetector(KeypointConfig()).eval(), OcclusionAwareGenerator(GeneratorConfig()).eval()
    x = torch.rand(1, 3, a.size, a.size)
    with torch.inference_mode():
        kp = kd(x)
        ts = []
        for _ in range(max(3, a.frames // 10)):
            t0 = time.perf_counter()
            kpd = kd(x)
            g(x, kp["value"], kpd["value"], kp["jacobian"], kpd["jacobian"])
            ts.append(time.perf_counter() - t0)
    res["fomm_default_ms"] = 1000 * float(np.median(ts))
    res["fomm_default_params_m"] = (sum(p.numel() for p in kd.parameters()) + g.num_parameters()) / 1e6
    return res


# -- held-out self-reenactment: warp vs warp + refiner -----------------------------------------------
class _Tee:
    """Renders with the warp once and returns the refined crop; keeps the warp crops.

    ``variants``: extra (output_scale, shrink) settings applied to the same raw correction (the
    network runs once per frame): their crops are kept in ``self.variants[(alpha, tau)]``.
    """

    def __init__(self, nr, variants=()):
        self.nr, self.warped = nr, []
        self.variants = {v: [] for v in variants}

    def prepare(self, image, points):
        self.nr.prepare(image, points)

    def render(self, target, mouth=None, scene=None):
        w = self.nr.warp.render(target, mouth, scene)
        self.warped.append(w)
        if not self.variants:
            return self.nr.refine(w, target)
        import torch

        from talkinghead.models.refiner import shrink_correction
        from talkinghead.render.neural import add_correction

        raw = torch.from_numpy(self.nr.correction(w, target, raw=True))  # one network pass for all settings
        for (a, t), out in self.variants.items():
            out.append(add_correction(w, shrink_correction(raw, a, t).numpy()))
        cfg = self.nr.net.config
        return add_correction(w, shrink_correction(raw, cfg.output_scale, cfg.shrink).numpy())


def reenact_clip(clip: Path, refiner_dir, size: int, max_frames: int, mesh, variants=(), no_akd: bool = False,
                 grid: str | None = None, lm68=None) -> dict:
    from talkinghead.config import AnimateConfig
    from talkinghead.eval.metrics import akd, l1, psnr, ssim
    from talkinghead.face import topology as T
    from talkinghead.face.crop import crop_image
    from talkinghead.io.image import write_image
    from talkinghead.io.video import VideoReader
    from talkinghead.pipelines.animate import AnimatePipeline
    from talkinghead.render.neural import NeuralRenderer

    with VideoReader(clip) as r:
        first = next(iter(r))
    tee = _Tee(NeuralRenderer("refiner", refiner_dir), variants)
    with tempfile.TemporaryDirectory() as td:
        png = os.path.join(td, "source.png")
        write_image(png, first)
        cfg = AnimateConfig(size=size, reference="first", mode="face")
        res = AnimatePipeline(cfg, renderer=tee, notify=lambda *x, **k: None)(png, clip, None, keep_crops=True,
                                                                               max_frames=max_frames)
    src = res.source
    H, W = src.canvas.shape[:2]
    vnames = [f"a{a:g}_t{t:g}" for a, t in variants]
    names = ("warp", "refined", "static", *vnames)
    acc = {n: {k: [] for k in ("l1", "psnr", "ssim", "akd", "l1_mouth")} for n in names}

    def lms(img):
        f = mesh.detect(img)
        return f[0].points[:, :2] if f else None

    lm_static = lms(src.crop)
    frame_akd = {"warp": [], "refined": []}  # per frame (NaN: no face found), for paired comparisons
    frame_akd68 = {"warp": [], "refined": [], "static": []}  # the same with dlib's 68 points (--akd68) ...
    frame_akd68b = {"warp": [], "refined": [], "static": []}  # ... and fitted in the real frame's face box
    lm68_static = lm68(src.crop) if lm68 else None
    with VideoReader(clip) as r:
        for i, frame in enumerate(r):
            if i >= len(res.crops):
                break
            if i == 0:
                continue
            gt = crop_image(cv2.resize(frame, (W, H), interpolation=cv2.INTER_AREA if W < frame.shape[1]
                                       else cv2.INTER_CUBIC), src.crop_tf)
            lm_gt = lms(gt)
            if lm68:
                gbox = lm68.detect(gt)
                g68 = lm68(gt, gbox) if gbox is not None else None
                for n, img in (("warp", tee.warped[i]), ("refined", res.crops[i]), ("static", src.crop)):
                    p68 = lm68_static if n == "static" else lm68(img)
                    ok = g68 is not None and p68 is not None
                    frame_akd68[n].append(akd(p68, g68, lm68.interocular(g68)) if ok else float("nan"))
                    b68 = lm68(img, gbox) if g68 is not None else None
                    frame_akd68b[n].append(akd(b68, g68, lm68.interocular(g68)) if b68 is not None else float("nan"))
            box = None
            if lm_gt is not None:
                lip = lm_gt[T.OUTER_LIPS]
                (x0, y0), (x1, y1) = np.floor(lip.min(0) - 4).astype(int), np.ceil(lip.max(0) + 4).astype(int)
                box = (slice(max(y0, 0), y1), slice(max(x0, 0), x1))
            imgs = (tee.warped[i], res.crops[i], src.crop, *(tee.variants[v][i] for v in variants))
            for n, img in zip(names, imgs):
                a = acc[n]
                a["l1"].append(l1(img, gt))
                a["psnr"].append(psnr(img, gt))
                a["ssim"].append(ssim(img, gt))
                if box is not None:
                    a["l1_mouth"].append(l1(img[box], gt[box]))
                if no_akd and n not in ("warp", "refined", "static"):
                    continue
                lm = lm_static if n == "static" else lms(img)
                e = akd(lm[:468], lm_gt[:468], T.interocular(lm_gt)) if lm_gt is not None and lm is not None else None
                if e is not None:
                    a["akd"].append(e)
                if n in ("warp", "refined"):
                    frame_akd[n].append(float("nan") if e is None else e)
            if grid and i == len(res.crops) // 2:  # warp | refined | 8x |refined - warp| | real
                from talkinghead.io.image import write_image

                diff = np.clip(8.0 * np.abs(res.crops[i].astype(np.float32) - tee.warped[i].astype(np.float32)), 0, 255)
                Path(grid).mkdir(parents=True, exist_ok=True)
                write_image(Path(grid) / f"{clip.stem}_f{i:03d}.png",
                            np.concatenate([tee.warped[i], res.crops[i], diff.astype(np.uint8), gt], 1))
    out = {"clip": clip.name, "frames": len(res.crops) - 1,
           "akd_warp_refined": [list(x) for x in zip(frame_akd["warp"], frame_akd["refined"])]}
    if lm68:
        out["akd68_warp_refined_static"] = [list(x) for x in zip(*frame_akd68.values())]
        out["akd68box_warp_refined_static"] = [list(x) for x in zip(*frame_akd68b.values())]
    for n in names:
        out[n] = {k: float(np.mean(v)) if v else float("nan") for k, v in acc[n].items()}
    return out


def bench_reenact(a) -> dict:
    from talkinghead.face.mesh import FaceMesh

    rows = []
    lm68 = None
    if a.akd68:
        side = ROOT / ".venv" / "eval-side"  # made by `make install`
        if side.is_dir() and str(side) not in sys.path:
            sys.path.append(str(side))
        from talkinghead.eval.dlib_models import Landmarks68

        try:
            lm68 = Landmarks68()
        except RuntimeError as e:
            raise SystemExit(f"--akd68: {e}") from None
    with FaceMesh(static=True) as mesh:
        for stem in a.clips:
            t0 = time.time()
            rows.append(reenact_clip(_clip_path(stem), a.refiner, a.size, a.max_frames, mesh,
                                     [tuple(v) for v in a.variants], a.variants_no_akd, a.grid, lm68))
            r = rows[-1]
            print(f"{stem:20s} {r['frames']:4d}f  " + "  ".join(
                f"{n}: L1 {r[n]['l1']:.4f} SSIM {r[n]['ssim']:.4f} AKD {100 * r[n]['akd']:.2f}% mouthL1 {r[n]['l1_mouth']:.4f}"
                for n in ("warp", "refined", "static")) + f"  ({time.time() - t0:.0f}s)", flush=True)
    names = [k for k in rows[0] if isinstance(rows[0][k], dict)]
    mean = {n: {k: float(np.nanmean([r[n][k] for r in rows])) for k in rows[0][n]} for n in names}
    ci = akd_difference_ci([np.asarray(r["akd_warp_refined"], float) for r in rows])
    print(f"AKD refined - warp: {100 * ci[0]:+.4f} points, 95% paired bootstrap interval "
          f"[{100 * ci[1]:+.4f}, {100 * ci[2]:+.4f}] (frames resampled within each clip)")
    out = {"rows": rows, "mean": mean, "akd_refined_minus_warp": {"mean": ci[0], "ci95": [ci[1], ci[2]]}}
    # FOMM's definition: 68 points from an independent detector (dlib), % of the outer-eye distance; each
    # image's own face box ("akd68"), and fitted in the real frame's box ("akd68box": no box jitter)
    for key, label in (("akd68", "own box"), ("akd68box", "real frame's box")):
        if key + "_warp_refined_static" not in rows[0]:
            break
        per = [np.asarray(r[key + "_warp_refined_static"], float) for r in rows]
        m68 = {n: float(np.mean([np.nanmean(p[:, j]) for p in per])) for j, n in enumerate(("warp", "refined", "static"))}
        ci68 = akd_difference_ci([p[:, :2] for p in per])
        for r, p in zip(rows, per):
            print(f"{r['clip'][:20]:20s} {key} warp {100 * np.nanmean(p[:, 0]):.3f}% refined {100 * np.nanmean(p[:, 1]):.3f}% "
                  f"static {100 * np.nanmean(p[:, 2]):.3f}%  (faces found in {int(np.isfinite(p[:, :2]).all(1).sum())}/{len(p)})")
        print(f"{key} (dlib 68 points, {label}): warp {100 * m68['warp']:.3f}% refined {100 * m68['refined']:.3f}% "
              f"static {100 * m68['static']:.3f}%; refined - warp {100 * ci68[0]:+.4f} points, 95% interval "
              f"[{100 * ci68[1]:+.4f}, {100 * ci68[2]:+.4f}]")
        out[key] = m68 | {"refined_minus_warp": {"mean": ci68[0], "ci95": [ci68[1], ci68[2]]}}
    return out


def akd_difference_ci(pairs: list[np.ndarray], n_boot: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """Mean over clips of the per-clip mean (refined - warp) AKD, and its 95 % bootstrap interval, resampling
    frames within each clip (frames where either face was not found are dropped)."""
    d = [p[:, 1] - p[:, 0] for p in pairs]
    d = [x[np.isfinite(x)] for x in d]
    d = [x for x in d if len(x)]
    rng = np.random.default_rng(seed)
    boots = [np.mean([x[rng.integers(0, len(x), len(x))].mean() for x in d]) for _ in range(n_boot)]
    return float(np.mean([x.mean() for x in d])), float(np.percentile(boots, 2.5)), float(np.percentile(boots, 97.5))


# -- few-shot: K = 1/8/32, embedding only vs fine-tuned ----------------------------------------------
def bench_fewshot(a) -> dict:
    import torch

    from talkinghead.eval.metrics import l1, ssim
    from talkinghead.models.blocks import landmark_image, to_image, to_tensor
    from talkinghead.models.modeling import load_model
    from talkinghead.render.neural import default_fewshot_dir
    from talkinghead.train.data import cache_aligned, track_clip
    from talkinghead.train.loop import FinetuneConfig, finetune_person

    model = Path(a.model) if a.model else default_fewshot_dir()
    E, G = load_model(model / "embedder"), load_model(model / "generator")
    S = G.config.image_size
    cache = Path(a.eval_cache)
    results = []
    for stem in a.clips:
        clip = _clip_path(stem)
        pts = track_clip(clip, cache / stem, a.max_frames)
        cache_aligned(clip, cache / stem, pts, S)
        crops = np.load(cache / stem / f"aligned{S}.npy")
        cp = np.load(cache / stem / f"aligned{S}_points.npy")
        ok = np.flatnonzero(np.isfinite(cp).all(axis=(1, 2)))
        half = ok[: len(ok) // 2]
        test = ok[len(ok) // 2:][:: a.test_stride]
        ys = {i: to_tensor(landmark_image(cp[i], S)) for i in test}
        for k in a.k:
            ref = half[np.linspace(0, len(half) - 1, k).round().astype(int)] if k > 1 else half[:1]
            x = torch.cat([to_tensor(crops[i]) for i in ref])
            y = torch.cat([to_tensor(landmark_image(cp[i], S)) for i in ref])
            with torch.no_grad():
                e = E.embed(x, y)
                gens = {"embedding": G.personalize(e).eval()}
            if a.finetune_steps > 0:
                with tempfile.TemporaryDirectory() as td:
                    finetune_person(crops[ref], cp[ref], model, td,
                                    FinetuneConfig(steps=a.finetune_steps, batch_size=min(4, 2 * k)), progress=False)
                    gens["finetuned"] = load_model(Path(td) / "generator")
            row = {"clip": stem, "k": int(k)}
            for name, g in gens.items():
                with torch.no_grad():
                    outs = [to_image(g(ys[i])) for i in test]
                row[name] = {"l1": float(np.mean([l1(o, crops[i]) for o, i in zip(outs, test)])),
                             "ssim": float(np.mean([ssim(o, crops[i]) for o, i in zip(outs, test)]))}
            row["static"] = {"l1": float(np.mean([l1(crops[ref[0]], crops[i]) for i in test])),
                             "ssim": float(np.mean([ssim(crops[ref[0]], crops[i]) for i in test]))}
            if a.grid:
                from talkinghead.io.image import write_image

                i = test[len(test) // 2]
                cells = [crops[ref[0]], to_image(ys[i])] + [to_image(g(ys[i]).detach()) for g in gens.values()] + [crops[i]]
                Path(a.grid).mkdir(parents=True, exist_ok=True)
                write_image(Path(a.grid) / f"{stem}_k{k}.png", np.concatenate(cells, 1))
            results.append(row)
            print(json.dumps(row), flush=True)
    return {"rows": results}


# -- keypoint model on moving shapes ---------------------------------------------------------------
def bench_keypoints(a) -> dict:
    import torch

    from talkinghead.models.modeling import load_model
    from talkinghead.train.data import MovingShapes, to_chw

    if not a.model:
        raise SystemExit("keypoints: --model is required (the keypoint model is not bundled; "
                         "train one with `talkinghead train --config configs/keypoint_shapes.yaml`)")
    kd, g = load_model(Path(a.model) / "detector"), load_model(Path(a.model) / "generator")
    ds = MovingShapes(a.size, a.videos, 32, seed=a.seed)  # a seed never used in training
    half = (a.size - 1) / 2  # [-1, 1] -> px

    def truth(d, v, t):  # ground truth: polygon centre and disc centre, (4,) in [-1, 1]
        k = d.keypoints(v, t)
        return np.r_[k[:-1].mean(0), k[-1]]

    # Unsupervised-keypoint protocol (Thewlis et al. 2017): a linear map from the detected keypoints
    # to the true points, fitted on training videos (seed 0), applied to held-out frames.
    tr = MovingShapes(a.size, 32, 32, seed=0)
    with torch.no_grad():
        X = torch.cat([kd(torch.from_numpy(np.stack([to_chw(tr.render(v, t)) for t in range(32)])))["value"].flatten(1)
                       for v in range(32)]).numpy()
    Y = np.stack([truth(tr, v, t) for v in range(32) for t in range(32)])
    Wreg = np.linalg.lstsq(np.c_[X, np.ones(len(X))], Y, rcond=None)[0]

    def reg_err(kp, v, ts):  # mean px error of the regressed points vs the truth of frames ts
        pred = np.c_[kp.flatten(1).numpy(), np.ones(len(kp))] @ Wreg
        true = np.stack([truth(ds, v, t) for t in ts])
        return float(np.linalg.norm((pred - true).reshape(-1, 2, 2), axis=-1).mean() * half)

    acc = {"gen_l1": [], "static_l1": [], "akd_gen": [], "akd_static": [],
           "truth_err_driving": [], "truth_err_gen": [], "truth_err_static": []}
    with torch.no_grad():
        for v in range(a.videos):
            frames = torch.from_numpy(np.stack([to_chw(ds.render(v, t)) for t in range(32)]))
            src = frames[:1].expand(31, -1, -1, -1)
            drv = frames[1:]
            kp_s, kp_d = kd(src), kd(drv)
            pred = g(src, kp_s["value"], kp_d["value"], kp_s["jacobian"], kp_d["jacobian"])["prediction"]
            kp_p = kd(pred)
            ts = range(1, 32)
            acc["truth_err_driving"].append(reg_err(kp_d["value"], v, ts))
            acc["truth_err_gen"].append(reg_err(kp_p["value"], v, ts))
            acc["truth_err_static"].append(reg_err(kp_s["value"], v, ts))
            acc["gen_l1"].append(float((pred - drv).abs().mean()))
            acc["static_l1"].append(float((src - drv).abs().mean()))
            acc["akd_gen"].append(float((kp_p["value"] - kp_d["value"]).norm(dim=-1).mean() * half))
            acc["akd_static"].append(float((kp_s["value"] - kp_d["value"]).norm(dim=-1).mean() * half))
            if v == 0 and a.grid:
                from talkinghead.io.image import write_image
                from talkinghead.train.loop import _draw_kp

                idx = [3, 10, 20, 30]
                cols = [_draw_kp(src[idx], kp_s["value"][idx]), _draw_kp(drv[idx], kp_d["value"][idx]),
                        _draw_kp(pred[idx], kp_p["value"][idx])]
                grid = torch.cat([torch.cat(list(c), 1) for c in cols], 2)
                grid = torch.nn.functional.interpolate(grid[None], scale_factor=3, mode="nearest")[0]
                write_image(a.grid, (grid.clamp(0, 1) * 255).byte().permute(1, 2, 0).numpy())
    return {k: float(np.mean(v)) for k, v in acc.items()} | {"videos": a.videos, "size_px": a.size}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=["speed", "reenact", "fewshot", "keypoints"])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--size", type=int, default=None)
    p.add_argument("--frames", type=int, default=50)
    p.add_argument("--portrait", default=None)
    p.add_argument("--refiner", default=None, help="refiner folder (default: bundled)")
    p.add_argument("--fewshot", default=None, help="few-shot model folder for the speed test")
    p.add_argument("--clips", nargs="+", default=HELD_OUT,
                   help="reenact: video files, or stems of clips in ../shared/data/real/videos (default: the 4 test clips)")
    p.add_argument("--max-frames", type=int, default=100)
    p.add_argument("--variants", type=float, nargs=2, action="append", default=[], metavar=("ALPHA", "TAU"),
                   help="reenact: also score output_scale ALPHA / shrink TAU applied to the same raw correction "
                        "(repeatable; for choosing them on validation clips)")
    p.add_argument("--akd68", action="store_true",
                   help="reenact: also AKD on dlib's 68 points (FOMM's definition; uses .venv/eval-side, made by "
                        "`make install`)")
    p.add_argument("--variants-no-akd", action="store_true", help="reenact: skip AKD for the --variants (faster)")
    p.add_argument("--model", default=None, help="fewshot: model folder (default: bundled); keypoints: required")
    p.add_argument("--k", type=int, nargs="+", default=[1, 8, 32])
    p.add_argument("--finetune-steps", type=int, default=40)
    p.add_argument("--test-stride", type=int, default=3)
    p.add_argument("--eval-cache", default="out/cache/neural_eval")
    p.add_argument("--videos", type=int, default=16)
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--grid", default=None, help="also write a sample image/folder here")
    p.add_argument("--json", default=None)
    a = p.parse_args(argv)
    import torch

    torch.set_num_threads(a.threads)
    cv2.setNumThreads(a.threads)
    a.size = a.size or {"keypoints": 64}.get(a.mode, 256)
    t0 = time.time()
    res = {"speed": bench_speed, "reenact": bench_reenact, "fewshot": bench_fewshot, "keypoints": bench_keypoints}[a.mode](a)
    res["wall_s"] = round(time.time() - t0, 1)
    text = json.dumps(res, indent=2)
    print(text if a.mode != "reenact" else json.dumps(res["mean"], indent=2))
    if a.json:
        Path(a.json).write_text(text)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.exit(main())
