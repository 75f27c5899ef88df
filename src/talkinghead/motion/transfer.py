"""Motion transfer: driver motion -> target landmarks for the source face.

Relative mode (default) keeps the source's own face shape: with driver reference frame r and
current frame t, in the canonical (pose-free) frame

    X_target = X_src + g ⊙ (X_t - X_r)                       (expression; g = per-point channel gains)
    R_target = R_rel^a · R_src,  R_rel = R_t R_rᵀ            (head rotation, a = pose strength)
    s_target = s_src (s_t / s_r)^a,  t_target = t_src + a (t_t - t_r) s_src / s_r

as in FOMM's relative keypoint transfer (Siarohin et al. 2019, Sec. 3.4) applied to a 3-D face.
Absolute mode uses the driver's canonical landmarks and pose (mapped by crop scale) directly.
"""
from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from talkinghead.config import MotionStrength
from talkinghead.face.topology import MOUTH_CORNERS
from talkinghead.face.types import HeadPose
from talkinghead.motion.extract import motion_from_landmarks
from talkinghead.motion.regions import (INNER_LIP_PAIRS, LEFT_LID_PAIRS, RIGHT_LID_PAIRS,
                                        channel_weights, clamp_pairs, keep_lip_thickness)
from talkinghead.motion.types import Motion


# A 2-D warp cannot turn a face much beyond these angles without tearing it (the far cheek folds
# onto the background): target yaw/pitch are softly compressed into them (roll is free).
MAX_YAW_DEG = 32.0
MAX_PITCH_DEG = 22.0


# Range of the source/driver mouth-width ratio that scales the mouth channel (relative mode).
MOUTH_SCALE_RANGE = (0.75, 1.5)


def mouth_width(canonical: np.ndarray) -> float:
    """Mouth-corner distance in a canonical (pose-free) frame."""
    return float(np.linalg.norm(canonical[MOUTH_CORNERS[0], :2] - canonical[MOUTH_CORNERS[1], :2]))


def _soft_clip(x: float, limit: float, own: float = 0.0, reach: bool = True) -> float:
    """Identity for small |x|, approaching ±limit smoothly (tanh knee over the last third).

    ``own``: the source's own angle, which always maps to itself. A source already past the knee (a
    portrait turned 48 degrees) keeps its pose at rest instead of being forced round to the limit, and
    may turn a little further away (up to a third of the limit). With ``reach``, it may also turn
    towards the camera less the further it is turned: what a 2-D warp would have to reveal there (the
    far cheek) is not in the photo, so a large turn towards the camera tears it.
    """
    knee, span = 0.66 * limit, 0.34 * limit
    if abs(own) > knee:
        sgn, d = float(np.sign(own)), x - own
        if d * sgn >= 0:  # further away
            return float(own + sgn * span * np.tanh(abs(d) / span))
        if reach:
            r = 0.5 * span + (knee + limit - 0.5 * span) * np.exp(-(abs(own) - knee) / (0.5 * span))
            return float(own - sgn * r * np.tanh(abs(d) / r))
        if x * sgn >= 0:  # back towards the camera, still on the source's side: free
            return x
    if abs(x) <= knee:
        return x
    return float(np.sign(x) * (knee + span * np.tanh((abs(x) - knee) / span)))


