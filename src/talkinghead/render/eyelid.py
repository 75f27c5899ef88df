"""A closed upper lid, drawn where a 2-D warp can only stretch.

An open eye shows only a thin strip of upper-lid skin between the lash line and the crease. Closing
the eye by warping stretches that strip (lashes, eyeliner, the crease shadow) over the whole eyeball,
which reads as a smear of vertical streaks. Real closed lids are smooth skin ending in a lash line;
so, as the target eye shuts, the band the open eye occupied (from where the source's upper lash line
would be down to the meeting lids) is repainted: the source's own skin between the lashes and the
brow, stretched over the band and slightly darker towards the lash line, then the lash line itself
in the source's lash colour. The band is blended in by the closing amount, so open and half-open eyes keep
the warp's pixels.
"""
from __future__ import annotations

import cv2
import numpy as np

__all__ = ["LidPainter"]


def _poly_mask(shape: tuple[int, int], poly: np.ndarray, origin: np.ndarray) -> np.ndarray:
    m = np.zeros(shape, np.uint8)
    cv2.fillPoly(m, [np.round((poly - origin) * 16).astype(np.int32)], 255, cv2.LINE_AA, shift=4)
    return m.astype(np.float32) / 255.0


def _pixels(image: np.ndarray, poly: np.ndarray) -> np.ndarray:
    H, W = image.shape[:2]
    x0, y0 = np.maximum(np.floor(poly.min(0)).astype(int), 0)
    x1, y1 = np.minimum(np.ceil(poly.max(0)).astype(int) + 1, (W, H))
    if x1 - x0 < 2 or y1 - y0 < 2:
        return np.zeros((0, 3), np.float32)
    m = _poly_mask((y1 - y0, x1 - x0), poly, np.array([x0, y0], np.float32)) > 0.5
    return image[y0:y1, x0:x1][m].astype(np.float32)


def _frame(points: np.ndarray, corners) -> tuple[np.ndarray, np.ndarray, float]:
    """Unit "along" (corner to corner), unit "up" (towards the brow, perpendicular) and eye width."""
    a, b = points[corners[0], :2].astype(np.float32), points[corners[1], :2].astype(np.float32)
    w = float(np.linalg.norm(b - a))
    along = (b - a) / max(w, 1e-6)
    up = np.array([along[1], -along[0]], np.float32)
    if up[1] > 0:  # image y grows downwards: "up" has negative y
        up = -up
    return along, up, w


def _axis_start(lid: np.ndarray, along: np.ndarray, w: float) -> np.ndarray:
    """The outer corner's end of the eye axis, at the lid's mean height (u = 0 of the lid texture)."""
    return lid.mean(0) - 0.5 * w * along


