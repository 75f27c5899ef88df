"""478-point face landmarks with mediapipe's face mesh (468 points + 2 x 5 iris points).

Conventions: images are RGB uint8 (H, W, 3); points are float32 pixels in the project convention
(pixel centres at integer coordinates): ``x = x_n * W - 0.5``, ``y = y_n * H - 0.5``, ``z = z_n * W``
where (x_n, y_n, z_n) are mediapipe's normalised outputs (0 = image edge).

* :class:`FaceMesh` finds all faces in one image (``static=True``) or runs mediapipe's own
  tracking (``static=False``). In static mode, images with a side > ``max_side`` are detected on a
  downscaled copy, and when mediapipe's short-range detector finds nothing, the full-range face
  detector (``face_detection`` model 1) proposes boxes and the mesh runs on enlarged crops.
* :class:`TrackingFaceMesh` follows one face through a video (~4 ms per frame); faces too small
  for the tracker's detector are found with the full-range fallback and then tracked on a crop.
* :func:`select_face` picks one face (largest, or by left-to-right index).

mediapipe graphs hold native resources: use the classes as context managers or call ``close()``.
"""
from __future__ import annotations

import contextlib
import sys

import os

import cv2
import numpy as np

from talkinghead.errors import InputError
from talkinghead.face import topology as T
from talkinghead.face.crop import crop_image
from talkinghead.face.types import CropTransform, FaceLandmarks

MIN_INTEROCULAR_PX = 12.0  # below this, landmarks (and any animation) are unreliable
MAX_SIDE = 1280  # static detection runs on a copy downscaled to this longest side
_CROP_SIZE = 256  # side of the crops on which the fallback / crop tracker run the mesh
_CROP_ENLARGE = 2.6  # crop side / full-range detector box side (box ~ eyes-to-mouth region)
# crop side / short-range box side tried in turn when neither the mesh nor the full-range fallback
# finds a face: the mesh's own face check is sensitive to the framing of unusual faces (a made-up
# Night King: the short-range detector scores 0.75, the mesh accepts crops of 1.6, 1.7 and 2.6 x)
_SHORT_ENLARGE = (1.6, 2.0, 2.6)
_TRACK_ENLARGE = 2.0  # crop side / face-mesh extent for the crop tracker
# A face under ~8 % of a large photo's width (a full-length shot, a group) shrinks below what the
# detectors see at their 128 / 192 px inputs: when the whole-image passes find nothing in a photo with
# a short side of at least TILE_MIN_SIDE px, the full-range detector runs again on overlapping square
# tiles of these fractions of the short side (half-overlapping: 15 and 70 tiles for 4:3, ~12 ms each; a
# level with more than _TILE_MAX tiles, a panorama's, is skipped)
TILE_MIN_SIDE = 900
TILE_FACE_FRAC = 0.1  # ... and also when every face found is narrower than this fraction of the short side
_TILE_FRACTIONS = (0.5, 0.25)
_TILE_MAX = 128
TILE_CONFIRM_SHORT = 0.6  # a tile-found face needs this short-range score (or a full-range detection) on a crop around it
_TILE_INPUT = 384  # each tile is area-downscaled to this side first (the detector's own input is 192)


class FaceSelectionError(InputError, ValueError):
    """No face, a face index out of range, or a face too small to animate."""


def _mp():
    import mediapipe as mp  # lazy: importing mediapipe costs ~1 s

    return mp


@contextlib.contextmanager
def _quiet_stderr():
    """Silence C++ log lines that mediapipe's graphs print to fd 2 while they start up."""
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, ValueError, OSError):  # no real stderr (e.g. captured by pytest)
        yield
        return
    sys.stderr.flush()
    saved = os.dup(fd)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), fd)
            yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)


class _Graph:
    """A mediapipe solution whose construction and first ``process`` run with stderr silenced."""

    def __init__(self, factory, **kw):
        with _quiet_stderr():
            self._g = factory(**kw)
        self._calls = 0

    def process(self, img):
        if self._calls >= 3:  # start-up messages come in the first few calls (detection -> tracking)
            return self._g.process(img)
        self._calls += 1
        with _quiet_stderr():
            return self._g.process(img)

    def close(self) -> None:
        self._g.close()