def limit_rotation(R: np.ndarray, own: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """Rotation with yaw and pitch softly limited to MAX_YAW_DEG / MAX_PITCH_DEG, never moving the
    source's own (yaw, pitch) ``own`` in degrees (see :func:`_soft_clip`)."""
    yaw, pitch, roll = HeadPose(R, np.zeros(2), 1.0).euler_deg()
    oy, op = own
    # pitch: no reach limit (frontal faces measure 10-20 degrees of pitch: nods must pass)
    y2, p2 = _soft_clip(yaw, MAX_YAW_DEG, oy), _soft_clip(pitch, MAX_PITCH_DEG, op, reach=False)
    if y2 == yaw and p2 == pitch:
        return R
    return HeadPose.rotation_from_euler(y2, p2, roll)


def _rotation_power(R: np.ndarray, a: float) -> np.ndarray:
    """R^a: scale the rotation angle by ``a`` (slerp from identity; a may exceed 1)."""
    if a == 1.0:
        return R
    rv = Rotation.from_matrix(R).as_rotvec()
    return Rotation.from_rotvec(rv * a).as_matrix()


class MotionTransfer:
    """Maps driver :class:`Motion` frames to target landmarks of one source face."""

    def __init__(self, source_points: np.ndarray, strength: MotionStrength | None = None,
                 relative: bool = True, driver_to_source: np.ndarray | None = None):
        self.source = motion_from_landmarks(source_points)
        self._own_angles = tuple(self.source.pose.euler_deg()[:2])  # (yaw, pitch): kept by limit_rotation
        self.source_points = source_points
        self.strength = strength or MotionStrength()
        self.relative = relative
        # absolute mode: 2x3 similarity from driver image px to source px (e.g. crop to crop)
        self.A = np.array([[1.0, 0, 0], [0, 1.0, 0]]) if driver_to_source is None else np.asarray(driver_to_source, float)
        w = channel_weights(self.source.canonical)
        s = self.strength
        self._w_mouth = (s.mouth * w["mouth"])[:, None]
        self.gain = (s.eyes * w["eyes"] + s.expression * w["expression"])[:, None] + self._w_mouth
        self.mouth_scale = 1.0
        self.gain_ref = self.gain
        self.reference: Motion | None = None

    def set_reference(self, ref: Motion) -> None:
        """Driver reference frame; scales the mouth channel by the source/driver mouth-width ratio.

        Lip and jaw motion is taken relative to the mouth's size: a driver opening its mouth to a third
        of its width opens the source's to a third of *its* width (a wide sculpted mouth, or a small
        painted one, would otherwise open too little, or too much, for its size).
        """
        self.reference = ref
        if self.relative:
            self.mouth_scale = float(np.clip(mouth_width(self.source.canonical) / max(mouth_width(ref.canonical), 1e-6),
                                             MOUTH_SCALE_RANGE[0], MOUTH_SCALE_RANGE[1]))
        self.gain_ref = self.gain + (self.mouth_scale - 1.0) * self._w_mouth

    def target_pose(self, m: Motion) -> HeadPose:
        src, a = self.source.pose, self.strength.pose
        if self.relative:
            ref = self.reference
            R_rel = m.pose.rotation @ ref.pose.rotation.T
            R = limit_rotation(_rotation_power(R_rel, a) @ src.rotation, self._own_angles)
            scale = src.scale * (m.pose.scale / ref.pose.scale) ** a
            t = src.translation + a * (m.pose.translation - ref.pose.translation) * (src.scale / ref.pose.scale)
            return HeadPose(R, t, float(scale), src.tz)
        # absolute: interpolate source pose -> driver pose (driver px scaled into source px)
        R_d = m.pose.rotation
        R_rel = R_d @ src.rotation.T
        R = _rotation_power(R_rel, a) @ src.rotation
        k = float(np.sqrt(abs(np.linalg.det(self.A[:, :2]))))
        s_d, t_d = m.pose.scale * k, self.A[:, :2] @ m.pose.translation + self.A[:, 2]
        return HeadPose(R, src.translation + a * (t_d - src.translation), float(src.scale + a * (s_d - src.scale)))

    def target_canonical(self, m: Motion) -> np.ndarray:
        base = self.reference.canonical if self.relative else self.source.canonical
        X = self.source.canonical + (self.gain_ref if self.relative else self.gain) * (m.canonical - base)
        for pairs in (LEFT_LID_PAIRS, RIGHT_LID_PAIRS, INNER_LIP_PAIRS):
            X = clamp_pairs(X, pairs)
        return keep_lip_thickness(X, self.source.canonical)

    def __call__(self, m: Motion) -> np.ndarray:
        """Target landmarks (478, 3) in source image px for driver motion ``m``."""
        if self.relative and self.reference is None:
            raise RuntimeError("MotionTransfer: call set_reference() before relative transfer")
        return self.target_pose(m).project(self.target_canonical(m).astype(np.float64)).astype(np.float32)
