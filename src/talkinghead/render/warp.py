"""Geometric warp renderer: re-pose a portrait crop by a dense landmark-driven warp (no weights).

After "Bringing Portraits to Life" (Averbuch-Elor et al. 2017): the source landmarks plus anchor
points around the head are triangulated once; each frame the mesh vertices move to the target
landmarks (anchors follow the head's global similarity with a fading weight, Sec. 4.1) and the image
is warped piecewise-affinely. Hidden regions (the mouth interior, Sec. 4.3; Geng et al. 2018's HRH
step) are filled by :mod:`talkinghead.render.mouth`; gaze moves the iris inside the eye opening.
"""
from __future__ import annotations

import cv2
import numpy as np

from talkinghead.face import topology as topo
from talkinghead.render.base import MouthSource
from talkinghead.render.mesh_warp import MeshWarp, Rect, border_points, remap, similarity_fit
from talkinghead.render.mouth import MouthFiller

# Head anchor rings around the face oval: (scale about the oval centre, rigid weight, weight of the
# parent oval point's non-rigid motion, neck translation weight below the chin).
_RINGS = ((1.3, 1.0, 0.6, 0.35), (1.75, 0.5, 0.25, 0.25), (2.3, 0.2, 0.1, 0.15))
_EYES = ((topo.LEFT_EYE, topo.LEFT_IRIS, topo.LEFT_EYE_LIDS, topo.LEFT_EYE_CORNERS),
         (topo.RIGHT_EYE, topo.RIGHT_IRIS, topo.RIGHT_EYE_LIDS, topo.RIGHT_EYE_CORNERS))
# Lid margins of each eye, outer corner -> inner corner, upper[i] above lower[i].
LID_UPPER = ([466, 388, 387, 386, 385, 384, 398], [246, 161, 160, 159, 158, 157, 173])
LID_LOWER = ([249, 390, 373, 374, 380, 381, 382], [7, 163, 144, 145, 153, 154, 155])


def head_anchors(points: np.ndarray, size: int, margin: float) -> tuple[np.ndarray, np.ndarray]:
    """Anchors outside the face oval: positions (A, 2) and per-anchor motion weights (A, 4).

    Weights are (rigid w, non-rigid n, neck u, parent landmark index): an anchor's target is
    ``a + w (T a - a) + n r + u t`` with T the head similarity (Averbuch-Elor et al. Sec. 4.1: the
    background/hair follows the head's global motion), r the parent oval point's motion beyond T (jaw
    drop, cheeks) and t the head translation at the face centre. Hair and ears follow the head fully
    near the face, less further out; below the chin rotation gives way to a fraction of the
    translation (neck, shoulders), so the torso and background mostly stay.
    """
    oval = points[topo.FACE_OVAL].astype(np.float64)
    c = oval.mean(0)
    down = points[topo.CHIN] - points[topo.FOREHEAD]
    down = down / max(np.linalg.norm(down), 1e-6)
    pos, wts = [], []
    for scale, w0, n0, u0 in _RINGS:
        for k in range(0, len(oval), 2):
            v = oval[k] - c
            below = np.clip((v @ down / max(np.linalg.norm(v), 1e-6) - 0.3) / 0.5, 0.0, 1.0)
            pos.append(c + scale * v)
            wts.append((w0 * (1 - 0.75 * below), n0, u0 * below, topo.FACE_OVAL[k]))
    pos_a = np.array(pos)
    lo, hi = margin + 0.02 * size, size - 1 - margin - 0.02 * size
    keep = [i for i, p in enumerate(pos_a) if lo <= p[0] <= hi and lo <= p[1] <= hi]
    # Drop anchors crowding each other or the face (thin triangles fold easily).
    min_d, chosen = 0.05 * size, []
    face = points[: topo.N_FACE]
    for i in keep:
        p = pos_a[i]
        if np.min(np.linalg.norm(face - p, axis=1)) < 0.6 * min_d:
            continue
        if all(np.linalg.norm(pos_a[j] - p) >= min_d for j in chosen):
            chosen.append(i)
    idx = np.array(chosen, int)
    return pos_a[idx].astype(np.float32), np.array(wts, np.float64).reshape(-1, 4)[idx]


