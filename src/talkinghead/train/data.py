"""Training data: a folder of videos, preprocessed once into a cache; and procedural moving shapes.

Cache layout (``DataConfig.cache``; every array is a plain ``.npy``, read with ``allow_pickle=False``
and memory-mapped)::

    index.json                       settings + the clips and what each holds
    <clip>/points.npy                (T, 478, 3) float32 smoothed landmarks, image px (NaN: no face)
    <clip>/aligned<S>.npy            (T, S, S, 3) uint8 per-frame aligned face crops
                                     (talkinghead.face.crop.face_crop_transform, as the pipeline crops)
    <clip>/aligned<S>_points.npy     (T, 478, 2) float32 landmarks in those crops
    <clip>/refine<S>_r<R>/           warp-renderer pairs for the refiner (rendered at R px, stored at S):
        source.npy (n_src, S, S, 3), source_points.npy (n_src, 478, 2),
        warped.npy (N, S, S, 3), target.npy (N, S, S, 3), target_points.npy (N, 478, 2), pair_source.npy (N,)

The refiner pairs replay the self-reenactment protocol of :mod:`talkinghead.eval.reenact` with a
few source frames per clip: the source frame goes through ``prepare_source`` (static face mesh,
canvas, crop), the clip is the driver (tracked landmarks, relative transfer from the source frame,
scene flow, mouth transfer), and the warp renderer's crop is stored with the real frame cropped
the same way. The target landmarks are what the renderer was asked to match (what the neural
renderer sees at run time).

Landmark coordinates follow :mod:`talkinghead.face.types` (pixel centres at integers).
"""
from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from talkinghead.config import StrictConfig
from talkinghead.errors import ConfigError, InputError
from talkinghead.models.blocks import landmark_image

CACHE_VERSION = 1
VIDEO_EXT = {".mp4", ".mpg", ".mov", ".avi", ".mkv", ".webm", ".m4v"}
# Held-out identities (evaluation only): never in a training cache.
DEFAULT_HOLDOUT = ("talk_m_grid_03a", "talk_m_grid_03b", "talk_f_vidtimit", "drive_m_trump")


@dataclass
class DataConfig(StrictConfig):
    """Where training samples come from."""

    source: Literal["videos", "shapes"] = "videos"
    """``videos``: the cached folder of clips; ``shapes``: procedural moving shapes (no faces, no files)."""
    videos: str = "../shared/data/real/videos"
    """Folder of training clips (relative paths are relative to the working directory)."""
    cache: str = "out/cache/neural"
    holdout: tuple[str, ...] = DEFAULT_HOLDOUT
    """Clip stems never used for training (held-out identities)."""
    include: tuple[str, ...] = ()
    """Only these clip stems (empty: every clip not held out)."""
    size: int = 128
    """Stored / training resolution (px)."""
    render_size: int = 256
    """Refiner pairs: the warp renderer runs at this crop size (as in the pipeline), then is resized to ``size``."""
    max_frames: int = 150
    """Frames read per clip."""
    frame_stride: int = 2
    """Refiner pairs: every n-th frame is a target."""
    sources_per_clip: int = 2
    """Refiner pairs: source frames per clip (spread over the clip)."""
    k_shot: int = 8
    """Few-shot episodes: K frames embedded + 1 target."""
    k_shot_min: int = 0
    """Few-shot episodes: when >= 1, each episode embeds only its first K' frames, K' drawn in
    [k_shot_min, k_shot] (item key ``shots``), so one-shot personalisation is trained as well as
    K-shot (0: every episode embeds all k_shot frames)."""
    flip: bool = True
    """Random horizontal flips."""
    color_jitter: float = 0.0
    """Refiner pairs: random photometric change applied alike to warp, target and source (per-channel
    gain 1 +- j, brightness +- j/2, contrast 1 +- j), against learning the training people's colours (0: off)."""
    shift: int = 0
    """Refiner pairs: random translation by up to this many px, applied alike to every image (0: off)."""
    shapes_videos: int = 64
    shapes_frames: int = 32

    def __post_init__(self) -> None:
        self._check_literals()
        self.holdout, self.include = tuple(self.holdout), tuple(self.include)
        if self.size < 16 or self.render_size < self.size:
            raise ConfigError(None, f"size must be >= 16 and render_size >= size, got {self.size}, {self.render_size}")
        if self.max_frames < 2 or self.frame_stride < 1 or self.sources_per_clip < 1 or self.k_shot < 1:
            raise ConfigError(None, "max_frames >= 2, frame_stride, sources_per_clip and k_shot >= 1 required")
        if not 0 <= self.k_shot_min <= self.k_shot:
            raise ConfigError(None, f"k_shot_min must be in [0, k_shot={self.k_shot}], got {self.k_shot_min}")


