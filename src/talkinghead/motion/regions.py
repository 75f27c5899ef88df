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


LIP_THICKNESS_FLOOR = 0.6  # a stretched-open lip keeps at least this part of its resting thickness


def keep_lip_thickness(X: np.ndarray, rest: np.ndarray, floor: float = LIP_THICKNESS_FLOOR) -> np.ndarray:
    """Keep each lip at least ``floor`` x its thickness in ``rest`` (canonical landmarks).

    Relative transfer adds the driver's change of lip thickness to the source's lips: a driver going
    from pursed, thick lips (its reference) to an open "O" thins them by more than a source with thin
    lips has, and they vanish around a dark hole. Each outer-lip vertex is pushed back outwards, along
    its resting inner -> outer direction, until the lip has ``floor`` of its resting thickness.
    """
    from talkinghead.face.topology import INNER_LIPS, OUTER_LIPS

    inner, outer = np.array(INNER_LIPS), np.array(OUTER_LIPS)  # INNER_LIPS[i] faces OUTER_LIPS[i]
    t = rest[outer, :2] - rest[inner, :2]
    rest_len = np.linalg.norm(t, axis=1)
    ok = rest_len > 1e-3 * max(float(rest_len.max()), 1e-9)  # the corners have no thickness
    u = t[ok] / rest_len[ok, None]
    now = np.sum((X[outer[ok], :2] - X[inner[ok], :2]) * u, axis=1)
    short = np.maximum(floor * rest_len[ok] - now, 0.0)
    X[outer[ok], :2] += short[:, None] * u
    return X


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
