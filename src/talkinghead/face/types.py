"""Data types shared by the face, motion and render stages.

Coordinate convention (used everywhere in talkinghead):
    image points are (x, y) in pixels, pixel centres at integer coordinates, origin top-left,
    x to the right, y down. 3-D landmark z is in the same pixel units as x (mediapipe's z scaled by
    the image width), smaller z = closer to the camera.
Images are numpy uint8 arrays (H, W, 3) in RGB order.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class FaceLandmarks:
    """478 face-mesh points (468 + iris) of one face in one image."""

    points: np.ndarray  # (478, 3) float32, (x, y, z) in image pixels
    image_size: tuple[int, int]  # (width, height) of the image the points refer to
    score: float = 1.0

    @property
    def xy(self) -> np.ndarray:
        return self.points[:, :2]

    def bbox(self) -> tuple[float, float, float, float]:
        """(x0, y0, x1, y1) of the face-mesh points."""
        x0, y0 = self.points[:468, :2].min(axis=0)
        x1, y1 = self.points[:468, :2].max(axis=0)
        return float(x0), float(y0), float(x1), float(y1)

    def transformed(self, M: np.ndarray, image_size: tuple[int, int]) -> "FaceLandmarks":
        """Apply a 2x3 similarity ``M`` (x, y) and scale z by its scale factor."""
        s = float(np.sqrt(abs(np.linalg.det(M[:, :2]))))
        xy = self.points[:, :2] @ M[:, :2].T + M[:, 2]
        z = self.points[:, 2:3] * s
        return FaceLandmarks(np.concatenate([xy, z], 1).astype(np.float32), image_size, self.score)


@dataclass
class HeadPose:
    """Weak-perspective head pose: ``p_img = scale * (R @ X_canon) + (tx, ty, tz)``.

    ``rotation`` maps the canonical (pose-free) face frame to camera axes; canonical axes are
    x = subject's right eye -> left eye (image right in a frontal view), y = down (forehead -> chin),
    z = x cross y = into the image. ``translation`` is the image position (px) of the canonical
    origin (the centre of the rigid landmarks); ``tz`` is the depth offset (px) of that origin in
    mediapipe's z (whose origin is arbitrary), so :meth:`project` and :meth:`unproject` are exact
    inverses on all three coordinates. ``scale`` is px per canonical unit (= inter-ocular distance
    in px for a frontal face).

    Euler angles (:meth:`euler_deg`, :meth:`rotation_from_euler`), degrees, Z-Y-X Tait-Bryan order
    ``R = Rz(roll) @ Ry(-yaw) @ Rx(pitch)`` (pitch applied in the face frame first, roll last about
    the viewing axis), where Rx, Ry, Rz are the right-handed rotations about the camera axes
    (x right, y down, z into the image):
        yaw > 0   the face turns towards image right (the subject turns to their own left),
        pitch > 0 the face looks down,
        roll > 0  the face tilts clockwise in the image (the eye line's image-right end goes down).
    """

    rotation: np.ndarray  # (3, 3), proper rotation (det = +1)
    translation: np.ndarray  # (2,) px
    scale: float  # px per canonical unit
    tz: float = 0.0  # px, depth offset of the canonical origin (z only)

    def project(self, X: np.ndarray) -> np.ndarray:
        """Project canonical points (N, 3) to image (N, 3): x, y in px and z scaled alike."""
        P = self.scale * (np.asarray(X, np.float64) @ self.rotation.T)
        P[:, :2] += self.translation
        P[:, 2] += self.tz
        return P

    def unproject(self, P: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`project` for image points (N, 3) -> canonical (N, 3)."""
        Q = np.asarray(P, np.float64).copy()
        Q[:, :2] -= self.translation
        Q[:, 2] -= self.tz
        return (Q / self.scale) @ self.rotation

    def euler_deg(self) -> tuple[float, float, float]:
        """(yaw, pitch, roll) in degrees, convention in the class docstring."""
        R = self.rotation
        yaw = np.degrees(np.arcsin(np.clip(R[2, 0], -1.0, 1.0)))
        pitch = np.degrees(np.arctan2(R[2, 1], R[2, 2]))
        roll = np.degrees(np.arctan2(R[1, 0], R[0, 0]))
        return float(yaw), float(pitch), float(roll)

    @staticmethod
    def rotation_from_euler(yaw: float, pitch: float, roll: float) -> np.ndarray:
        """(3, 3) rotation for (yaw, pitch, roll) in degrees; inverse of :meth:`euler_deg`."""
        y, p, r = np.radians([yaw, pitch, roll])
        cy, sy, cp, sp, cr, sr = np.cos(y), np.sin(y), np.cos(p), np.sin(p), np.cos(r), np.sin(r)
        Rx = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
        Ry = np.array([[cy, 0, -sy], [0, 1, 0], [sy, 0, cy]])  # = Ry_standard(-yaw)
        Rz = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
        return Rz @ Ry @ Rx


@dataclass
class CropTransform:
    """A similarity crop: ``crop_xy = M @ [x, y, 1]`` maps image pixels into a size x size crop."""

    M: np.ndarray  # (2, 3) float64
    size: int

    @property
    def scale(self) -> float:
        return float(np.sqrt(abs(np.linalg.det(self.M[:, :2]))))

    def inverse(self) -> np.ndarray:
        """2x3 matrix mapping crop pixels back to image pixels."""
        A = np.vstack([self.M, [0, 0, 1]])
        return np.linalg.inv(A)[:2]
