"""Procedural motion: blinks, head sway and mouth opening synthesised in our motion space.

Used by the bundled demo (a driving clip the project makes itself) and, later, by the speech
driver for blinks and idle head motion. Displacements act on canonical landmarks (inter-ocular
distance = 1, y down), so they fit any face.
"""
from __future__ import annotations

import numpy as np

from talkinghead.face.types import HeadPose
from talkinghead.motion.extract import summaries
from talkinghead.motion.regions import INNER_LIP_PAIRS, LEFT_LID_PAIRS, RIGHT_LID_PAIRS, channel_weights
from talkinghead.motion.types import Motion

JAW_DROP = 0.55  # canonical units the chin drops at full mouth opening (amount = 1)


def convolve_same(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """``np.convolve(x, kernel, mode="same")`` that keeps ``len(x)`` even when the kernel is longer
    (numpy's "same" returns max(len(x), len(kernel)) samples: a 0.1 s clip would grow)."""
    full = np.convolve(x, kernel)
    o = (len(kernel) - 1) // 2
    return full[o:o + len(x)]


def open_mouth(canonical: np.ndarray, amount: float) -> np.ndarray:
    """Drop the lower lip and jaw by ``amount`` (0..1); the upper lip lifts slightly."""
    X = canonical.copy()
    w = channel_weights(canonical)["mouth"]
    y_mid = canonical[[13, 14], 1].mean()
    y_chin = canonical[152, 1]
    below = np.clip((canonical[:, 1] - y_mid) / max(y_chin - y_mid, 1e-6) + 0.6, 0.0, 1.0)
    below[[p[1] for p in INNER_LIP_PAIRS]] = 1.0
    X[:, 1] += JAW_DROP * amount * w * below
    X[[p[0] for p in INNER_LIP_PAIRS], 1] -= 0.06 * amount
    # jaw rotates back a little as it opens
    X[:, 2] += 0.15 * amount * w * below
    return X


def close_eyes(canonical: np.ndarray, amount: float) -> np.ndarray:
    """Lower the upper lids onto the lower lids by ``amount`` (0 open .. 1 closed)."""
    X = canonical.copy()
    for pairs in (LEFT_LID_PAIRS, RIGHT_LID_PAIRS):
        up = [p[0] for p in pairs]
        lo = [p[1] for p in pairs]
        X[up, 1] += amount * 0.85 * (canonical[lo, 1] - canonical[up, 1])
        X[lo, 1] -= amount * 0.15 * (canonical[lo, 1] - canonical[up, 1])
    return X


def blink_curve(n: int, fps: float, rate_per_min: float = 17.0, duration: float = 0.2,
                rng: np.random.Generator | None = None) -> np.ndarray:
    """Eyelid closure (0..1) per frame: blinks at random intervals (gamma-distributed), each a
    fast close and slower open, ``duration`` seconds long."""
    rng = rng or np.random.default_rng(0)
    out = np.zeros(n, np.float32)
    t = rng.uniform(0.5, 2.0)
    mean_gap = 60.0 / rate_per_min
    while t < n / fps:
        k = int(t * fps)
        L = max(int(round(duration * fps)), 3)
        shape = np.concatenate([np.linspace(0, 1, L // 3 + 1)[1:], np.linspace(1, 0, L - L // 3 + 1)[1:]])
        out[k:k + L] = np.maximum(out[k:k + L], shape[: max(0, min(L, n - k))])
        t += max(0.25, rng.gamma(4.0, mean_gap / 4.0))
    return out


def head_sway(n: int, fps: float, amplitude_deg: float = 6.0, rng: np.random.Generator | None = None,
              axes: tuple[float, float, float] = (1.0, 0.6, 0.35)) -> np.ndarray:
    """(n, 3) smooth (yaw, pitch, roll) in degrees from a few incommensurate sinusoids; ``axes``: the
    relative amplitude of each axis."""
    rng = rng or np.random.default_rng(1)
    t = np.arange(n) / fps
    out = np.zeros((n, 3))
    for j, amp in enumerate(axes):
        for f in (0.13, 0.31, 0.57):
            out[:, j] += amp * np.sin(2 * np.pi * f * rng.uniform(0.8, 1.2) * t + rng.uniform(0, 2 * np.pi))
    return amplitude_deg * out / 3.0


def compose(base: Motion, euler_deg: np.ndarray, mouth: float, eyes_closed: float) -> Motion:
    """A motion = ``base`` rotated by ``euler_deg`` (yaw, pitch, roll) with mouth/eye changes."""
    X = close_eyes(open_mouth(base.canonical, mouth), eyes_closed).astype(np.float32)
    R = HeadPose.rotation_from_euler(*euler_deg) @ base.pose.rotation
    pose = HeadPose(R, base.pose.translation.copy(), base.pose.scale, base.pose.tz)
    eyes, gaze, m = summaries(X)
    return Motion(pose, X, eyes, gaze, m)


# -- speech-driver helpers (blinks with pause bias, gaze shifts, brow raise, lip rounding) --------

BLINK_MIN_GAP_S = 1.0  # no two blinks closer than this


def blink_shape(duration: float, fps: float) -> np.ndarray:
    """Lid closure of one blink lasting ``duration`` s: fast close (1/3), slower open (2/3).

    Sampled at the frame centres of the blink's span, so a 0.1 s blink at 25 fps still closes the
    lids in at least one frame (peak 1 at the first frame after the closing third).
    """
    L = max(int(round(duration * fps)), 2)
    t = (np.arange(L) + 0.5) / L  # 0..1 over the blink
    tc = 1.0 / 3.0
    closing = np.sin(0.5 * np.pi * np.clip(t / tc, 0, 1))
    opening = 0.5 * (1 + np.cos(np.pi * np.clip((t - tc) / (1 - tc), 0, 1)))
    shape = np.where(t <= tc, closing, opening).astype(np.float32)
    shape[int(np.argmax(shape))] = 1.0
    return shape


def blink_schedule(n: int, fps: float, rate_per_min: float = 17.0, pauses: np.ndarray | None = None,
                   pause_prob: float = 0.6, rng: np.random.Generator | None = None,
                   duration_range: tuple[float, float] = (0.15, 0.3)) -> tuple[np.ndarray, list[tuple[int, float]]]:
    """Eyelid closure per frame (n,) and the blinks [(start frame, duration s)].

    Human statistics (Bentivoglio et al. 1997: ~17 blinks/min at rest, more in conversation;
    0.1-0.4 s each): blink onsets come from a gamma renewal process at ``rate_per_min``; in speech,
    blinks cluster at pauses (Cummins 2012), so each pause start (``pauses``: frame indices) gets a
    blink 0.05-0.25 s later with probability ``pause_prob`` and the random process is thinned to
    keep the overall rate. ``rate_per_min`` <= 0 disables blinking.
    """
    rng = rng or np.random.default_rng(0)
    out = np.zeros(n, np.float32)
    if rate_per_min <= 0 or n == 0:
        return out, []
    total_s = n / fps
    target = rate_per_min * total_s / 60.0
    onsets: list[float] = []
    if pauses is not None:
        for p in np.asarray(pauses, int):
            if rng.random() < pause_prob:
                onsets.append(p / fps + rng.uniform(0.05, 0.25))
    # random blinks for the rest of the budget
    n_random = max(target - len(onsets), 0.0)
    rate_random = n_random / max(total_s, 1e-6)  # per second
    t = rng.uniform(0.3, 1.5)
    while rate_random > 0 and t < total_s:
        onsets.append(t)
        t += max(0.3, rng.gamma(3.0, 1.0 / (3.0 * rate_random)))
    onsets.sort()
    kept: list[tuple[int, float]] = []
    last = -np.inf
    for t in onsets:
        if t - last < BLINK_MIN_GAP_S or t >= total_s:
            continue
        d = float(rng.uniform(*duration_range))
        k = int(t * fps)
        shape = blink_shape(d, fps)
        m = min(len(shape), n - k)
        if m <= 0:
            continue
        out[k:k + m] = np.maximum(out[k:k + m], shape[:m])
        kept.append((k, d))
        last = t
    return out, kept


def gaze_shifts(n: int, fps: float, amount: float = 1.0, rng: np.random.Generator | None = None) -> np.ndarray:
    """(n, 2) gaze offset (x, y) in canonical units: fixations of 0.8-4 s joined by ~60 ms
    saccades, mostly near the camera (every other fixation returns to the centre)."""
    rng = rng or np.random.default_rng(2)
    out = np.zeros((n, 2), np.float32)
    if amount <= 0 or n == 0:
        return out
    k, cur, toggle = 0, np.zeros(2), False
    while k < n:
        hold = int(rng.uniform(0.8, 4.0) * fps)
        toggle = not toggle
        nxt = np.zeros(2) if not toggle else np.array([rng.normal(0, 0.035), rng.normal(0, 0.015)])
        ramp = np.clip(np.arange(1, 3) / 2.0, 0, 1)  # 2-frame saccade
        for j, w in enumerate(ramp):
            if k + j < n:
                out[k + j] = (1 - w) * cur + w * nxt
        out[k + len(ramp): k + hold] = nxt
        cur, k = nxt, k + max(hold, len(ramp) + 1)
    return amount * out


def shift_gaze(canonical: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """Move both irises by ``offset`` (x, y) canonical units."""
    from talkinghead.face import topology as T

    X = canonical.copy()
    X[T.LEFT_IRIS + T.RIGHT_IRIS, :2] += np.asarray(offset, X.dtype)
    return X


def brow_shape(canonical: np.ndarray) -> np.ndarray:
    """(478, 3) displacement of a unit brow raise (1 canonical unit up at the brows), fading over
    the forehead above and to zero at the upper lids below."""
    from talkinghead.face import topology as T

    P = canonical
    y_brow = P[T.LEFT_BROW + T.RIGHT_BROW, 1].mean()
    y_lid = P[[159, 386], 1].mean()
    y_top = P[T.FOREHEAD, 1]
    y = P[:, 1]
    w = np.where(y <= y_brow, np.clip((y - (y_top - 0.3)) / max(y_brow - y_top + 0.3, 1e-6), 0.3, 1.0),
                 np.clip((y_lid - y) / max(y_lid - y_brow, 1e-6), 0.0, 1.0))
    w[np.abs(P[:, 0]) > 1.2] = 0.0
    w[T.LEFT_IRIS + T.RIGHT_IRIS] = 0.0
    D = np.zeros_like(P)
    D[:, 1] = -w
    return D


def lip_round_shape(canonical: np.ndarray) -> np.ndarray:
    """(478, 3) displacement of full lip rounding: mouth corners 20 % closer to the centre, lips
    pushed forward (towards the camera) and slightly parted, fading out over the cheeks."""
    from talkinghead.face import topology as T

    P = canonical
    lips = sorted(set(T.OUTER_LIPS + T.INNER_LIPS))
    c = P[lips].mean(0)
    half_w = 0.5 * np.linalg.norm(P[T.MOUTH_CORNERS[0], :2] - P[T.MOUTH_CORNERS[1], :2])
    d = np.linalg.norm((P[:, :2] - c[:2]) / np.array([half_w * 1.6, half_w * 1.1]), axis=1)
    w = np.clip(1.0 - d, 0.0, 1.0) ** 0.7
    w[lips] = 1.0
    D = np.zeros_like(P)
    D[:, 0] = -0.2 * (P[:, 0] - c[0]) * w
    D[:, 2] = -0.08 * w
    return D
