"""Mouth interior for the warp renderer: the hidden region a closed-mouth source cannot provide.

With a driver frame (``MouthSource``) its inner mouth (teeth, tongue, cavity) is warped piecewise-
affinely from the driver's lip rings onto the target's, colour-matched to the source lips and blended
with a feathered inner-lip mask (Averbuch-Elor et al. 2017, Sec. 4.3 "hidden regions"). Without one a
plausible interior is drawn in the source's colours: a dark cavity with a depth gradient, an upper
teeth band whose height follows the opening and faint lower teeth.
"""
from __future__ import annotations

import cv2
import numpy as np

from talkinghead.face import topology as topo
from talkinghead.render.base import MouthSource
from talkinghead.render.mesh_warp import piecewise_affine

_N = len(topo.INNER_LIPS)  # 20; INNER_LIPS[i] and OUTER_LIPS[i] correspond (centre top, corners at 5, 15)
_RING = np.array(topo.INNER_LIPS + topo.OUTER_LIPS)
# Lip band as quads between the two rings, interior as a fan around the inner-ring centroid (index 2N).
_TRIS = np.array([t for i in range(_N) for j in [(i + 1) % _N]
                  for t in ((i, j, _N + j), (i, _N + j, _N + i), (2 * _N, i, j))], np.int32)
_UPPER = list(range(0, 6)) + list(range(15, 20))
_LOWER = list(range(5, 16))


def opening(points: np.ndarray) -> float:
    """Inner-lip gap over mouth width, measured down the face (0 = closed, < 0 = lips crossed)."""
    down = points[topo.CHIN] - points[topo.FOREHEAD]
    down = down / max(float(np.linalg.norm(down)), 1e-6)
    gap = np.mean([(points[b] - points[a]) @ down for a, b in topo.INNER_LIP_PAIRS])
    return float(gap / max(np.linalg.norm(points[61] - points[291]), 1e-6))


def _lab(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.asarray(rgb, np.float32) / 255.0, cv2.COLOR_RGB2LAB)


def _rgb(lab: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.asarray(lab, np.float32), cv2.COLOR_LAB2RGB) * 255.0


def _lip_stats(image: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std (LAB) of the lip ring (between the outer and inner lip contours)."""
    x0, y0 = np.maximum(np.floor(points[topo.OUTER_LIPS].min(0)).astype(int) - 1, 0)
    x1, y1 = np.ceil(points[topo.OUTER_LIPS].max(0)).astype(int) + 2
    crop = image[y0:y1, x0:x1]
    mask = np.zeros(crop.shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(points[topo.OUTER_LIPS] - (x0, y0)).astype(np.int32)], 1)
    cv2.fillPoly(mask, [np.round(points[topo.INNER_LIPS] - (x0, y0)).astype(np.int32)], 0)
    px = _lab(crop)[mask > 0] if mask.any() else _lab(crop).reshape(-1, 3)
    if len(px) == 0:
        return np.array([50.0, 20.0, 10.0]), np.array([10.0, 5.0, 5.0])
    return px.mean(0), px.std(0) + 1e-3


def _ring_mean(image: np.ndarray, points: np.ndarray, part: list[int]) -> np.ndarray:
    """Mean LAB of one half of the lip ring (``part`` indexes the ring, e.g. ``_LOWER``)."""
    poly = np.concatenate([points[[topo.OUTER_LIPS[i] for i in part]], points[[topo.INNER_LIPS[i] for i in part[::-1]]]])
    mask = np.zeros(image.shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(poly).astype(np.int32)], 1)
    px = _lab(image)[mask > 0]
    return px.mean(0) if len(px) else np.array([50.0, 20.0, 10.0], np.float32)


def _face_lab(image: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(n, 3) LAB pixels inside the face oval (empty when the oval covers under 16 px)."""
    mask = np.zeros(image.shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(points[topo.FACE_OVAL, :2]).astype(np.int32)], 1)
    if mask.sum() < 16:
        return np.zeros((0, 3), np.float32)
    return _lab(image)[mask > 0]


