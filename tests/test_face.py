"""Tests of the face-analysis stage: canonical face, pose, smoothing, crop/paste-back, mesh."""
from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from talkinghead.errors import InputError
from talkinghead.face import topology as T
from talkinghead.face.canonical import load_canonical, mirror_index, mirror_points
from talkinghead.face.crop import (crop_image, face_crop_transform, feather_mask, paste_back,
                                   unit_scale_canvas, unit_translation)
from talkinghead.face.pose import canonicalize, estimate_pose, rotation_from_euler, umeyama
from talkinghead.face.smoothing import LandmarkSmoother, OneEuroFilter, PoseSmoother
from talkinghead.face.types import CropTransform, FaceLandmarks, HeadPose

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
REAL = SHARED / "data" / "real"


def _pose(yaw=20.0, pitch=-10.0, roll=15.0, s=87.3, t=(250.5, 190.2), tz=13.0) -> HeadPose:
    return HeadPose(rotation_from_euler(yaw, pitch, roll), np.array(t), s, tz)


def _face(pose: HeadPose | None = None, size=(512, 512)) -> FaceLandmarks:
    pose = pose or _pose(5, 3, 0, s=60.0, t=(256, 240))
    return FaceLandmarks(pose.project(load_canonical()).astype(np.float32), size)


# ---------------------------------------------------------------------------- canonical face
def test_canonical_asset():
    X = load_canonical()
    assert X.shape == (478, 3)
    left, right = T.eye_centers(X)
    assert abs(np.linalg.norm(left - right) - 1.0) < 1e-3
    assert left[0] > right[0]  # x: subject's right eye -> left eye
    assert abs(left[1] - right[1]) < 1e-6 and abs(left[2] - right[2]) < 1e-6
    assert X[T.CHIN, 1] > X[T.FOREHEAD, 1]  # y down
    assert X[T.NOSE_TIP, 2] < X[list(T.RIGID), 2].mean()  # nose closer to the camera (z into image)
    np.testing.assert_allclose(X[list(T.RIGID)].mean(0), 0.0, atol=1e-4)
    m = mirror_index()
    assert np.array_equal(m[m], np.arange(478))
    assert m[33] == 263 and m[61] == 291 and m[468] == 473 and m[1] == 1
    assert np.abs(mirror_points(X) - X).max() < 0.05


# ---------------------------------------------------------------------------- pose
@pytest.mark.parametrize("ypr", [(20, -10, 15), (-35, 25, -40), (0, 0, 0), (60, 5, 170)])
def test_euler_roundtrip(ypr):
    R = rotation_from_euler(*ypr)
    np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(R) == pytest.approx(1.0)
    np.testing.assert_allclose(HeadPose(R, np.zeros(2), 1.0).euler_deg(), ypr, atol=1e-9)


def test_euler_signs():
    X = load_canonical()

    def rel_nose(yaw=0.0, pitch=0.0, roll=0.0):
        P = _pose(yaw, pitch, roll, s=100, t=(0, 0), tz=0).project(X)
        left, right = T.eye_centers(P)
        return P[T.NOSE_TIP, :2] - 0.5 * (left + right)[:2], left, right

    n0, _, _ = rel_nose()
    assert rel_nose(yaw=20)[0][0] > n0[0] + 5  # yaw > 0: face turns towards image right
    assert rel_nose(pitch=15)[0][1] > n0[1] + 5  # pitch > 0: looks down (nose drops below the eyes)
    _, left, right = rel_nose(roll=15)
    assert left[1] > right[1] + 5  # roll > 0: clockwise, the image-right (left) eye goes down


def test_estimate_pose_recovers_synthetic_transform():
    X = load_canonical()
    true = _pose(20, -10, 15)
    rng = np.random.default_rng(0)
    P = true.project(X) + rng.normal(0, 0.3, (478, 3))  # ~0.35% of the inter-ocular distance
    est = estimate_pose(P)
    assert np.linalg.det(est.rotation) == pytest.approx(1.0)
    np.testing.assert_allclose(est.euler_deg(), (20, -10, 15), atol=1.0)
    assert est.scale == pytest.approx(true.scale, rel=0.01)
    np.testing.assert_allclose(est.translation, true.translation, atol=1.0)
    np.testing.assert_allclose(est.project(X)[:, :2], P[:, :2], atol=2.0)
    exact = estimate_pose(true.project(X))
    np.testing.assert_allclose(exact.rotation, true.rotation, atol=1e-9)
    np.testing.assert_allclose(canonicalize(true.project(X), exact), X, atol=1e-9)
    np.testing.assert_allclose(canonicalize(true.project(X), true), X, atol=1e-9)


