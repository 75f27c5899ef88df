"""Source preparation: read the portrait, find the face, build the canvas and the face crop."""
from __future__ import annotations

import os
from dataclasses import dataclass

import cv2
import numpy as np

from talkinghead.config import MAX_RESOLUTION, AnimateConfig
from talkinghead.errors import InputError
from talkinghead.face.crop import crop_image, face_crop_transform, paste_back, unit_scale_canvas, unit_translation
from talkinghead.face.mesh import FaceMesh, check_face_size, looks_like_animal, select_face
from talkinghead.face.types import CropTransform, FaceLandmarks
from talkinghead.io.image import read_image
from talkinghead.render.detail import DetailCanvas

OBJECT_MARGIN = 1.0  # object mode: the crop is the square around the whole image
OBJECT_MAX_ASPECT = 2.0  # ... or, for a longer image, around its middle (side = 2 x the short side)
MIN_OUTPUT_SIDE = 64  # the invisible watermark needs at least this many px a side
SMALL_FACE_OUTPUT = 48  # px: a face narrower than this in the output gets a notice (crop, or raise --resolution)
DETAIL_MIN_CHANGE = 1.1  # output at the photo's scale only when it is this much larger or smaller than the canvas


@dataclass
class PreparedSource:
    """The portrait at render scale (``canvas``: the crop is cut from it at scale 1), its face crop and
    landmarks in crop px, and the portrait at output scale (``detail``) where that differs."""

    path: str
    canvas: np.ndarray  # (H, W, 3) uint8: the frame background at render scale
    crop_tf: CropTransform  # canvas px -> crop px
    crop: np.ndarray  # (S, S, 3) uint8
    points: np.ndarray | None  # (478, 3) landmarks in crop px (None in object mode)
    mode: str  # "face" | "object"
    detail: DetailCanvas | None = None  # the photo at output scale, when it differs from ``canvas``
    shrink: tuple[int, int] | None = None  # (W, H) the pasted-back canvas is area-resized to (a general crop's large canvas)

    def frame(self, crop: np.ndarray, mapping: np.ndarray | None = None, plain: np.ndarray | None = None) -> np.ndarray:
        """The output frame for a rendered ``crop``: with ``detail``, the renderer's backward ``mapping``
        redone on the photo (``plain``: the warp before painting; None = nothing painted), or without
        a map the crop resampled into it; else the crop pasted back into ``canvas``."""
        if self.detail is None:
            out = paste_back(self.canvas, crop, self.crop_tf)
            return out if self.shrink is None else cv2.resize(out, self.shrink, interpolation=cv2.INTER_AREA)
        return self.detail.paste(crop) if mapping is None else self.detail.compose(crop, mapping, plain)

    def crop_bounds(self) -> tuple[float, float, float, float]:
        """(x0, y0, x1, y1): crop px of the canvas's first and last pixel centres (beyond them the crop
        is padding)."""
        H, W = self.canvas.shape[:2]
        (x0, y0), (x1, y1) = (self.crop_tf.M[:, :2] @ np.array(c, np.float64) + self.crop_tf.M[:, 2]
                              for c in ((0, 0), (W - 1, H - 1)))
        return min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)

    def output_size(self) -> tuple[int, int]:
        """(W, H) of the frames that :func:`~talkinghead.pipelines.animate.render_motions` yields."""
        if self.shrink is not None:
            return self.shrink
        H, W = (self.canvas if self.detail is None else self.detail).shape[:2]
        return W, H


