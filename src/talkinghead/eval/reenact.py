"""Self-reenactment: source = a clip's first frame, driver = the clip; compare with the real frames.

Reports L1, PSNR, SSIM (on the face crop, at the pipeline's crop size) and AKD (mean landmark
distance between mediapipe landmarks of output and real crops, as a fraction of the real
inter-ocular distance) for our output and for the static-source baseline (the first frame held).
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from talkinghead.config import AnimateConfig
from talkinghead.errors import InputError
from talkinghead.eval.metrics import akd, l1, nan_mean, psnr, ssim
from talkinghead.face import topology as T
from talkinghead.face.crop import crop_image
from talkinghead.face.mesh import FaceMesh
from talkinghead.io.image import write_image
from talkinghead.io.video import VideoReader
from talkinghead.pipelines.animate import AnimatePipeline

VIDEO_EXT = {".mp4", ".mpg", ".mov", ".avi", ".mkv", ".webm", ".m4v"}


def list_clips(paths: list[str]) -> list[Path]:
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out += sorted(q for q in p.iterdir() if q.suffix.lower() in VIDEO_EXT)
        else:
            out.append(p)
    if not out:
        raise InputError(paths[0] if len(paths) == 1 else None,
                         f"no video clips ({', '.join(sorted(VIDEO_EXT))}) in {', '.join(map(str, paths))}")
    return out


def _landmarks(mesh: FaceMesh, img: np.ndarray) -> np.ndarray | None:
    faces = mesh.detect(img)
    return faces[0].points[:468, :2] if faces else None


def reenact_clip(clip: Path, size: int = 256, max_frames: int = 150, mesh: FaceMesh | None = None) -> dict:
    """Metrics for one clip: {'clip', 'frames', 'ours': {...}, 'static': {...}}."""
    with VideoReader(clip) as r:
        first = next(iter(r))
    with tempfile.TemporaryDirectory() as td:
        src_png = os.path.join(td, "source.png")
        write_image(src_png, first)
        cfg = AnimateConfig(size=size, reference="first", mode="face", resolution=0)  # scored on the crops
        try:
            res = AnimatePipeline(cfg)(src_png, clip, None, keep_crops=True, max_frames=max_frames)
        except InputError as e:  # name the clip, not the temporary first-frame image
            if str(e.path) == src_png:
                raise InputError(clip, f"first frame: {e.reason}") from None
            raise
    src = res.source
    H, W = src.canvas.shape[:2]
    own_mesh = mesh is None
    mesh = mesh or FaceMesh(static=True)
    acc = {"ours": {"l1": [], "psnr": [], "ssim": [], "akd": []},
           "static": {"l1": [], "psnr": [], "ssim": [], "akd": []}}
    lm_static = _landmarks(mesh, src.crop)
    try:
        with VideoReader(clip) as r:
            for i, frame in enumerate(r):
                if i >= len(res.crops):
                    break
                if i == 0:
                    continue  # the source frame itself
                gt = crop_image(cv2.resize(frame, (W, H), interpolation=cv2.INTER_AREA if W < frame.shape[1]
                                           else cv2.INTER_CUBIC), src.crop_tf)
                lm_gt = _landmarks(mesh, gt)
                for name, img, lm in (("ours", res.crops[i], None), ("static", src.crop, lm_static)):
                    a = acc[name]
                    a["l1"].append(l1(img, gt))
                    a["psnr"].append(psnr(img, gt))
                    a["ssim"].append(ssim(img, gt))
                    if name == "ours":
                        lm = _landmarks(mesh, img)
                    if lm_gt is not None and lm is not None:
                        a["akd"].append(akd(lm, lm_gt, T.interocular(lm_gt)))
    finally:
        if own_mesh:
            mesh.close()
    out = {"clip": clip.name, "frames": len(res.crops) - 1}
    for name, a in acc.items():
        out[name] = {k: float(np.mean(v)) if v else float("nan") for k, v in a.items()}
    return out


def run_reenact(paths: list[str], size: int = 256, max_frames: int = 150, progress: bool = False) -> list[dict]:
    rows = []
    with FaceMesh(static=True) as mesh:
        for clip in tqdm(list_clips(paths), desc="reenact", disable=not progress):
            rows.append(reenact_clip(clip, size, max_frames, mesh))
    return rows


def summarize(rows: list[dict]) -> dict:
    keys = ("l1", "psnr", "ssim", "akd")
    mean = {n: {k: nan_mean([r[n][k] for r in rows]) for k in keys} for n in ("ours", "static")}
    mean["l1_ratio"] = mean["ours"]["l1"] / mean["static"]["l1"]
    mean["ssim_gain"] = mean["ours"]["ssim"] - mean["static"]["ssim"]
    return mean


def format_table(rows: list[dict]) -> str:
    lines = [f"{'clip':28s} {'L1 ours/static':>17s} {'PSNR ours/static':>17s} {'SSIM ours/static':>17s} {'AKD% ours/static':>17s}"]
    for r in rows:
        o, s = r["ours"], r["static"]
        lines.append(f"{r['clip'][:28]:28s} {o['l1']:8.4f}/{s['l1']:.4f} {o['psnr']:8.2f}/{s['psnr']:6.2f} "
                     f"{o['ssim']:8.4f}/{s['ssim']:.4f} {100 * o['akd']:8.2f}/{100 * s['akd']:5.2f}")
    m = summarize(rows)
    lines.append(f"MEAN L1 {m['ours']['l1']:.4f} vs {m['static']['l1']:.4f} (ratio {m['l1_ratio']:.3f}); "
                 f"SSIM {m['ours']['ssim']:.4f} vs {m['static']['ssim']:.4f} (gain {m['ssim_gain']:+.4f}); "
                 f"AKD {100 * m['ours']['akd']:.2f}% vs {100 * m['static']['akd']:.2f}% of inter-ocular")
    return "\n".join(lines)