def _as_rgb(rgb: np.ndarray) -> np.ndarray:
    if not isinstance(rgb, np.ndarray) or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an RGB image (H, W, 3), got {getattr(rgb, 'shape', type(rgb))}")
    if rgb.dtype != np.uint8:
        raise ValueError(f"expected uint8 RGB, got {rgb.dtype}")
    return np.ascontiguousarray(rgb)


def _downscaled(rgb: np.ndarray, max_side: int | None) -> np.ndarray:
    """``rgb`` area-resized so its longest side is at most ``max_side`` (unchanged if smaller)."""
    H, W = rgb.shape[:2]
    if not max_side or max(H, W) <= max_side:
        return rgb
    k = max_side / max(H, W)
    return cv2.resize(rgb, (max(1, round(W * k)), max(1, round(H * k))), interpolation=cv2.INTER_AREA)


def _to_points(lms, W: int, H: int) -> np.ndarray:
    """mediapipe NormalizedLandmarkList -> (478, 3) float32 px in the project convention."""
    a = np.array([(p.x, p.y, p.z) for p in lms.landmark], np.float32)
    a *= np.array([W, H, W], np.float32)
    a[:, :2] -= 0.5
    return a


def _bbox_area(f: FaceLandmarks) -> float:
    x0, y0, x1, y1 = f.bbox()
    return (x1 - x0) * (y1 - y0)


def _width(f: FaceLandmarks) -> float:
    x0, _, x1, _ = f.bbox()
    return x1 - x0


def _centre_x(f: FaceLandmarks) -> float:
    x0, _, x1, _ = f.bbox()
    return 0.5 * (x0 + x1)


def _iou(a: FaceLandmarks, b: FaceLandmarks) -> float:
    return _box_iou(a.bbox(), b.bbox())


