"""Dense piecewise-affine warps driven by a triangulated set of control points.

The warp is computed in *target* space: each frame the target triangles are rasterised (vectorised
numpy, no per-triangle Python loop) on a coarse lattice and every lattice point gets the source position
given by its barycentric coordinates in the matching source triangle (the backward map of the
piecewise-affine warp, Averbuch-Elor et al. 2017, Sec. 4.1; Geng et al. 2018, Sec. 3.1). The coarse
displacement is upsampled bilinearly; small rectangles that need sharp creases (eyes, lips) are
rasterised again at full resolution. No fixed-point inversion is needed, so folds and collapsing
triangles (a closing eye, a closing mouth) are exact.

Convention: points are (x, y) px, pixel centres at integers; maps are (H, W, 2) float32 source
positions for ``cv2.remap``.
"""
from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
from scipy.spatial import Delaunay

Rect = tuple[int, int, int, int]  # (x0, y0, x1, y1), x1/y1 exclusive


def delaunay(points: np.ndarray) -> np.ndarray:
    """(T, 3) int32 triangles of the Delaunay triangulation of ``points`` (N, 2)."""
    return Delaunay(np.asarray(points, np.float64)).simplices.astype(np.int32)


def similarity_fit(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """2x3 least-squares similarity (rotation, uniform scale, translation) mapping src -> dst (Umeyama)."""
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    ms, md = src.mean(0), dst.mean(0)
    a, b = src - ms, dst - md
    cov = b.T @ a / len(src)
    U, D, Vt = np.linalg.svd(cov)
    sign = np.diag([1.0, np.sign(np.linalg.det(U @ Vt)) or 1.0])
    R = U @ sign @ Vt
    scale = float(np.trace(np.diag(D) @ sign) / max((a ** 2).sum() / len(src), 1e-12))
    M = np.empty((2, 3))
    M[:, :2] = scale * R
    M[:, 2] = md - M[:, :2] @ ms
    return M


def border_points(size: int, margin: int, n: int = 8) -> np.ndarray:
    """Two fixed square rings: on the frame edge and ``margin`` px inside it (``n`` segments a side).

    Both stay put, so a band of ``margin`` px along the frame never moves (seamless paste-back).
    """
    rings = []
    for lo in (0.0, float(margin)):
        hi = size - 1 - lo
        t = np.linspace(lo, hi, n + 1)[:-1]
        rings += [np.stack([t, np.full_like(t, lo)], 1), np.stack([np.full_like(t, hi), t], 1),
                  np.stack([hi + lo - t, np.full_like(t, hi)], 1), np.stack([np.full_like(t, lo), hi + lo - t], 1)]
    return np.concatenate(rings).astype(np.float32)


def piecewise_affine(dst: np.ndarray, src: np.ndarray, triangles: np.ndarray, shape: tuple[int, int],
                     origin: tuple[float, float] = (0.0, 0.0), step: float = 1.0,
                     out: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Backward map of the piecewise-affine warp ``dst`` mesh -> ``src`` mesh on a lattice.

    Lattice point (i, j) sits at ``origin + step * (j, i)`` in dst px. Returns (map (h, w, 2) source
    positions, covered (h, w) bool); lattice points outside every triangle keep ``out``'s value
    (NaN when ``out`` is None). Later triangles win where target triangles overlap (folds).
    """
    h, w = shape
    if out is None:
        out = np.full((h, w, 2), np.nan, np.float32)
    covered = np.zeros(h * w, bool)
    tri_d = (dst[triangles] - np.asarray(origin, np.float32)) / step  # (T, 3, 2) lattice coords
    eps = 1e-4
    v0, v1, v2 = tri_d[:, 0], tri_d[:, 1], tri_d[:, 2]  # (reductions over a size-3 axis are slow)
    lo = np.ceil(np.minimum(np.minimum(v0, v1), v2) - eps).astype(np.int32)
    hi = np.floor(np.maximum(np.maximum(v0, v1), v2) + eps).astype(np.int32)
    np.maximum(lo, 0, out=lo)
    np.minimum(hi, [w - 1, h - 1], out=hi)
    nx, ny = hi[:, 0] - lo[:, 0] + 1, hi[:, 1] - lo[:, 1] + 1
    keep = np.flatnonzero((nx > 0) & (ny > 0))  # triangles whose box meets the lattice
    tri_d, lo, nx, ny = tri_d[keep], lo[keep], nx[keep], ny[keep]
    tri_s = src[triangles[keep]].astype(np.float32)
    a = tri_d[:, 0]
    e1, e2 = tri_d[:, 1] - a, tri_d[:, 2] - a
    det = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
    cnt = np.where(np.abs(det) > 1e-8, nx * ny, 0)
    total = int(cnt.sum())
    if total == 0:
        return out, covered.reshape(h, w)
    # Per-triangle coefficients (barycentric rows, source vertices), gathered once per lattice point.
    inv = 1.0 / np.where(det == 0, 1.0, det)
    coef = np.stack([a[:, 0], a[:, 1], e2[:, 1] * inv, -e2[:, 0] * inv, -e1[:, 1] * inv, e1[:, 0] * inv,
                     tri_s[:, 0, 0], tri_s[:, 0, 1], tri_s[:, 1, 0] - tri_s[:, 0, 0],
                     tri_s[:, 1, 1] - tri_s[:, 0, 1], tri_s[:, 2, 0] - tri_s[:, 0, 0],
                     tri_s[:, 2, 1] - tri_s[:, 0, 1], lo[:, 0], lo[:, 1], nx], 1).astype(np.float32)
    tid = np.repeat(np.arange(len(cnt)), cnt)
    k = np.arange(total, dtype=np.int32) - np.repeat((np.cumsum(cnt) - cnt).astype(np.int32), cnt)
    c = coef[tid]
    nxi = c[:, 14].astype(np.int32)
    py = k // nxi
    px = k - py * nxi + c[:, 12].astype(np.int32)
    py += c[:, 13].astype(np.int32)
    dx, dy = px - c[:, 0], py - c[:, 1]
    l1 = c[:, 2] * dx + c[:, 3] * dy  # barycentric coordinates
    l2 = c[:, 4] * dx + c[:, 5] * dy
    inside = (l1 >= -eps) & (l2 >= -eps) & (l1 + l2 <= 1 + eps)
    l1, l2, c, py, px = l1[inside], l2[inside], c[inside], py[inside], px[inside]
    out[py, px, 0] = c[:, 6] + l1 * c[:, 8] + l2 * c[:, 10]  # works on strided views too
    out[py, px, 1] = c[:, 7] + l1 * c[:, 9] + l2 * c[:, 11]
    covered[py * w + px] = True
    return out, covered.reshape(h, w)


class MeshWarp:
    """Backward piecewise-affine warp of an (S, S) image over a fixed triangulation of source vertices.

    ``step`` is the coarse lattice spacing (S must be divisible by it); ``backward_map`` can refine
    rectangles at full resolution.
    """

    def __init__(self, vertices: np.ndarray, size: int, step: int = 4,
                 triangles: np.ndarray | None = None) -> None:
        if size % step:
            raise ValueError(f"size {size} is not divisible by step {step}")
        self.src = np.asarray(vertices, np.float32)
        self.size, self.step = size, step
        self.triangles = delaunay(self.src) if triangles is None else np.asarray(triangles, np.int32)
        g = size // step
        lattice = (np.arange(g, dtype=np.float32) + 0.5) * step - 0.5  # block centres: cv2.resize-aligned
        self._lattice = np.stack(np.meshgrid(lattice, lattice), -1)
        ident = np.arange(size, dtype=np.float32)
        self._identity = np.stack(np.meshgrid(ident, ident), -1)

    def backward_map(self, target: np.ndarray, patches: Sequence[Rect] = ()) -> np.ndarray:
        """(S, S, 2) float32 source positions for the mesh moved to ``target`` (N, 2)."""
        S, st = self.size, self.step
        target = np.asarray(target, np.float32)
        coarse, _ = piecewise_affine(target, self.src, self.triangles, self._lattice.shape[:2],
                                     origin=(0.5 * st - 0.5,) * 2, step=st, out=self._lattice.copy())
        coarse -= self._lattice
        full = cv2.resize(coarse, (S, S), interpolation=cv2.INTER_LINEAR) if st > 1 else coarse
        full += self._identity
        for x0, y0, x1, y1 in patches:
            x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, S), min(y1, S)
            if x1 > x0 and y1 > y0:
                piecewise_affine(target, self.src, self.triangles, (y1 - y0, x1 - x0), origin=(x0, y0),
                                 out=full[y0:y1, x0:x1])
        return full

    def warp(self, image: np.ndarray, target: np.ndarray, patches: Sequence[Rect] = ()) -> np.ndarray:
        """``image`` re-posed so the mesh vertices land on ``target``."""
        return remap(image, self.backward_map(target, patches))


def remap(image: np.ndarray, mapping: np.ndarray) -> np.ndarray:
    """Bilinear ``cv2.remap`` with replicated borders; ``mapping`` is (H, W, 2) float32 source positions."""
    return cv2.remap(image, mapping, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