def test_umeyama_reflection_guard():
    X = load_canonical()[list(T.RIGID)]
    R, s, t = umeyama(X, X * np.array([-1, 1, 1]))  # a mirror image is not a rotation
    assert np.linalg.det(R) == pytest.approx(1.0)
    w = np.linspace(0.5, 2, len(X))
    R2, s2, t2 = umeyama(X, 3 * X @ rotation_from_euler(10, 20, 30).T + 5, w)
    np.testing.assert_allclose(R2, rotation_from_euler(10, 20, 30), atol=1e-9)
    assert s2 == pytest.approx(3.0)


def test_estimate_pose_fast():
    P = _pose().project(load_canonical())
    estimate_pose(P)
    n = 300
    t0 = time.perf_counter()
    for _ in range(n):
        estimate_pose(P)
    dt = (time.perf_counter() - t0) / n
    assert dt < 1e-3, f"estimate_pose {dt * 1e3:.3f} ms"  # ~0.03 ms on a dev CPU; loose for busy CI


# ---------------------------------------------------------------------------- smoothing
def _lag_frames(x_in: np.ndarray, x_out: np.ndarray, v: float, fps: float) -> float:
    return float(np.median((x_in - x_out) / v) * fps)


def test_one_euro_static_noise_reduced():
    rng = np.random.default_rng(1)
    f = OneEuroFilter()
    fps, n = 30.0, 300
    noisy = rng.normal(0, 0.01, (n, 478, 3))  # normalised units (inter-ocular = 1)
    out = np.stack([f(noisy[i], i / fps) for i in range(n)])
    assert out[30:].std() < noisy[30:].std() / 2


def test_one_euro_fast_ramp_small_lag():
    fps, n, v = 30.0, 60, 5.0  # 5 inter-ocular distances per second
    f = OneEuroFilter()
    t = np.arange(n) / fps
    x = v * t
    out = np.array([f(np.array([xi]), ti)[0] for xi, ti in zip(x, t)])
    assert _lag_frames(x[15:], out[15:], v, fps) < 2.0
    # step: most of the jump passes within 3 frames
    f.reset()
    step = np.r_[np.zeros(10), np.ones(20)]
    y = np.array([f(np.array([si]), i / fps)[0] for i, si in enumerate(step)])
    assert y[13] > 0.8


def test_landmark_smoother_px_units():
    rng = np.random.default_rng(2)
    fps = 30.0
    base = _face().points.astype(np.float64)  # inter-ocular 60 px
    sm = LandmarkSmoother()
    noisy = [base + rng.normal(0, 0.6, base.shape) for _ in range(200)]
    out = np.stack([sm(p, i / fps) for i, p in enumerate(noisy)])
    assert (out[30:] - base).std() < (np.stack(noisy)[30:] - base).std() / 2
    assert out.dtype == np.float32 and out.shape == (200, 478, 3)
    sm.reset()
    v = 300.0  # px / s = 5 inter-ocular distances / s
    xs, ys = [], []
    for i in range(60):
        p = base.copy()
        p[:, 0] += v * i / fps
        xs.append(p[0, 0])
        ys.append(sm(p, i / fps)[0, 0])
    assert _lag_frames(np.array(xs[15:]), np.array(ys[15:]), v, fps) < 2.0


def test_pose_smoother():
    rng = np.random.default_rng(3)
    sm = PoseSmoother()
    yaws_in, yaws_out = [], []
    for i in range(150):
        p = _pose(10 + rng.normal(0, 1.0), -5, 3, s=80 * (1 + rng.normal(0, 0.005)))
        q = sm(p, i / 30.0)
        assert np.linalg.det(q.rotation) == pytest.approx(1.0)
        yaws_in.append(p.euler_deg()[0])
        yaws_out.append(q.euler_deg()[0])
    assert np.std(yaws_out[30:]) < np.std(yaws_in[30:]) / 2
    assert abs(np.mean(yaws_out[30:]) - 10) < 0.5
    assert q.scale == pytest.approx(80, rel=0.01)


