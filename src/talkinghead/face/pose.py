"""Head pose from 478 landmarks: weighted similarity Procrustes onto the canonical face.

``estimate_pose(points)`` fits ``points ≈ s * R @ X_canon + (tx, ty, tz)`` on the rigid landmarks
(:data:`talkinghead.face.topology.RIGID`) with Umeyama's closed form (reflection-guarded, so R is
a proper rotation), giving a :class:`HeadPose` (rotation, translation (tx, ty), scale, tz).
``canonicalize(points, pose)`` removes the pose: the pose-free landmarks keep the expression.
Euler-angle convention: see :class:`talkinghead.face.types.HeadPose`. ~30 µs per call.
"""
from __future__ import annotations

import numpy as np

from talkinghead.face import topology as T
from talkinghead.face.canonical import load_canonical
from talkinghead.face.types import HeadPose

RIGID_IDX = np.asarray(T.RIGID, np.intp)


def umeyama(src: np.ndarray, dst: np.ndarray, weights: np.ndarray | None = None,
            with_scale: bool = True) -> tuple[np.ndarray, float, np.ndarray]:
    """Weighted similarity ``dst ≈ s * R @ src + t`` for (N, 3) point sets -> (R, s, t).

    Umeyama (1991) with a reflection guard: ``det(R) = +1`` always. ``weights`` (N,) >= 0.
    """
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    if weights is None:
        mu_s, mu_d = src.mean(0), dst.mean(0)
        A, B = src - mu_s, dst - mu_d
        C = B.T @ A / len(src)
        var_s = float((A * A).sum()) / len(src)
    else:
        w = np.asarray(weights, np.float64) / float(np.sum(weights))
        mu_s, mu_d = w @ src, w @ dst
        A, B = src - mu_s, dst - mu_d
        C = (B * w[:, None]).T @ A
        var_s = float(w @ (A * A).sum(1))
    U, S, Vt = np.linalg.svd(C)
    d = 1.0 if np.linalg.det(U) * np.linalg.det(Vt) > 0 else -1.0
    S[2] *= d
    U[:, 2] *= d
    R = U @ Vt
    s = float(S.sum() / var_s) if with_scale else 1.0
    t = mu_d - s * (R @ mu_s)
    return R, s, t


def estimate_pose(points: np.ndarray, weights: np.ndarray | None = None,
                  canonical: np.ndarray | None = None) -> HeadPose:
    """Pose of (478, 3) image landmarks (x, y, z px) relative to the canonical face.

    ``weights``: optional (len(RIGID),) weights of the rigid points. ``HeadPose.project(canonical)``
    reproduces ``points`` up to the expression and the fit residual.
    """
    X = load_canonical() if canonical is None else canonical
    R, s, t = umeyama(X[RIGID_IDX], np.asarray(points)[RIGID_IDX], weights)
    return HeadPose(R, t[:2].copy(), s, float(t[2]))


def canonicalize(points: np.ndarray, pose: HeadPose) -> np.ndarray:
    """Pose-free landmarks (478, 3) in canonical units: ``pose.unproject(points)``."""
    return pose.unproject(points)


def rotation_from_euler(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """(3, 3) rotation for (yaw, pitch, roll) in degrees (see :class:`HeadPose`)."""
    return HeadPose.rotation_from_euler(yaw, pitch, roll)