# -- helpers ---------------------------------------------------------------------------------------
def scale_points(points: np.ndarray, src_size: int, dst_size: int) -> np.ndarray:
    """Crop px at ``src_size`` -> crop px at ``dst_size`` (pixel centres at integers on both sides)."""
    k = dst_size / src_size
    return ((np.asarray(points, np.float32)[..., :2] + 0.5) * k - 0.5).astype(np.float32)


def to_chw(img: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 -> (3, H, W) float32 in [0, 1]."""
    return np.ascontiguousarray(img.transpose(2, 0, 1), dtype=np.float32) / 255.0


def list_videos(folder: str | os.PathLike, holdout=(), include=()) -> list[Path]:
    d = Path(folder)
    if not d.is_dir():
        raise InputError(d, "training video folder not found")
    clips = sorted(p for p in d.iterdir() if p.suffix.lower() in VIDEO_EXT and p.stem not in set(holdout))
    if include:
        clips = [p for p in clips if p.stem in set(include)]
    if not clips:
        raise InputError(d, "no training clips (after holdout/include)")
    return clips


def _save(path: Path, arr: np.ndarray) -> None:
    tmp = path.with_name(path.name + ".tmp.npy")
    np.save(tmp, arr, allow_pickle=False)
    os.replace(tmp, path)


def _load(path: Path) -> np.ndarray:
    return np.load(path, mmap_mode="r", allow_pickle=False)


# -- cache building ----------------------------------------------------------------------------------
def track_clip(clip: Path, out: Path, max_frames: int) -> np.ndarray:
    """Landmarks of every frame (talkinghead.drivers.video.track_driver), cached as points.npy."""
    f = out / "points.npy"
    if f.exists():
        return np.load(f, allow_pickle=False)
    from talkinghead.drivers.video import track_driver

    track = track_driver(clip, max_frames=max_frames)
    pts = np.full((len(track.points), 478, 3), np.nan, np.float32)
    for i, p in enumerate(track.points):
        if p is not None and track.found[i]:
            pts[i] = p
    out.mkdir(parents=True, exist_ok=True)
    _save(f, pts)
    return pts


def cache_aligned(clip: Path, out: Path, pts: np.ndarray, size: int) -> None:
    """Per-frame aligned face crops (the pipeline's crop) at ``size`` px and their landmarks."""
    fi, fp = out / f"aligned{size}.npy", out / f"aligned{size}_points.npy"
    if fi.exists() and fp.exists():
        return
    from talkinghead.face.crop import crop_image, face_crop_transform
    from talkinghead.face.types import FaceLandmarks
    from talkinghead.io.video import VideoReader

    T = len(pts)
    crops = np.zeros((T, size, size, 3), np.uint8)
    cpts = np.full((T, 478, 2), np.nan, np.float32)
    with VideoReader(clip) as r:
        for i, frame in enumerate(r):
            if i >= T:
                break
            if not np.isfinite(pts[i]).all():
                continue
            face = FaceLandmarks(pts[i], (frame.shape[1], frame.shape[0]))
            tf = face_crop_transform(face, size)
            crops[i] = crop_image(frame, tf)
            cpts[i] = face.transformed(tf.M, (size, size)).points[:, :2]
    _save(fi, crops)
    _save(fp, cpts)


class _Recorder:
    """Wraps a renderer and remembers the target landmarks it was asked to render."""

    def __init__(self, inner):
        self.inner, self.targets = inner, []

    def prepare(self, image, points):
        self.inner.prepare(image, points)

    def render(self, target, mouth=None, scene=None):
        self.targets.append(np.asarray(target, np.float32)[:, :2].copy())
        return self.inner.render(target, mouth, scene)


def cache_refiner_pairs(clip: Path, out: Path, pts: np.ndarray, cfg: DataConfig, log=print) -> None:
    """Warp-renderer outputs vs real frames for a few source frames of ``clip`` (see module docstring)."""
    d = out / f"refine{cfg.size}_r{cfg.render_size}"
    if (d / "pair_source.npy").exists():
        return
    from talkinghead.config import AnimateConfig
    from talkinghead.drivers.video import track_driver
    from talkinghead.face.crop import crop_image, face_crop_transform
    from talkinghead.face.types import FaceLandmarks
    from talkinghead.io.image import write_image
    from talkinghead.io.video import VideoReader
    from talkinghead.motion.scene import SceneFlow
    from talkinghead.pipelines.animate import render_motions
    from talkinghead.pipelines.source import prepare_source
    from talkinghead.render.warp import WarpRenderer

    S, R = cfg.size, cfg.render_size
    track = track_driver(clip, max_frames=cfg.max_frames)
    found = np.flatnonzero(track.found)
    if len(found) < 2:
        log(f"{clip.name}: fewer than 2 frames with a face; skipped")
        return
    picks = sorted({int(found[int(q * (len(found) - 1))]) for q in np.linspace(0, 0.67, cfg.sources_per_clip)})
    acfg = AnimateConfig(size=R, reference="first", mode="face", resolution=0)
    idx = list(range(0, len(track.motions), cfg.frame_stride))
    srcs, src_pts, warped, target, tgt_pts, pair_src = [], [], [], [], [], []
    T = len(track.motions)
    for k in picks:
        with VideoReader(clip) as r:
            frame_k = next(f for i, f in enumerate(r) if i == k)
        with tempfile.TemporaryDirectory() as td:
            png = os.path.join(td, "source.png")
            write_image(png, frame_k)
            try:
                src = prepare_source(png, acfg, log=lambda *a, **kw: None)
            except InputError as e:
                log(f"{clip.name}: source frame {k} unusable ({e.reason}); skipped")
                continue
        H, W = frame_k.shape[:2]
        flow = SceneFlow()
        flow.set_reference(frame_k, face_crop_transform(FaceLandmarks(track.points[k], (W, H)), R))
        rec = _Recorder(WarpRenderer())
        current: dict[str, np.ndarray] = {}

        def driver_frames():  # streams the clip (a 1080p clip does not fit in memory); keeps the current frame
            with VideoReader(clip) as r:
                for i, f in zip(range(T), r):
                    if i % cfg.frame_stride == 0:
                        current["frame"] = f
                        yield f

        gen = render_motions(src, [track.motions[i] for i in idx], track.motions[k], acfg, rec,
                             driver_frames=driver_frames(), driver_points=[track.points[i] for i in idx],
                             scene_flow=flow)
        Hc, Wc = src.canvas.shape[:2]
        srcs.append(cv2.resize(src.crop, (S, S), interpolation=cv2.INTER_AREA))
        src_pts.append(scale_points(src.points, R, S))
        for n, (i, (_, crop)) in enumerate(zip(idx, gen)):
            if not track.found[i]:
                continue
            f = current["frame"]
            canvas = cv2.resize(f, (Wc, Hc), interpolation=cv2.INTER_AREA if Wc < f.shape[1] else cv2.INTER_CUBIC)
            gt = crop_image(canvas, src.crop_tf)
            warped.append(cv2.resize(crop, (S, S), interpolation=cv2.INTER_AREA))
            target.append(cv2.resize(gt, (S, S), interpolation=cv2.INTER_AREA))
            tgt_pts.append(scale_points(rec.targets[n], R, S))
            pair_src.append(len(srcs) - 1)
    if not warped:
        return
    d.mkdir(parents=True, exist_ok=True)
    for name, arr in (("source", np.stack(srcs)), ("source_points", np.stack(src_pts)),
                      ("warped", np.stack(warped)), ("target", np.stack(target)),
                      ("target_points", np.stack(tgt_pts))):
        _save(d / f"{name}.npy", arr)
    _save(d / "pair_source.npy", np.array(pair_src, np.int64))  # written last: marks the folder complete


def build_cache(cfg: DataConfig, need: tuple[str, ...], log=print) -> list[str]:
    """Preprocess every training clip once (idempotent: finished parts are reused). Returns clip stems.

    ``need``: "aligned" (per-frame crops) and/or "refine" (warp pairs).
    """
    root = Path(cfg.cache)
    if not Path(cfg.videos).is_dir() and (root / "index.json").is_file():
        # a cache built elsewhere (e.g. unpacked by talkinghead.train.cache_pack on a GPU machine)
        index = json.loads((root / "index.json").read_text())
        return [c for c in index["clips"] if c not in set(cfg.holdout) and (not cfg.include or c in set(cfg.include))]
    clips = list_videos(cfg.videos, cfg.holdout, cfg.include)
    root.mkdir(parents=True, exist_ok=True)
    done = []
    for n, clip in enumerate(clips):
        t0 = time.time()
        out = root / clip.stem
        try:
            pts = track_clip(clip, out, cfg.max_frames)
        except InputError as e:
            log(f"[cache] {clip.name}: skipped ({e.reason})")
            continue
        if "aligned" in need:
            cache_aligned(clip, out, pts, cfg.size)
        if "refine" in need:
            cache_refiner_pairs(clip, out, pts, cfg, log)
        done.append(clip.stem)
        log(f"[cache] {n + 1}/{len(clips)} {clip.name}: {time.time() - t0:.1f}s")
    write_index(root, done, cfg.holdout)
    return done


def write_index(root: Path, done: list[str], holdout) -> dict:
    """Merge ``done`` into the cache's index.json: a run on a subset of the clips (a validation split)
    keeps the other cached clips listed (a packed copy of the cache is read through the index).
    ``holdout`` lists the clips named as held out that the cache does not hold."""
    old = json.loads((root / "index.json").read_text()) if (root / "index.json").is_file() else {}
    clips = list(dict.fromkeys([c for c in old.get("clips", []) if (root / c).is_dir()] + list(done)))
    held = [h for h in dict.fromkeys(list(old.get("holdout", [])) + list(holdout)) if h not in clips]
    index = {"version": CACHE_VERSION, "clips": clips, "holdout": held}
    (root / "index.json").write_text(json.dumps(index, indent=2))
    return index


# -- datasets -------------------------------------------------------------------------------------
# A dataset has ``len()``, ``n_videos`` and ``item(i, rng) -> dict of arrays`` (images (C, H, W)
# float32 in [0, 1]); the training loop draws indices and per-item generators from (seed, step,
# position), so a sample is the same whichever process of a data-parallel run draws it.
def _draw_shots(d: dict[str, np.ndarray], k_min: int, k: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Mixed episode sizes: ``shots`` = how many of the K frames this episode embeds (drawn last, so
    the frames an item draws do not depend on it)."""
    if k_min:
        d["shots"] = np.array(rng.integers(k_min, k + 1), np.int64)
    return d


def _flip(d: dict[str, np.ndarray], keys) -> None:
    for k in keys:
        d[k] = np.ascontiguousarray(d[k][..., ::-1])


class RefinerPairs:
    """Cached warp pairs: {'warped', 'source', 'lm_target', 'lm_source', 'target'} (3, S, S)."""

    def __init__(self, cfg: DataConfig, clips: list[str]):
        self.cfg, self.parts = cfg, []
        for c in clips:
            d = Path(cfg.cache) / c / f"refine{cfg.size}_r{cfg.render_size}"
            if (d / "pair_source.npy").exists():
                self.parts.append({k: _load(d / f"{k}.npy") for k in
                                   ("source", "source_points", "warped", "target", "target_points", "pair_source")})
        if not self.parts:
            raise InputError(cfg.cache, "no refiner pairs in the cache")
        self.offsets = np.cumsum([0] + [len(p["pair_source"]) for p in self.parts])
        self.n_videos = len(self.parts)

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def item(self, i: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        c = int(np.searchsorted(self.offsets, i, side="right") - 1)
        p, j = self.parts[c], i - int(self.offsets[c])
        s = int(p["pair_source"][j])
        S = self.cfg.size
        d = {"warped": to_chw(p["warped"][j]), "target": to_chw(p["target"][j]), "source": to_chw(p["source"][s]),
             "lm_target": to_chw(landmark_image(p["target_points"][j], S)),
             "lm_source": to_chw(landmark_image(p["source_points"][s], S))}
        if self.cfg.flip and rng.random() < 0.5:
            _flip(d, list(d))
        j = self.cfg.color_jitter
        if j > 0:  # same photometric change for all photos (not the landmark drawings)
            gain = (1 + rng.uniform(-j, j)) * (1 + rng.uniform(-j / 3, j / 3, (3, 1, 1)))
            bias, contrast = rng.uniform(-j / 2, j / 2), 1 + rng.uniform(-j, j)
            for k in ("warped", "target", "source"):
                x = d[k] * gain.astype(np.float32)
                m = x.mean()
                d[k] = np.clip((x - m) * contrast + m + bias, 0, 1).astype(np.float32)
        if self.cfg.shift > 0:
            dy, dx = (int(v) for v in rng.integers(-self.cfg.shift, self.cfg.shift + 1, 2))
            for k in d:
                d[k] = np.ascontiguousarray(np.roll(d[k], (dy, dx), axis=(1, 2)))
        return d


class AlignedFrames:
    """Per-frame aligned crops: pairs (keypoint model) or K+1-frame episodes (few-shot)."""

    def __init__(self, cfg: DataConfig, clips: list[str], mode: Literal["pairs", "episodes"]):
        self.cfg, self.mode = cfg, mode
        self.crops, self.points, self.valid = [], [], []
        for c in clips:
            d = Path(cfg.cache) / c
            f = d / f"aligned{cfg.size}.npy"
            if not f.exists():
                continue
            pts = _load(d / f"aligned{cfg.size}_points.npy")
            ok = np.flatnonzero(np.isfinite(np.asarray(pts)).all(axis=(1, 2)))
            if len(ok) < 2:
                continue
            self.crops.append(_load(f))
            self.points.append(pts)
            self.valid.append(ok)
        if mode == "episodes":  # every frame's landmark picture, drawn once (drawing them per step set the pace)
            self.lm_images = [{int(f): landmark_image(pts[f], cfg.size) for f in ok}
                              for pts, ok in zip(self.points, self.valid)]
        if not self.crops:
            raise InputError(cfg.cache, "no aligned crops in the cache")
        self.n_videos = len(self.crops)
        self.per_video = 256  # nominal samples per video and epoch (indices wrap)

    def __len__(self) -> int:
        return self.n_videos * self.per_video

    def item(self, i: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        v = i % self.n_videos
        ok = self.valid[v]
        flip = self.cfg.flip and rng.random() < 0.5
        if self.mode == "pairs":
            a, b = rng.choice(ok, 2, replace=len(ok) < 2)
            d = {"source": to_chw(self.crops[v][a]), "driving": to_chw(self.crops[v][b])}
            if flip:
                _flip(d, list(d))
            return d
        K = self.cfg.k_shot
        fr = rng.choice(ok, K + 1, replace=len(ok) < K + 1)
        frames = np.stack([to_chw(self.crops[v][f]) for f in fr])
        lms = np.stack([to_chw(self.lm_images[v][int(f)]) for f in fr])
        d = {"frames": frames, "landmarks": lms}
        if flip:
            _flip(d, list(d))
        d["video"] = np.array(v, np.int64)
        return _draw_shots(d, self.cfg.k_shot_min, K, rng)


class MovingShapes:
    """Procedural non-face subjects: a textured polygon with a small articulated disc, on a
    gradient background, moving by smooth random translation, rotation and scale.

    Deterministic in (seed, video, frame). ``keypoints(v, t)`` gives the true positions (polygon
    vertices + disc centre) in [-1, 1], for keypoint-error evaluation. Items as the face datasets:
    ``pairs`` (source, driving), ``episodes`` (frames, landmarks = outline drawing, video) or
    ``refine`` (a rigid-only warp of the source as 'warped': the disc's own motion is missing
    and the exposure is 20 % low).
    """

    def __init__(self, size: int = 64, n_videos: int = 64, n_frames: int = 32, seed: int = 0,
                 mode: str = "pairs", k_shot: int = 4, flip: bool = False, k_shot_min: int = 0):
        self.size, self.n_videos, self.n_frames, self.seed = size, n_videos, n_frames, seed
        self.mode, self.k_shot, self.flip, self.k_shot_min = mode, k_shot, flip, k_shot_min
        self._videos = [self._video_params(v) for v in range(n_videos)]

    def __len__(self) -> int:
        return self.n_videos * self.n_frames

    def _video_params(self, v: int) -> dict:
        r = np.random.default_rng([self.seed, v])
        n = int(r.integers(3, 7))
        ang = np.sort(r.uniform(0, 2 * np.pi, n)) if n > 3 else np.array([0, 2.1, 4.2]) + r.uniform(0, 1)
        rad = r.uniform(0.55, 1.0, n)
        return {"poly": np.c_[np.cos(ang) * rad, np.sin(ang) * rad],  # unit-shape vertices
                "bg": r.uniform(0, 255, (2, 3)), "fg": r.uniform(0, 255, (2, 3)), "disc_col": r.uniform(0, 255, 3),
                "stripes": r.uniform(3, 8), "phase": r.uniform(0, 2 * np.pi, 6), "freq": r.uniform(0.5, 1.5, 6),
                "center": r.uniform(-0.15, 0.15, 2), "scale": r.uniform(0.28, 0.38)}

    def pose(self, v: int, t: int) -> tuple[np.ndarray, float, float, np.ndarray]:
        """(centre [-1,1], rotation rad, scale, disc offset in shape units) at frame ``t``."""
        p = self._videos[v]
        w = 2 * np.pi * t / self.n_frames
        ph, fq = p["phase"], p["freq"]
        c = p["center"] + 0.25 * np.array([np.sin(fq[0] * w + ph[0]), np.sin(fq[1] * w + ph[1])])
        rot = 0.6 * np.sin(fq[2] * w + ph[2])
        sc = p["scale"] * (1 + 0.15 * np.sin(fq[3] * w + ph[3]))
        disc = 0.45 * np.array([np.cos(fq[4] * w + ph[4]), np.sin(fq[5] * w + ph[5])])
        return c, rot, sc, disc

    def keypoints(self, v: int, t: int, rigid_only_disc: np.ndarray | None = None) -> np.ndarray:
        """(n + 1, 2) true keypoints in [-1, 1]: polygon vertices, then the disc centre."""
        c, rot, sc, disc = self.pose(v, t)
        if rigid_only_disc is not None:
            disc = rigid_only_disc
        R = np.array([[np.cos(rot), -np.sin(rot)], [np.sin(rot), np.cos(rot)]])
        pts = np.r_[self._videos[v]["poly"], disc[None]]
        return (pts @ R.T) * sc + c

    def render(self, v: int, t: int, disc: np.ndarray | None = None, outline: bool = False) -> np.ndarray:
        """(S, S, 3) uint8 frame (or its outline drawing), drawn at 4x and area-downsampled."""
        p, S = self._videos[v], self.size
        U = 4 * S
        kp = self.keypoints(v, t, disc)
        px = (kp + 1) * 0.5 * (U - 1)
        if outline:
            ch0 = np.zeros((U, U), np.uint8)
            cv2.polylines(ch0, [np.round(px[:-1]).astype(np.int32)], True, 255, max(1, U // 64), cv2.LINE_AA)
            ch1 = np.zeros((U, U), np.uint8)
            _, _, sc, _ = self.pose(v, t)
            cv2.circle(ch1, tuple(np.round(px[-1]).astype(int)), int(0.25 * sc * U / 2), 255, -1, cv2.LINE_AA)
            img = np.stack([ch0, ch1, np.zeros_like(ch0)], -1)
        else:
            yy, xx = np.mgrid[0:U, 0:U] / U
            img = (p["bg"][0] * (1 - yy)[..., None] + p["bg"][1] * yy[..., None]).astype(np.uint8)
            mask = np.zeros((U, U), np.uint8)
            cv2.fillPoly(mask, [np.round(px[:-1]).astype(np.int32)], 255, cv2.LINE_AA)
            # texture fixed to the shape: stripes along the shape's own x axis
            c, rot, sc, _ = self.pose(v, t)
            u = ((xx * 2 - 1 - c[0]) * np.cos(rot) + (yy * 2 - 1 - c[1]) * np.sin(rot)) / sc
            st = (np.sin(u * p["stripes"] * np.pi) > 0)[..., None]
            fg = np.where(st, p["fg"][0], p["fg"][1])
            a = (mask / 255.0)[..., None]
            img = (img * (1 - a) + fg * a).astype(np.uint8)
            cv2.circle(img, tuple(np.round(px[-1]).astype(int)), int(0.25 * sc * U / 2),
                       tuple(float(x) for x in p["disc_col"]), -1, cv2.LINE_AA)
        return cv2.resize(img, (S, S), interpolation=cv2.INTER_AREA)

    def item(self, i: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        v = i % self.n_videos
        if self.mode == "pairs":
            a, b = rng.choice(self.n_frames, 2, replace=False)
            return {"source": to_chw(self.render(v, a)), "driving": to_chw(self.render(v, b))}
        if self.mode == "episodes":
            fr = rng.choice(self.n_frames, self.k_shot + 1, replace=False)
            return _draw_shots({"frames": np.stack([to_chw(self.render(v, f)) for f in fr]),
                                "landmarks": np.stack([to_chw(self.render(v, f, outline=True)) for f in fr]),
                                "video": np.array(v, np.int64)}, self.k_shot_min, self.k_shot, rng)
        a, b = rng.choice(self.n_frames, 2, replace=False)
        disc_a = self.pose(v, a)[3]
        return {"source": to_chw(self.render(v, a)), "target": to_chw(self.render(v, b)),
                # rigid motion right, the disc's own motion missing, and a global exposure error
                "warped": to_chw((self.render(v, b, disc=disc_a) * 0.8).astype(np.uint8)),
                "lm_source": to_chw(self.render(v, a, outline=True)), "lm_target": to_chw(self.render(v, b, outline=True))}


def build_dataset(cfg: DataConfig, task: str, log=print):
    """The dataset a task trains on (building the video cache first when needed)."""
    if cfg.source == "shapes":
        mode = {"refiner": "refine", "keypoint": "pairs", "fewshot": "episodes"}[task]
        return MovingShapes(cfg.size, cfg.shapes_videos, cfg.shapes_frames, mode=mode, k_shot=cfg.k_shot,
                            k_shot_min=cfg.k_shot_min)
    need = ("refine",) if task == "refiner" else ("aligned",)
    clips = build_cache(cfg, need, log)
    if task == "refiner":
        return RefinerPairs(cfg, clips)
    return AlignedFrames(cfg, clips, "pairs" if task == "keypoint" else "episodes")
