"""Output frames at the photo's own resolution, with the face rendered at crop size.

The warp renderer works on a small face crop (``size``, 256 px) for speed, and a photo is usually
much larger: pasted back at the crop's scale, a 1700 px photo became a 228 px video. Here each output
pixel samples the photo at output scale through the *same* dense backward map the warp used, upsampled
(the map is piecewise affine, so upsampling it loses nothing): hair, skin and stubble keep the photo's
detail. Only what the renderer painted on top of the plain warp (the mouth interior, drawn lids, moved
irises, fold seams; found as the pixels where its crop differs from the plain warp) comes from the
crop, upsampled. LivePortrait pastes its upscaled face crop back into the photo; warping the photo
itself keeps the face as sharp as the background around it.
"""
from __future__ import annotations

import cv2
import numpy as np

from talkinghead.face.crop import FEATHER, CropTransform, feather_mask, unit_translation

PAINT_THRESHOLD = 2  # grey levels: a crop pixel further than this from the plain warp was painted


class DetailCanvas:
    """The photo at output scale and where the face crop lies in it.

    ``image``: (Hh, Wh, 3) uint8, the photo at output scale; ``canvas_shape``: the render-scale
    canvas the crop was cut from (by ``crop_tf``, an integer translation at scale 1); ``size``: the
    crop side."""

    def __init__(self, image: np.ndarray, canvas_shape: tuple[int, ...], crop_tf: CropTransform) -> None:
        tr = unit_translation(crop_tf)
        if tr is None:
            raise ValueError("DetailCanvas needs a crop that is an integer translation of its canvas")
        self.image = np.ascontiguousarray(image)
        Hh, Wh = image.shape[:2]
        Hc, Wc = canvas_shape[:2]
        S = self.size = crop_tf.size
        self._scale = np.array([Wh / Wc, Hh / Hc], np.float32)
        # output px X <-> canvas px x = (X + 0.5) / s - 0.5 (cv2.resize's pixel centres) <-> crop px u = x + t.
        # Crop-px arrays are upsampled with cv2.resize (separable, 4x faster than a remap) to the crop's
        # size at output scale, n = S s px, whose pixel j samples u = (j + 0.5) / s - 0.5, i.e. j = X + t s:
        # cut at the output box, they are sampled within a pixel of the exact position. The warp's map is
        # upsampled as its *displacement* (map - identity, smooth) and added to the exact identity, so
        # that error never shifts the photo.
        self._n = (max(1, round(S * self._scale[0])), max(1, round(S * self._scale[1])))
        r = [int(round(tr[k] * float(self._scale[k]))) for k in (0, 1)]
        x0, y0 = max(-r[0], 0), max(-r[1], 0)
        x1, y1 = min(self._n[0] - r[0], Wh), min(self._n[1] - r[1], Hh)
        if x1 <= x0 or y1 <= y0:
            raise ValueError("the face crop lies outside the photo")
        self.box = (x0, y0, x1, y1)
        self._cut = (slice(y0 + r[1], y1 + r[1]), slice(x0 + r[0], x1 + r[0]))
        gx, gy = np.meshgrid(np.arange(x0, x1, dtype=np.float32), np.arange(y0, y1, dtype=np.float32))
        self._identity = np.ascontiguousarray(np.stack([gx, gy], -1))
        self._grid = np.stack(np.meshgrid(np.arange(S, dtype=np.float32), np.arange(S, dtype=np.float32)), -1)
        # the crop's border feather, as paste_back blends a crop into its canvas
        self._feather = self._up(np.ascontiguousarray(feather_mask(S, FEATHER)))

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.image.shape

    def _up(self, a: np.ndarray, interp: int = cv2.INTER_LINEAR) -> np.ndarray:
        """A crop-px array at the output pixels of ``box`` (area-averaged where the output is smaller)."""
        if self._n[0] < self.size or self._n[1] < self.size:
            interp = cv2.INTER_AREA
        return np.ascontiguousarray(cv2.resize(a, self._n, interpolation=interp)[self._cut])

    def _window(self, rect: tuple[int, int, int, int], pad: int = 5) -> tuple[slice, slice]:
        """Slices of ``box`` (output px) covering the crop-px rectangle ``rect`` (x, y, w, h) + ``pad`` crop px."""
        x, y, w, h = rect
        (sx, sy), (x0, y0, x1, y1) = self._scale, self.box
        off = (self._cut[1].start, self._cut[0].start)  # box px = resized px - off
        a = [int(np.floor((c - pad) * s)) - o for c, s, o in ((x, sx, off[0]), (y, sy, off[1]))]
        b = [int(np.ceil((c + d + pad) * s)) - o for c, d, s, o in ((x, w, sx, off[0]), (y, h, sy, off[1]))]
        return slice(max(a[1], 0), max(min(b[1], y1 - y0), 0)), slice(max(a[0], 0), max(min(b[0], x1 - x0), 0))

    def compose(self, crop: np.ndarray, mapping: np.ndarray, plain: np.ndarray | None = None) -> np.ndarray:
        """The output frame: the photo warped at output scale by ``mapping`` ((S, S, 2) crop px ->
        source crop px), with the pixels where ``crop`` (the final render) differs from ``plain``
        (the warp alone; None: nothing was painted) taken from the crop, feathered into the photo at
        the crop's border."""
        shift = self._up((mapping - self._grid) * self._scale)  # displacement in output px
        face = cv2.remap(self.image, cv2.add(self._identity, shift), None, cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REPLICATE)
        if plain is None:
            return self._blend_in(face)
        diff = cv2.transform(cv2.absdiff(crop, plain), np.ones((1, 3), np.float32))  # summed over RGB
        painted = cv2.threshold(diff, PAINT_THRESHOLD, 1, cv2.THRESH_BINARY)[1]
        found = cv2.boundingRect(painted)  # (x, y, w, h) in crop px; w = 0 when nothing was painted
        sl = self._window(found) if found[2] > 0 else None  # its box (+ the blur's reach) in output px
        if sl is not None and sl[0].stop > sl[0].start and sl[1].stop > sl[1].start:  # painted inside the photo
            p = cv2.GaussianBlur(cv2.dilate(painted, np.ones((3, 3), np.uint8)).astype(np.float32), (0, 0), 1.0)
            pm, up, under = (np.ascontiguousarray(x[sl]) for x in (self._up(p), self._up(crop, cv2.INTER_CUBIC), face))
            face[sl] = cv2.blendLinear(up, under, pm, 1.0 - pm)
        return self._blend_in(face)

    def paste(self, crop: np.ndarray) -> np.ndarray:
        """The output frame for a renderer without a backward map (a neural one): its crop upsampled
        into the photo (as LivePortrait pastes back; the face is only as sharp as the crop)."""
        return self._blend_in(self._up(crop, cv2.INTER_CUBIC))

    def _blend_in(self, face: np.ndarray) -> np.ndarray:
        """The photo with ``face`` (the box at output scale) feathered in at the crop's border."""
        out = self.image.copy()
        x0, y0, x1, y1 = self.box
        region = out[y0:y1, x0:x1]
        region[...] = cv2.blendLinear(face, region, self._feather, 1.0 - self._feather)
        return out


class DetailRenderer:
    """A prepared :class:`~talkinghead.render.warp.WarpRenderer` drawing into a :class:`DetailCanvas`:
    ``render(target, mouth, scene)`` -> (output frame, crop). Picklable, for the render workers."""

    def __init__(self, warp, canvas: DetailCanvas) -> None:
        self.warp, self.canvas = warp, canvas

    def render(self, target, mouth=None, scene=None) -> tuple[np.ndarray, np.ndarray]:
        crop, mapping, plain = self.warp.render_mapped(target, mouth, scene)
        return self.canvas.compose(crop, mapping, plain), crop
