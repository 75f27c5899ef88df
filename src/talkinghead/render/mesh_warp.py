"""Dense piecewise-affine warps driven by a triangulated set of control points.

The warp is computed in *target* space: each frame the target triangles are rasterised (vectorised
numpy, no per-triangle Python loop) on a coarse lattice and every lattice point gets the source position
given by its barycentric coordinates in the matching source triangle (the backward map of the
piecewise-affine warp, Averbuch-Elor et al. 2017, Sec. 4.1; Geng et al. 2018, Sec. 3.1). The coarse
displacement is upsampled bilinearly; small rectangles that need sharp creases (eyes, lips) are
rasterised again on a fine lattice. No inversion of a forward flow is needed, so folds and collapsing
or exploding triangles (a closing eye, a mouth opening from closed) are exact; the fixed-point
inversion ``B = -F(q + B)`` of a source-space flow was measured as fast (~1.4 ms at 256 px) but
oscillates wherever the flow is not contractive, smearing the lips of an opening mouth.

Convention: points are (x, y) px, pixel centres at integers; maps are (H, W, 2) float32 source
positions for ``cv2.remap``.
"""
from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

Rect = tuple[int, int, int, int]  # (x0, y0, x1, y1), x1/y1 exclusive


def delaunay(points: np.ndarray) -> np.ndarray:
    """(T, 3) int32 triangles of the Delaunay triangulation of ``points`` (N, 2)."""
    from scipy.spatial import Delaunay  # here, not at import: a render worker only warps (~0.4 s less start-up)

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