# ---------------------------------------------------------------------------- crop / paste-back
def _smooth_canvas(W=640, H=480) -> np.ndarray:
    y, x = np.mgrid[0:H, 0:W].astype(np.float64)
    img = np.stack([40 + 0.25 * x + 20 * np.sin(y / 60.0), 200 - 0.2 * y + 15 * np.cos(x / 70.0),
                    120 + 0.1 * (x - y) + 10 * np.sin((x + y) / 90.0)], -1)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def test_feather_mask():
    m = feather_mask(256, 0.08)
    assert m.shape == (256, 256) and m.dtype == np.float32
    assert m[128, 128] == 1.0 and m[0, 0] < 0.01 and m[0, 128] < 0.05
    assert m[40:216, 40:216].min() == 1.0
    assert np.all(np.diff(m[128, :128]) >= 0)
    assert feather_mask(256, 0.08) is m  # cached


def test_face_crop_transform():
    face = _face(_pose(0, 0, 20, s=60, t=(300, 250)), (640, 480))
    tf = face_crop_transform(face, 256)
    assert tf.size == 256 and unit_translation(tf) is None
    x0, y0, x1, y1 = face.bbox()
    assert tf.scale == pytest.approx(256 / (2.0 * max(x1 - x0, y1 - y0)))
    q = face.transformed(tf.M, (256, 256)).points
    assert q[:468, :2].min() > 0 and q[:468, :2].max() < 255
    tfr = face_crop_transform(face, 256, rotate=True)
    qr = face.transformed(tfr.M, (256, 256)).points
    left, right = T.eye_centers(qr)
    assert abs(left[1] - right[1]) < 1e-3 and left[0] > right[0]  # levelled, upright
    assert qr[T.FOREHEAD, 1] < qr[T.CHIN, 1]
    eyes_y = 0.5 * (left[1] + right[1])
    assert 90 < eyes_y < 123  # eyes above the centre: the crop is shifted up for the hair


def test_crop_paste_identity_translation_fast_path():
    canvas = np.random.default_rng(4).integers(0, 256, (300, 400, 3), dtype=np.uint8)
    for tx, ty in [(-100, -50), (30, -200), (-350, 10)]:  # inside, partly outside (clipped)
        tf = CropTransform(np.array([[1.0, 0, tx], [0, 1.0, ty]]), 128)
        crop = crop_image(canvas, tf)
        assert crop.shape == (128, 128, 3)
        if tx == -100:
            assert np.array_equal(crop, canvas[50:178, 100:228])
        out = paste_back(canvas, crop, tf)
        assert out is not canvas and np.array_equal(out, canvas)
    tf = CropTransform(np.array([[1.0, 0, -100], [0, 1.0, -50]]), 128)
    white = np.full((128, 128, 3), 255, np.uint8)
    out = paste_back(canvas, white, tf)
    assert np.all(out[50 + 64, 100 + 64] == 255)
    assert np.array_equal(out[:49], canvas[:49]) and np.array_equal(out[:, :99], canvas[:, :99])


