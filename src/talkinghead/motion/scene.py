"""Scene motion: the driver's smooth motion outside the face (hair, neck, torso, camera).

The face is driven by landmarks; everything around it follows the driver's dense optical flow
(DIS, Kroeger et al. 2016) between its reference frame and the current frame, measured in the
driver's face-aligned reference crop. Face-aligned crops of driver and source share a layout, so the
flow at a crop position says how the source's surroundings at that position should move
(relative transfer, as FOMM's relative keypoints do for the whole frame). The field is heavily
smoothed: only the low-frequency motion of large regions is transferred.
"""
from __future__ import annotations

import cv2
import numpy as np

from talkinghead.face.crop import crop_image
from talkinghead.face.types import CropTransform

FLOW_SIZE = 96  # px side of the flow computation
SMOOTH_FRAC = 0.02  # Gaussian sigma of the flow field, fraction of the crop side


class SceneFlow:
    """``set_reference(frame, tf)`` once, then ``__call__(frame) -> (n, n, 2)`` displacement grid.

    The grid covers the crop of side ``tf.size``: cell (i, j) holds the displacement (dx, dy), in crop
    px, of the content that was at crop position ((j + 0.5) * S / n, (i + 0.5) * S / n) in the reference.
    """

    def __init__(self, n: int = FLOW_SIZE):
        self.n = n
        self._dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        self._ref: np.ndarray | None = None
        self._tf: CropTransform | None = None

    def _gray(self, frame: np.ndarray) -> np.ndarray:
        return cv2.cvtColor(crop_image(frame, self._tf), cv2.COLOR_RGB2GRAY)

    def set_reference(self, frame: np.ndarray, tf: CropTransform) -> None:
        k = self.n / tf.size
        self._tf = CropTransform(tf.M * k, self.n)
        self._scale = 1.0 / k
        self._ref = self._gray(frame)

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        if self._ref is None:
            raise RuntimeError("SceneFlow: call set_reference() first")
        flow = self._dis.calc(self._ref, self._gray(frame), None)
        sigma = SMOOTH_FRAC * self.n
        flow = cv2.GaussianBlur(flow, (0, 0), sigma, borderType=cv2.BORDER_REPLICATE)
        return flow * self._scale


def sample_grid(grid: np.ndarray, points: np.ndarray, size: int) -> np.ndarray:
    """Bilinear sample of an (n, n, 2) displacement grid at crop positions (P, 2) of a size-S crop."""
    n = grid.shape[0]
    q = (np.asarray(points, np.float32) + 0.5) * (n / size) - 0.5
    m = q.reshape(-1, 1, 2)
    out = cv2.remap(grid.astype(np.float32), m[..., 0], m[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return out.reshape(-1, 2)
