"""Object mode: the driver's global head motion as a 2-D similarity for a subject without a face."""
from __future__ import annotations

import numpy as np

from talkinghead.motion.types import Motion

SUBJECT_UNIT = 0.25  # crop px per driver inter-ocular unit, as a fraction of the crop side


def object_similarity(m: Motion, ref: Motion, size: int, strength: float = 1.0) -> np.ndarray:
    """2x3 similarity (crop px, source -> target) about the crop centre.

    In-plane rotation (roll), scale and translation of the driver relative to its reference frame;
    translation is measured in the driver's inter-ocular units and mapped to SUBJECT_UNIT * size.
    """
    R_rel = m.pose.rotation @ ref.pose.rotation.T
    angle = strength * np.arctan2(R_rel[1, 0], R_rel[0, 0])
    s = (m.pose.scale / ref.pose.scale) ** strength
    d = strength * (m.pose.translation - ref.pose.translation) / ref.pose.scale * SUBJECT_UNIT * size
    c = np.array([(size - 1) / 2.0, (size - 1) / 2.0])
    A = s * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return np.hstack([A, (c + d - A @ c)[:, None]])