def _face_percentile(px: np.ndarray, q: float) -> float:
    """Percentile ``q`` of the LAB lightness of the face pixels ``px`` (:func:`_face_lab`)."""
    return float(np.percentile(px[:, 0], q)) if len(px) else 100.0


def _colour(px: np.ndarray) -> tuple[float, np.ndarray]:
    """How colourful the face pixels ``px`` (:func:`_face_lab`) are (0 = monochrome .. 1), and their
    mean (a, b): the face's cast.

    Colourfulness is the spread of the face's chroma (hypot of the std of LAB a and b): under 0.5
    for black-and-white photos and a terracotta statue, 3-4 for marble and sepia, 5-35 for colour
    photos, paintings and cartoons (measured on the shared portraits)."""
    if not len(px):
        return 1.0, np.zeros(2, np.float32)
    spread = float(np.hypot(px[:, 1].std(), px[:, 2].std()))
    return float(_smoothstep(spread, 0.5, 3.0)), px[:, 1:].mean(0)


def _smoothstep(x: np.ndarray | float, lo: float, hi: float) -> np.ndarray:
    t = np.clip((np.asarray(x, np.float32) - lo) / max(hi - lo, 1e-6), 0, 1)
    return t * t * (3 - 2 * t)


def _axes(points: np.ndarray):
    """The mouth's frame: centre, along (e) and down (n) unit vectors, half-width between the inner
    corners, and the upper / lower inner-lip curves as (X, Y) samples sorted by X in that frame."""
    cl, cr = points[78, :2].astype(np.float64), points[308, :2].astype(np.float64)
    mid, hw = (cl + cr) / 2, max(np.linalg.norm(cr - cl) / 2, 1.0)
    e = (cr - cl) / (2 * hw)
    n = np.array([-e[1], e[0]])
    rel = points[topo.INNER_LIPS, :2] - mid
    ix, iy = rel @ e, rel @ n
    curves = []
    for part in (_UPPER, _LOWER):
        o = np.argsort(ix[part])
        curves.append((ix[part][o], iy[part][o]))
    return mid, e, n, hw, curves


WIDE_OPEN = 0.4  # source opening (gap / mouth width) above which the drawn interior is not used (a scream: 0.75)


