"""Soft per-landmark channel weights (eyes, mouth, expression) and lid/lip pairs."""
from __future__ import annotations

import numpy as np

from talkinghead.face import topology as T

# (upper, lower) lid pairs along each eye and along the inner lips, in matching order.
RIGHT_LID_PAIRS = ((246, 7), (161, 163), (160, 144), (159, 145), (158, 153), (157, 154), (173, 155))
LEFT_LID_PAIRS = ((398, 382), (384, 381), (385, 380), (386, 374), (387, 373), (388, 390), (466, 249))
INNER_LIP_PAIRS = ((191, 95), (80, 88), (81, 178), (82, 87), (13, 14), (312, 317), (311, 402), (310, 318), (415, 324))


def _ramp(d: np.ndarray, r0: float, r1: float) -> np.ndarray:
    """1 for d <= r0, 0 for d >= r1, smooth (cosine) in between."""
    u = np.clip((d - r0) / (r1 - r0), 0.0, 1.0)
    return 0.5 * (1.0 + np.cos(np.pi * u))


def channel_weights(canonical: np.ndarray) -> dict[str, np.ndarray]:
    """Split the 478 points into soft channels from a canonical face (inter-ocular distance = 1).

    Returns weights ``eyes``, ``mouth`` and ``expression`` (each (478,), summing to 1 per point):
    eyes = lids and irises; mouth = lips, jaw and chin (everything well below the nose);
    expression = the rest (brows, forehead, cheeks, nose).
    """
    P = canonical[:, :2]
    left_c, right_c = T.eye_centers(canonical[:, :2])
    d_eye = np.minimum(np.linalg.norm(P - left_c, axis=1), np.linalg.norm(P - right_c, axis=1))
    eyes = _ramp(d_eye, 0.22, 0.34)
    eyes[T.LEFT_IRIS + T.RIGHT_IRIS] = 1.0
    # Mouth channel: below the nose (y grows downwards in the canonical frame).
    y_nose = canonical[T.NOSE_TIP, 1]
    y_lip = canonical[[13, 0], 1].mean()
    u = np.clip((P[:, 1] - y_nose) / max(y_lip - y_nose, 1e-6), 0.0, 1.0)
    mouth = 0.5 * (1.0 - np.cos(np.pi * u))
    mouth = np.minimum(mouth, 1.0 - eyes)
    expression = np.clip(1.0 - eyes - mouth, 0.0, 1.0)
    return {"eyes": eyes.astype(np.float32), "mouth": mouth.astype(np.float32),
            "expression": expression.astype(np.float32)}


def clamp_pairs(points: np.ndarray, pairs) -> np.ndarray:
    """Keep each (upper, lower) pair from crossing (y down): crossing pairs meet at their midpoint."""
    up = np.array([p[0] for p in pairs])
    lo = np.array([p[1] for p in pairs])
    cross = points[up, 1] > points[lo, 1]
    if cross.any():
        mid = 0.5 * (points[up[cross], 1] + points[lo[cross], 1])
        points[up[cross], 1] = mid
        points[lo[cross], 1] = mid
    return points