def _box_iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """Intersection over union of two (x0, y0, x1, y1, ...) boxes."""
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    return inter / max((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter, 1e-9)


def _all_small(faces: list[FaceLandmarks], W: int, H: int) -> bool:
    """Whether every face (vacuously, none) is narrower than TILE_FACE_FRAC of the short side: too small
    for the detectors to see in the whole image."""
    return all(_width(f) < TILE_FACE_FRAC * min(W, H) for f in faces)


def _square_crop_matrix(cx: float, cy: float, side: float, size: int) -> np.ndarray:
    """2x3 matrix mapping image px to a size x size crop of the square (cx, cy, side), no rotation."""
    k = size / side
    return np.array([[k, 0.0, (size - 1) / 2 - k * cx], [0.0, k, (size - 1) / 2 - k * cy]])


def _crop_around(rgb: np.ndarray, box, enlarge: float) -> tuple[np.ndarray, np.ndarray]:
    """(M, crop): a square ``_CROP_SIZE`` crop of side ``enlarge * max(box w, h)`` centred on ``box``."""
    x0, y0, x1, y1 = box[:4]
    side = enlarge * max(x1 - x0, y1 - y0, 4.0)
    M = _square_crop_matrix(0.5 * (x0 + x1), 0.5 * (y0 + y1), side, _CROP_SIZE)
    return M, crop_image(rgb, CropTransform(M, _CROP_SIZE))


def _map_back(points: np.ndarray, M: np.ndarray) -> np.ndarray:
    """Crop-space points (N, 3) -> image px through the inverse of the scale+translation ``M``."""
    k = M[0, 0]
    out = np.empty_like(points)
    out[:, 0] = (points[:, 0] - M[0, 2]) / k
    out[:, 1] = (points[:, 1] - M[1, 2]) / k
    out[:, 2] = points[:, 2] / k
    return out


def interocular_px(face: FaceLandmarks) -> float:
    """Distance (px) between the eye centres of ``face``."""
    return T.interocular(face.points)


def is_too_small(face: FaceLandmarks, min_interocular: float = MIN_INTEROCULAR_PX) -> bool:
    """True when the face's inter-ocular distance is below ``min_interocular`` px."""
    return interocular_px(face) < min_interocular


def check_face_size(face: FaceLandmarks, path: str | os.PathLike | None = None,
                    min_interocular: float = MIN_INTEROCULAR_PX) -> FaceLandmarks:
    """Return ``face`` or raise :class:`FaceSelectionError` when it is too small to animate."""
    d = interocular_px(face)
    if d < min_interocular:
        raise FaceSelectionError(path, f"face too small: eyes {d:.1f} px apart (need >= {min_interocular:g} px); "
                                       "use a larger or closer-cropped image")
    return face


def select_face(faces: list[FaceLandmarks], face_index: int | None = None,
                path: str | os.PathLike | None = None) -> FaceLandmarks:
    """Pick one face: the largest (bbox area) by default, else ``faces[face_index]`` (left to right).

    Raises :class:`FaceSelectionError` (an :class:`InputError` and a ``ValueError``) when there is
    no face or the index is out of range.
    """
    if not faces:
        raise FaceSelectionError(path, "no face found")
    if face_index is None:
        return max(faces, key=_bbox_area)
    ordered = sorted(faces, key=_centre_x)
    if not -len(ordered) <= face_index < len(ordered):
        raise FaceSelectionError(
            path, f"face_index {face_index} out of range: {len(ordered)} face(s) found "
                  f"(valid: 0..{len(ordered) - 1}, numbered left to right)")
    return ordered[face_index]


class _Closing:
    """Context manager + close on garbage collection for classes with a ``close()``."""

    def close(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass


ANIMAL_SHORT_MAX = 0.735  # short-range score below this ...
ANIMAL_FULL_MAX = 0.05  # ... and no full-range detection: an animal head, not a human face


def looks_like_animal(scores: tuple[float, float]) -> bool:
    """Whether :meth:`FaceMesh.detector_scores` ``(short, full)`` say the "face" is an animal's.

    On the 63 portraits of ../shared/data/real (session 7): every animal that the mesh accepts
    (wolf, alpaca, collie, retriever, fluffy dog, shiba) has no full-range detection and a
    short-range score of 0.52-0.72. Human faces, paintings, statues and cartoons score >= 0.75
    short-range or are found by the full-range model (lowest: a made-up Night King, 0.75 / 0; a
    cartoon Buzz Lightyear, 0.71 / 0.65). The margin is thin, so this only picks the default
    mode; ``--mode face`` overrides it."""
    short, full = scores
    return full < ANIMAL_FULL_MAX and short < ANIMAL_SHORT_MAX


class FaceMesh(_Closing):
    """mediapipe face mesh (refine_landmarks=True) returning :class:`FaceLandmarks` in px.

    ``static=True``: every image is independent (detector always runs), with downscaling of big
    images and the full-range fallback for small faces. ``static=False``: mediapipe's tracking
    mode for consecutive video frames (no fallback; see :class:`TrackingFaceMesh`).
    """

    def __init__(self, static: bool = True, max_faces: int = 1, min_detection_confidence: float = 0.5,
                 max_side: int | None = MAX_SIDE, fallback: bool = True):
        mp = _mp()
        self.static = static
        self.max_faces = max_faces
        self.max_side = max_side
        self.fallback = fallback and static
        self._conf = min_detection_confidence
        self._mesh = _Graph(mp.solutions.face_mesh.FaceMesh,
            static_image_mode=static, max_num_faces=max_faces, refine_landmarks=True,
            min_detection_confidence=min_detection_confidence, min_tracking_confidence=0.5)
        self._crop_mesh = None  # static single-face mesh for fallback crops (lazy)
        self._detectors: dict[int, object] = {}  # face detectors by model selection (lazy)

    # -- lifecycle -------------------------------------------------------------------------
    def close(self) -> None:
        for g in (self._mesh, self._crop_mesh, *self._detectors.values()):
            if g is not None:
                g.close()
        self._mesh = self._crop_mesh = None
        self._detectors = {}


    # -- detection -------------------------------------------------------------------------
    def detect(self, rgb: np.ndarray) -> list[FaceLandmarks]:
        """All faces (up to ``max_faces``) in ``rgb``, sorted by bbox x-centre, left to right."""
        if self._mesh is None:
            raise RuntimeError("FaceMesh is closed")
        rgb = _as_rgb(rgb)
        H, W = rgb.shape[:2]
        small = _downscaled(rgb, self.max_side) if self.static else rgb
        faces = self._process(small, W, H)
        if not faces and self.fallback:
            faces = self._detect_fullrange(rgb, small) or self._detect_shortrange(rgb, small)
        if self.fallback and len(faces) < self.max_faces and _all_small(faces, W, H):
            # nothing, or only small faces (a wide shot, a group): look for the small faces the
            # whole-image passes miss
            faces += [f for f in self._detect_tiled(rgb) if all(_iou(f, g) < 0.3 for g in faces)]
            faces = faces[: self.max_faces]
        return sorted(faces, key=_centre_x)

    __call__ = detect

    def _process(self, img: np.ndarray, W: int, H: int) -> list[FaceLandmarks]:
        """Run the mesh on ``img`` (possibly a resized copy) and scale points to a W x H image."""
        res = self._mesh.process(img)
        # normalised coordinates do not depend on the resize: scale by the full-size image
        return [FaceLandmarks(_to_points(lm, W, H), (W, H)) for lm in (res.multi_face_landmarks or [])]

    def detect_boxes(self, rgb: np.ndarray, small: np.ndarray | None = None, model: int = 1
                     ) -> list[tuple[float, float, float, float, float]]:
        """Face-detector boxes ``(x0, y0, x1, y1, score)`` in px of ``rgb``, best first; ``model``
        1: full range (small, distant faces), 0: short range (faces filling much of the image).

        ``small``: an already downscaled copy of ``rgb`` to run the detector on (optional).
        """
        rgb = _as_rgb(rgb)
        H, W = rgb.shape[:2]
        if small is None:
            small = _downscaled(rgb, self.max_side)
        if model not in self._detectors:
            self._detectors[model] = _Graph(_mp().solutions.face_detection.FaceDetection,
                model_selection=model, min_detection_confidence=self._conf)
        res = self._detectors[model].process(small)
        boxes = []
        for d in res.detections or []:
            b = d.location_data.relative_bounding_box
            boxes.append((b.xmin * W, b.ymin * H, (b.xmin + b.width) * W, (b.ymin + b.height) * H,
                          float(d.score[0]) if d.score else 1.0))
        return sorted(boxes, key=lambda b: -b[4])

    def detector_scores(self, rgb: np.ndarray, faces: list[FaceLandmarks] | None = None) -> tuple[float, float]:
        """Best face-detector scores ``(short_range, full_range)`` of the whole image (0: none).

        mediapipe's face mesh fits a human face to anything its short-range detector accepts,
        which includes many animal heads; the two BlazeFace detectors together tell them apart
        (see :func:`looks_like_animal`). ``faces``: the faces found; when all of them are small in
        the image (narrower than ``TILE_FACE_FRAC`` of its short side: too small for the detectors to
        see in the whole image) the detectors look at a crop around the largest instead."""
        rgb = _as_rgb(rgb)
        if faces and _all_small(faces, rgb.shape[1], rgb.shape[0]):
            return self._scores(_crop_around(rgb, max(faces, key=_width).bbox(), _CROP_ENLARGE)[1])
        return self._scores(_downscaled(rgb, self.max_side))

    @staticmethod
    def _scores(small: np.ndarray) -> tuple[float, float]:
        """Best (short_range, full_range) detector scores of ``small`` as it is."""
        out = []
        # one quiet window from start-up to close: the graphs' worker threads log while they start,
        # and a line cut by the window's edge would glue its "INFO: " onto our next error line
        with _quiet_stderr():
            for sel in (0, 1):
                g = _mp().solutions.face_detection.FaceDetection(model_selection=sel, min_detection_confidence=0.1)
                try:
                    res = g.process(small)
                finally:
                    g.close()
                out.append(max((float(d.score[0]) for d in res.detections or [] if d.score), default=0.0))
        return out[0], out[1]

    def mesh_in_box(self, rgb: np.ndarray, box: tuple[float, ...], enlarge: float = _CROP_ENLARGE,
                    score: float = 1.0) -> FaceLandmarks | None:
        """Run the (static) mesh on a square crop of side ``enlarge * max(box w, h)`` around ``box``."""
        M, crop = _crop_around(rgb, box, enlarge)
        if self._crop_mesh is None:
            self._crop_mesh = _Graph(_mp().solutions.face_mesh.FaceMesh,
                static_image_mode=True, max_num_faces=1, refine_landmarks=True,
                min_detection_confidence=self._conf)
        res = self._crop_mesh.process(crop)
        if not res.multi_face_landmarks:
            return None
        pts = _to_points(res.multi_face_landmarks[0], _CROP_SIZE, _CROP_SIZE)
        H, W = rgb.shape[:2]
        return FaceLandmarks(_map_back(pts, M).astype(np.float32), (W, H), score)

    def _detect_shortrange(self, rgb: np.ndarray, small: np.ndarray) -> list[FaceLandmarks]:
        """The mesh on crops around the short-range detector's best box, at a few framings."""
        for box in self.detect_boxes(rgb, small, model=0)[:1]:
            for enlarge in _SHORT_ENLARGE:
                f = self.mesh_in_box(rgb, box, enlarge, score=box[4])
                if f is not None:
                    return [f]
        return []

    def _detect_fullrange(self, rgb: np.ndarray, small: np.ndarray) -> list[FaceLandmarks]:
        return self._mesh_in_boxes(rgb, self.detect_boxes(rgb, small))

    def _mesh_in_boxes(self, rgb: np.ndarray, boxes: list[tuple[float, ...]],
                       confirm: bool = False) -> list[FaceLandmarks]:
        """The mesh around each box (best first), overlapping faces dropped, up to ``max_faces``;
        ``confirm``: a face is kept only where the detectors, scoring a crop around it, see one."""
        faces: list[FaceLandmarks] = []
        for box in boxes:
            f = self.mesh_in_box(rgb, box, score=box[4])
            if f is None or any(_iou(f, g) >= 0.3 for g in faces):
                continue
            if confirm:
                # blurry textures pass for faces in tiles (box scores ~0.6, and the mesh fits them)
                # (36 face-less scenes: textures scored <= 0.53 short-range and 0 full-range, 0 kept, 3
                # before; real faces >= 0.77 full-range; a small Shrek 0.70 / 0 and animals pass, to be
                # told apart by looks_like_animal like any other face)
                short, full = self._scores(_crop_around(rgb, f.bbox(), _CROP_ENLARGE)[1])
                if short < TILE_CONFIRM_SHORT and full < ANIMAL_FULL_MAX:
                    continue
            faces.append(f)
            if len(faces) >= self.max_faces:
                break
        return faces

    def _detect_tiled(self, rgb: np.ndarray) -> list[FaceLandmarks]:
        """Small faces in a large photo: the full-range detector on overlapping tiles of each size in
        ``_TILE_FRACTIONS``, the boxes of all tiles merged (best score first, overlaps dropped), then the
        mesh around each, kept where both detectors confirm it (up to ``max_faces``)."""
        H, W = rgb.shape[:2]
        if min(W, H) < TILE_MIN_SIDE:
            return []
        boxes: list[tuple[float, ...]] = []
        for frac in _TILE_FRACTIONS:  # every level: a group's faces need not all show at one tile size
            side = int(min(W, H) * frac)
            origins = _tile_origins(W, H, side)
            if len(origins) > _TILE_MAX:
                continue
            for x, y in origins:
                tile = _downscaled(np.ascontiguousarray(rgb[y:y + side, x:x + side]), _TILE_INPUT)
                k = side / tile.shape[0]
                boxes += [(x + k * b[0], y + k * b[1], x + k * b[2], y + k * b[3], b[4])
                          for b in self.detect_boxes(tile, tile)]
        kept: list[tuple[float, ...]] = []
        for b in sorted(boxes, key=lambda b: -b[4]):
            if all(_box_iou(b, c) < 0.3 for c in kept):
                kept.append(b)
        return self._mesh_in_boxes(rgb, kept, confirm=True)


def _tile_origins(W: int, H: int, side: int) -> list[tuple[int, int]]:
    """Top-left corners of ``side`` px square tiles covering W x H with half-overlap."""
    def starts(n: int) -> list[int]:
        out = list(range(0, max(n - side, 0) + 1, max(side // 2, 1)))
        return out + [n - side] if out[-1] + side < n else out
    return [(x, y) for y in starts(H) for x in starts(W)]


class TrackingFaceMesh(_Closing):
    """Follows one face through consecutive video frames; ``track(rgb) -> FaceLandmarks | None``.

    Uses mediapipe's tracking mode on the full frame (~4 ms per frame). The face is chosen on the
    first frame with :func:`select_face` (``face_index`` counts among the ``max_faces`` faces the
    tracker reports, left to right), then the face nearest to the previous one.
    When the full-frame tracker finds nothing (faces too small for the short-range detector),
    the full-range detector locates the face and tracking continues on a moving crop around it.
    """

    def __init__(self, face_index: int | None = None, max_faces: int | None = None,
                 min_detection_confidence: float = 0.5, max_side: int | None = 1920):
        if max_faces is None:
            max_faces = 1 if face_index is None else face_index + 1
        self.face_index = face_index
        self._full = FaceMesh(static=False, max_faces=max_faces,
                              min_detection_confidence=min_detection_confidence, max_side=None, fallback=False)
        self._static = None  # static FaceMesh for the full-range fallback (lazy)
        self._crop = None  # tracking-mode mesh running on crops (lazy)
        self._conf = min_detection_confidence
        self.max_side = max_side
        self._prev: FaceLandmarks | None = None
        self._crop_mode = False

    def close(self) -> None:
        for g in (self._full, self._static):
            if g is not None:
                g.close()
        if self._crop is not None:
            self._crop.close()
        self._full = self._static = self._crop = None


    def reset(self) -> None:
        """Forget the tracked face (e.g. at a scene cut); the next frame chooses again."""
        self._prev = None
        self._crop_mode = False

    def _choose(self, faces: list[FaceLandmarks]) -> FaceLandmarks | None:
        if not faces:
            return None
        if self._prev is None:
            if self.face_index is not None and self.face_index >= len(faces):
                return None
            return select_face(faces, self.face_index)
        px = np.array(self._prev.bbox())
        return min(faces, key=lambda f: float(np.abs(np.array(f.bbox()) - px).sum()))

    def _track_crop(self, rgb: np.ndarray) -> FaceLandmarks | None:
        """Tracking-mode mesh on a crop centred on the previous face (size-normalised)."""
        M, crop = _crop_around(rgb, self._prev.bbox(), _TRACK_ENLARGE)
        if self._crop is None:
            self._crop = _Graph(_mp().solutions.face_mesh.FaceMesh,
                static_image_mode=False, max_num_faces=1, refine_landmarks=True,
                min_detection_confidence=self._conf, min_tracking_confidence=0.5)
        res = self._crop.process(crop)
        if not res.multi_face_landmarks:
            return None
        pts = _to_points(res.multi_face_landmarks[0], _CROP_SIZE, _CROP_SIZE)
        H, W = rgb.shape[:2]
        return FaceLandmarks(_map_back(pts, M).astype(np.float32), (W, H))

    def track(self, rgb: np.ndarray) -> FaceLandmarks | None:
        """Landmarks of the tracked face in this frame, or None when it is not found."""
        if self._full is None:
            raise RuntimeError("TrackingFaceMesh is closed")
        rgb = _as_rgb(rgb)
        H, W = rgb.shape[:2]
        face = None
        if self._crop_mode and self._prev is not None:
            face = self._track_crop(rgb)
            if face is None:
                self._crop_mode = False
        if face is None and not self._crop_mode:
            faces = self._full._process(_downscaled(rgb, self.max_side), W, H)
            face = self._choose(faces)
            if face is None:  # small face? full-range detector + crop tracking
                if self._static is None:
                    self._static = FaceMesh(static=True, max_faces=1, min_detection_confidence=self._conf,
                                            max_side=MAX_SIDE)
                boxes = self._static.detect_boxes(rgb)
                cands = [f for f in (self._static.mesh_in_box(rgb, b, score=b[4]) for b in boxes) if f is not None]
                face = self._choose(cands)
                if face is not None:
                    self._crop_mode = True
                    if self._crop is not None:  # new track: drop the crop tracker's state
                        self._crop.close()
                        self._crop = None
        if face is not None:
            face = FaceLandmarks(face.points, (W, H), face.score)
        self._prev = face if face is not None else self._prev
        return face

    __call__ = track
