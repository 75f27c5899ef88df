"""Object mode: animate a subject without a face (animal, statue, object) by a smooth similarity warp.

A lattice of control points covers the crop; points in the centre follow the similarity ``A`` fully,
the motion fades to zero towards the frame (smoothstep on the normalised Chebyshev distance to the
centre) and a fixed border band never moves, so paste-back has no seam. Where the picture fills only
part of the crop (a portrait-shaped photo in its square), the fade is measured to the picture's own
edges and a fixed ring pins them: its edges never move, so no pixel comes from beyond them (that
would be the photo's last row or column smeared in). The dense field is the same piecewise-affine
:class:`~talkinghead.render.mesh_warp.MeshWarp` as the face renderer uses.
"""
from __future__ import annotations

import numpy as np

from talkinghead.render.mesh_warp import MeshWarp, border_margin, border_points, remap


class ObjectRenderer:
    """``prepare(image)`` once, then ``render(A)`` with a 2x3 similarity (crop px, source -> target).

    ``inner``/``outer``: normalised distances from the centre (1 = frame edge) where the motion starts
    to fade and where it has faded out; ``n``: lattice points a side.
    """

    def __init__(self, n: int = 9, inner: float = 0.45, outer: float = 0.9, step: int | None = None) -> None:
        if not 0 <= inner < outer <= 1:
            raise ValueError("need 0 <= inner < outer <= 1")
        self.n, self.inner, self.outer, self.step = n, inner, outer, step

    def prepare(self, image: np.ndarray, bounds: tuple[float, float, float, float] | None = None) -> None:
        """Set the source crop (S, S, 3) uint8 and build the control lattice. ``bounds``: (x0, y0, x1,
        y1) crop px of the picture's first and last pixel centres where it does not fill the crop
        (None: it does)."""
        if image.ndim != 3 or image.shape[0] != image.shape[1]:
            raise ValueError(f"expected a square (S, S, 3) crop, got {image.shape}")
        S = image.shape[0]
        step = self.step or max(1, S // 64)
        while S % step:
            step -= 1
        margin = border_margin(S, step)
        self.image, self.size = np.ascontiguousarray(image), S
        t = np.linspace(margin, S - 1 - margin, self.n)
        lattice = np.stack(np.meshgrid(t, t), -1).reshape(-1, 2)
        inside = np.max(np.abs(lattice - (S - 1) / 2), axis=1) < (S - 1) / 2 - margin - 0.5
        fixed = border_points(S, margin, self.n - 1)  # frame edge + the lattice's outer ring
        centre, half = np.full(2, (S - 1) / 2), np.full(2, (S - 1) / 2)
        if bounds is not None:
            lo = np.clip(np.asarray(bounds[:2], np.float64), 0, S - 1)
            hi = np.clip(np.asarray(bounds[2:], np.float64), 0, S - 1)
            if np.any(hi - lo < S - 1 - 2 * margin):  # the picture ends inside the lattice: pin its edges
                centre, half = (lo + hi) / 2, np.maximum((hi - lo) / 2, 1.0)
                inside &= np.all(np.abs(lattice - centre) < half - 0.5, axis=1)
                fixed = np.concatenate([_rect_ring(lo, hi, 2 * step), fixed])
        self.points = np.concatenate([lattice[inside], fixed]).astype(np.float32)
        d = np.max(np.abs(self.points - centre) / half, axis=1)
        x = np.clip((d - self.inner) / (self.outer - self.inner), 0, 1)
        self.weight = (1 - x * x * (3 - 2 * x)).astype(np.float32)  # 1 in the centre, 0 at the border
        self.weight[len(self.points) - len(fixed):] = 0
        self.mesh = MeshWarp(self.points, S, step)
        area = _areas(self.points, self.mesh.triangles)
        keep = np.abs(area) > 1e-6  # (Delaunay leaves no flat triangles; guard anyway)
        self._tri, self._area = self.mesh.triangles[keep], area[keep]

    def render(self, A: np.ndarray) -> np.ndarray:
        """The crop with its centre moved by the 2x3 similarity ``A``; the border stays put."""
        return self.render_mapped(A)[0]

    def render_mapped(self, A: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`render` and its backward map (nothing is painted over the warp), for
        :mod:`talkinghead.render.detail`."""
        A = np.asarray(A, np.float64).reshape(2, 3)
        step = self.weight[:, None] * (self.points @ A[:, :2].T + A[:, 2] - self.points)
        target = self.points + self._fit(step) * step
        mapping = self.mesh.backward_map(target.astype(np.float32))
        out = remap(self.image, mapping)
        return out, mapping

    def _fit(self, step: np.ndarray) -> float:
        """The largest fraction k <= 1 of the control points' ``step`` that squeezes no triangle of the
        mesh below MIN_AREA of its size: a motion larger than the fade band can take towards the fixed
        edge (a narrow picture's pinned edges are close) would fold the mesh over it, tearing the edge;
        it is scaled back instead."""
        def ok(k: float) -> bool:
            return bool(np.all(_areas(self.points + k * step, self._tri) / self._area >= MIN_AREA))

        if ok(1.0):
            return 1.0
        lo, hi = 0.0, 1.0
        for _ in range(10):  # bisection: areas are quadratic in k, 1/1024 is plenty
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if ok(mid) else (lo, mid)
        return lo


MIN_AREA = 0.1  # a mesh triangle keeps at least this fraction of its area (see ObjectRenderer._fit)


def _areas(p: np.ndarray, tri: np.ndarray) -> np.ndarray:
    """Signed areas of the triangles ``tri`` (index triples) of the points ``p``."""
    a, b, c = p[tri[:, 0]], p[tri[:, 1]], p[tri[:, 2]]
    return 0.5 * ((b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0]))


def _rect_ring(lo: np.ndarray, hi: np.ndarray, spacing: float) -> np.ndarray:
    """Points along the rectangle (lo, hi) about ``spacing`` px apart (corners included)."""
    sides = []
    for k in (0, 1):  # the two sides along axis k, at the other axis's lo and hi
        n = max(2, int(np.ceil((hi[k] - lo[k]) / spacing)) + 1)
        t = np.linspace(lo[k], hi[k], n)
        for c in (lo[1 - k], hi[1 - k]):
            side = np.empty((n, 2))
            side[:, k], side[:, 1 - k] = t, c
            sides.append(side)
    return np.unique(np.round(np.concatenate(sides), 3), axis=0)
