"""Motion representation and transfer on synthetic landmarks (the canonical face, posed)."""
import numpy as np
import pytest

from talkinghead.config import MotionStrength
from talkinghead.drivers.procedural import blink_curve, close_eyes, open_mouth
from talkinghead.face.canonical import load_canonical
from talkinghead.face.types import HeadPose
from talkinghead.motion.extract import motion_from_landmarks, neutral_index
from talkinghead.motion.object import object_similarity
from talkinghead.motion.transfer import MotionTransfer


def posed(X, yaw=0.0, pitch=0.0, roll=0.0, s=60.0, t=(128.0, 120.0)):
    return HeadPose(HeadPose.rotation_from_euler(yaw, pitch, roll), np.array(t), s).project(X)


@pytest.fixture(scope="module")
def canon():
    return load_canonical().astype(np.float64)


def test_summaries_follow_mouth_and_eyes(canon):
    m0 = motion_from_landmarks(posed(canon))
    m1 = motion_from_landmarks(posed(open_mouth(canon, 1.0), yaw=15))
    m2 = motion_from_landmarks(posed(close_eyes(canon, 1.0), pitch=-10))
    assert m1.mouth > m0.mouth + 0.15
    assert (m2.eyes < 0.3 * m0.eyes).all()
    assert abs(m1.pose.euler_deg()[0] - 15) < 2.0


def test_relative_transfer_self_is_identity(canon):
    src = posed(canon, yaw=-10, s=50, t=(100, 110))
    drv_ref = motion_from_landmarks(posed(canon, yaw=5, s=80, t=(300, 200)))
    tr = MotionTransfer(src.astype(np.float32))
    tr.set_reference(drv_ref)
    out = tr(drv_ref)
    assert np.abs(out[:, :2] - src[:, :2]).max() < 1e-3


def test_relative_transfer_moves_like_driver(canon):
    src = posed(canon, s=50, t=(100, 110))
    ref = motion_from_landmarks(posed(canon, s=80, t=(300, 200)))
    cur = motion_from_landmarks(posed(open_mouth(canon, 0.8), yaw=20, s=88, t=(316, 200)))
    tr = MotionTransfer(src.astype(np.float32))
    tr.set_reference(ref)
    out = tr(cur)
    got = motion_from_landmarks(out.astype(np.float64))
    assert abs(got.pose.euler_deg()[0] - 20) < 1.5  # rotation transferred
    assert abs(got.pose.scale / 50 - 1.1) < 0.02  # scale ratio transferred
    # translation scaled by the source/driver size ratio: 16 px * 50/80 = 10 px
    assert abs(got.pose.translation[0] - 110) < 1.0
    assert abs(got.mouth - cur.mouth) < 0.02


def test_lips_keep_some_thickness_when_the_driver_thins_its_own(canon):
    """A driver whose reference has thick pursed lips and who then opens an "O" thins its lips by more
    than a thin-lipped source has: the source's lips keep 0.6 of their thickness, not a vanishing line."""
    from talkinghead.face import topology as T

    thick = canon.copy()  # the driver's reference: lips twice as thick (outer contour pushed out)
    thick[T.OUTER_LIPS, :2] += thick[T.OUTER_LIPS, :2] - canon[T.INNER_LIPS, :2]
    opened = open_mouth(canon, 0.8)  # then open, with the source's own (half as thick) lips
    tr = MotionTransfer(posed(canon, s=50, t=(100, 110)).astype(np.float32))
    tr.set_reference(motion_from_landmarks(posed(thick, s=80, t=(300, 200))))
    X = tr.target_canonical(motion_from_landmarks(posed(opened, s=80, t=(300, 200))))
    rest = np.linalg.norm(canon[T.OUTER_LIPS, :2] - canon[T.INNER_LIPS, :2], axis=1)
    now = np.linalg.norm(X[T.OUTER_LIPS, :2] - X[T.INNER_LIPS, :2], axis=1)
    lips = rest > 0.05 * rest.max()
    assert (now[lips] >= 0.6 * rest[lips] - 1e-6).all(), (now / np.maximum(rest, 1e-9))[lips].min()
    assert motion_from_landmarks(posed(X)).mouth > 0.2  # still wide open
    # lips that keep their thickness are left exactly as transferred
    tr.set_reference(motion_from_landmarks(posed(canon, s=80, t=(300, 200))))
    m = motion_from_landmarks(posed(opened, s=80, t=(300, 200)))
    X2 = tr.target_canonical(m)
    base = tr.source.canonical + tr.gain_ref * (m.canonical - tr.reference.canonical)
    r = tr.source.canonical[T.OUTER_LIPS, :2] - tr.source.canonical[T.INNER_LIPS, :2]
    along = np.sum((base[T.OUTER_LIPS, :2] - base[T.INNER_LIPS, :2]) * r, axis=1) / np.maximum(np.sum(r * r, axis=1), 1e-12)
    kept = along > 0.61  # thickness along the resting inner -> outer direction, in resting thicknesses
    assert kept.sum() > 10
    assert np.abs(X2[np.array(T.OUTER_LIPS)[kept]] - base[np.array(T.OUTER_LIPS)[kept]]).max() < 1e-6


def test_strength_zero_keeps_source(canon):
    src = posed(canon, s=50)
    ref = motion_from_landmarks(posed(canon, s=80))
    cur = motion_from_landmarks(posed(close_eyes(open_mouth(canon, 1.0), 1.0), yaw=25, s=80))
    tr = MotionTransfer(src.astype(np.float32), MotionStrength(pose=0, expression=0, eyes=0, mouth=0))
    tr.set_reference(ref)
    assert np.abs(tr(cur)[:, :2] - src[:, :2]).max() < 1e-3
    tr2 = MotionTransfer(src.astype(np.float32), MotionStrength(pose=1, expression=1, eyes=0, mouth=1))
    tr2.set_reference(ref)
    got = motion_from_landmarks(tr2(cur).astype(np.float64))
    assert got.mouth > 0.2 and np.allclose(got.eyes, motion_from_landmarks(src).eyes, atol=0.02)


