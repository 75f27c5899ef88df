"""Geometric warp renderer: re-pose a portrait crop by a dense landmark-driven warp (no weights).

After "Bringing Portraits to Life" (Averbuch-Elor et al. 2017): the source landmarks plus anchor
points around the head are triangulated once; each frame the mesh vertices move to the target
landmarks (anchors follow the head's global similarity with a fading weight, Sec. 4.1) and the image
is warped piecewise-affinely. Hidden regions (the mouth interior, Sec. 4.3; Geng et al. 2018's HRH
step) are filled by :mod:`talkinghead.render.mouth`; gaze moves the iris inside the eye opening.
"""
from __future__ import annotations

import functools
from collections import Counter, defaultdict
from itertools import combinations

import cv2
import numpy as np

from talkinghead.face import topology as topo
from talkinghead.render.base import MouthSource
from talkinghead.render.eyelid import LidPainter
from talkinghead.render.mesh_warp import (MeshWarp, Rect, border_margin, border_points, delaunay, remap,
                                          similarity_fit)
from talkinghead.motion.scene import sample_grid
from talkinghead.render.mouth import MouthFiller

# Head anchor rings around the face oval: (scale about the oval centre, rigid weight, weight of the
# parent oval point's non-rigid motion, neck translation weight below the chin).
_RINGS = ((1.3, 1.0, 0.6, 0.35), (1.75, 0.5, 0.25, 0.25), (2.3, 0.2, 0.1, 0.15))
_EYES = ((topo.LEFT_EYE, topo.LEFT_IRIS, topo.LEFT_EYE_LIDS, topo.LEFT_EYE_CORNERS),
         (topo.RIGHT_EYE, topo.RIGHT_IRIS, topo.RIGHT_EYE_LIDS, topo.RIGHT_EYE_CORNERS))
# Lid margins of each eye, outer corner -> inner corner, upper[i] above lower[i].
LID_UPPER = ([466, 388, 387, 386, 385, 384, 398], [246, 161, 160, 159, 158, 157, 173])
LID_LOWER = ([249, 390, 373, 374, 380, 381, 382], [7, 163, 144, 145, 153, 154, 155])
# Inner-lip pairs (upper above lower), from INNER_LIPS: lower j <-> upper (10 - j) mod 20.
_LIP_LOWER = np.array([topo.INNER_LIPS[j] for j in range(6, 15)])
_LIP_UPPER = np.array([topo.INNER_LIPS[(10 - j) % 20] for j in range(6, 15)])


@functools.lru_cache(maxsize=1)
def face_triangles() -> np.ndarray | None:
    """mediapipe's face-mesh tessellation as (T, 3) triangles, or None without mediapipe.

    Unlike a Delaunay triangulation it never connects the upper and lower lip (or lid) across the
    mouth (eye): those are holes, bounded by INNER_LIPS and the eye contours.
    """
    try:
        from mediapipe.python.solutions.face_mesh_connections import FACEMESH_TESSELATION
    except Exception:  # noqa: BLE001 - any import problem: fall back to Delaunay
        return None
    edges = {tuple(sorted(e)) for e in FACEMESH_TESSELATION}
    adj = defaultdict(set)
    for a, b in edges:
        adj[a].add(b)
        adj[b].add(a)
    tris = {tuple(sorted((a, b, c))) for a, b in edges for c in adj[a] & adj[b]}
    count = Counter(e for t in tris for e in combinations(t, 2))
    # A 3-cycle that is not a face has every edge shared by more than two 3-cycles.
    return np.array(sorted(t for t in tris if min(count[e] for e in combinations(t, 2)) <= 2), np.int32)


def _hole_strips(upper_eye_alias: dict[int, int]) -> np.ndarray:
    """Triangles filling the mouth and eye holes: strips between upper and lower contours.

    Eye strips use ``upper_eye_alias`` vertices for the upper lid margin: copies at the same target
    positions whose source positions can differ from those of the lid skin above (see ``render``).
    """
    tris = []
    strips = [(78, list(_LIP_UPPER), list(_LIP_LOWER), 308)] + [
        (c0, [upper_eye_alias.get(v, v) for v in LID_UPPER[e]], LID_LOWER[e], c1)
        for e, (c0, c1) in enumerate(((263, 362), (33, 133)))]  # (corner, upper, lower, corner)
    for c0, up, lo, c1 in strips:
        tris += [(c0, up[0], lo[0]), (c1, up[-1], lo[-1])]
        tris += [t for k in range(len(up) - 1) for t in ((up[k], up[k + 1], lo[k + 1]), (up[k], lo[k + 1], lo[k]))]
    return np.array(tris, np.int32)


