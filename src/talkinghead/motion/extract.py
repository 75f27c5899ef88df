"""Landmarks -> :class:`Motion` (pose, canonical landmarks, eye/gaze/mouth summaries)."""
from __future__ import annotations

import numpy as np

from talkinghead.face import topology as T
from talkinghead.face.pose import canonicalize, estimate_pose
from talkinghead.motion.regions import INNER_LIP_PAIRS, LEFT_LID_PAIRS, RIGHT_LID_PAIRS
from talkinghead.motion.types import Motion


def _gap(P: np.ndarray, pairs) -> float:
    return float(np.mean([P[lo, 1] - P[up, 1] for up, lo in pairs]))


def summaries(canonical: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Eye openness (left, right), gaze offsets (2, 2) and mouth opening from canonical landmarks."""
    P = canonical[:, :2]
    eyes, gaze = np.zeros(2, np.float32), np.zeros((2, 2), np.float32)
    for i, (corners, pairs, iris) in enumerate((
        (T.LEFT_EYE_CORNERS, LEFT_LID_PAIRS, T.LEFT_IRIS),
        (T.RIGHT_EYE_CORNERS, RIGHT_LID_PAIRS, T.RIGHT_IRIS),
    )):
        width = float(np.linalg.norm(P[corners[0]] - P[corners[1]])) + 1e-6
        eyes[i] = _gap(P, pairs[2:5]) / width
        centre = 0.5 * (P[[p[0] for p in pairs]].mean(0) + P[[p[1] for p in pairs]].mean(0))
        gaze[i] = (P[iris[0]] - centre) / width
    mouth_w = float(np.linalg.norm(P[T.MOUTH_CORNERS[0]] - P[T.MOUTH_CORNERS[1]])) + 1e-6
    mouth = max(_gap(P, INNER_LIP_PAIRS[3:6]), 0.0) / mouth_w
    return eyes, gaze, mouth


def motion_from_landmarks(points: np.ndarray) -> Motion:
    """Build a Motion from (478, 3) image-space landmarks (x, y, z px)."""
    pose = estimate_pose(points)
    canonical = canonicalize(points, pose).astype(np.float32)
    eyes, gaze, mouth = summaries(canonical)
    return Motion(pose=pose, canonical=canonical, eyes=eyes, gaze=gaze, mouth=mouth)


def neutral_index(motions: list[Motion]) -> int:
    """Index of the most neutral frame: near-frontal, mouth closed, eyes open (median openness)."""
    eyes = np.array([m.eyes.mean() for m in motions])
    mouth = np.array([m.mouth for m in motions])
    yaw_pitch = np.array([np.hypot(*m.pose.euler_deg()[:2]) for m in motions])
    eye_dev = np.abs(eyes - np.median(eyes)) / (np.std(eyes) + 1e-6)
    mouth_dev = (mouth - mouth.min()) / (np.std(mouth) + 1e-6)
    score = eye_dev + mouth_dev + yaw_pitch / 10.0
    valid = np.array([m.valid for m in motions])
    score[~valid] = np.inf
    return int(np.argmin(score))
