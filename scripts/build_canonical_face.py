#!/usr/bin/env python
"""Build src/talkinghead/assets/canonical_face.npy: the project's canonical 3-D mean face.

    .venv/bin/python scripts/build_canonical_face.py [--videos DIR] [--stride 10] [--per-clip 15]

1. every ``stride``-th frame (stride grows for long clips so at most ``per-clip`` frames are taken)
   of each ``DIR/*.mp4`` -> mediapipe face mesh (static, 478 points) -> the largest face;
2. generalized Procrustes analysis (3-D similarity, on the rigid landmarks) to a common frame,
   frames whose rigid residual is an outlier (> median + 4 MAD) are dropped, the rest averaged;
3. orientation: x = subject's right eye centre -> left eye centre, y = forehead -> chin
   (orthogonalised), z = x cross y; origin = mean of the rigid points; inter-ocular distance = 1;
4. left/right symmetrisation: average with the mirror image (x -> -x, partner indices found by
   optimal matching of the mirrored points), then re-normalised.
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import av
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from talkinghead.face import topology as T  # noqa: E402
from talkinghead.face.canonical import mirror_index_from_geometry  # noqa: E402
from talkinghead.face.mesh import FaceMesh, is_too_small, select_face  # noqa: E402
from talkinghead.face.pose import umeyama  # noqa: E402

RIGID = np.asarray(T.RIGID)
FLIP = np.array([-1.0, 1.0, 1.0])


def sample_frames(path: Path, stride: int, per_clip: int):
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        n = s.frames or int((float(c.duration or 0) / 1e6) * float(s.average_rate or 25))
        step = max(stride, math.ceil(n / per_clip)) if n else stride
        taken = 0
        for i, fr in enumerate(c.decode(s)):
            if i % step == 0:
                yield fr.to_ndarray(format="rgb24")
                taken += 1
                if taken >= per_clip:
                    return


def normalize_frame(X: np.ndarray) -> np.ndarray:
    """Rotate/centre/scale a (478, 3) face into the canonical frame (see module docstring)."""
    left, right = T.eye_centers(X)
    ex = left - right
    ex /= np.linalg.norm(ex)
    ey = X[T.CHIN] - X[T.FOREHEAD]
    ey -= (ey @ ex) * ex
    ey /= np.linalg.norm(ey)
    ez = np.cross(ex, ey)
    Y = X @ np.stack([ex, ey, ez]).T
    Y -= Y[RIGID].mean(0)
    left, right = T.eye_centers(Y)
    return Y / np.linalg.norm(left - right)


def gpa(shapes: np.ndarray, iters: int = 30) -> tuple[np.ndarray, np.ndarray]:
    """Generalized Procrustes on the rigid points -> (aligned shapes (K,478,3), rigid RMS residual (K,))."""
    ref = normalize_frame(shapes[0])
    aligned = shapes.copy()
    for _ in range(iters):
        for k, S in enumerate(shapes):
            R, s, t = umeyama(S[RIGID], ref[RIGID])
            aligned[k] = s * S @ R.T + t
        new = normalize_frame(aligned.mean(0))
        delta = np.abs(new - ref).max()
        ref = new
        if delta < 1e-7:
            break
    for k, S in enumerate(shapes):  # final alignment onto the normalised mean
        R, s, t = umeyama(S[RIGID], ref[RIGID])
        aligned[k] = s * S @ R.T + t
    res = np.sqrt(((aligned[:, RIGID] - ref[RIGID]) ** 2).sum(2).mean(1))
    return aligned, res


def symmetrize(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    m = mirror_index_from_geometry(X)
    assert np.array_equal(m[m], np.arange(len(m))), "mirror map is not an involution"
    for a, b in ((33, 263), (133, 362), (61, 291), (468, 473), (1, 1), (152, 152), (10, 10)):
        assert m[a] == b, f"mirror map: {a} -> {m[a]}, expected {b}"
    Xs = normalize_frame(0.5 * (X + (X * FLIP)[m]))
    return Xs, m


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--videos", type=Path, default=ROOT.parent / "shared" / "data" / "real" / "videos")
    ap.add_argument("--stride", type=int, default=10)
    ap.add_argument("--per-clip", type=int, default=15)
    ap.add_argument("--out", type=Path, default=ROOT / "src" / "talkinghead" / "assets" / "canonical_face.npy")
    args = ap.parse_args(argv)

    clips = sorted(args.videos.glob("*.mp4"))
    if not clips:
        print(f"no *.mp4 in {args.videos}", file=sys.stderr)
        return 1
    shapes, used_clips, n_frames = [], 0, 0
    with FaceMesh(static=True, max_faces=1) as fm:
        for clip in clips:
            got = 0
            for rgb in sample_frames(clip, args.stride, args.per_clip):
                n_frames += 1
                faces = fm.detect(rgb)
                if not faces:
                    continue
                f = select_face(faces)
                if is_too_small(f, 30.0):
                    continue
                shapes.append(f.points.astype(np.float64))
                got += 1
            used_clips += got > 0
            print(f"  {clip.name}: {got} faces", flush=True)
    shapes = np.stack(shapes)
    aligned, res = gpa(shapes)
    med = np.median(res)
    mad = np.median(np.abs(res - med))
    keep = res <= med + 4 * 1.4826 * mad
    aligned, res2 = gpa(shapes[keep])
    mean = normalize_frame(aligned.mean(0))
    asym = np.linalg.norm(mean - (mean * FLIP)[mirror_index_from_geometry(mean)], axis=1)
    X, m = symmetrize(mean)
    n_pairs = int((m != np.arange(len(m))).sum() // 2)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.save(args.out, X.astype(np.float32))
    left, right = T.eye_centers(X)
    print(f"clips: {len(clips)} (with faces: {used_clips}); frames sampled: {n_frames}; faces: {len(shapes)}; "
          f"kept after outlier rejection: {int(keep.sum())}")
    print(f"rigid residual RMS (inter-ocular units): median {np.median(res2):.4f}, max {res2.max():.4f}")
    print(f"asymmetry before symmetrisation: mean {asym.mean():.4f}, max {asym.max():.4f}; "
          f"mirror pairs: {n_pairs}, mid-line points: {len(m) - 2 * n_pairs}")
    print(f"inter-ocular {np.linalg.norm(left - right):.6f}; nose tip z {X[T.NOSE_TIP, 2]:.3f}; "
          f"face height (10->152) {np.linalg.norm(X[T.FOREHEAD] - X[T.CHIN]):.3f}")
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