def _output(image: np.ndarray, canvas: np.ndarray, tf: CropTransform,
            cfg: AnimateConfig) -> tuple[DetailCanvas | None, tuple[int, int] | None]:
    """(detail, shrink) of a :class:`PreparedSource`. The output is the photo at output scale (short side
    ``cfg.resolution``, at most its own, long side at most ``cfg.max_output_side``) when that differs
    from the canvas (the crop's scale: smaller for a large face, larger for a small one): redrawn on
    the photo (``detail``) when the crop is an integer translation of the canvas, else (a tiny face in a
    very large photo: a general crop of a canvas already capped at ``max_output_side``) the pasted-back
    canvas area-resized (``shrink``). (None, None): the canvas is the output."""
    H, W = image.shape[:2]
    if cfg.resolution <= 0:
        return None, None
    k = min(1.0, cfg.resolution / min(W, H), cfg.max_output_side / max(W, H))
    Wo, Ho = (max(2, int(x * k) // 2 * 2) for x in (W, H))  # even (yuv420p), never above the photo's own
    ratio = min(Wo, Ho) / min(canvas.shape[:2])
    if 1 / DETAIL_MIN_CHANGE < ratio < DETAIL_MIN_CHANGE:
        return None, None
    if unit_translation(tf) is None:
        return None, ((Wo, Ho) if ratio < 1 else None)
    image = image if (Wo, Ho) == (W, H) else cv2.resize(image, (Wo, Ho), interpolation=cv2.INTER_AREA)
    return DetailCanvas(image, canvas.shape, tf), None


def _even(x: float) -> int:
    return max(2, int(round(x / 2.0)) * 2)


def _canvas_and_crop(image: np.ndarray, tf: CropTransform, max_side: int) -> tuple[np.ndarray, CropTransform]:
    """Resize the image so the crop maps 1:1 (a pure integer translation) when possible."""
    H, W = image.shape[:2]
    k = tf.scale
    if max(W, H) * k > max_side:  # very large photo with a small face: keep a general crop
        k2 = max_side / max(W, H)
        size = (_even(W * k2), _even(H * k2))
        canvas = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        S = np.diag([size[0] / W, size[1] / H])
        M = tf.M.copy()
        M[:, :2] = tf.M[:, :2] @ np.linalg.inv(S)
        return canvas, CropTransform(M, tf.size)
    (W2, H2), tf2 = unit_scale_canvas(tf, (W, H))
    W2, H2 = _even(W2), _even(H2)
    interp = cv2.INTER_AREA if k < 1 else cv2.INTER_CUBIC
    canvas = cv2.resize(image, (W2, H2), interpolation=interp)
    return canvas, tf2


NO_FACE = "no face found in the source image"


def prepare_source(path: str | os.PathLike, cfg: AnimateConfig, log=print, no_face: str = NO_FACE) -> PreparedSource:
    """Read ``path`` and prepare it for rendering (face mode, or object mode when no face).

    ``no_face``: the error's reason when face mode finds no face."""
    path = os.fspath(path)
    image = read_image(path)
    H, W = image.shape[:2]
    faces: list[FaceLandmarks] = []
    scores = None
    if cfg.mode != "object":
        with FaceMesh(static=True, max_faces=max(4, (cfg.face_index or 0) + 1)) as mesh:
            faces = mesh.detect(image)
            scores = mesh.detector_scores(image, faces) if faces else None
        if scores is not None and looks_like_animal(scores):
            what = (f"{path}: the face found looks like an animal's (face detector scores {scores[0]:.2f} "
                    f"short-range, {scores[1]:.2f} full-range)")
            if cfg.mode == "auto":
                log(f"{what}; using object mode (--mode face forces face mode)")
                faces = []
            else:
                log(f"{what}; face mode draws a human mouth on it")
    if not faces:
        if cfg.mode == "face":
            raise InputError(path, no_face)
        if cfg.mode == "auto" and scores is None:
            log(f"{path}: no face found; using object mode (follows the driver's head motion)")
        # the square around the whole image; for a panorama or a banner (aspect > 2) the square around
        # its middle, twice as long as the short side, so the output is not a sliver of a video
        side = min(max(W, H), OBJECT_MAX_ASPECT * min(W, H)) * OBJECT_MARGIN
        k = cfg.size / side
        M = np.array([[k, 0, (cfg.size - 1) / 2 - k * (W - 1) / 2], [0, k, (cfg.size - 1) / 2 - k * (H - 1) / 2]])
        canvas, tf = _canvas_and_crop(image, CropTransform(M, cfg.size), cfg.max_output_side)
        if min(canvas.shape[:2]) < MIN_OUTPUT_SIDE:
            raise InputError(path, f"image too narrow to animate ({W}x{H} px; the output would be "
                                   f"{canvas.shape[1]}x{canvas.shape[0]}, at least {MIN_OUTPUT_SIDE} px a side is needed)")
        return PreparedSource(path, canvas, tf, crop_image(canvas, tf), None, "object", *_output(image, canvas, tf, cfg))
    face = select_face(faces, cfg.face_index, path=path)
    check_face_size(face, path)
    tf0 = face_crop_transform(face, cfg.size)
    canvas, tf = _canvas_and_crop(image, tf0, cfg.max_output_side)
    sx, sy = canvas.shape[1] / W, canvas.shape[0] / H
    pts_canvas = face.points * np.array([sx, sy, 0.5 * (sx + sy)], np.float32)
    pts = FaceLandmarks(pts_canvas, (canvas.shape[1], canvas.shape[0])).transformed(tf.M, (cfg.size, cfg.size))
    prepared = PreparedSource(path, canvas, tf, crop_image(canvas, tf), pts.points, "face", *_output(image, canvas, tf, cfg))
    Wo, Ho = prepared.output_size()
    x0, _, x1, _ = face.bbox()
    if (x1 - x0) * Wo / W < SMALL_FACE_OUTPUT:
        larger = (0 < cfg.resolution < MAX_RESOLUTION and min(Wo, Ho) + 1 < min(W, H)  # (sizes are even)
                  and max(Wo, Ho) + 1 < cfg.max_output_side)
        log(f"{path}: the face is only {(x1 - x0) * Wo / W:.0f} px wide in the {Wo}x{Ho} output; crop the photo "
            f"around it" + (", or raise --resolution" if larger else ""))
    return prepared

