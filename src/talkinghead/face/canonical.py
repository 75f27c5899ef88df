"""The canonical (pose-free) 3-D mean face, built by ``scripts/build_canonical_face.py``.

Frame: origin at the centre (mean) of the rigid landmarks (:data:`topology.RIGID`);
x from the subject's right eye centre to the left eye centre (image right in a frontal view),
y down (forehead -> chin, orthogonalised), z = x cross y (into the image). Unit: the
inter-ocular distance (eye-centre to eye-centre) is 1. The face is left/right symmetric:
``mirror(X)[mirror_index()] == X`` where mirror flips x.
"""
from __future__ import annotations

from functools import lru_cache
from importlib import resources

import numpy as np

from talkinghead.face import topology as T

ASSET = "canonical_face.npy"


@lru_cache(maxsize=1)
def load_canonical() -> np.ndarray:
    """The canonical face (478, 3) float64 (read-only, cached; stored as float32)."""
    with resources.files("talkinghead").joinpath("assets").joinpath(ASSET).open("rb") as f:
        X = np.load(f).astype(np.float64)
    if X.shape != (T.N_LANDMARKS, 3):
        raise RuntimeError(f"corrupt {ASSET}: shape {X.shape}")
    X.setflags(write=False)
    return X


def mirror_index_from_geometry(X: np.ndarray) -> np.ndarray:
    """Index map ``m`` with point ``m[i]`` the mirror partner of point ``i`` (x -> -x).

    Optimal one-to-one matching (Hungarian) of the mirrored points onto the points, per group
    (468 face points, 10 iris points), of a face centred on its symmetry plane x = 0.
    """
    from scipy.optimize import linear_sum_assignment

    m = np.empty(len(X), np.intp)
    for lo, hi in ((0, T.N_FACE), (T.N_FACE, len(X))):
        P = X[lo:hi]
        Q = P * np.array([-1.0, 1.0, 1.0])
        D = np.linalg.norm(P[:, None, :] - Q[None, :, :], axis=2)
        rows, cols = linear_sum_assignment(D)
        m[lo + rows] = lo + cols
    return m


@lru_cache(maxsize=1)
def mirror_index() -> np.ndarray:
    """(478,) left/right partner index of each landmark (mid-line points map to themselves)."""
    m = mirror_index_from_geometry(load_canonical())
    m.setflags(write=False)
    return m


def mirror_points(points: np.ndarray) -> np.ndarray:
    """Mirror canonical landmarks (478, 3) left/right: flip x and swap partner indices."""
    return (np.asarray(points) * np.array([-1.0, 1.0, 1.0]))[mirror_index()]