def test_crop_paste_identity_rotated():
    canvas = _smooth_canvas()
    face = _face(_pose(0, 0, 25, s=45, t=(330, 230)), (640, 480))
    tf = face_crop_transform(face, 256, margin=1.8, rotate=True)
    assert unit_translation(tf) is None
    crop = crop_image(canvas, tf)
    out = paste_back(canvas, crop, tf)
    diff = np.abs(out.astype(int) - canvas.astype(int)).max(-1)
    inv = cv2.warpAffine(np.ones((256, 256), np.float32), tf.M, (640, 480),
                         flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP)
    assert inv.sum() > 1000
    assert diff.max() <= 1
    assert np.array_equal(out[inv == 0], canvas[inv == 0])
    # the crop really is rotated: pasting a flat colour changes the canvas inside the core only
    out2 = paste_back(canvas, np.zeros_like(crop), tf)
    core = cv2.warpAffine(feather_mask(256), tf.M, (640, 480), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
    assert out2[core > 0.999].max() == 0


def test_paste_color_match_and_mask():
    canvas = _smooth_canvas()
    tf = CropTransform(np.array([[1.0, 0, -200], [0, 1.0, -100]]), 200)
    crop = crop_image(canvas, tf)
    brighter = np.clip(crop.astype(int) + 40, 0, 255).astype(np.uint8)
    out = paste_back(canvas, brighter, tf, color_match=True)
    assert np.abs(out.astype(int) - canvas.astype(int)).mean() < 2.0
    mask = np.zeros((200, 200), np.float32)
    out = paste_back(canvas, brighter, tf, mask=mask)
    assert np.array_equal(out, canvas)


def test_unit_scale_canvas_matches_warp():
    canvas = _smooth_canvas()
    face = _face(_pose(0, 0, 0, s=40, t=(330, 230)), (640, 480))
    tf = face_crop_transform(face, 256)
    (W2, H2), tf1 = unit_scale_canvas(tf, (640, 480))
    assert unit_translation(tf1) is not None
    resized = cv2.resize(canvas, (W2, H2), interpolation=cv2.INTER_LINEAR)
    a = crop_image(resized, tf1).astype(float)
    b = crop_image(canvas, tf).astype(float)
    assert np.abs(a - b).mean() < 2.0


def test_crop_downscale_antialias():
    smooth = _smooth_canvas(1200, 1000)
    big = smooth.copy()
    big[::2] = 0  # high-frequency stripes: average ~half the smooth image
    face = _face(_pose(0, 0, 0, s=150, t=(600, 500)), (1200, 1000))
    tf = face_crop_transform(face, 96)
    assert tf.scale < 0.5
    crop = crop_image(big, tf)
    ref = crop_image(smooth, tf).astype(float) / 2
    assert np.abs(crop.astype(float) - ref).mean() < 8.0


# ---------------------------------------------------------------------------- mesh (real media)
@pytest.fixture(scope="module")
def real() -> Path:
    if not (REAL / "portraits" / "photo_m_einstein.jpg").exists():
        pytest.skip(f"real media not available ({REAL})")
    return REAL


@pytest.fixture(scope="module")
def mesh():
    pytest.importorskip("mediapipe")
    from talkinghead.face.mesh import FaceMesh

    with FaceMesh(static=True) as fm:
        yield fm


def _imread(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def test_mesh_portrait(real, mesh):
    img = _imread(real / "portraits" / "photo_m_einstein.jpg")
    H, W = img.shape[:2]
    faces = mesh.detect(img)
    assert len(faces) == 1
    f = faces[0]
    assert f.points.shape == (478, 3) and f.points.dtype == np.float32 and f.image_size == (W, H)
    assert f.xy.min() >= 0 and f.xy[:, 0].max() < W and f.xy[:, 1].max() < H
    pose = estimate_pose(f.points)
    yaw, pitch, roll = pose.euler_deg()
    assert abs(yaw) < 40 and abs(pitch) < 40 and abs(roll) < 30
    res = np.linalg.norm(pose.project(load_canonical())[T.RIGID] - f.points[T.RIGID], axis=1).mean()
    assert res / T.interocular(f.points) < 0.1
    tf = face_crop_transform(f, 256)
    q = f.transformed(tf.M, (256, 256)).points
    assert q[:, :2].min() > 0 and q[:, :2].max() < 256


def test_mesh_big_image_downscaled(real, mesh):
    img = _imread(real / "portraits" / "photo_m_einstein.jpg")
    ref = mesh.detect(img)[0]
    big = cv2.resize(img, (img.shape[1] * 4, img.shape[0] * 4), interpolation=cv2.INTER_CUBIC)  # 1500x2000
    faces = mesh.detect(big)
    assert len(faces) == 1 and faces[0].image_size == (big.shape[1], big.shape[0])
    err = np.abs((faces[0].xy + 0.5) / 4 - 0.5 - ref.xy).mean()  # same face, 4x the pixel grid
    assert err < 0.05 * T.interocular(ref.points)


def test_mesh_blank_and_small_face(real, mesh):
    from talkinghead.face.mesh import FaceSelectionError, is_too_small, select_face

    assert mesh.detect(np.full((360, 480, 3), 128, np.uint8)) == []
    with pytest.raises(FaceSelectionError):
        select_face([])
    img = _imread(real / "portraits" / "photo_m_einstein.jpg")
    canvas = np.full((2000, 2400, 3), 127, np.uint8)
    w = int(0.15 * 2400)
    h = int(w * img.shape[0] / img.shape[1])
    canvas[700:700 + h, 1100:1100 + w] = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)
    faces = mesh.detect(canvas)
    assert len(faces) == 1
    x0, y0, x1, y1 = faces[0].bbox()
    assert 1100 <= x0 < x1 <= 1100 + w and 700 <= y0 < y1 <= 700 + h
    assert faces[0].image_size == (2400, 2000)
    assert not is_too_small(faces[0])
    tiny = FaceLandmarks(faces[0].points * 0.1, (240, 200))
    assert is_too_small(tiny)


def test_mesh_short_range_fallback_finds_a_made_up_face(real, mesh):
    """Heavy make-up (a Night King): the mesh rejects the whole image and the full-range detector
    sees nothing, but the short-range detector does; the mesh on a crop around its box fits the face."""
    path = real / "portraits" / "makeup_m_nightking.png"
    if not path.exists():
        pytest.skip("makeup portrait not available")
    img = _imread(path)
    faces = mesh.detect(img)
    assert len(faces) == 1
    f = faces[0]
    x0, y0, x1, y1 = f.bbox()
    assert 0.3 < (x1 - x0) / img.shape[1] < 0.9  # the face, not a patch of it
    eyes_y = f.xy[T.LEFT_EYE + T.RIGHT_EYE, 1].mean()
    assert eyes_y < f.xy[T.OUTER_LIPS, 1].mean() < f.xy[T.CHIN, 1]  # upright: eyes, mouth, chin
    assert mesh.detect(np.full((300, 300, 3), 128, np.uint8)) == []  # and no face from nothing



@pytest.mark.parametrize("name,frac", [("photo_f_diana.jpg", 0.1), ("photo_m_einstein.jpg", 0.07)])
def test_mesh_finds_a_small_face_in_a_large_photo_in_tiles(real, mesh, name, frac):
    """A portrait a tenth of a 6000x4000 photo's width: the whole-image passes see a face of ~15 px at
    the detectors' inputs and find none; the tiled search finds it, with its landmarks on it."""
    from talkinghead.face import mesh as mesh_mod

    img = _imread(real / "portraits" / name)
    W, H = 6000, 4000
    noise = np.random.default_rng(0).uniform(60, 200, (H // 50, W // 50, 3)).astype(np.float32)
    big = cv2.resize(noise, (W, H), interpolation=cv2.INTER_CUBIC).clip(0, 255).astype(np.uint8)  # a blurry scene
    w = int(frac * W)
    h = int(w * img.shape[0] / img.shape[1])
    x, y = 3500, 1500
    big[y:y + h, x:x + w] = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)
    small = mesh_mod._downscaled(big, mesh.max_side)
    assert mesh._process(small, W, H) == [] and mesh._detect_fullrange(big, small) == []  # the old passes
    faces = mesh.detect(big)
    assert len(faces) == 1
    x0, y0, x1, y1 = faces[0].bbox()
    assert x <= x0 < x1 <= x + w and y <= y0 < y1 <= y + h
    ref = mesh.detect(img)[0]  # the same face found in the portrait alone, scaled into the photo
    k = w / img.shape[1]
    expect = np.array([x, y]) + k * (ref.xy + 0.5) - 0.5
    err = np.linalg.norm(faces[0].xy - expect, axis=1).mean()
    assert err < 0.1 * T.interocular(faces[0].points), err
    # the animal check scores the detectors on a crop around such a small face (the whole image: 0 / 0)
    assert mesh.detector_scores(big) == (0.0, 0.0)
    assert not mesh_mod.looks_like_animal(mesh.detector_scores(big, faces))

def test_mesh_finds_every_small_face_of_a_group(real, mesh):
    """Three portraits side by side in a 6000x4000 photo: the whole-image passes find one of them; as
    every face found is small, the tiled search runs too and adds the other two."""
    from talkinghead.face.mesh import FaceMesh

    noise = np.random.default_rng(0).uniform(60, 200, (80, 120, 3)).astype(np.float32)
    big = cv2.resize(noise, (6000, 4000), interpolation=cv2.INTER_CUBIC).clip(0, 255).astype(np.uint8)
    places = []
    for i, (name, w) in enumerate([("photo_f_diana.jpg", 500), ("photo_m_einstein.jpg", 420), ("photo_m_dicaprio.jpg", 380)]):
        img = _imread(real / "portraits" / name)
        h = int(w * img.shape[0] / img.shape[1])
        x = 1000 + 1600 * i
        big[1500:1500 + h, x:x + w] = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)
        places.append((x, 1500, x + w, 1500 + h))
    with FaceMesh(static=True, max_faces=4) as group_mesh:
        faces = group_mesh.detect(big)
    assert len(faces) == 3
    for f, (x0, y0, x1, y1) in zip(faces, places):  # left to right, each inside its portrait
        bx0, by0, bx1, by1 = f.bbox()
        assert x0 <= bx0 < bx1 <= x1 and y0 <= by0 < by1 <= y1


def test_tiled_search_finds_no_face_in_a_blurry_texture(mesh):
    """A face-less blurry scene where a tile's detector box (score ~0.6) fitted the mesh: the detectors,
    scoring a crop around it, do not confirm it, so nothing is found."""
    noise = np.random.default_rng(0).uniform(60, 200, (40, 60, 3)).astype(np.float32)
    scene = cv2.resize(noise, (3000, 2000), interpolation=cv2.INTER_CUBIC).clip(0, 255).astype(np.uint8)
    assert mesh.detect(scene) == []


def test_select_face_order_and_errors():
    from talkinghead.face.mesh import FaceSelectionError, select_face

    a = _face(_pose(0, 0, 0, s=30, t=(100, 100)))
    b = _face(_pose(0, 0, 0, s=60, t=(400, 100)))
    assert select_face([b, a]) is b  # largest
    assert select_face([b, a], 0) is a and select_face([b, a], 1) is b  # left to right
    with pytest.raises(FaceSelectionError, match="out of range") as e:
        select_face([a, b], 2, path="x.jpg")
    assert isinstance(e.value, ValueError) and isinstance(e.value, InputError)


def _video_frames(path: Path, n: int) -> list[np.ndarray]:
    import av

    out = []
    with av.open(str(path)) as c:
        for fr in c.decode(video=0):
            out.append(fr.to_ndarray(format="rgb24"))
            if len(out) >= n:
                break
    return out


def test_tracking_video(real):
    from talkinghead.face.mesh import TrackingFaceMesh

    frames = _video_frames(real / "videos" / "talk_f_aoc_01.mp4", 40)
    with TrackingFaceMesh() as tr:
        faces = [tr.track(f) for f in frames]
    assert all(f is not None for f in faces)
    assert all(f.points.shape == (478, 3) for f in faces)
    c = np.array([f.points[T.NOSE_TIP, :2] for f in faces])
    assert np.abs(np.diff(c, axis=0)).max() < 20  # continuous track


def test_tracking_small_face(real):
    from talkinghead.face.mesh import TrackingFaceMesh

    img = _imread(real / "portraits" / "photo_m_einstein.jpg")
    w = 300
    h = int(w * img.shape[0] / img.shape[1])
    small = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)
    found = []
    with TrackingFaceMesh() as tr:
        for i in range(6):
            canvas = np.full((1920, 2200, 3), 127, np.uint8)
            x = 900 + 6 * i
            canvas[600:600 + h, x:x + w] = small
            f = tr.track(canvas)
            found.append(f is not None and x <= f.bbox()[0] < f.bbox()[2] <= x + w)
    assert all(found)