def mesh_triangles(verts: np.ndarray, upper_eye_alias: dict[int, int]) -> np.ndarray:
    """Triangles over face landmarks (first 468 rows of ``verts``) and the anchors after them.

    Face: mediapipe's tessellation plus mouth/eye strips; outside the face oval: Delaunay of the oval
    and the anchors. Without mediapipe: Delaunay of everything except the lid-margin copies.
    """
    face = face_triangles()
    main = np.setdiff1d(np.arange(len(verts)), list(upper_eye_alias.values()))
    if face is None:
        return main[delaunay(verts[main])]
    outer = np.r_[topo.FACE_OVAL, main[topo.N_FACE:]]
    tris = outer[delaunay(verts[outer])]
    oval = verts[topo.FACE_OVAL].astype(np.float32)
    keep = [cv2.pointPolygonTest(oval, tuple(map(float, c)), False) < 0 for c in verts[tris].mean(1)]
    return np.concatenate([face, _hole_strips(upper_eye_alias), tris[np.array(keep, bool)]])


def silhouette_sources(points: np.ndarray, inside: float = 1.5) -> dict[int, np.ndarray]:
    """Face-oval landmarks that lie inside the face's visible outline (the convex hull of the face
    landmarks) by more than ``inside`` px, mapped to the nearest point of that outline."""
    P = np.asarray(points, np.float64)[: topo.N_FACE, :2]
    hull32 = cv2.convexHull(P.astype(np.float32))
    a = hull32[:, 0].astype(np.float64)
    ab = np.roll(a, -1, 0) - a
    out = {}
    for v in topo.FACE_OVAL:
        if cv2.pointPolygonTest(hull32, (float(P[v, 0]), float(P[v, 1])), True) <= inside:
            continue
        t = np.clip(((P[v] - a) * ab).sum(1) / np.maximum((ab ** 2).sum(1), 1e-9), 0, 1)
        q = a + t[:, None] * ab
        out[int(v)] = q[np.argmin(np.linalg.norm(q - P[v], axis=1))].astype(np.float32)
    return out


def _add_copies(verts: np.ndarray, tris: np.ndarray, rows: np.ndarray, src: dict[int, np.ndarray], start: int):
    """Insert copies of the vertices in ``src`` at index ``start``, at the source positions given there;
    triangle ``rows`` use the copies. Returns (verts, tris, copied vertex indices); indices >= ``start``
    move back by the number of copies."""
    copied = np.array(sorted(src), np.int64)
    if not len(copied) or not len(rows):
        return verts, tris, np.zeros(0, np.int64)
    tris = np.where(tris >= start, tris + len(copied), tris)
    lut = np.arange(len(verts) + len(copied))
    lut[copied] = start + np.arange(len(copied))
    tris[rows] = lut[tris[rows]]
    pos = np.array([src[int(v)] for v in copied], np.float32)
    return np.concatenate([verts[:start], pos, verts[start:]]), tris, copied


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
    c, down = oval.mean(0), _down(points)
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