class MouthFiller:
    """Fills the target inner-lip polygon of a rendered crop (call ``prepare`` with the source first)."""

    rim_strength = 0.5  # darkening at the inner-lip edge (0 = none)
    rim_width = 0.15  # its fall-off distance, as a fraction of the lip gap
    recolour = 0.8  # driver interior: weight of the source palette's lightness (0 = colour transfer only)
    recolour_hue = 0.8  # ... and of its hue
    teeth_lift = 20.0  # extra teeth lightness (LAB L) for sources with illegible lips: bright teeth read as an opening
    teeth_boost = 1.0  # upper teeth drawn over the driver interior for sources with illegible lips (0 = off)

    def prepare(self, image: np.ndarray, points: np.ndarray) -> None:
        """Source lip-ring statistics and the synthetic interior's colours (teeth, cavity, lip shadow)."""
        self.size = image.shape[0]
        self.gap = opening(points)
        self.image = image
        self.axes = _axes(points)
        self.lip_mean, self.lip_std = _lip_stats(image, points)
        face = _face_lab(image, points)  # LAB pixels of the face oval (colourfulness, tones)
        self.colour, self.cast = _colour(face)
        # Lip legibility: an opening reads as one (to a viewer, and to a face tracker) by the lips framing
        # it. Where the upper lip is hidden (a moustache: upper ring much darker than the lower) or the
        # lips barely differ from the skin (statues, faded paintings) a dark gap between them reads as a
        # crease or as more moustache; upper teeth under the upper lip make it read as an open mouth.
        upper, lower = _ring_mean(image, points, _UPPER), _ring_mean(image, points, _LOWER)
        skin = self._skin(image, points)
        hidden = float(_smoothstep(1 - upper[0] / max(lower[0], 1.0), 0.25, 0.4))
        # Lips stand out from skin mostly by hue (red), so chroma counts twice: a pale but red lower lip
        # (a 3-D cartoon's) is legible, one only darker than the skin (a statue's, a faded paint's) is not.
        faint = 1 - float(_smoothstep(np.linalg.norm((lower - skin) * (1.0, 2.0, 2.0)), 22, 32))
        self.teeth_need = max(hidden, faint)
        L, a, b = self.lip_mean
        skin_l = float(skin[0])
        # Teeth stay within the portrait's own range: at most a little above its brightest face tones
        # (95th percentile) unless that leaves them too close to the skin to read, and they take half
        # the skin's yellow-blue (the scene's cast: a varnished painting's teeth are not blue-white
        # next to its yellow skin, nor a blue-lit face's tan).
        top_l = max(_face_percentile(face, 95) + 4.0, skin_l + 14.0)
        teeth_l = min(np.clip(1.05 * skin_l + 8 + self.teeth_lift * self.teeth_need, 55, 92), top_l)
        teeth = np.array([teeth_l, 0.1 * a, 0.5 * float(skin[2]) + 2.0])
        if self.gap > 0.12:  # source shows its own teeth: take their colour (brightest interior pixels)
            x0, y0 = np.maximum(np.floor(points[topo.INNER_LIPS].min(0)).astype(int), 0)
            x1, y1 = np.ceil(points[topo.INNER_LIPS].max(0)).astype(int) + 1
            mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
            cv2.fillPoly(mask, [np.round(points[topo.INNER_LIPS] - (x0, y0)).astype(np.int32)], 1)
            px = _lab(image[y0:y1, x0:x1])[mask > 0]
            if len(px) > 8:
                top = px[px[:, 0] >= np.percentile(px[:, 0], 80)].mean(0)
                teeth = top if top[0] > L + 10 else teeth
        lab = np.array([teeth, [0.15 * L, 0.35 * a, 0.25 * b], [0.4 * L, 0.6 * a, 0.5 * b],
                        [0.65 * L, 0.9 * a + 4, 0.5 * b]], np.float32)
        self.teeth, self.cavity, self.lip_dark, self.tongue = _rgb(lab[None])[0]

    def _skin(self, image: np.ndarray, points: np.ndarray) -> np.ndarray:
        """Median LAB of small cheek patches."""
        r = max(1, image.shape[0] // 80)
        cheeks = [_lab(image[max(int(y) - r, 0):int(y) + r + 1, max(int(x) - r, 0):int(x) + r + 1]).reshape(-1, 3)
                  for x, y in points[[50, 280, 101, 330]]]
        return np.median(np.concatenate(cheeks), 0)

    def fill(self, out: np.ndarray, target: np.ndarray, mouth: MouthSource | None = None) -> None:
        """Composite a mouth interior into ``out`` (S, S, 3) uint8 in place where the target mouth opens."""
        gap = opening(target)
        use_driver = mouth is not None and opening(np.asarray(mouth.points)) >= 0.5 * gap
        if not use_driver and self.gap > WIDE_OPEN:
            return  # its own interior (tongue, teeth), stretched by the warp, beats a drawn one
        lo = 0.015 if use_driver else 1.1 * self.gap + 0.01
        alpha = float(_smoothstep(gap, lo, lo + 0.04))
        if alpha <= 0:
            return
        S = out.shape[0]
        mw = np.linalg.norm(target[61] - target[291])
        x0, y0 = np.maximum(np.floor(target[_RING].min(0) - 2).astype(int), 0)
        x1, y1 = np.minimum(np.ceil(target[_RING].max(0) + 3).astype(int), S)
        if x1 - x0 < 2 or y1 - y0 < 2:
            return
        box = (int(x0), int(y0), int(x1), int(y1))
        if use_driver:
            patch = self._driver_patch(box, target, mouth)
        else:
            patch = self._synth_patch(box, target)
        mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
        poly = np.round((target[topo.INNER_LIPS] - (x0, y0)) * 16).astype(np.int32)
        cv2.fillPoly(mask, [poly], 255, cv2.LINE_AA, shift=4)
        patch = patch * self._rim_shade(mask, gap * mw)[..., None]
        if use_driver and self.teeth_boost * self.teeth_need > 0:
            patch = self._upper_teeth(patch, box, target, gap)
        own = float(_smoothstep(self.gap, 0.04, 0.1))
        if own > 0:
            patch = self._own_teeth(patch, box, target, own)
        if self.colour < 1:  # a monochrome face (a B&W photo, terracotta): no red tongue or driver hue in it
            lab = _lab(np.clip(patch, 0, 255))
            lab[..., 1:] = self.cast + self.colour * (lab[..., 1:] - self.cast)
            patch = _rgb(lab)
        mask = cv2.GaussianBlur(mask.astype(np.float32) / 255, (0, 0), max(0.5, mw / 90))
        m = (alpha * mask)[..., None]
        region = out[y0:y1, x0:x1].astype(np.float32)
        out[y0:y1, x0:x1] = np.clip(region + m * (patch - region) + 0.5, 0, 255).astype(np.uint8)

    def _rim_shade(self, mask: np.ndarray, gap_px: float) -> np.ndarray:
        """Multiplicative shade of the interior next to the inner-lip edge (the lips occlude light
        into the cavity): a dark rim makes the lips' inner edge read as the edge of an opening."""
        d = cv2.distanceTransform((mask > 127).astype(np.uint8), cv2.DIST_L2, 3)
        w = max(0.8, self.rim_width * gap_px)
        return (1 - self.rim_strength * np.exp(-d / w)).astype(np.float32)

    def _driver_patch(self, box: tuple[int, int, int, int], target: np.ndarray, mouth: MouthSource) -> np.ndarray:
        """Driver's mouth warped onto the target lip rings, LAB mean/std matched to the source lips."""
        x0, y0, x1, y1 = box
        dp = np.asarray(mouth.points, np.float32)[:, :2]
        tv = np.concatenate([target[_RING], target[topo.INNER_LIPS].mean(0, keepdims=True)]).astype(np.float32)
        dv = np.concatenate([dp[_RING], dp[topo.INNER_LIPS].mean(0, keepdims=True)])
        mapping, _ = piecewise_affine(tv, dv, _TRIS, (y1 - y0, x1 - x0), origin=(x0, y0))
        mapping = np.nan_to_num(mapping, nan=-10.0)
        patch = cv2.remap(mouth.image, mapping, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        # Lip-ring statistics transfer: lightness mean/std fully; chroma only half the mean shift, as
        # lips and teeth differ in hue (a full a/b shift tints teeth).
        d_mean, d_std = _lip_stats(mouth.image, dp)
        lab = _lab(patch)
        # Lightness by a gain (not a shift), so a dark cavity stays dark next to lighter lips. A gain
        # above 1 (source lips lighter than the driver's) brightens only what is brighter than the
        # driver's lips (teeth): brightening the cavity and tongue as well greys the opening into
        # something that reads as more lip.
        L = lab[..., 0].copy()
        gain = float(np.clip(self.lip_mean[0] / max(d_mean[0], 1.0), 0.6, 1.6))
        if gain > 1:
            gain = 1 + (gain - 1) * _smoothstep(L, d_mean[0], d_mean[0] + 2 * d_std[0])
        lab[..., 0] = np.clip(L * gain, 0, 100)
        # chroma: half the lips' mean shift, less in the dark (a dark cavity keeps its own hue)
        lab[..., 1:] += 0.5 * _smoothstep(L, 0.3 * d_mean[0], d_mean[0])[..., None] * (self.lip_mean[1:] - d_mean[1:])
        if self.recolour <= 0:
            return _rgb(lab)
        # Recolour by lightness into the source's mouth palette: the driver decides *where* teeth,
        # tongue and cavity are, the source's colours decide how they look. Teeth are what is clearly
        # brighter than the driver's lips, stretched to the source's tooth colour (a dim, blurry
        # driver's teeth still read as teeth); the rest runs from the cavity's near-black to a tongue red.
        inner = np.zeros(L.shape, np.uint8)
        cv2.fillPoly(inner, [np.round(target[topo.INNER_LIPS] - (x0, y0)).astype(np.int32)], 1)
        if inner.sum() < 4:
            return _rgb(lab)
        Li = L[inner > 0]
        lo, hi = float(np.percentile(Li, 5)), float(np.percentile(Li, 98))
        lip_l = float(d_mean[0])
        t_teeth = _smoothstep(L, lip_l + 2, lip_l + max(hi - lip_l, 12.0))[..., None]
        t_dark = np.clip((L - lo) / max(lip_l - lo, 8.0), 0, 1)[..., None]
        pal = self.cavity + t_dark * (self.tongue - self.cavity)
        pal = _lab(pal + t_teeth * (self.teeth - pal))
        # lightness mostly from the palette, hue mostly the (colour-corrected) driver's own
        lab[..., 0] += self.recolour * (pal[..., 0] - lab[..., 0])
        lab[..., 1:] += self.recolour_hue * (pal[..., 1:] - lab[..., 1:])
        return _rgb(lab)

    def _frame(self, box: tuple[int, int, int, int], target: np.ndarray):
        """Mouth-aligned coordinates over ``box``: along (X) and down (Y) the mouth from its centre,
        the upper/lower inner-lip curves yu(X), yl(X), and the half-width hw."""
        x0, y0, x1, y1 = box
        mid, e, n, hw, curves = _axes(target)
        yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        X = (xx - mid[0]) * e[0] + (yy - mid[1]) * e[1]
        Y = (xx - mid[0]) * n[0] + (yy - mid[1]) * n[1]
        yu, yl = (np.interp(X, cx, cy).astype(np.float32) for cx, cy in curves)
        return X, Y, yu, yl, hw

    def _upper_teeth(self, patch: np.ndarray, box: tuple[int, int, int, int], target: np.ndarray,
                     gap: float) -> np.ndarray:
        """Upper teeth (source colours, faint seams) under the upper inner lip of a driver interior,
        fading in over small openings."""
        X, Y, yu, yl, hw = self._frame(box, target)
        g = np.maximum(yl - yu, 0.5)
        du = Y - yu
        xn = np.clip(np.abs(X) / hw, 0, 1)
        arch = np.sqrt(np.clip(1 - (X / (0.8 * hw)) ** 2, 0, 1))
        th = np.minimum(0.4 * g, 0.25 * hw) * arch
        a = (self.teeth_boost * self.teeth_need * _smoothstep(gap, 0.02, 0.07)) * np.clip(th - du + 0.5, 0, 1) * (arch > 0)
        tooth_w = 0.22 * hw
        seams = 1 - 0.15 * np.exp(-((np.abs(X) + 0.5 * tooth_w) % tooth_w - 0.5 * tooth_w) ** 2 / (0.03 * hw) ** 2)
        edge = 0.8 + 0.2 * np.clip(du / np.maximum(th, 1), 0, 1) * np.clip((th - du) / np.maximum(0.3 * th, 0.5), 0, 1)
        shade = ((1 - 0.4 * xn ** 2) * seams * edge)[..., None]
        col = patch.astype(np.float32)
        return col + a[..., None] * (0.92 * self.teeth * shade - col)

    def _own_teeth(self, patch: np.ndarray, box: tuple[int, int, int, int], target: np.ndarray,
                   weight: float) -> np.ndarray:
        """An open source's own teeth (a smile's), its interior split at the middle of its opening: the upper
        half rides on the upper inner lip, the lower half on the lower one, at the source's scale, so
        the teeth stay whole and attached to their jaw and the opening between them (``patch``: the
        driver's or the drawn cavity) grows. Where the halves would overlap (the target opening is
        smaller) each lip keeps the part nearer to it."""
        X, Y, yu, yl, hw = self._frame(box, target)
        mid, e, n, hw_s, (cu, cl) = self.axes
        k = hw_s / hw
        Xs = X * k
        yu_s, yl_s = np.interp(Xs, *cu), np.interp(Xs, *cl)
        half = np.maximum(yl_s - yu_s, 0) / 2
        du, dl = (Y - yu) * k, (yl - Y) * k
        upper = du <= dl
        ys = np.where(upper, yu_s + du, yl_s - dl)
        # opaque within the source half, fading over one source pixel past it and at the corners
        a = np.clip(half - np.where(upper, du, dl) + 0.5, 0, 1) * np.clip((hw_s - np.abs(Xs)) / 2, 0, 1)
        mx = (mid[0] + Xs * e[0] + ys * n[0]).astype(np.float32)
        my = (mid[1] + Xs * e[1] + ys * n[1]).astype(np.float32)
        own = cv2.remap(self.image, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE).astype(np.float32)
        # only its teeth (clearly lighter than its lips): a dark open source mouth lets the driver's show
        a = a * _smoothstep(_lab(own)[..., 0], self.lip_mean[0] + 5, self.lip_mean[0] + 15)
        col = patch.astype(np.float32)
        return col + (weight * a)[..., None] * (own - col)

    def _synth_patch(self, box: tuple[int, int, int, int], target: np.ndarray) -> np.ndarray:
        """A drawn interior in the target's mouth frame: cavity gradient, upper and lower teeth."""
        X, Y, yu, yl, hw = self._frame(box, target)
        gap = np.maximum(yl - yu, 0.5)
        du, dl = Y - yu, yl - Y
        xn = np.clip(np.abs(X) / hw, 0, 1)
        # Cavity: darkest at the back (middle of the gap), lighter next to the lips and at the corners.
        depth = (np.clip(1 - np.abs(2 * du / gap - 1), 0, 1) ** 0.7) * (1 - xn ** 2)
        col = self.lip_dark + depth[..., None] * (self.cavity - self.lip_dark)
        # Upper teeth: a band under the upper lip, as high as the opening allows, receding at the sides.
        arch = np.sqrt(np.clip(1 - (X / (0.85 * hw)) ** 2, 0, 1))
        th = np.minimum(0.45 * gap, 0.3 * hw) * arch
        a_up = np.clip(th - du + 0.5, 0, 1) * (arch > 0)
        tooth_w = 0.22 * hw  # faint gaps between incisors
        seams = 1 - 0.12 * np.exp(-((np.abs(X) + 0.5 * tooth_w) % tooth_w - 0.5 * tooth_w) ** 2 / (0.02 * hw) ** 2 / 4)
        shade = ((1 - 0.4 * xn ** 2) * seams * (0.85 + 0.15 * np.clip(du / np.maximum(th, 1), 0, 1)))[..., None]
        col += a_up[..., None] * (self.teeth * shade - col)
        # Lower teeth: a thin, darker band above the lower lip once the mouth is well open.
        tl = np.minimum(0.15 * gap, 0.08 * hw) * np.sqrt(np.clip(1 - (X / (0.65 * hw)) ** 2, 0, 1))
        a_lo = 0.6 * np.clip(tl - dl + 0.5, 0, 1) * _smoothstep(gap / hw, 0.25, 0.5)
        col += a_lo[..., None] * (0.75 * self.teeth * shade - col)
        return col
