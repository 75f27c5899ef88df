"""The motion representation shared by all drivers.

A :class:`Motion` describes one frame of a driver in a pose-free way, so it can be applied to any
source face: head pose + canonical-frame landmarks (expression lives in their offsets) + summaries
(eye openness, gaze, mouth opening) that drivers without landmarks (audio) can also produce.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from talkinghead.face.types import HeadPose


@dataclass
class Motion:
    pose: HeadPose
    canonical: np.ndarray  # (478, 3) landmarks in the canonical, pose-free frame (unit: canonical units)
    eyes: np.ndarray  # (2,) openness of (left, right) eye: lid gap / eye width
    gaze: np.ndarray  # (2, 2) iris offset of (left, right) eye from the eye centre / eye width, (x, y)
    mouth: float  # inner-lip gap / mouth width
    valid: bool = True  # False when held/interpolated (no face detected in this driver frame)