def border_margin(size: int, step: int) -> int:
    """Inset of the inner fixed ring: pixels closer than ``margin - step`` (= max(step, S/32)) to the
    frame edge are exactly unchanged by a :class:`MeshWarp` of lattice ``step`` using these rings."""
    return max(step, size // 32) + step


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


def _expand(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Run-length expansion: for each of ``counts.sum()`` items, its owner index and offset in the run."""
    owner = np.repeat(np.arange(len(counts)), counts)
    start = np.cumsum(counts) - counts
    return owner, np.arange(len(owner), dtype=np.int32) - start[owner].astype(np.int32)


class TargetTriangles:
    """Per-frame triangle data in target px: vertices sorted top to bottom, edge slopes and the affine
    target -> source map of each triangle (``src = base + gx * x + gy * y``)."""

    def __init__(self, dst: np.ndarray, src: np.ndarray, triangles: np.ndarray) -> None:
        dst = np.asarray(dst, np.float64)
        t, ty = list(np.asarray(triangles).T), list(dst[triangles, 1].T)
        for a, b in ((0, 1), (1, 2), (0, 1)):  # stable 3-sorting network on y (argsort costs 4x as much)
            sw = ty[a] > ty[b]
            t[a], t[b] = np.where(sw, t[b], t[a]), np.where(sw, t[a], t[b])
            ty[a], ty[b] = np.minimum(ty[a], ty[b]), np.maximum(ty[a], ty[b])
        tri = np.stack(t, 1)
        d = dst[tri]
        x0, y0, x1, y1, x2, y2 = d[:, 0, 0], d[:, 0, 1], d[:, 1, 0], d[:, 1, 1], d[:, 2, 0], d[:, 2, 1]
        det = (x1 - x0) * (y2 - y0) - (x2 - x0) * (y1 - y0)
        ok = np.flatnonzero(np.abs(det) > 1e-6)  # zero-area triangles (a shut eye) cover no pixel
        tri, det = tri[ok], det[ok]
        x0, y0, x1, y1, x2, y2 = x0[ok], y0[ok], x1[ok], y1[ok], x2[ok], y2[ok]
        s = np.asarray(src, np.float64)[tri]
        s1, s2 = s[:, 1] - s[:, 0], s[:, 2] - s[:, 0]
        inv = 1.0 / det
        self.gx = ((y2 - y0) * inv)[:, None] * s1 - ((y1 - y0) * inv)[:, None] * s2
        self.gy = ((x0 - x2) * inv)[:, None] * s1 + ((x1 - x0) * inv)[:, None] * s2
        self.base = s[:, 0] - self.gx * x0[:, None] - self.gy * y0[:, None]

        def slope(xa: np.ndarray, ya: np.ndarray, xb: np.ndarray, yb: np.ndarray) -> np.ndarray:
            return np.where(yb - ya > 1e-9, (xb - xa) / np.maximum(yb - ya, 1e-9), 0.0)

        self.k02, self.k01, self.k12 = slope(x0, y0, x2, y2), slope(x0, y0, x1, y1), slope(x1, y1, x2, y2)
        self.x0, self.y0, self.x1, self.y1, self.y2 = x0, y0, x1, y1, y2
        self.xmin = np.minimum(np.minimum(x0, x1), x2)
        self.xmax = np.maximum(np.maximum(x0, x1), x2)

    def rasterize(self, shape: tuple[int, int], origin: tuple[float, float] = (0.0, 0.0), step: float = 1.0,
                  out: np.ndarray | None = None, windows: Sequence[Rect] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Source positions on the lattice ``origin + step * (j, i)``, shape (h, w): (map (h, w, 2), covered).

        Lattice points outside every triangle keep ``out``'s value (NaN when ``out`` is None); where
        target triangles overlap (folds) later ones win. ``windows``: only these lattice rectangles
        (j0, i0, j1, i1; ends exclusive), filled one after the other as separate calls would (default:
        the whole lattice). Vectorised scan conversion: (window, triangle) pairs -> rows -> exact pixel
        spans, no Python loop over triangles or windows.
        """
        h, w = shape
        ox, oy = origin
        if out is None:
            out = np.full((h, w, 2), np.nan, np.float32)
        covered = np.zeros((h, w), bool)
        win = np.asarray([(0, 0, w, h)] if windows is None else windows, np.int64).reshape(-1, 4)
        win = np.clip(win, 0, [w, h, w, h])
        eps = 1e-4
        ylo = np.maximum(np.ceil((self.y0 - oy) / step - eps).astype(np.int64)[None], win[:, 1:2])  # (windows, tris)
        yhi = np.minimum(np.floor((self.y2 - oy) / step + eps).astype(np.int64)[None], win[:, 3:4] - 1)
        keep = ((yhi >= ylo) & (self.xmax[None] >= ox + step * win[:, 0:1] - eps)
                & (self.xmin[None] <= ox + step * (win[:, 2:3] - 1) + eps))
        k, t = np.nonzero(keep)  # window-major, then triangle order
        if len(t) == 0:
            return out, covered
        # Rows: the span of each (window, triangle) pair on each lattice row it crosses (px coordinates).
        ylo, yhi = ylo[k, t], yhi[k, t]
        r, off = _expand(yhi - ylo + 1)
        t, k = t[r], k[r]
        y = oy + step * (ylo[r] + off)
        dy0 = y - self.y0[t]
        xa = self.x0[t] + dy0 * self.k02[t]
        xb = np.where(y < self.y1[t], self.x0[t] + dy0 * self.k01[t], self.x1[t] + (y - self.y1[t]) * self.k12[t])
        xl = np.maximum(np.ceil((np.minimum(xa, xb) - ox) / step - eps), win[k, 0]).astype(np.int32)
        xr = np.minimum(np.floor((np.maximum(xa, xb) - ox) / step + eps), win[k, 2] - 1).astype(np.int32)
        rows = np.empty((len(t), 6), np.float32)
        rows[:, :2] = self.base[t] + self.gy[t] * y[:, None] + self.gx[t] * ox
        rows[:, 2:4] = self.gx[t] * step
        rows[:, 4] = xl
        rows[:, 5] = (y - oy) / step
        # Pixels: expand each span; src = row start + j * (gx * step).
        r, off = _expand(np.maximum(xr - xl + 1, 0))
        c = rows[r]
        px = c[:, 4].astype(np.int32) + off
        flat = np.rint(c[:, 5]).astype(np.int32) * w + px
        vals = c[:, :2] + c[:, 2:4] * px.astype(np.float32)[:, None]
        buf = out if out.flags.c_contiguous else np.ascontiguousarray(out)
        buf.reshape(-1, 2)[flat] = vals
        if buf is not out:
            out[...] = buf
        covered.reshape(-1)[flat] = True
        return out, covered


def piecewise_affine(dst: np.ndarray, src: np.ndarray, triangles: np.ndarray, shape: tuple[int, int],
                     origin: tuple[float, float] = (0.0, 0.0), step: float = 1.0,
                     out: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Backward map of the piecewise-affine warp ``dst`` mesh -> ``src`` mesh on a lattice
    (see :meth:`TargetTriangles.rasterize`)."""
    return TargetTriangles(dst, src, np.asarray(triangles)).rasterize(shape, origin, step, out)


def fold_rects(offset: np.ndarray, step: int, tol: float = 3.0, band: int = 4) -> list[tuple[int, int, int, int]]:
    """Pixel rectangles around the lattice nodes of a coarse map ``offset`` (h, w, 2) whose second
    difference exceeds ``tol`` px (bilinear interpolation is exact where the map is affine), as runs
    within bands of ``band`` lattice rows (a diagonal fold gets a staircase of small rectangles)."""
    h, w = offset.shape[:2]
    bad = np.zeros((h, w), np.uint8)
    dx = np.abs(offset[:, 2:] - 2 * offset[:, 1:-1] + offset[:, :-2])
    dy = np.abs(offset[2:] - 2 * offset[1:-1] + offset[:-2])
    bad[:, 1:-1] |= np.maximum(dx[..., 0], dx[..., 1]) > tol
    bad[1:-1] |= np.maximum(dy[..., 0], dy[..., 1]) > tol
    if not bad.any():
        return []
    bad = cv2.dilate(bad, np.ones((3, 3), np.uint8))
    nb = -(-h // band)
    rows = np.zeros((nb * band, w), bool)
    rows[:h] = bad > 0
    bi, ci = np.nonzero(rows.reshape(nb, band, w).any(1))  # (band, column) of each bad column, in order
    cut = np.flatnonzero((np.diff(bi) != 0) | (np.diff(ci) > 2)) + 1  # runs: same band, gaps <= 2
    return [(int(ci[s]) * step, int(bi[s]) * band * step, (int(ci[e]) + 1) * step, min(int(bi[s] + 1) * band, h) * step)
            for s, e in zip(np.r_[0, cut], np.r_[cut, len(ci)] - 1)]


class MeshWarp:
    """Backward piecewise-affine warp of an (S, S) image over a fixed triangulation of source vertices.

    ``step`` is the coarse lattice spacing (S must be divisible by it); ``backward_map`` refines
    rectangles on a ``fine_step`` lattice (1 = every pixel): the ones it is given and, with
    ``refine_folds``, those where the map is not locally affine (folds, triangle edges with a sharp
    change of stretch), which bilinear upsampling of the coarse lattice would draw as a staircase.
    """

    fold_tol = 3.0  # px of second difference between lattice nodes (a staircase's step is about a quarter)

    def __init__(self, vertices: np.ndarray, size: int, step: int = 4,
                 triangles: np.ndarray | None = None, fine_step: int = 1, refine_folds: bool = True) -> None:
        if size % step or size % fine_step:
            raise ValueError(f"size {size} is not divisible by step {step} / fine_step {fine_step}")
        self.src = np.asarray(vertices, np.float32)
        self.size, self.step, self.fine_step = size, step, fine_step
        self.refine_folds = refine_folds
        self.triangles = delaunay(self.src) if triangles is None else np.asarray(triangles, np.int32)
        g = size // step
        lattice = (np.arange(g, dtype=np.float32) + 0.5) * step - 0.5  # block centres: cv2.resize-aligned
        self._lattice = np.stack(np.meshgrid(lattice, lattice), -1)
        ident = np.arange(size, dtype=np.float32)
        self._identity = np.stack(np.meshgrid(ident, ident), -1)

    def backward_map(self, target: np.ndarray, patches: Sequence[Rect] = (),
                     source: np.ndarray | None = None, depth: np.ndarray | None = None) -> np.ndarray:
        """(S, S, 2) float32 source positions for the mesh moved to ``target`` (N, 2).

        ``source`` optionally replaces the vertices' source positions for this call (same topology).
        ``depth`` (N,) per-vertex target depth (smaller = nearer): where the moved mesh folds over
        itself (a turned head's far cheek), nearer triangles are drawn last and win (painter's order).
        """
        S, st = self.size, self.step
        target = np.asarray(target, np.float32)
        src = self.src if source is None else np.asarray(source, np.float32)
        triangles = self.triangles
        if depth is not None:
            triangles = triangles[np.argsort(-np.asarray(depth)[triangles].mean(1), kind="stable")]
        tris = self.last = TargetTriangles(target, src, triangles)
        coarse, _ = tris.rasterize(self._lattice.shape[:2], origin=(0.5 * st - 0.5,) * 2, step=st,
                                   out=self._lattice.copy())
        coarse -= self._lattice
        full = cv2.resize(coarse, (S, S), interpolation=cv2.INTER_LINEAR) if st > 1 else coarse
        full += self._identity
        fs = self.fine_step
        if self.refine_folds and st > 1:
            patches = list(patches) + fold_rects(coarse, st, self.fold_tol)
        if fs == 1:  # every pixel of the patches, in one pass
            if len(patches):
                tris.rasterize((S, S), out=full, windows=patches)
            return full
        for x0, y0, x1, y1 in patches:  # snapped outwards to the fine lattice
            x0, y0 = max(x0 // fs * fs, 0), max(y0 // fs * fs, 0)
            x1, y1 = min(-(-x1 // fs) * fs, S), min(-(-y1 // fs) * fs, S)
            if x1 <= x0 or y1 <= y0:
                continue
            sub = full[y0 + fs // 2:y1:fs, x0 + fs // 2:x1:fs] - self._identity[y0:y1:fs, x0:x1:fs]  # fallback
            o = (x0 + 0.5 * fs - 0.5, y0 + 0.5 * fs - 0.5)
            lat = np.stack(np.meshgrid(np.arange(sub.shape[1]) * fs + o[0], np.arange(sub.shape[0]) * fs + o[1]), -1)
            fine, _ = tris.rasterize(sub.shape[:2], origin=o, step=fs, out=(lat + sub).astype(np.float32))
            full[y0:y1, x0:x1] = cv2.resize(fine - lat.astype(np.float32), (x1 - x0, y1 - y0),
                                            interpolation=cv2.INTER_LINEAR) + self._identity[y0:y1, x0:x1]
        return full

    def supersample(self, image: np.ndarray, out: np.ndarray, rect: Rect, factor: int = 2) -> None:
        """Re-render ``rect`` of ``out`` from ``image`` with factor^2 samples a pixel (after
        ``backward_map``): anti-aliases creases where the map jumps (lids meeting, lips closing)."""
        S = self.size
        x0, y0, x1, y1 = max(rect[0], 0), max(rect[1], 0), min(rect[2], S), min(rect[3], S)
        if x1 <= x0 or y1 <= y0:
            return
        o = (factor - 1) / (2 * factor)
        fine, _ = self.last.rasterize(((y1 - y0) * factor, (x1 - x0) * factor), origin=(x0 - o, y0 - o),
                                      step=1 / factor)
        sub = remap(image, np.nan_to_num(fine, nan=0.0))
        out[y0:y1, x0:x1] = cv2.resize(sub, (x1 - x0, y1 - y0), interpolation=cv2.INTER_AREA)

    def warp(self, image: np.ndarray, target: np.ndarray, patches: Sequence[Rect] = ()) -> np.ndarray:
        """``image`` re-posed so the mesh vertices land on ``target``."""
        return remap(image, self.backward_map(target, patches))


def remap(image: np.ndarray, mapping: np.ndarray, interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    """``cv2.remap`` with replicated borders; ``mapping`` is (H, W, 2) float32 source positions."""
    return cv2.remap(image, mapping, None, interpolation, borderMode=cv2.BORDER_REPLICATE)