class LidPainter:
    """``prepare(image, points, eyes)`` once per source; ``paint(out, face, eye, k)`` per frame.

    ``eyes``: per eye (upper lid vertices, lower lid vertices, corner vertices), outer -> inner.
    """

    shade = 0.12  # skin darkening towards the lash line (the lid curves away from the light)
    lash_width = 0.045  # lash line thickness, fraction of the eye width
    lash_margin = 0.06  # the band reaches this far (x eye width) above the source's lash line
    skin_band = (0.16, 0.3)  # skin sampled this far above the source's lash line (x eye width)
    cheek_band = (0.3, 0.45)  # ... or this far below the lower lid, when that band is not skin:
    not_skin = 0.25  # darker than this x the cheek's lightness: a brow or a drawn lash line, not a lid (eye
    # sockets in shadow reach 0.34-0.5 of the cheek on the photos of ../shared, which the lid may keep)

    def prepare(self, image: np.ndarray, points: np.ndarray, eyes) -> None:
        self.eyes = eyes
        self.skin, self.lash, self.open, self.texture = [], [], [], []
        for up, lo, corners in eyes:
            along, dirn, w = _frame(points, corners)
            lid = points[up, :2].astype(np.float32)
            # the open eye's upper lid relative to the lower one: (along, up) in eye widths
            rel = (lid - points[lo, :2].astype(np.float32)) / max(w, 1e-6)
            self.open.append(np.stack([rel @ along, rel @ dirn], 1))
            skin = self._sample(image, lid, dirn, w, self.skin_band)  # bounds the lash colour; None: no lid
            texture = self._texture(image, lid, along, dirn, w, self.skin_band) if skin is not None else None
            # A cartoon's brow or thick drawn lash line can sit in that band: a lid of brow colour is a
            # smear. Then the lid is the skin under the eye instead (the cheek's, mirrored to read downwards).
            low = points[lo, :2].astype(np.float32)
            cheek = self._sample(image, low, -dirn, w, self.cheek_band)
            if skin is not None and cheek is not None and skin.mean() < self.not_skin * cheek.mean():
                skin, texture = cheek, self._texture(image, low, along, -dirn, w, self.cheek_band)[::-1]
            self.texture.append(texture)
            lash = None
            strip = _pixels(image, np.concatenate([lid - 0.02 * w * dirn, (lid + 0.12 * w * dirn)[::-1]]))
            if skin is not None and len(strip) >= 4:
                lum = strip.mean(1)
                lash = np.minimum(strip[lum <= np.percentile(lum, 15)].mean(0), 0.55 * skin)
            self.skin.append(skin)
            self.lash.append(lash)

    @staticmethod
    def _sample(image: np.ndarray, lid: np.ndarray, dirn: np.ndarray, w: float, band) -> np.ndarray | None:
        """Median colour of the band ``band`` (eye widths) from the lid curve along ``dirn``."""
        px = _pixels(image, np.concatenate([lid + band[0] * w * dirn, (lid + band[1] * w * dirn)[::-1]]))
        return np.median(px, 0) if len(px) >= 4 else None

    def _texture(self, image: np.ndarray, lid: np.ndarray, along: np.ndarray, dirn: np.ndarray,
                 w: float, band: tuple[float, float]) -> np.ndarray:
        """The skin ``band`` (eye widths) from the lid curve along ``dirn`` (under the brow: above the
        lash line), the eye's width and a little more, resampled to a (rows, cols) patch in the eye
        frame: rows from the band's far edge towards the lid."""
        n_u, n_v = max(8, int(round(1.2 * w))), max(4, int(round((band[1] - band[0]) * w)))
        u = np.linspace(-0.1, 1.1, n_u, dtype=np.float32)
        v = np.linspace(band[1], band[0], n_v, dtype=np.float32)
        base = _axis_start(lid, along, w)
        # follow the lid's curve: its height above the corner line at each u
        lu = ((lid - base) @ along) / w
        lh = ((lid - base) @ dirn) / w
        order = np.argsort(lu)
        curve = np.interp(u, lu[order], lh[order])
        pos = (base[None, None] + w * (u[None, :, None] * along + (curve[None, :, None] + v[:, None, None]) * dirn))
        patch = cv2.remap(image, pos[..., 0].astype(np.float32), pos[..., 1].astype(np.float32), cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE).astype(np.float32)
        return cv2.GaussianBlur(patch, (0, 0), 0.7)  # texture, not pores that would shimmer

    def paint(self, out: np.ndarray, face: np.ndarray, eye: int, k: float) -> None:
        """Blend the drawn lid into ``out`` for ``eye`` by ``k`` (0 open .. 1 shut); ``face`` holds the
        target landmark positions (after the lids were made to meet)."""
        skin, lash = self.skin[eye], self.lash[eye]
        if k <= 0 or skin is None:
            return
        up, lo, corners = self.eyes[eye]
        along, dirn, w = _frame(face, corners)
        lid = face[up, :2].astype(np.float32)
        # the band: from the meeting lids up to where the open eye's lash line was, plus the lashes
        rel = self.open[eye]
        top = face[lo, :2].astype(np.float32) + w * (rel[:, :1] * along + rel[:, 1:] * dirn) + self.lash_margin * w * dirn
        top = np.where(((top - lid) @ dirn)[:, None] > 0, top, lid + self.lash_margin * w * dirn)
        poly = np.concatenate([top, lid[::-1]])
        H, W = out.shape[:2]
        pad = max(2.0, 0.1 * w)
        x0, y0 = np.maximum(np.floor(poly.min(0) - pad).astype(int), 0)
        x1, y1 = np.minimum(np.ceil(poly.max(0) + pad).astype(int) + 1, (W, H))
        if x1 - x0 < 3 or y1 - y0 < 3:
            return
        o = np.array([x0, y0], np.float32)
        band = _poly_mask((y1 - y0, x1 - x0), poly, o)
        yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        # shading: 0 at the top of the band, 1 at the lash line, along "up"
        h_pix = (np.stack([xx, yy], -1) - lid.mean(0)) @ dirn
        h_top = float(((top - lid) @ dirn).mean())
        t = np.clip(1 - h_pix / max(h_top, 1e-3), 0, 1)[..., None]
        # the skin under the brow, stretched over the band (texture rows: top -> lash line)
        tex = self.texture[eye]
        u = ((np.stack([xx, yy], -1) - _axis_start(lid, along, w)) @ along) / w
        map_x = np.clip((u + 0.1) / 1.2, 0, 1) * (tex.shape[1] - 1)
        map_y = t[..., 0] * (tex.shape[0] - 1)
        col = cv2.remap(tex, map_x.astype(np.float32), map_y.astype(np.float32), cv2.INTER_LINEAR,
                        borderMode=cv2.BORDER_REPLICATE) * (1 - self.shade * t)
        if lash is not None:
            line = np.zeros(band.shape, np.uint8)
            thick = max(1, int(round(self.lash_width * w)))
            cv2.polylines(line, [np.round((lid - o) * 16).astype(np.int32)], False, 255, thick, cv2.LINE_AA, shift=4)
            a_line = cv2.GaussianBlur(line.astype(np.float32) / 255.0, (0, 0), 0.6)
            col = col + a_line[..., None] * (lash - col)
            band = np.maximum(band, a_line)
        soft = cv2.GaussianBlur(band, (0, 0), max(0.6, 0.05 * w))
        a = (k * np.minimum(soft, band))[..., None]  # feathered inward only: no halo outside the band
        region = out[y0:y1, x0:x1].astype(np.float32)
        out[y0:y1, x0:x1] = np.clip(region + a * (col - region) + 0.5, 0, 255).astype(np.uint8)
