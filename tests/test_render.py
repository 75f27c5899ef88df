"""Warp renderer tests: known synthetic transforms must be recovered.

Landmarks come from mediapipe run on a drawn cartoon face (no data shipped); the test image is then
redrawn *around those landmarks* (eye whites on the eye contours, irises on the iris points, lips on
the lip contours) over a textured background, so features and points agree exactly.
"""
from __future__ import annotations

import os
import time

import cv2
import numpy as np
import pytest

from talkinghead.face import topology as topo
from talkinghead.render.base import MouthSource
from talkinghead.render.mesh_warp import MeshWarp, border_points, similarity_fit
from talkinghead.render.object import ObjectRenderer
from talkinghead.render.warp import LID_LOWER, LID_UPPER, WarpRenderer

S = 256


def _cartoon(size: int) -> np.ndarray:
    """A simple drawn face that mediapipe's face mesh detects."""
    img = np.full((size, size, 3), (150, 160, 170), np.uint8)
    c = (size // 2, int(size * 0.52))
    cv2.ellipse(img, c, (int(size * 0.2), int(size * 0.27)), 0, 0, 360, (224, 180, 150), -1, cv2.LINE_AA)
    for sx in (-1, 1):
        e = (int(c[0] + sx * size * 0.085), int(size * 0.45))
        cv2.ellipse(img, e, (int(size * 0.045), int(size * 0.02)), 0, 0, 360, (250, 250, 250), -1, cv2.LINE_AA)
        cv2.circle(img, e, int(size * 0.017), (60, 40, 30), -1, cv2.LINE_AA)
        cv2.circle(img, e, int(size * 0.007), (5, 5, 5), -1, cv2.LINE_AA)
        brow = ((e[0] - int(size * .05), e[1] - int(size * .045)), (e[0] + int(size * .05), e[1] - int(size * .05)))
        cv2.line(img, *brow, (80, 50, 40), 3, cv2.LINE_AA)
    nose = np.array([[c[0], int(size * .46)], [c[0] - int(size * .025), int(size * .56)],
                     [c[0] + int(size * .025), int(size * .56)]], np.int32)
    cv2.polylines(img, [nose], False, (170, 120, 100), 2, cv2.LINE_AA)
    cv2.ellipse(img, (c[0], int(size * .64)), (int(size * .07), int(size * .018)), 0, 0, 360, (180, 70, 80), -1,
                cv2.LINE_AA)
    return img


def _texture(size: int) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    return np.stack([128 + 60 * np.sin(xx / 5) * np.cos(yy / 7), 128 + 60 * np.sin(yy / 4 + 1),
                     128 + 50 * np.cos((xx + yy) / 6)], -1)


def draw_face(pts: np.ndarray, size: int = S, interior: tuple[int, int, int] = (40, 10, 15)) -> np.ndarray:
    """Textured face drawn on the landmarks: skin, eye whites, irises, brows, lips, mouth interior."""
    img = _texture(size)
    poly = lambda idx: np.round(pts[idx] * 16).astype(np.int32)  # noqa: E731
    skin = np.zeros((size, size), np.uint8)
    cv2.fillPoly(skin, [poly(topo.FACE_OVAL)], 255, cv2.LINE_AA, shift=4)
    face = np.array([215, 170, 140], np.float32) + 0.35 * (img - 128)
    img = img + (skin[..., None] / 255.0) * (face - img)
    img = np.clip(img, 0, 255).astype(np.uint8)
    for contour, iris in ((topo.LEFT_EYE, topo.LEFT_IRIS), (topo.RIGHT_EYE, topo.RIGHT_IRIS)):
        cv2.fillPoly(img, [poly(contour)], (245, 245, 240), cv2.LINE_AA, shift=4)
        r = np.linalg.norm(pts[iris[1:]] - pts[iris[0]], axis=1).mean()
        eye = np.zeros((size, size), np.uint8)
        cv2.fillPoly(eye, [poly(contour)], 1, cv2.LINE_8, shift=4)
        disc = np.zeros((size, size), np.uint8)
        cv2.circle(disc, tuple(int(v) for v in np.round(pts[iris[0]] * 16)), int(r * 16), 1, -1, cv2.LINE_8, 4)
        img[(eye > 0) & (disc > 0)] = (50, 35, 25)
    for brow in (topo.LEFT_BROW, topo.RIGHT_BROW):
        cv2.polylines(img, [poly(brow[:5])], False, (70, 45, 35), 2, cv2.LINE_AA, shift=4)
    cv2.fillPoly(img, [poly(topo.OUTER_LIPS)], (190, 75, 85), cv2.LINE_AA, shift=4)
    cv2.fillPoly(img, [poly(topo.INNER_LIPS)], interior, cv2.LINE_AA, shift=4)
    return img


@pytest.fixture(scope="module")
def face() -> tuple[np.ndarray, np.ndarray]:
    mp = pytest.importorskip("mediapipe")
    with mp.solutions.face_mesh.FaceMesh(static_image_mode=True, refine_landmarks=True) as fm:
        res = fm.process(_cartoon(S))
    if not res.multi_face_landmarks:
        pytest.skip("mediapipe found no face in the drawing")
    pts = np.array([[p.x * S, p.y * S] for p in res.multi_face_landmarks[0].landmark], np.float32)
    return draw_face(pts), pts


def _renderer(img: np.ndarray, pts: np.ndarray) -> WarpRenderer:
    r = WarpRenderer()
    r.prepare(img, pts)
    return r


def _face_window(pts: np.ndarray, shrink: float = 0.25) -> tuple[slice, slice]:
    x0, y0 = pts[topo.FACE_OVAL].min(0)
    x1, y1 = pts[topo.FACE_OVAL].max(0)
    dx, dy = shrink * (x1 - x0), shrink * (y1 - y0)
    return slice(int(y0 + dy), int(y1 - dy)), slice(int(x0 + dx), int(x1 - dx))


def _diff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(a.astype(np.int32) - b.astype(np.int32))


def _jaw_drop(pts: np.ndarray, gap: float) -> np.ndarray:
    """Open the mouth by moving the lower lip and everything below the lip line down by ``gap`` px."""
    out = pts.copy()
    mid = (pts[13, 1] + pts[14, 1]) / 2
    lower = np.flatnonzero(pts[: topo.N_FACE, 1] > mid + 1.5)
    lower = np.union1d(lower, topo.INNER_LIPS[6:15])
    out[lower, 1] += gap
    return out


def test_mesh_warp_recovers_affine() -> None:
    rng = np.random.default_rng(1)
    pts = np.concatenate([border_points(S, 8), rng.uniform(60, 196, (200, 2))]).astype(np.float32)
    mesh = MeshWarp(pts, S, step=4)
    A = np.array([[1.02, -0.05, 3.0], [0.05, 1.02, -4.0]])
    target = pts.copy()
    inner = slice(64, None)  # border rings stay, the interior moves by A
    target[inner] = pts[inner] @ A[:, :2].T + A[:, 2]
    mapping = mesh.backward_map(target, patches=[(100, 100, 150, 140)])
    yy, xx = np.mgrid[110:150, 110:150]
    q = np.stack([xx, yy], -1).astype(np.float64)
    expect = (q - A[:, 2]) @ np.linalg.inv(A[:, :2]).T
    assert np.abs(mapping[110:150, 110:150] - expect).max() < 0.05
    ident = np.stack(np.meshgrid(np.arange(S), np.arange(S)), -1)
    assert np.abs(mapping[:4] - ident[:4]).max() < 1e-4 and np.abs(mapping[:, -4:] - ident[:, -4:]).max() < 1e-4


def test_mesh_warp_refines_folds() -> None:
    """A sharp change of stretch between triangles (here a column of vertices pushed sideways, squeezing
    the triangles on one side) is where bilinear upsampling of the coarse map draws a staircase; those
    lattice cells are rasterized exactly, and an affine map needs none."""
    from talkinghead.render.mesh_warp import TargetTriangles, fold_rects

    g = np.linspace(0, S - 1, 9)
    pts = np.stack(np.meshgrid(g, g), -1).reshape(-1, 2).astype(np.float32)
    target = pts.copy()
    col = np.isclose(pts[:, 0], g[4]) & (pts[:, 1] > 0) & (pts[:, 1] < S - 1)
    target[col, 0] += 0.8 * (g[5] - g[4])
    exact, covered = TargetTriangles(target, pts, MeshWarp(pts, S, step=4).triangles).rasterize((S, S))
    errs = []
    for refine, tol in ((False, 3.0), (True, 3.0), (True, 0.25)):
        mesh = MeshWarp(pts, S, step=4, refine_folds=refine)
        mesh.fold_tol = tol
        err = np.abs(mesh.backward_map(target) - exact).max(-1)
        errs.append(float(err[2:-2, 2:-2][covered[2:-2, 2:-2]].max()))  # (on the frame edge: edge-exclusive)
    assert errs[0] > 2.0 and errs[1] < 0.5 * errs[0] and errs[2] < 0.05, errs
    ramp = np.stack(np.meshgrid(np.arange(64.0), np.arange(64.0)), -1) @ np.array([[1.1, 0.1], [-0.2, 0.9]])
    assert fold_rects(ramp.astype(np.float32), 4) == []


def test_rasterize_windows_match_separate_calls() -> None:
    """Several rectangles rasterised in one pass (folds included: later triangles win) give what one
    call per rectangle gives, and leave every other pixel alone."""
    from talkinghead.render.mesh_warp import TargetTriangles, delaunay

    rng = np.random.default_rng(3)
    pts = np.concatenate([border_points(S, 8), rng.uniform(40, 216, (150, 2))]).astype(np.float32)
    target = pts.copy()
    target[64:] += rng.normal(0, 6, (len(pts) - 64, 2)).astype(np.float32)  # enough to fold some triangles
    tris = TargetTriangles(target, pts, delaunay(pts))
    rects = [(30, 40, 90, 70), (60, 50, 130, 120), (200, 200, 300, 260), (10, 10, 10, 30)]  # overlap, past the edge, empty
    one, cov = tris.rasterize((S, S), out=np.full((S, S, 2), -7, np.float32), windows=rects)
    sep = np.full((S, S, 2), -7, np.float32)
    for x0, y0, x1, y1 in rects:
        x1, y1 = min(x1, S), min(y1, S)
        if x1 > x0 and y1 > y0:
            tris.rasterize((y1 - y0, x1 - x0), origin=(x0, y0), out=sep[y0:y1, x0:x1])
    assert np.abs(one - sep).max() < 1e-3
    inside = np.zeros((S, S), bool)
    for x0, y0, x1, y1 in rects:
        inside[y0:y1, x0:x1] = True
    assert cov[inside].mean() > 0.9 and not cov[~inside].any() and (one[~inside] == -7).all()


def test_similarity_fit() -> None:
    rng = np.random.default_rng(2)
    p = rng.uniform(0, 100, (30, 2))
    a = np.deg2rad(7)
    M = np.array([[1.1 * np.cos(a), -1.1 * np.sin(a), 4], [1.1 * np.sin(a), 1.1 * np.cos(a), -2]])
    assert np.allclose(similarity_fit(p, p @ M[:, :2].T + M[:, 2]), M, atol=1e-9)


def test_identity(face) -> None:
    img, pts = face
    out = _renderer(img, pts).render(pts)
    assert out.shape == img.shape and out.dtype == np.uint8
    assert _diff(out, img)[8:-8, 8:-8].max() <= 2


@pytest.mark.parametrize("angle,scale,shift", [(0.0, 1.0, (5.0, -3.0)), (4.0, 1.04, (0.0, 0.0)),
                                               (-3.0, 0.97, (2.0, 1.0))])
def test_similarity_motion(face, angle: float, scale: float, shift: tuple[float, float]) -> None:
    img, pts = face
    c = pts[topo.FACE_OVAL].mean(0)
    M = cv2.getRotationMatrix2D((float(c[0]), float(c[1])), angle, scale)
    M[:, 2] += shift
    target = (pts @ M[:, :2].T + M[:, 2]).astype(np.float32)
    out = _renderer(img, pts).render(target)
    expect = cv2.warpAffine(img, M, (S, S), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    ys, xs = _face_window(target)
    err = _diff(out, expect)[ys, xs].mean()
    assert err < 3
    assert _diff(out, img)[ys, xs].mean() > max(4.0, 2 * err)  # it did move
    band = max(8, S // 32)
    for edge in (out[:band] == img[:band], out[-band:] == img[-band:], out[:, :band] == img[:, :band],
                 out[:, -band:] == img[:, -band:]):
        assert edge.all()


def test_delaunay_fallback_without_mediapipe_mesh(face, monkeypatch) -> None:
    import talkinghead.render.warp as warp

    img, pts = face
    monkeypatch.setattr(warp, "face_triangles", lambda: None)
    r = _renderer(img, pts)
    assert _diff(r.render(pts), img)[8:-8, 8:-8].max() <= 2
    target = pts + np.float32([4, 2])
    ys, xs = _face_window(target)
    expect = np.roll(img, (2, 4), axis=(0, 1))
    assert _diff(r.render(target), expect)[ys, xs].mean() < 3


def _dark(img: np.ndarray) -> np.ndarray:
    return (img.max(axis=2) < 80)


def test_blink_covers_iris(face) -> None:
    img, pts = face
    target = pts.copy()
    for up, lo in zip(LID_UPPER, LID_LOWER):
        target[up] = pts[lo]
    out = _renderer(img, pts).render(target)
    for contour in (topo.LEFT_EYE, topo.RIGHT_EYE):
        x0, y0 = np.floor(pts[contour].min(0) - 3).astype(int)
        x1, y1 = np.ceil(pts[contour].max(0) + 3).astype(int)
        before = _dark(img[y0:y1, x0:x1]).sum()
        after = _dark(out[y0:y1, x0:x1]).sum()
        assert before > 20 and after < 0.15 * before, (before, after)


def test_shut_lid_is_drawn_skin(face) -> None:
    """A shut eye shows lid skin and a thin lash line: the warp alone stretches the open eye's thin
    lid strip (lashes, liner) over the eyeball as a dark smear. Open eyes are untouched."""
    img, pts = face
    img = img.copy()
    for up in LID_UPPER:  # eyeliner / lashes along the upper lid margin, as on most photos
        cv2.polylines(img, [np.round(pts[up]).astype(np.int32)], False, (40, 30, 30), 3, cv2.LINE_AA)
    target = pts.copy()
    for up, lo in zip(LID_UPPER, LID_LOWER):
        target[up] = pts[lo]
    plain, drawn = _renderer(img, pts), _renderer(img, pts)
    plain.draw_lids = False
    np.testing.assert_array_equal(plain.render(pts), drawn.render(pts))
    a, b = plain.render(target), drawn.render(target)
    for contour in (topo.LEFT_EYE, topo.RIGHT_EYE):
        x0, y0 = np.floor(pts[contour].min(0)).astype(int)
        x1, y1 = np.ceil(pts[contour].max(0)).astype(int)
        dark_plain, dark_drawn = _dark(a[y0:y1, x0:x1]).sum(), _dark(b[y0:y1, x0:x1]).sum()
        assert dark_drawn < 0.5 * dark_plain, (dark_plain, dark_drawn)


def test_shut_lid_is_not_brow_coloured(face) -> None:
    """A cartoon's brow drawn right on top of the eye (in the band the lid skin is sampled from): the
    shut lid takes the skin under the eye instead, so it is skin, not a dark smear of brow."""
    from talkinghead.render.eyelid import _frame

    img, pts = face
    img = img.copy()
    for up in LID_UPPER:
        lid = pts[up].astype(np.float32)
        _, dirn, w = _frame(pts, (up[0], up[-1]))  # the lid's ends stand in for the eye corners
        brow = np.concatenate([lid + 0.1 * w * dirn, (lid + 0.4 * w * dirn)[::-1]])
        cv2.fillPoly(img, [np.round(brow).astype(np.int32)], (35, 25, 20))
    target = pts.copy()
    for up, lo in zip(LID_UPPER, LID_LOWER):
        target[up] = pts[lo]
    out = _renderer(img, pts).render(target)
    skin_l = np.array([215, 170, 140], np.float32).mean()
    for up, lo in zip(LID_UPPER, LID_LOWER):
        x0, y0 = np.floor(np.minimum(pts[up].min(0), pts[lo].min(0))).astype(int)
        x1, y1 = np.ceil(np.maximum(pts[up].max(0), pts[lo].max(0))).astype(int)
        assert out[y0:y1, x0:x1].mean() > 0.6 * skin_l, out[y0:y1, x0:x1].mean()


def test_gaze_moves_iris(face) -> None:
    img, pts = face
    target = pts.copy()
    target[topo.LEFT_IRIS + topo.RIGHT_IRIS] += (2.5, 0)
    out = _renderer(img, pts).render(target)
    for contour in (topo.LEFT_EYE, topo.RIGHT_EYE):
        x0, y0 = np.floor(pts[contour].min(0) - 2).astype(int)
        x1, y1 = np.ceil(pts[contour].max(0) + 2).astype(int)
        cx = lambda im: np.nonzero(_dark(im[y0:y1, x0:x1]))[1].mean()  # noqa: E731
        assert 1.0 < cx(out) - cx(img) < 4.0


def _inner_mask(pts: np.ndarray, erode: int = 2) -> np.ndarray:
    m = np.zeros((S, S), np.uint8)
    cv2.fillPoly(m, [np.round(pts[topo.INNER_LIPS]).astype(np.int32)], 1)
    return cv2.erode(m, np.ones((2 * erode + 1,) * 2, np.uint8)) > 0


def _lip_ring(pts: np.ndarray) -> np.ndarray:
    m = np.zeros((S, S), np.uint8)
    cv2.fillPoly(m, [np.round(pts[topo.OUTER_LIPS]).astype(np.int32)], 1)
    cv2.fillPoly(m, [np.round(pts[topo.INNER_LIPS]).astype(np.int32)], 0)
    return cv2.erode(m, np.ones((3, 3), np.uint8)) > 0


def test_mouth_interior(face) -> None:
    img, pts = face
    mw = np.linalg.norm(pts[61] - pts[291])
    target = _jaw_drop(pts, 0.3 * mw)
    r = _renderer(img, pts)
    inner = _inner_mask(target)
    assert inner.sum() > 50
    # With a driver, the interior follows the driver's: a bright (teeth-like) green interior gives a
    # bright interior that keeps a green cast (recoloured towards the source's tooth colour), a dark
    # one a dark interior.
    driver = draw_face(target, interior=(20, 230, 40))
    out = r.render(target, MouthSource(driver, target))
    mean = out[inner].astype(float).mean(0)
    assert mean[1] > 150 and mean[1] > mean[0] + 5 and mean[1] > mean[2] + 30, mean
    dark = r.render(target, MouthSource(draw_face(target, interior=(15, 10, 10)), target))
    assert dark[inner].astype(float).mean() < 0.5 * out[inner].astype(float).mean()
    # Without one, a synthetic interior darker than the lips (teeth may show, the cavity dominates).
    out = r.render(target)
    lum = lambda im, m: im[m].astype(float).mean()  # noqa: E731
    assert lum(out, inner) < 0.8 * lum(out, _lip_ring(target))
    assert (out[inner] > 200).all(axis=1).mean() < 0.6  # not just white


def test_open_source_mouth_closes(face) -> None:
    _, pts = face
    mw = np.linalg.norm(pts[61] - pts[291])
    open_pts = _jaw_drop(pts, 0.3 * mw)
    src = draw_face(open_pts, interior=(20, 10, 10))
    closed = _jaw_drop(pts, -float(np.linalg.norm(pts[14] - pts[13])))  # inner lips meet
    out = _renderer(src, open_pts).render(closed)
    x0, y0 = np.floor(open_pts[topo.OUTER_LIPS].min(0)).astype(int)
    x1, y1 = np.ceil(open_pts[topo.OUTER_LIPS].max(0)).astype(int)
    before = _dark(src[y0:y1, x0:x1]).sum()
    after = _dark(out[y0:y1, x0:x1]).sum()
    assert before > 100 and after < 0.1 * before, (before, after)


def test_object_renderer() -> None:
    img = np.clip(_texture(S), 0, 255).astype(np.uint8)
    r = ObjectRenderer()
    r.prepare(img)
    A = np.array([[1, 0, 6.0], [0, 1, 4.0]])
    out = r.render(A)
    expect = cv2.warpAffine(img, A, (S, S))
    c = slice(S // 2 - 40, S // 2 + 40)
    assert _diff(out, expect)[c, c].mean() < 2
    assert _diff(out, img)[c, c].mean() > 10
    band = S // 32  # exactly unchanged band (mesh_warp.border_margin - step)
    assert (out[:band] == img[:band]).all() and (out[:, -band:] == img[:, -band:]).all()
    assert (out[-band:] == img[-band:]).all() and (out[:, :band] == img[:, :band]).all()
    assert np.array_equal(r.render(np.eye(2, 3)), img)


@pytest.mark.parametrize("A", [[[1, 0, -12.0], [0, 1, 5.0]], [[0.97, -0.1, 20.0], [0.1, 0.97, -10.0]]])
def test_object_renderer_pins_a_picture_narrower_than_its_crop(A) -> None:
    """A portrait-shaped photo in its square crop: the photo's edges stay put and every pixel of it is
    sampled from inside it (never the replicated padding beyond its last column)."""
    img = np.clip(_texture(S), 0, 255).astype(np.uint8)
    x0, x1 = 32.0, S - 33.0  # the picture's first and last column; the rest is padding
    r = ObjectRenderer()
    r.prepare(img, (x0, 0.0, x1, S - 1.0))
    A = np.array(A)
    out, mapping = r.render_mapped(A)
    cols = slice(int(x0), int(x1) + 1)
    mx = mapping[:, cols, 0]
    assert mx.min() >= x0 - 0.01 and mx.max() <= x1 + 0.01, (mx.min(), mx.max())
    assert (out[:, int(x0)] == img[:, int(x0)]).all() and (out[:, int(x1)] == img[:, int(x1)]).all()
    c = slice(S // 2 - 20, S // 2 + 20)
    assert _diff(out, cv2.warpAffine(img, A, (S, S)))[c, c].mean() < 3  # the middle still follows A
    unpinned = ObjectRenderer()
    unpinned.prepare(img)
    assert unpinned.render_mapped(A)[1][:, cols, 0].max() > x1 + 1  # without bounds it reaches past
    full = ObjectRenderer()
    full.prepare(img, (0.0, 0.0, S - 1.0, S - 1.0))  # a picture that fills the crop: as before
    assert np.array_equal(full.render(A), unpinned.render(A))


@pytest.mark.parametrize("A", [[[1, 0, 60.0], [0, 1, 0]], [[0.9, -0.35, 70.0], [0.35, 0.9, -40.0]]])
def test_object_renderer_scales_back_a_motion_that_would_fold_a_narrow_picture(A) -> None:
    """A picture half as wide as its crop and a step towards its pinned edge larger than the fade band
    can take: the motion is scaled back so the warp stays one-to-one (no torn edge), and still moves."""
    img = np.clip(_texture(S), 0, 255).astype(np.uint8)
    x0, x1 = S / 4, 3 * S / 4 - 1
    r = ObjectRenderer()
    r.prepare(img, (x0, 0.0, x1, S - 1.0))
    _, mapping = r.render_mapped(np.array(A))
    inside = mapping[:, int(x0):int(x1) + 1]
    assert (np.diff(inside[..., 0], axis=1) > 0).all()  # source x increases along every row: no fold
    assert (np.diff(inside[..., 1], axis=0) > 0).all()
    assert np.abs(inside[..., 0] - np.arange(int(x0), int(x1) + 1)).max() > 5  # it does move
    # the unscaled motion would fold: some triangle of the mesh turns over
    from talkinghead.render.object import _areas

    step = r.weight[:, None] * (r.points @ np.array(A)[:, :2].T + np.array(A)[:, 2] - r.points)
    assert (_areas(r.points + step, r._tri) / r._area).min() < 0


@pytest.mark.parametrize("size", [256, 512])
def test_speed(face, size: int) -> None:
    img, pts = face
    k = size / S
    big = cv2.resize(img, (size, size)) if size != S else img
    t0 = time.perf_counter()
    r = _renderer(big, pts * k)
    t1 = time.perf_counter()
    mw = np.linalg.norm(pts[61] - pts[291])
    frames = [_jaw_drop(pts, g * mw) * k for g in np.linspace(0, 0.3, 10)]
    for f in frames[:2]:
        r.render(f)  # warm-up
    t2 = time.perf_counter()
    for f in frames:
        out = r.render(f, MouthSource(big, f))
    dt = (time.perf_counter() - t2) / len(frames)
    print(f"\nWarpRenderer {size}px: prepare {1e3 * (t1 - t0):.1f} ms, render {1e3 * dt:.2f} ms/frame")
    assert out.shape == (size, size, 3)
    assert dt < 0.5  # generous: CI machines vary; the real budget is ~8 ms (256) / ~20 ms (512)


def test_teeth_for_illegible_lips(face) -> None:
    """Red lips on skin: no teeth needed, nor for pale but red lips. Lips the colour of the skin (a statue): teeth are drawn
    under the upper lip when the mouth opens, so the opening reads as one (brighter band at the top)."""
    from talkinghead.render.mouth import MouthFiller

    img, pts = face
    f = MouthFiller()
    f.prepare(img, pts)
    assert f.teeth_need < 0.2, f.teeth_need
    statue = img.copy()
    lips = np.zeros(img.shape[:2], np.uint8)
    cv2.fillPoly(lips, [np.round(pts[topo.OUTER_LIPS]).astype(np.int32)], 1)
    statue[lips > 0] = (215, 170, 140)  # the skin colour of draw_face
    g = MouthFiller()
    g.prepare(statue, pts)
    assert g.teeth_need > 0.8, g.teeth_need
    # pale lips as light as the skin but clearly redder (a 3-D cartoon's) are legible by their hue: no teeth
    pale = img.copy()
    pale[lips > 0] = (230, 120, 110)
    h = MouthFiller()
    h.prepare(pale, pts)
    assert h.teeth_need < 0.2, h.teeth_need
    mw = np.linalg.norm(pts[61] - pts[291])
    target = _jaw_drop(pts, 0.2 * mw)
    inner = _inner_mask(target)
    driver = draw_face(target, interior=(15, 10, 10))  # a dark driver interior
    outs = []
    for boost in (0.0, 1.0):
        r = _renderer(statue, pts)
        r.mouth.teeth_boost = boost
        outs.append(r.render(target, MouthSource(driver, target)).astype(float))
    ys = np.nonzero(inner)[0]
    top = inner & (np.arange(inner.shape[0])[:, None] < ys.min() + 0.35 * (ys.max() - ys.min()))
    assert outs[1][top].mean() > outs[0][top].mean() + 15, (outs[0][top].mean(), outs[1][top].mean())
    # the drawn teeth are clearly lighter than the skin (teeth of the skin's own lightness read as
    # more lip to a face tracker on statues)
    skin_l, teeth_l = cv2.cvtColor(np.float32([[[215, 170, 140], np.clip(g.teeth, 0, 255)]]) / 255,
                                   cv2.COLOR_RGB2LAB)[0, :, 0]
    assert teeth_l > skin_l + 12, (teeth_l, skin_l)


def test_drawn_teeth_keep_to_the_portraits_tones(face) -> None:
    """A dim, yellow-varnished portrait (a painting) with illegible lips: the drawn teeth are not
    blue-white and brighter than anything in the face, but yellowish and near its brightest tones;
    still lighter than the skin, so the opening reads."""
    from talkinghead.render.mouth import MouthFiller, _face_lab, _face_percentile, _lab

    img, pts = face
    lips = np.zeros(img.shape[:2], np.uint8)
    cv2.fillPoly(lips, [np.round(pts[topo.OUTER_LIPS]).astype(np.int32)], 1)
    statue = img.copy()
    statue[lips > 0] = (215, 170, 140)
    varnish = np.clip(statue.astype(np.float32) * (0.8, 0.75, 0.45), 0, 255).astype(np.uint8)
    f = MouthFiller()
    f.prepare(varnish, pts)
    assert f.teeth_need > 0.8
    teeth = _lab(np.clip(f.teeth, 0, 255).astype(np.uint8)[None, None])[0, 0]
    skin = f._skin(varnish, pts)
    assert teeth[2] > 0.4 * skin[2] > 10, (teeth, skin)  # the varnish's yellow, not blue-white
    assert skin[0] + 12 < teeth[0] <= max(_face_percentile(_face_lab(varnish, pts), 95) + 4.5, skin[0] + 14.5), (teeth, skin)


def test_wide_open_source_keeps_its_own_interior(face) -> None:
    """A screaming source (mouth open ~0.6 of its width) opening a little further: no drawn cavity and
    teeth over its own tongue (the warp stretches what it has); a barely open one does get them."""
    from talkinghead.render.mouth import WIDE_OPEN, MouthFiller, opening

    _, pts = face
    mw = np.linalg.norm(pts[61] - pts[291])
    results = {}
    for gap in (0.6, 0.15):
        src_pts = _jaw_drop(pts, gap * mw)
        img = draw_face(src_pts, interior=(200, 90, 100))  # a pink tongue fills the opening
        f = MouthFiller()
        f.prepare(img, src_pts)
        assert (f.gap > WIDE_OPEN) == (gap > 0.5), f.gap
        target = _jaw_drop(src_pts, 0.25 * mw)
        assert opening(target) > 1.1 * f.gap + 0.06  # past the fill's threshold
        out = img.copy()
        f.fill(out, target)
        results[gap] = np.abs(out.astype(int) - img.astype(int)).sum(-1)[_inner_mask(target) > 0].mean()
    assert results[0.6] == 0.0 and results[0.15] > 20, results


def test_open_source_keeps_its_teeth_on_their_lips(face) -> None:
    """A smiling source (teeth showing) opening wider: its upper teeth stay under the upper lip, its lower
    teeth on the lower lip, and the new gap between them is the (dark) driver interior, not driver
    interior pasted over the source's teeth."""
    _, pts = face
    mw = np.linalg.norm(pts[61] - pts[291])
    src_pts = _jaw_drop(pts, 0.3 * mw)
    img = draw_face(src_pts, interior=(245, 245, 245))
    mid_y = (src_pts[13, 1] + src_pts[14, 1]) / 2
    lower_half = _inner_mask(src_pts, erode=0) & (np.arange(S)[:, None] > mid_y)
    img[lower_half] = (190, 190, 190)  # lower teeth: greyer
    target = _jaw_drop(src_pts, 0.3 * mw)
    r = _renderer(img, src_pts)
    out = r.render(target, MouthSource(draw_face(target, interior=(15, 10, 10)), target)).astype(float)
    cx = int(round(target[13, 0]))
    cols = slice(cx - int(0.1 * mw), cx + int(0.1 * mw) + 1)
    yu, yl = target[13, 1], target[14, 1]
    band = lambda a, b: out[int(round(a)):int(round(b)), cols].mean()  # noqa: E731
    top, middle, bottom = band(yu + 1, yu + 3), band((yu + yl) / 2 - 1, (yu + yl) / 2 + 2), band(yl - 3, yl - 1)
    assert top > 200 and bottom > 150, (top, bottom)
    assert middle < 100 and top > bottom + 15, (top, middle, bottom)


def _turned_face(yaw: float, size: int = S) -> np.ndarray:
    """Canonical landmarks (478, 3) posed at ``yaw`` degrees in a ``size`` crop (x, y px, z depth)."""
    from talkinghead.face.canonical import load_canonical
    from talkinghead.face.types import HeadPose

    return HeadPose(HeadPose.rotation_from_euler(yaw, 0.0, 0.0), np.array([size / 2, size * 0.45]),
                    size * 0.2).project(load_canonical()).astype(np.float32)


def test_turned_face_silhouette() -> None:
    """A frontal face has no oval point inside its outline; a face turned 45 degrees has several (its far
    cheek folds behind the nose), each moved onto the outline."""
    from talkinghead.render.warp import silhouette_sources

    front, turned = _turned_face(0.0), _turned_face(45.0)
    assert not silhouette_sources(front)
    sil = silhouette_sources(turned)
    hull = cv2.convexHull(turned[:topo.N_FACE, :2].astype(np.float32))
    assert len(sil) > 5
    assert all(abs(cv2.pointPolygonTest(hull, (float(q[0]), float(q[1])), True)) < 0.5 for q in sil.values())


def test_turned_face_renders_itself_at_rest() -> None:
    """With the vertex copies for a turned face (oval-to-background triangles sampled from the silhouette),
    the source is still reproduced exactly at rest, and a turn toward the camera moves the face and leaves
    the frame border (near) unchanged."""
    from talkinghead.render.warp import face_triangles

    if face_triangles() is None:
        pytest.skip("needs mediapipe's tessellation")
    src, dst = _turned_face(45.0), _turned_face(33.0)
    img = _texture(S).astype(np.uint8)
    hull = cv2.convexHull(src[:topo.N_FACE, :2].astype(np.float32)).astype(np.int32)
    cv2.fillPoly(img, [hull], (215, 170, 140))
    r = WarpRenderer(fill_mouth=False)
    r.prepare(img, src[:, :2])
    assert len(r._copies) > 5
    assert _diff(r.render(src), img)[8:-8, 8:-8].max() <= 2
    out = r.render(dst)
    band = max(8, S // 32)
    assert _diff(out[:band], img[:band]).max() <= 3 and _diff(out[-band:], img[-band:]).max() <= 3
    assert _diff(out, img).mean() > 1.0  # it did move


@pytest.mark.parametrize("yaw", [33.0, 15.0, 0.0])
def test_turned_face_mesh_stays_closed(yaw: float) -> None:
    """A turned source turning toward the camera: the moved mesh opens no holes beyond the few it has at
    rest (where the convex outline spans a concave silhouette; harmless there, as holes sample the
    source in place). A hole between the face and the outer triangles pastes the source's skin, in
    place, over the moved hair: copies kept at a fixed offset from their oval point opened 111-333 px."""
    from talkinghead.render.warp import face_triangles

    if face_triangles() is None:
        pytest.skip("needs mediapipe's tessellation")
    src = _turned_face(45.0)
    r = WarpRenderer(fill_mouth=False)
    r.prepare(_texture(S).astype(np.uint8), src[:, :2])
    holes = []
    for pts in (src, _turned_face(yaw)):
        r.render(pts)
        holes.append(int((~r.mesh.last.rasterize((S, S))[1]).sum()))
    assert holes[1] <= holes[0], holes


def test_edge_on_eye_keeps_its_iris() -> None:
    """Gaze slides the iris of an eye seen from the front; the far eye of a face turned nearly to profile
    (a sliver between lids and outline) is left alone: moving its "iris" paints a ring beside the face."""
    from talkinghead.render.warp import _EYES

    diffs = []
    for yaw in (0.0, 70.0):
        p = _turned_face(yaw)[:, :2]
        r = WarpRenderer(fill_mouth=False)
        r.prepare(draw_face(p), p)
        widths = [np.linalg.norm(p[c[0]] - p[c[1]]) for _, _, _, c in _EYES]
        eye = int(np.argmin(widths))
        q = p.copy()
        q[_EYES[eye][1]] += (0.15 * max(widths), 0.0)  # gaze to the side
        diffs.append(int(_diff(r.render(q), r.render(p)).max()))
    assert diffs[0] > 50 and diffs[1] == 0, diffs


def test_fold_seams_are_smoothed(face) -> None:
    """Where a turned face folds over its border the map jumps and the nearest triangle wins per pixel:
    a stair-stepped edge. Those pixels (and only those) get a 3x3 average."""
    img, pts = face
    img = img.copy()
    img[:, : S // 2] = (img[:, : S // 2] * 0.4).astype(np.uint8)  # a contrasty edge behind the face
    c = pts.mean(0)
    turned = pts.copy()
    turned[:, 0] = c[0] + (pts[:, 0] - c[0]) * 0.8 + 8  # the face squeezed and shifted: it folds
    plain, smooth = _renderer(img, pts), _renderer(img, pts)
    plain.smooth_seams = False
    np.testing.assert_array_equal(plain.render(pts), smooth.render(pts))  # no jumps at rest
    a, b = plain.render(turned).astype(np.int32), smooth.render(turned).astype(np.int32)
    changed = np.abs(a - b).max(-1) > 0
    assert 0 < changed.mean() < 0.05, changed.mean()

    def roughness(x):  # neighbour differences over the changed pixels
        return np.abs(np.diff(x, axis=1)).sum(-1)[changed[:, 1:]].mean()

    assert roughness(b) < 0.8 * roughness(a), (roughness(a), roughness(b))


def test_black_and_white_face_gets_a_grey_mouth(face) -> None:
    """A black-and-white portrait opening its mouth: the interior (drawn, or a red driver's) stays grey,
    as the rest of the picture; a colour portrait's keeps its hue."""
    img, pts = face
    grey = np.repeat(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2)
    mw = np.linalg.norm(pts[61] - pts[291])
    target = _jaw_drop(pts, 0.3 * mw)
    inner = _inner_mask(target)
    driver = MouthSource(draw_face(target, interior=(200, 40, 50)), target)

    def chroma(src: np.ndarray, mouth: MouthSource | None) -> float:
        out = _renderer(src, pts).render(target, mouth)
        lab = cv2.cvtColor(out.astype(np.float32) / 255, cv2.COLOR_RGB2LAB)[inner]
        return float(np.hypot(lab[:, 1], lab[:, 2]).mean())

    for mouth in (None, driver):
        assert chroma(grey, mouth) < 1.0
    assert chroma(img, driver) > 8.0


def _worker_jobs(img: np.ndarray, pts: np.ndarray) -> list[tuple]:
    """Jobs that exercise every input: an opening mouth (synthesised, then from a driver crop), a
    gaze shift, a shut eye and a head turn."""
    gaze = pts.copy()
    gaze[topo.LEFT_IRIS + topo.RIGHT_IRIS] += (2.5, 0)
    shut = pts.copy()
    for up, lo in zip(LID_UPPER, LID_LOWER):
        shut[up] = shut[lo] = (pts[up] + pts[lo]) / 2
    c = pts.mean(0)
    rot = cv2.getRotationMatrix2D((float(c[0]), float(c[1])), 8.0, 1.0)  # an in-plane head turn
    turned = (pts @ rot[:, :2].T + rot[:, 2]).astype(np.float32)
    opened = _jaw_drop(pts, 8.0)
    return [(pts, None, None), (opened, None, None), (opened, MouthSource(draw_face(opened), opened), None),
            (gaze, None, None), (shut, None, None), (turned, None, None)]


def test_render_workers_give_the_same_frames_in_order(face) -> None:
    from talkinghead.render.parallel import RenderWorkers

    img, pts = face
    r = _renderer(img, pts)
    jobs = _worker_jobs(img, pts)
    want = [r.render(*job) for job in jobs]
    threads = cv2.getNumThreads()
    cv2.setNumThreads(2)
    try:
        with RenderWorkers(r, 2, depth=2) as pool:  # two workers, frames interleaved between them
            assert cv2.getNumThreads() == 1  # the parent's OpenCV leaves the other cores to the workers
            got = list(pool.map(iter(jobs)))
            other = RenderWorkers(r, 1)  # pools may overlap and close in any order
        assert cv2.getNumThreads() == 1  # one is still open
        other.close()
        assert cv2.getNumThreads() == 2  # and gets them back after the last
    finally:
        cv2.setNumThreads(threads)
    assert len(got) == len(want)
    assert all(np.array_equal(g, w) for g, w in zip(got, want))
    assert sum(not np.array_equal(want[0], w) for w in want[1:]) == len(want) - 1  # order matters


def test_render_worker_errors_reach_the_caller(face) -> None:
    from talkinghead.render.parallel import RenderWorkers

    img, pts = face
    bad = pts.copy()
    bad[0] = np.nan
    with RenderWorkers(_renderer(img, pts), 1) as pool:
        with pytest.raises(RuntimeError, match="target must be finite"):
            list(pool.map(iter([(pts, None, None), (bad, None, None), (pts, None, None)])))


def test_render_workers_need_no_main_guard(face, tmp_path) -> None:
    """A user's script without ``if __name__ == "__main__"`` (multiprocessing's spawn would re-run it)."""
    import subprocess
    import sys

    img, pts = face
    np.savez(tmp_path / "face.npz", img=img, pts=pts)
    script = tmp_path / "user_script.py"
    script.write_text(
        "import numpy as np\n"
        "from talkinghead.render.parallel import RenderWorkers\n"
        "from talkinghead.render.warp import WarpRenderer\n"
        f"d = np.load({str(tmp_path / 'face.npz')!r})\n"
        "r = WarpRenderer()\n"
        "r.prepare(d['img'], d['pts'])\n"
        "with RenderWorkers(r, 1) as pool:\n"
        "    out = list(pool.map((d['pts'] + k, None, None) for k in range(3)))\n"
        "print('rendered', len(out), all(np.array_equal(o, r.render(d['pts'] + k)) for k, o in enumerate(out)))\n")
    res = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.strip().splitlines()[-1] == "rendered 3 True"


def test_auto_render_workers() -> None:
    from talkinghead.render.parallel import AUTO_MIN_FRAMES, auto_workers

    assert auto_workers(10_000, 0) == 0 and auto_workers(5, 2) == 2  # asked for: as asked
    assert auto_workers(AUTO_MIN_FRAMES - 1) == 0  # short clips: start-up not repaid
    cores = len(os.sched_getaffinity(0))
    assert auto_workers(None) == auto_workers(10_000) == max(0, min(3, cores - 1))


def test_render_workers_stop_at_once_on_an_error(face) -> None:
    """At the end of the frames the workers exit by themselves; on an error or an interrupt in the
    caller (here mid-stream) they are killed without waiting for the frames in flight."""
    import signal

    from talkinghead.render.parallel import RenderWorkers

    img, pts = face
    with RenderWorkers(_renderer(img, pts), 1) as pool:
        procs = list(pool._procs)
        assert len(list(pool.map((pts + 0.1 * k, None, None) for k in range(4)))) == 4
    assert [p.returncode for p in procs] == [0]
    with pytest.raises(KeyboardInterrupt):
        with RenderWorkers(_renderer(img, pts), 1) as pool:
            procs = list(pool._procs)
            for k, _ in enumerate(pool.map((pts + 0.1 * k, None, None) for k in range(1000))):
                if k == 2:
                    raise KeyboardInterrupt
    assert [p.returncode for p in procs] == [-signal.SIGKILL]