def test_animal_heads_that_pass_as_faces_use_object_mode(shared_data, demo_inputs):
    """mediapipe's mesh fits a human face to some animal heads (it drew a mouth across a wolf's
    nose); in auto mode the detector scores send those to object mode, while a human portrait
    (and a painting) stays in face mode, and --mode face still forces face mode."""
    from talkinghead.config import AnimateConfig
    from talkinghead.face.mesh import FaceMesh, looks_like_animal
    from talkinghead.io.image import read_image
    from talkinghead.pipelines.source import prepare_source

    assert looks_like_animal((0.52, 0.0)) and not looks_like_animal((0.52, 0.6)) and not looks_like_animal((0.9, 0.0))
    wolf = shared_data / "portraits" / "animal_wolf.jpg"
    with FaceMesh() as fm:
        assert fm.detect(read_image(wolf)), "the mesh no longer accepts the wolf: pick another example"
        assert looks_like_animal(fm.detector_scores(read_image(wolf)))
    logs = []
    src = prepare_source(wolf, AnimateConfig(size=128), log=logs.append)
    assert src.mode == "object" and src.points is None
    assert len(logs) == 1 and "animal" in logs[0] and str(wolf) in logs[0]
    assert prepare_source(wolf, AnimateConfig(size=128, mode="face"), log=logs.append).mode == "face"
    assert len(logs) == 2 and "human mouth" in logs[1]  # forced face mode (and `speak`) says what it will do
    for p in (demo_inputs / "portrait.png", shared_data / "portraits" / "painting_f_monalisa.jpg",
              shared_data / "portraits" / "photo_m_musk.jpg"):  # musk: no full-range detection either
        assert prepare_source(p, AnimateConfig(size=128), log=logs.append).mode == "face", p
    assert len(logs) == 2
