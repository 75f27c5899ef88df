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


def head_sway(n: int, fps: float, amplitude_deg: float = 6.0, rng: np.random.Generator | None = None) -> np.ndarray:
    """(n, 3) smooth (yaw, pitch, roll) in degrees from a few incommensurate sinusoids."""
    rng = rng or np.random.default_rng(1)
    t = np.arange(n) / fps
    out = np.zeros((n, 3))
    for j, amp in enumerate((1.0, 0.6, 0.35)):
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