def _openness(points: np.ndarray, lids: tuple, corners: tuple) -> float:
    gap = np.mean([np.linalg.norm(points[a] - points[b]) for a, b in lids])
    return float(gap / max(np.linalg.norm(points[corners[0]] - points[corners[1]]), 1e-6))


def _box(points: np.ndarray, pad: float, size: int) -> Rect:
    x0, y0 = np.floor(points.min(0) - pad).astype(int)
    x1, y1 = np.ceil(points.max(0) + pad).astype(int) + 1
    return max(int(x0), 0), max(int(y0), 0), min(int(x1), size), min(int(y1), size)


class WarpRenderer:
    """Landmark-driven dense warp of the aligned source crop (implements ``Renderer``).

    ``step``: coarse lattice spacing in px (default S/64); eyes and lips are refined at full resolution.
    """

    def __init__(self, step: int | None = None, gaze: bool = True, fill_mouth: bool = True) -> None:
        self.step, self.gaze, self.fill_mouth = step, gaze, fill_mouth
        self.mouth = MouthFiller()

    def prepare(self, image: np.ndarray, points: np.ndarray) -> None:
        """Triangulate source landmarks + anchors once and precompute the mouth colours."""
        if image.ndim != 3 or image.shape[0] != image.shape[1] or image.dtype != np.uint8:
            raise ValueError(f"expected a square (S, S, 3) uint8 crop, got {image.shape} {image.dtype}")
        S = image.shape[0]
        step = self.step or max(1, S // 64)
        while S % step:
            step -= 1
        pts = np.asarray(points, np.float32)[:, :2]
        self.image, self.points, self.size = np.ascontiguousarray(image), pts, S
        margin = max(2 * step, S // 32)
        self.anchors, self.anchor_w = head_anchors(pts, S, margin)
        fixed = border_points(S, margin)
        # Irises are not mesh vertices: a closing lid must not fold over them (gaze is a separate shift).
        verts = np.concatenate([pts[: topo.N_FACE], self.anchors, fixed])
        self.n_face, self.n_anchor = topo.N_FACE, len(self.anchors)
        self.mesh = MeshWarp(verts, S, step)
        self._fixed = fixed
        self._c = pts[topo.FACE_OVAL].mean(0)
        self._open = [_openness(pts, lids, corners) for _, _, lids, corners in _EYES]
        # Per-eye source offset of the lower margin when the eye closes: 6 % of the eye width, down the face.
        down = pts[topo.CHIN] - pts[topo.FOREHEAD]
        down = down / max(float(np.linalg.norm(down)), 1e-6)
        self._lid_drop = [0.06 * np.linalg.norm(pts[c[0]] - pts[c[1]]) * down for _, _, _, c in _EYES]
        self.mouth.prepare(image, pts)

    def target_vertices(self, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mesh vertex (targets, sources): landmarks, anchors moved by the head similarity, fixed border."""
        tgt = np.asarray(target, np.float32)[:, :2]
        T = similarity_fit(self.points[topo.RIGID], tgt[topo.RIGID])
        a = self.anchors.astype(np.float64)
        moved = a @ T[:, :2].T + T[:, 2]
        shift = T[:, :2] @ self._c + T[:, 2] - self._c  # head translation at the face centre
        w, n, u, parent = self.anchor_w.T
        parent = parent.astype(int)
        residual = tgt[parent] - (self.points[parent] @ T[:, :2].T + T[:, 2])  # parent's non-rigid motion
        anchors = a + w[:, None] * (moved - a) + n[:, None] * residual + u[:, None] * shift
        face, src = tgt[: self.n_face].copy(), self.mesh.src
        for eye, (_, _, lids, corners) in enumerate(_EYES):
            # Nearly closed target eye: the lids meet exactly (no squeezed sliver of iris and sclera)
            # and the lower margin samples skin a little below the detected margin line.
            k = self._closing(tgt, eye)
            if k > 0:
                up, lo = LID_UPPER[eye], LID_LOWER[eye]
                meet = 0.3 * face[up] + 0.7 * face[lo]
                face[up] += k * (meet - face[up])
                face[lo] += k * (meet - face[lo])
                src = src.copy() if src is self.mesh.src else src
                src[lo] += k * self._lid_drop[eye]
        return np.concatenate([face, anchors.astype(np.float32), self._fixed]), src

    def _closing(self, tgt: np.ndarray, eye: int) -> float:
        """0 for an open eye, rising to 1 as the target lids shut (openness relative to the source)."""
        _, _, lids, corners = _EYES[eye]
        ratio = _openness(tgt, lids, corners) / max(self._open[eye], 1e-3)
        return 1.0 - float(np.clip((ratio - 0.12) / 0.25, 0, 1))

    def render(self, target: np.ndarray, mouth: MouthSource | None = None) -> np.ndarray:
        """The source crop re-posed so its landmarks land on ``target`` (478, 2) crop px."""
        tgt = np.asarray(target, np.float32)[:, :2]
        S = self.size
        rects = []
        for contour, _, _, corners in _EYES:
            width = np.linalg.norm(tgt[corners[0]] - tgt[corners[1]])
            rects.append(_box(tgt[contour], max(3.0, 0.35 * width), S))
        mw = np.linalg.norm(tgt[topo.MOUTH_CORNERS[0]] - tgt[topo.MOUTH_CORNERS[1]])
        rects.append(_box(tgt[topo.OUTER_LIPS], max(3.0, 0.2 * mw), S))
        verts, src = self.target_vertices(tgt)
        mapping = self.mesh.backward_map(verts, rects, source=src)
        if self.gaze:
            for eye, rect in zip(range(2), rects):
                self._shift_iris(mapping, tgt, eye, rect)
        out = remap(self.image, mapping)
        for eye, rect in enumerate(rects[:2]):
            if self._closing(tgt, eye) > 0:
                self.mesh.supersample(self.image, out, rect)
        if self.fill_mouth:
            self.mouth.fill(out, tgt, mouth)
        return out

    def _shift_iris(self, mapping: np.ndarray, tgt: np.ndarray, eye: int, rect: Rect) -> None:
        """Move the iris inside the eye opening to the target iris centre (a local shift of the map)."""
        contour, iris, lids, corners = _EYES[eye]
        fade = np.clip((_openness(tgt, lids, corners) / max(self._open[eye], 1e-3) - 0.4) / 0.3, 0, 1)
        x0, y0, x1, y1 = rect
        if fade <= 0 or x1 <= x0 or y1 <= y0:
            return
        src_c = np.c_[self.points[contour], np.ones(len(contour))]
        A = np.linalg.lstsq(src_c, tgt[contour].astype(np.float64), rcond=None)[0].T  # eye affine
        width = np.linalg.norm(tgt[corners[0]] - tgt[corners[1]])
        delta = tgt[iris[0]] - (A[:, :2] @ self.points[iris[0]] + A[:, 2])
        delta *= min(1.0, 0.2 * width / max(np.linalg.norm(delta), 1e-6))
        try:
            d_src = np.linalg.solve(A[:, :2], delta) * fade
        except np.linalg.LinAlgError:
            return
        src_w = np.linalg.norm(self.points[corners[0]] - self.points[corners[1]])
        d_src *= min(1.0, 0.2 * src_w / max(np.linalg.norm(d_src), 1e-6))
        if np.linalg.norm(d_src) < 0.05:
            return
        mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
        poly = np.round((tgt[contour] - (x0, y0)) * 16).astype(np.int32)
        cv2.fillPoly(mask, [poly], 255, cv2.LINE_AA, shift=4)
        mask = cv2.GaussianBlur(mask.astype(np.float32) / 255, (0, 0), max(0.6, width / 40))
        r = max(np.linalg.norm(tgt[iris[1:]] - tgt[iris[0]], axis=1).mean(), 0.12 * width)
        yy, xx = np.mgrid[y0:y1, x0:x1]
        d = np.hypot(xx - tgt[iris[0], 0], yy - tgt[iris[0], 1])
        wgt = np.exp(-np.maximum(d - 0.6 * r, 0) ** 2 / (2 * (0.8 * r) ** 2)) * mask
        mapping[y0:y1, x0:x1] -= wgt[..., None] * d_src.astype(np.float32)