class Unfolder:
    """Keeps scene-driven anchors from folding the mesh: where a triangle touching a movable anchor
    flips or collapses, that anchor's displacement is pulled towards its neighbours' mean."""

    def __init__(self, src: np.ndarray, tris: np.ndarray, movable: np.ndarray, iters: int = 6, smooth: int = 2):
        import scipy.sparse as sp

        self.src, self.iters, self.smooth = src.astype(np.float64), iters, smooth
        self.movable = np.zeros(len(src), bool)
        self.movable[movable] = True
        sel = self.movable[tris].any(1)
        self.tris = tris[sel]
        e = np.concatenate([self.tris[:, [0, 1]], self.tris[:, [1, 2]], self.tris[:, [2, 0]]])
        e = np.concatenate([e, e[:, ::-1]])
        A = sp.csr_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(len(src), len(src)))
        A.data[:] = 1.0
        deg = np.asarray(A.sum(1)).ravel()
        self.avg = sp.diags(1.0 / np.maximum(deg, 1)) @ A
        self.area0 = self._area(self.src)

    def _area(self, v: np.ndarray) -> np.ndarray:
        a, b, c = v[self.tris[:, 0]], v[self.tris[:, 1]], v[self.tris[:, 2]]
        return (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])

    def __call__(self, verts: np.ndarray) -> np.ndarray:
        v = verts.astype(np.float64)
        mv = self.movable
        for _ in range(self.smooth):  # Laplacian smoothing of anchor displacements (no zig-zags)
            d = v - self.src
            v[mv] = self.src[mv] + 0.5 * d[mv] + 0.5 * (self.avg[mv] @ d)
        for _ in range(self.iters):
            bad = self._area(v) / self.area0 < 0.25  # flipped, or squashed to a quarter
            if not bad.any():
                break
            idx = np.unique(self.tris[bad])
            idx = idx[self.movable[idx]]
            d = v - self.src
            v[idx] = self.src[idx] + 0.5 * d[idx] + 0.5 * (self.avg[idx] @ d)
        return v.astype(np.float32)


def scene_anchors(points: np.ndarray, head: np.ndarray, size: int, margin: float, n: int = 32) -> np.ndarray:
    """A lattice of anchors between the head rings and the frame border (torso, background).

    Without scene motion they follow a little of the head translation below the chin (neck and
    shoulders); with it they follow the driver's smooth scene flow.
    """
    lo, hi = margin + 0.06 * size, size - 1 - margin - 0.06 * size
    g = np.linspace(lo, hi, n)
    grid = np.stack(np.meshgrid(g, g), -1).reshape(-1, 2)
    oval = points[topo.FACE_OVAL].astype(np.float64)
    c = oval.mean(0)
    far = 1.2 * np.linalg.norm(oval - c, axis=1).max()
    min_d = 0.6 * (hi - lo) / (n - 1)
    keep = [p for p in grid if np.linalg.norm(p - c) > far and np.min(np.linalg.norm(head - p, axis=1)) > min_d]
    return np.array(keep, np.float32).reshape(-1, 2)