def test_neutral_index_prefers_closed_mouth(canon):
    ms = [motion_from_landmarks(posed(open_mouth(canon, a))) for a in (0.8, 0.5, 0.0, 0.6)]
    assert neutral_index(ms) == 2


def test_object_similarity_translation(canon):
    ref = motion_from_landmarks(posed(canon, s=80, t=(200, 200)))
    cur = motion_from_landmarks(posed(canon, roll=10, s=80, t=(240, 200)))
    A = object_similarity(cur, ref, 256)
    assert A[0, 2] > 20  # moved right
    assert abs(np.degrees(np.arctan2(A[1, 0], A[0, 0])) - 10) < 1.0


def test_blinks_have_human_statistics():
    c = blink_curve(25 * 60, 25.0, rate_per_min=17, rng=np.random.default_rng(3))
    onsets = np.flatnonzero((c[1:] > 0.5) & (c[:-1] <= 0.5))
    assert 10 <= len(onsets) <= 30


def test_scene_flow_recovers_translation():
    import cv2

    from talkinghead.face.types import CropTransform
    from talkinghead.motion.scene import SceneFlow, sample_grid

    rng = np.random.default_rng(0)
    base = cv2.GaussianBlur(rng.integers(0, 255, (300, 300, 3)).astype(np.uint8), (0, 0), 3)
    shifted = np.roll(base, (4, -6), axis=(0, 1))  # content moves down 4, left 6
    tf = CropTransform(np.array([[1.0, 0, -22], [0, 1.0, -22]]), 256)
    flow = SceneFlow()
    flow.set_reference(base, tf)
    d = sample_grid(flow(shifted), np.array([[128.0, 128.0], [60.0, 190.0]]), 256)
    assert np.allclose(d, [[-6, 4], [-6, 4]], atol=1.0), d


def test_smooth_track_has_no_lag():
    from talkinghead.drivers.video import smooth_track

    canon = load_canonical().astype(np.float32)
    fps = 25.0
    xs = np.concatenate([np.zeros(20), np.linspace(0, 40, 20), np.full(20, 40.0)])  # px
    rng = np.random.default_rng(1)
    pts = [posed(canon, t=(100 + x, 120)).astype(np.float32) + rng.normal(0, 0.3, (478, 3)).astype(np.float32)
           for x in xs]
    out = smooth_track(pts, fps)
    cx = np.array([p[:, 0].mean() for p in out]) - 100
    assert np.abs(cx[25:35] - xs[25:35]).max() < 1.5  # mid-ramp: no lag
    assert np.std([p[10, 0] for p in out[:15]]) < 0.5 * np.std([p[10, 0] for p in pts[:15]])  # jitter reduced
    assert smooth_track([None, pts[0], None], fps)[0] is None


def test_extreme_yaw_is_softly_limited(canon):
    from talkinghead.motion.transfer import MAX_YAW_DEG

    src = posed(canon, yaw=20, s=50)
    ref = motion_from_landmarks(posed(canon, s=80))
    tr = MotionTransfer(src.astype(np.float32))
    tr.set_reference(ref)
    yaws = [motion_from_landmarks(tr(motion_from_landmarks(posed(canon, yaw=y, s=80))).astype(np.float64)).pose.euler_deg()[0]
            for y in (0, 5, 20, 40)]
    assert abs(yaws[0] - 20) < 1 and abs(yaws[1] - 25) < 1.5  # small turns pass unchanged
    assert yaws[1] < yaws[2] < yaws[3] <= MAX_YAW_DEG + 1  # monotonic, bounded


def test_turned_source_keeps_its_pose_at_rest(canon):
    """A portrait turned past the yaw limit maps to itself when the driver does not move (the old absolute
    limit forced it round to the limit and tore the far cheek), and may turn towards the camera only a
    little; a frontal source keeps the full range."""
    from talkinghead.motion.transfer import MAX_YAW_DEG

    ref = motion_from_landmarks(posed(canon, s=80))

    def yaws(src_yaw, drv_yaws):
        tr = MotionTransfer(posed(canon, yaw=src_yaw, s=50).astype(np.float32))
        tr.set_reference(ref)
        return [motion_from_landmarks(tr(motion_from_landmarks(posed(canon, yaw=y, s=80))).astype(np.float64))
                .pose.euler_deg()[0] for y in drv_yaws]

    rest, away, toward = yaws(48, (0, 10, -30))
    assert abs(rest - 48) < 1
    assert 48 < away < 48 + 0.34 * MAX_YAW_DEG + 1  # further away: a little, bounded
    assert 48 - 0.34 * MAX_YAW_DEG < toward < 48 - 2  # towards the camera: some, but far less than 30
    assert yaws(0, (-30,))[0] < -20  # a frontal source still follows a large turn


def test_tilted_source_keeps_its_pitch_at_rest(canon):
    """A portrait photographed from below (pitch past the soft limit's knee, as many frontal photos measure)
    is not tilted at rest, and still nods with the driver."""
    ref = motion_from_landmarks(posed(canon, s=80))
    tr = MotionTransfer(posed(canon, pitch=20, s=50).astype(np.float32))
    tr.set_reference(ref)
    pitch = [motion_from_landmarks(tr(motion_from_landmarks(posed(canon, pitch=p, s=80))).astype(np.float64))
             .pose.euler_deg()[1] for p in (0, -10)]
    assert abs(pitch[0] - 20) < 0.2 and pitch[1] < 12
