"""One-Euro filtering (Casiez, Roussel & Vogel, CHI 2012) of landmarks and head poses.

The One-Euro filter is a first-order low-pass whose cutoff rises with the signal's speed:
``fc = min_cutoff + beta * |dx/dt|`` (Hz), so still signals are smoothed hard (no jitter) and fast
motion passes with little lag. Every element of the array is filtered independently (vectorised).

``beta`` depends on the units of x: the defaults assume *normalised* units (about one unit per
inter-ocular distance, rotations in radians). :class:`OneEuroFilter` takes an optional ``scale``
(units per normalised unit, e.g. the inter-ocular distance in px) so px-valued arrays can be
filtered directly: the speed is divided by ``scale`` before it enters the cutoff.
:class:`LandmarkSmoother` and :class:`PoseSmoother` do this for (478, 3) landmarks and HeadPose.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from talkinghead.face import topology as T
from talkinghead.face.types import HeadPose

MIN_CUTOFF = 1.0  # Hz, cutoff for a still signal
BETA = 0.7  # Hz per (normalised unit / s)
D_CUTOFF = 1.0  # Hz, cutoff of the speed estimate


def _alpha(cutoff, dt: float):
    """Smoothing factor of a first-order low-pass with ``cutoff`` Hz (scalar or array) at step dt."""
    tau = 1.0 / (2.0 * math.pi * cutoff)
    return 1.0 / (1.0 + tau / dt)


class OneEuroFilter:
    """Vectorised One-Euro filter; ``f(x, t)`` returns the filtered x (same shape, float64).

    ``t`` is the timestamp in seconds (strictly increasing; a repeated or decreasing t is treated
    as a 1/30 s step). The first call returns x unchanged. ``min_cutoff`` and ``beta`` may be arrays
    broadcastable to x (e.g. a higher min_cutoff for lip points, which move fast in speech).
    """

    def __init__(self, min_cutoff: float | np.ndarray = MIN_CUTOFF, beta: float | np.ndarray = BETA,
                 d_cutoff: float = D_CUTOFF):
        self.min_cutoff = np.asarray(min_cutoff, np.float64)  # scalar or broadcastable to x, e.g. (478, 1)
        self.beta = np.asarray(beta, np.float64)
        self.d_cutoff = float(d_cutoff)
        self.reset()

    def reset(self) -> None:
        self._x: np.ndarray | None = None
        self._dx: np.ndarray | None = None
        self._t: float | None = None

    def __call__(self, x: np.ndarray, t: float, scale: float = 1.0) -> np.ndarray:
        x = np.asarray(x, np.float64)
        if self._x is None or self._x.shape != x.shape:
            self._x, self._dx, self._t = x.copy(), np.zeros_like(x), float(t)
            return x.copy()
        dt = float(t) - self._t
        if not dt > 0:
            dt = 1.0 / 30.0
        self._t = float(t)
        a_d = _alpha(self.d_cutoff, dt)
        self._dx += a_d * ((x - self._x) / dt - self._dx)
        cutoff = self.min_cutoff + (self.beta / float(scale)) * np.abs(self._dx)
        a = _alpha(cutoff, dt)
        self._x += a * (x - self._x)
        return self._x.copy()


class LandmarkSmoother:
    """One-Euro filter for (478, 3) px landmarks with the speed measured in inter-ocular units.

    The filter runs on px values (no scale noise is injected); the inter-ocular distance of the
    first frame (then a slow running average) converts speeds to normalised units for the cutoff.
    """

    def __init__(self, min_cutoff: float | np.ndarray = MIN_CUTOFF, beta: float | np.ndarray = BETA,
                 d_cutoff: float = D_CUTOFF):
        self.filter = OneEuroFilter(min_cutoff, beta, d_cutoff)
        self._scale: float | None = None

    def reset(self) -> None:
        self.filter.reset()
        self._scale = None

    def __call__(self, points: np.ndarray, t: float) -> np.ndarray:
        iod = max(T.interocular(points), 1e-3)
        self._scale = iod if self._scale is None else 0.95 * self._scale + 0.05 * iod
        return self.filter(points, t, self._scale).astype(np.float32)


def _rotvec(R: np.ndarray) -> np.ndarray:
    return cv2.Rodrigues(np.asarray(R, np.float64))[0].ravel()


class PoseSmoother:
    """One-Euro filter of a :class:`HeadPose` in normalised parameters.

    Parameters: rotation vector relative to the first pose (rad), translation / first scale
    (canonical units, i.e. ~inter-ocular distances), log scale, tz / first scale.
    """

    def __init__(self, min_cutoff: float = MIN_CUTOFF, beta: float = BETA, d_cutoff: float = D_CUTOFF):
        self.filter = OneEuroFilter(min_cutoff, beta, d_cutoff)
        self._R0: np.ndarray | None = None
        self._s0 = 1.0

    def reset(self) -> None:
        self.filter.reset()
        self._R0 = None

    def __call__(self, pose: HeadPose, t: float) -> HeadPose:
        if self._R0 is None:
            self._R0, self._s0 = np.asarray(pose.rotation, np.float64), float(pose.scale)
        rv = _rotvec(pose.rotation @ self._R0.T)
        p = np.concatenate([rv, np.asarray(pose.translation, np.float64) / self._s0,
                            [math.log(pose.scale), pose.tz / self._s0]])
        q = self.filter(p, t)
        R = cv2.Rodrigues(q[:3].reshape(3, 1))[0] @ self._R0
        return HeadPose(R, q[3:5] * self._s0, float(math.exp(q[5])), float(q[6] * self._s0))