def scene_weights(points: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    """(A, 4) weights of scene anchors in the ``head_anchors`` layout: no rigid/non-rigid head motion,
    a small share of the head translation below the chin, parent = the chin."""
    down = _down(points)
    below = np.clip(((anchors - points[topo.CHIN]) @ down) / max(np.linalg.norm(points[topo.CHIN] - points[topo.FOREHEAD]), 1e-6), 0, 1)
    return np.stack([np.zeros(len(anchors)), np.zeros(len(anchors)), 0.1 * below, np.full(len(anchors), topo.CHIN)], 1)


def _border_fade(p: np.ndarray, size: int, margin: float) -> np.ndarray:
    """1 inside, falling to 0 at the fixed border band (scene motion never tears the frame edge)."""
    d = np.minimum(p, size - 1 - p).min(1) - margin
    return np.clip(d / (0.12 * size), 0, 1).astype(np.float32)


def _down(points: np.ndarray) -> np.ndarray:
    """Unit vector down the face (forehead -> chin)."""
    down = (points[topo.CHIN] - points[topo.FOREHEAD]).astype(np.float64)
    return down / max(float(np.linalg.norm(down)), 1e-6)


def _openness(points: np.ndarray, lids: tuple, corners: tuple) -> float:
    """Signed lid gap over eye width, measured down the face (negative when the lids cross)."""
    down = _down(points)
    gap = np.mean([(points[b] - points[a]) @ down for a, b in lids])
    return float(gap / max(np.linalg.norm(points[corners[0]] - points[corners[1]]), 1e-6))


def _remove_irises(image: np.ndarray, pts: np.ndarray) -> tuple[list, np.ndarray]:
    """Per eye (iris centre, radius), and the image with each iris disc painted over with sclera.

    Each row of the disc is interpolated between the sclera just left and right of it (replaced by the
    eye's brightest-quartile colour where that is dark: lashes, shadow); the painted image is what
    shows where a gazing iris has moved away.
    """
    out, irises = image.copy(), []
    for contour, iris, _, _ in _EYES:
        c = pts[iris[0]].astype(np.float64)
        r = float(np.linalg.norm(pts[iris[1:]] - c, axis=1).mean())
        rf = 1.15 * r + 1.0  # mediapipe's iris radius stops short of the dark limbus
        irises.append((c, rf))
        x0, y0 = np.maximum(np.floor(pts[contour].min(0)).astype(int) - 2, 0)
        x1, y1 = np.minimum(np.ceil(pts[contour].max(0)).astype(int) + 3, image.shape[1::-1])
        if x1 - x0 < 3 or y1 - y0 < 3:
            continue
        eye = np.zeros((y1 - y0, x1 - x0), np.uint8)
        cv2.fillPoly(eye, [np.round(pts[contour] - (x0, y0)).astype(np.int32)], 1)
        eye = cv2.erode(eye, np.ones((3, 3), np.uint8))  # keep the lid margin (lashes) as it is
        region = out[y0:y1, x0:x1]
        xs = np.arange(x0, x1)
        px = region[(eye > 0) & (np.hypot(*np.meshgrid(xs - c[0], np.arange(y0, y1) - c[1])) > rf)]
        if len(px) < 4:
            continue
        lum = px.astype(np.float32).sum(1)
        sclera = np.median(px[lum >= np.percentile(lum, 75)].astype(np.float32), axis=0)
        filled = np.zeros(eye.shape, bool)
        for i, y in enumerate(range(y0, y1)):
            half = np.sqrt(max((rf + 0.5) ** 2 - (y - c[1]) ** 2, 0.0))
            inside = (eye[i] > 0) & (np.abs(xs - c[0]) <= half)
            if half == 0 or not inside.any():
                continue
            ends = []
            for side in (-1, 1):  # sclera sample just outside the disc on this row
                j = int(np.clip(round(c[0] + side * (half + 1.5)) - x0, 0, x1 - x0 - 1))
                v = region[i, j].astype(np.float32) if eye[i, j] else sclera
                ends.append(v if v.sum() >= 0.7 * sclera.sum() else sclera)
            t = np.clip((xs - (c[0] - half)) / max(2 * half, 1e-6), 0, 1)[:, None]
            region[i, inside] = np.clip(ends[0] + t[inside] * (ends[1] - ends[0]), 0, 255).astype(np.uint8)
            filled[i] = inside
        smooth = cv2.GaussianBlur(region, (0, 0), max(0.8, r / 3))  # rows were filled independently
        region[filled] = smooth[filled]
    return irises, out


def _smooth_seams(out: np.ndarray, mapping: np.ndarray, jump: float = 3.0) -> None:
    """Blend a 3x3 average into the pixels where the backward map jumps (the source position moves by
    more than ``jump`` px between neighbouring output pixels): the seam where a turned or lowered
    face folds over the hair or background is drawn nearest-triangle-wins, a stair-stepped edge."""
    mx, my = mapping[..., 0], mapping[..., 1]  # (a max over the last axis of 2 costs 20x more)
    gx = np.maximum(np.abs(mx[:, 1:] - mx[:, :-1]), np.abs(my[:, 1:] - my[:, :-1]))
    gy = np.maximum(np.abs(mx[1:] - mx[:-1]), np.abs(my[1:] - my[:-1]))
    seam = np.zeros(out.shape[:2], np.uint8)
    seam[:, 1:] |= gx > jump
    seam[:, :-1] |= gx > jump
    seam[1:] |= gy > jump
    seam[:-1] |= gy > jump
    if not seam.any():
        return
    ys, xs = np.nonzero(seam)
    y0, y1, x0, x1 = max(ys.min() - 2, 0), ys.max() + 3, max(xs.min() - 2, 0), xs.max() + 3
    m = cv2.GaussianBlur(seam[y0:y1, x0:x1].astype(np.float32), (5, 5), 0.8)[..., None]
    m = np.clip(m * 2.0, 0, 1)
    region = out[y0:y1, x0:x1].astype(np.float32)
    soft = cv2.blur(region, (3, 3))
    out[y0:y1, x0:x1] = (region + m * (soft - region) + 0.5).astype(np.uint8)


def _box(points: np.ndarray, pad: float, size: int) -> Rect:
    x0, y0 = np.floor(points.min(0) - pad).astype(int)
    x1, y1 = np.ceil(points.max(0) + pad).astype(int) + 1
    return max(int(x0), 0), max(int(y0), 0), min(int(x1), size), min(int(y1), size)


class WarpRenderer:
    """Landmark-driven dense warp of the aligned source crop (implements ``Renderer``).

    ``step``: coarse lattice spacing in px (default S/64); eyes and lips are refined at full resolution.
    """

    def __init__(self, step: int | None = None, gaze: bool = True, fill_mouth: bool = True) -> None:
        """``gaze``: move irises to the target iris points; ``fill_mouth``: draw/copy mouth interiors."""
        self.step, self.gaze, self.fill_mouth = step, gaze, fill_mouth
        self.lid_lift = 0.5  # closing eye: fraction of the way the upper margin samples towards the next ring
        self.lids = LidPainter()  # a shutting eye gets a drawn lid (skin + lash line) over the warp's stretch
        self.draw_lids = True
        self.smooth_seams = True  # anti-alias the stair-stepped edge where a turned face folds over its border
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
        margin = border_margin(S, step)
        self.anchors, self.anchor_w = head_anchors(pts, S, margin)
        self.scene_anchors = scene_anchors(pts, self.anchors, S, margin)
        self._scene_fade = _border_fade(self.anchors, S, margin), _border_fade(self.scene_anchors, S, margin)
        self.anchors = np.concatenate([self.anchors, self.scene_anchors])
        self.anchor_w = np.concatenate([self.anchor_w, scene_weights(pts, self.scene_anchors)])
        fixed = border_points(S, margin)
        # Irises are not mesh vertices: a closing lid must not fold over them (gaze is a separate shift).
        # Upper lid margins get copies used only by the eye-opening triangles (see ``_eye_interior``).
        self._lid_copies = np.concatenate(LID_UPPER)
        verts = np.concatenate([pts[: topo.N_FACE], self.anchors, fixed, pts[self._lid_copies]])
        alias = {int(v): len(verts) - len(self._lid_copies) + i for i, v in enumerate(self._lid_copies)}
        self.n_face = topo.N_FACE
        tris = mesh_triangles(verts, alias)
        # A face seen from the side: mediapipe folds the far cheek's oval points behind the nose, so the
        # triangles between the oval and the anchors would sample the nose and mouth as "background" and
        # paste a second profile where a turn reveals them. They use copies of those oval points placed
        # on the visible outline instead (in the source, and on the target's visible outline, so the
        # mesh stays closed and the render is exact at rest), just before the lid copies.
        face_tris = face_triangles()
        outer = np.arange(len(face_tris) + len(_hole_strips(alias)), len(tris)) if face_tris is not None else []
        verts, tris, self._copies = _add_copies(verts, tris, np.asarray(outer, np.int64), silhouette_sources(pts),
                                                len(verts) - len(self._lid_copies))
        self.mesh = MeshWarp(verts, S, step, tris, fine_step=max(1, S // 256))
        self._unfold = Unfolder(self.mesh.src, self.mesh.triangles,
                                np.arange(topo.N_FACE, topo.N_FACE + len(self.anchors)))
        self._fixed = fixed
        self._c = pts[topo.FACE_OVAL].mean(0)
        self._open = [_openness(pts, lids, corners) for _, _, lids, corners in _EYES]
        down = _down(pts)
        self._gap_s = [(pts[lo] - pts[up]) @ down for up, lo in zip(LID_UPPER, LID_LOWER)]
        self._eye_w = [float(np.linalg.norm(pts[c[0]] - pts[c[1]])) for _, _, _, c in _EYES]
        # A far eye seen nearly edge-on (a turned portrait) has no iris to slide: its "iris" disc is
        # mostly lid and background, and moving it paints a ring beside the profile.
        self._gaze_ok = [float(np.clip((w / max(max(self._eye_w), 1e-6) - 0.4) / 0.2, 0, 1)) for w in self._eye_w]
        # Closing eye: source offsets that move the lid margins part way towards the next mesh ring, so
        # the shut lid shows lid skin rather than stretched lashes (upper) or waterline (lower).
        nbrs = defaultdict(set)
        for t in self.mesh.triangles:
            for v in t:
                nbrs[v].update(t)
        self._lid_offset = []
        for eye, (contour, _, _, _) in enumerate(_EYES):
            offs = []
            for lid, sign, frac in ((LID_UPPER[eye], -1, self.lid_lift), (LID_LOWER[eye], 1, 0.8 * self.lid_lift)):
                for v in lid:
                    ring = [u for u in nbrs[v] if u < topo.N_FACE and u not in contour
                            and sign * ((pts[u] - pts[v]) @ down) > 0]
                    offs.append(frac * (pts[ring].mean(0) - pts[v]) if ring else np.zeros(2, np.float32))
            self._lid_offset.append(np.array(offs, np.float32))
        self.lids.prepare(self.image, pts, [(list(LID_UPPER[e]), list(LID_LOWER[e]), _EYES[e][3]) for e in range(2)])
        self._iris, self._irisless = _remove_irises(self.image, pts)
        # least-squares eye affines (gaze): the source side is fixed, so its pseudo-inverse is too
        self._eye_pinv = [np.linalg.pinv(np.c_[self.points[c], np.ones(len(c))]) for c, _, _, _ in _EYES]
        self.mouth.prepare(image, pts)

    def _copy_targets(self, face: np.ndarray) -> np.ndarray:
        """Target positions of the oval copies: on the target face's visible outline (its convex hull)
        where their oval point is inside it, else on the point itself. At a fixed offset instead, a turn
        that brings the point out to the outline leaves a gap between the face and the outer triangles,
        a hole in the mesh that samples the source's skin as a blob over the hair."""
        if not len(self._copies):
            return np.zeros((0, 2), np.float32)
        onto = silhouette_sources(face, inside=0.0)
        return np.array([onto.get(int(v), face[v]) for v in self._copies], np.float32)

    def target_vertices(self, target: np.ndarray, scene: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Mesh vertex (targets, sources): landmarks, anchors moved by the head similarity (and the
        driver's scene flow grid ``scene``, see :mod:`talkinghead.motion.scene`), fixed border."""
        tgt = np.asarray(target, np.float32)[:, :2]
        T = similarity_fit(self.points[topo.RIGID], tgt[topo.RIGID])
        a = self.anchors.astype(np.float64)
        moved = a @ T[:, :2].T + T[:, 2]
        shift = T[:, :2] @ self._c + T[:, 2] - self._c  # head translation at the face centre
        w, n, u, parent = self.anchor_w.T
        parent = parent.astype(int)
        residual = tgt[parent] - (self.points[parent] @ T[:, :2].T + T[:, 2])  # parent's non-rigid motion
        if scene is None:
            anchors = a + w[:, None] * (moved - a) + n[:, None] * residual + u[:, None] * shift
        else:  # what the head similarity does not explain follows the driver's scene motion
            flow = sample_grid(scene, a, self.size) * np.concatenate(self._scene_fade)[:, None]
            anchors = a + w[:, None] * (moved - a) + n[:, None] * residual + (1 - w)[:, None] * flow
        face, src = tgt[: self.n_face].copy(), self.mesh.src
        for eye, (_, _, lids, corners) in enumerate(_EYES):
            # Nearly closed target eye: the lids meet exactly (no squeezed sliver of iris and sclera).
            k = self._closing(tgt, eye)
            if k > 0:
                up, lo = LID_UPPER[eye], LID_LOWER[eye]
                meet = 0.3 * face[up] + 0.7 * face[lo]
                face[up] += k * (meet - face[up])
                face[lo] += k * (meet - face[lo])
                src = src.copy() if src is self.mesh.src else src
                src[up + lo] += k * self._lid_offset[eye]
        # Lips crossed by retargeting (lower above upper) would fold the mesh: let them meet instead.
        up, lo = _LIP_UPPER, _LIP_LOWER
        crossed = np.flatnonzero((face[lo] - face[up]) @ (face[topo.CHIN] - face[topo.FOREHEAD]) < 0)
        if len(crossed):
            mid = 0.5 * (face[up[crossed]] + face[lo[crossed]])
            face[up[crossed]], face[lo[crossed]] = mid, mid
        src = src.copy() if src is self.mesh.src else src
        src[-len(self._lid_copies):] = self._eye_interior(face)
        verts = np.concatenate([face, anchors.astype(np.float32), self._fixed,
                                self._copy_targets(face), face[self._lid_copies]])
        if scene is not None:
            verts = self._unfold(verts)
        return verts, src

    def _eye_interior(self, face: np.ndarray) -> np.ndarray:
        """Source positions of the upper-margin copies: a lowered lid *covers* the eye, it does not squeeze it.

        The opening shows the source eye at the eye's own scale, anchored at the lower lid: only the part
        of the source opening that fits (target gap / eye scale) is visible, the rest is under the lid.
        """
        out, down_t = [], _down(face)
        for eye, (_, _, _, corners) in enumerate(_EYES):
            up, lo = LID_UPPER[eye], LID_LOWER[eye]
            scale = np.linalg.norm(face[corners[0]] - face[corners[1]]) / max(self._eye_w[eye], 1e-6)
            gap_t = np.maximum((face[lo] - face[up]) @ down_t, 0) / max(scale, 1e-6)
            frac = np.clip(gap_t / np.maximum(self._gap_s[eye], 1e-3), 0, 1)[:, None]
            out.append(self.points[lo] + frac * (self.points[up] - self.points[lo]))
        return np.concatenate(out).astype(np.float32)

    def _lid_cover(self, tgt: np.ndarray, eye: int) -> float:
        """How much of the drawn lid to show: 0 until the upper lid has come down by a quarter of the
        source's opening (a squint keeps the warp), 1 from half of it."""
        _, _, lids, corners = _EYES[eye]
        lowered = 1.0 - _openness(tgt, lids, corners) / max(self._open[eye], 1e-3)
        x = float(np.clip((lowered - 0.25) / 0.25, 0, 1))
        return x * x * (3 - 2 * x)

    def _closing(self, tgt: np.ndarray, eye: int) -> float:
        """0 for an open eye, rising to 1 as the target lids shut (openness relative to the source)."""
        _, _, lids, corners = _EYES[eye]
        ratio = _openness(tgt, lids, corners) / max(self._open[eye], 1e-3)
        return 1.0 - float(np.clip((ratio - 0.12) / 0.25, 0, 1))

    def _depth(self, target: np.ndarray, n: int) -> np.ndarray | None:
        """Per-vertex depth for painter's ordering when the target has z (478, 3): face points use it,
        anchors, border and lid copies lie behind the face (or at their lid's depth)."""
        t = np.asarray(target)
        if t.ndim != 2 or t.shape[1] < 3:
            return None
        z = t[: self.n_face, 2].astype(np.float64)
        d = np.full(n, z.max() + 1e3)
        d[: self.n_face] = z
        d[n - len(self._lid_copies):] = z[self._lid_copies]
        k = len(self._copies)
        if k:
            d[n - len(self._lid_copies) - k: n - len(self._lid_copies)] = z[self._copies]
        return d

    def render(self, target: np.ndarray, mouth: MouthSource | None = None,
               scene: np.ndarray | None = None) -> np.ndarray:
        """The source crop re-posed so its landmarks land on ``target`` (478, 2) crop px; ``scene`` is
        an optional (n, n, 2) grid of the driver's smooth motion around the face (crop px)."""
        return self.render_mapped(target, mouth, scene)[0]

    def render_mapped(self, target: np.ndarray, mouth: MouthSource | None = None,
                      scene: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`render`, plus the warp's backward map ((S, S, 2) source crop px) and the plain warp
        before anything was painted on it (:mod:`talkinghead.render.detail` re-applies the map to the
        photo at output scale and takes only the painted pixels from the crop)."""
        tgt = np.asarray(target, np.float32)[:, :2]
        if tgt.shape != (topo.N_LANDMARKS, 2) or not np.isfinite(tgt).all():
            raise ValueError(f"target must be finite (478, 2) crop px, got {tgt.shape}")
        S = self.size
        rects = []
        for contour, _, _, corners in _EYES:
            width = np.linalg.norm(tgt[corners[0]] - tgt[corners[1]])
            rects.append(_box(tgt[contour], max(3.0, 0.25 * width), S))
        mw = np.linalg.norm(tgt[topo.MOUTH_CORNERS[0]] - tgt[topo.MOUTH_CORNERS[1]])
        rects.append(_box(tgt[topo.OUTER_LIPS], max(3.0, 0.15 * mw), S))
        verts, src = self.target_vertices(tgt, scene)
        mapping = self.mesh.backward_map(verts, rects, source=src, depth=self._depth(target, len(verts)))
        out = remap(self.image, mapping)
        plain = out.copy()
        if self.smooth_seams:
            _smooth_seams(out, mapping)
        for eye, rect in enumerate(rects[:2]):
            if self._closing(tgt, eye) > 0:  # anti-alias the crease where the lids meet
                self.mesh.supersample(self.image, out, _box(tgt[_EYES[eye][0]], 2.0, S))
            elif self.gaze:
                self._gaze(out, mapping, tgt, eye, rect)
            cover = self._lid_cover(tgt, eye)
            if self.draw_lids and cover > 0:  # a lowered lid is drawn skin, not the warp's stretched lashes
                self.lids.paint(out, verts[: self.n_face], eye, cover)
        if self.fill_mouth:
            self.mouth.fill(out, tgt, mouth)
        return out, mapping, plain

    def _gaze(self, out: np.ndarray, mapping: np.ndarray, tgt: np.ndarray, eye: int, rect: Rect) -> None:
        """Slide the iris inside the eye opening to the target iris centre (composited, no fold).

        The eye is re-sampled from the iris-less source (sclera filled in ``prepare``), then the source
        iris disc, shifted by the gaze beyond the eye's own affine motion, is laid over it, clipped by
        the target lids (the lids occlude the iris as it moves).
        """
        contour, iris, lids, corners = _EYES[eye]
        fade = np.clip((_openness(tgt, lids, corners) / max(self._open[eye], 1e-3) - 0.4) / 0.3, 0, 1) * self._gaze_ok[eye]
        x0, y0, x1, y1 = rect
        if fade <= 0 or x1 - x0 < 2 or y1 - y0 < 2:
            return
        A = (self._eye_pinv[eye] @ tgt[contour].astype(np.float64)).T  # eye affine (least squares)
        cs, rs = self._iris[eye]
        delta = (tgt[iris[0]] - (A[:, :2] @ cs + A[:, 2])) * fade  # gaze beyond the eye's motion
        try:
            d_src = np.linalg.solve(A[:, :2], delta)
        except np.linalg.LinAlgError:
            return
        width = np.linalg.norm(self.points[corners[0]] - self.points[corners[1]])
        d_src *= min(1.0, 0.25 * width / max(np.linalg.norm(d_src), 1e-6))
        if np.linalg.norm(d_src) < 0.1:
            return
        m = mapping[y0:y1, x0:x1]
        sample = m - d_src.astype(np.float32)
        base = remap(self._irisless, m)
        iris_px = remap(self.image, sample)
        soft = max(0.5, rs / 8)
        alpha = np.clip((rs - np.hypot(sample[..., 0] - cs[0], sample[..., 1] - cs[1])) / soft + 0.5, 0, 1)
        mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
        cv2.fillPoly(mask, [np.round((tgt[contour] - (x0, y0)) * 16).astype(np.int32)], 255, cv2.LINE_AA, shift=4)
        mask = cv2.erode(mask, np.ones((3, 3), np.uint8))  # the lid margin stays over the iris
        a = (alpha * mask.astype(np.float32) / 255)[..., None]
        out[y0:y1, x0:x1] = (base + a * (iris_px.astype(np.float32) - base) + 0.5).astype(np.uint8)
