"""Invisible watermark: a keyed, static spread-spectrum pattern tiled over luma and blue-yellow chroma.

Scheme ("two-band tiled spread spectrum", chosen by measuring per-frequency SNR after each
transform in ``benchmarks/bench_watermark.py``):

* One ``TILE`` x ``TILE`` (256 px) spectrum carries 1 *sync* pattern and 210 +-1 coded symbols
  (:mod:`wm_payload`) on disjoint pseudo-random bins, both keyed by a fixed seed: 40 % of the
  luma bins and 60 % of the Cb bins go to the sync (presence is decided on the sync alone).
  Small frames (short side < ``small_side``, 448 px) use a variant that gives *all* the Cb bins
  to the sync (payload on luma only): after 0.5x they hold barely one period, and the sync needs
  all the low Cb power (found after 0.5x + CRF 28 on 200-300 px outputs: ~60 % -> ~95 %). The
  detector tries both variants on the same residuals and keeps the better.
* Each channel gets the bins of its own band (axes excluded: host edges pile up there): luma the
  mid band ``band_y`` (12-56 cycles/tile, 0.05-0.22 cycles/px), Cb (blue-yellow chroma) the low
  band ``band_c`` (3-14 cycles/tile, 0.01-0.055 cycles/px), which gets most of the power.
  Why: after 0.5x downscale + H.264 CRF 28 the luma mid band loses ~90 % of its SNR, while
  low-frequency Cb keeps 5-10x more SNR per unit of embedding power than any luma band (chroma
  carries little content there, and low frequencies survive both the resize and 4:2:0). Luma
  mid frequencies stay best for stills (JPEG) and full-size re-encodes.
* The pattern is the same on every frame (static: no temporal flicker) and tiled from the
  top-left pixel; its strength follows a cheap texture mask (stronger in textured areas) with
  luminance adaptation (up to 2.5x near black and 2x near white, where visibility thresholds are
  highest and where codecs wipe a weak mark from flat areas). A soft toe / shoulder tone curve
  (0 -> 3 levels in R, G and B alike; same below 255) keeps headroom so the mark is not clipped
  away in black / white areas, and being neutral it adds no colour cast of its own. Small frames
  (< 448 px) get +18 % Cb, and frames under 360 px up to 35 % more again. Found after 0.5x +
  CRF 28 on a black-background 278 px cartoon: z 4.5 -> 8+; synthetic 256 px black / white
  backgrounds: z 4.3-5.1 -> 8.7-11.4. Embedding is a few array operations on cached tiles and one
  LUT.
* Colour adaptation: on frames with little colour of their own (black-and-white photos, marble) the
  Cb mark drops to 0.6, since blue-yellow blotches show plainly on grey. At 0.3 a 196 px B&W
  output was lost after 0.5x + CRF 28 (z 4.7); at 0.6 the lowest z over the 14 low-colour outputs
  of the benchmark was 9.6 there (threshold 7). The same holds locally (session 19): grey areas of
  a colour frame (a grey wolf on green leaves, a grey wall) get down to 0.6 per 8x8 block, from
  the block neighbourhood's distance from grey, except near black and near white (the ramps of the
  luminance adaptation), where no tint shows or codecs need the full mark. On the benchmark's 50
  outputs the Cb mark's RMS fell 3.40 -> 3.14 levels (PSNR 36.3 -> 36.9 dB; a 232 px wolf 5.0 -> 3.9)
  with the lowest z after 0.5x + CRF 28 unchanged (8.0 for both, same payloads' noise).
* Detection: per channel, residual = image minus a wide blur, divided by the local RMS (edges
  clipped), averaged over up to 150 frames (host content moves, the mark does not), resampled to the tile
  period, folded modulo the tile and Fourier transformed. Each channel's spectrum is whitened by
  its local spectral envelope and the two are summed on their bands, so every bin counts by its
  own SNR. A crop is a circular shift of the fold, found by correlating with the sync pattern;
  a resize changes the period, found from the comb of spectral peaks of the tiling (plus the
  fixed candidates 1x and 0.5x); frames that hold about one tile have no comb, so when those
  candidates fail the scale range is scanned (1.5 % steps on Cb, then 0.5 % around the three best
  peaks), and a mark found that way needs z >= 7 with a valid payload CRC, or z >= 9 alone. The
  payload is read by projecting on the message patterns.
* "Marked" = sync peak z beyond what unmarked media reach *and* payload CRC valid, or a
  much higher peak alone. Thresholds are calibrated on real, never-generated media.

Modules: this one embeds (``Watermarker``) and is the public entry; :mod:`wm_scheme` holds the
parameters and keyed patterns both sides share, :mod:`wm_detect` the detector, :mod:`wm_payload` the
payload's coding.
"""
from __future__ import annotations

import cv2
import numpy as np

from talkinghead.provenance.wm_detect import WatermarkResult, detect_watermark
from talkinghead.provenance.wm_payload import TOOL_IDS, WatermarkPayload, new_payload
from talkinghead.provenance.wm_scheme import DEFAULT_SCHEME, WatermarkScheme

__all__ = [
    "DEFAULT_SCHEME",
    "MIN_SIDE",
    "TOOL_IDS",
    "WatermarkPayload",
    "WatermarkResult",
    "WatermarkScheme",
    "Watermarker",
    "detect_watermark",
    "new_payload",
]

MIN_SIDE = 64
"""Smallest width/height (px) that can be watermarked; smaller images raise ``ValueError``."""


# -- embedding ---------------------------------------------------------------------------------------


def _check_frame(rgb: np.ndarray) -> np.ndarray:
    a = np.asarray(rgb)
    if a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"expected a uint8 RGB image (H, W, 3), got {a.dtype} {a.shape}")
    h, w = a.shape[:2]
    if h < MIN_SIDE or w < MIN_SIDE:
        raise ValueError(
            f"image too small to watermark ({w}x{h}; need at least {MIN_SIDE}x{MIN_SIDE} px)"
        )
    return a


class Watermarker:
    """Embeds one payload into frames: ``Watermarker(new_payload()).embed(rgb) -> rgb``.

    ``embed`` is cheap (a cached tiled RGB offset, a low-resolution texture mask, one multiply
    and one saturating addition) and keeps the frame's shape and dtype. Frames smaller than
    64 px per side raise ``ValueError``: outputs are never returned unmarked.
    """

    def __init__(self, payload: WatermarkPayload, scheme: WatermarkScheme = DEFAULT_SCHEME):
        self.payload = payload
        self.scheme = scheme
        self._tiles: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._tiled: dict[tuple[int, int, float], np.ndarray] = {}
        self._lut: np.ndarray | None = None

    def _tile(self, scheme: WatermarkScheme) -> tuple[np.ndarray, np.ndarray]:
        """The (tile, tile, 3) RGB offsets of the luma mark and of the Cb mark."""
        t = self._tiles.get(id(scheme))
        if t is None:
            wy, wc = scheme.tile_pattern(self.payload.to_bits())
            # luma wy: dR = dG = dB = wy; Cb wc (Y and Cr unchanged): dG = -0.344 wc, dB = 1.772 wc
            zero = np.zeros_like(wc)
            t = (np.dstack((wy, wy, wy)), np.dstack((zero, np.float32(-0.344136) * wc, np.float32(1.772) * wc)))
            self._tiles[id(scheme)] = t
        return t

    def _pattern(self, h: int, w: int, luma: float = 1.0, cb: float = 1.0) -> np.ndarray:
        """The tiled RGB offset for an ``h`` x ``w`` frame: the luma mark x ``luma`` plus the Cb
        mark x ``cb``."""
        key = (h, w, luma, cb)
        pat = self._tiled.get(key)
        if pat is None:
            T = self.scheme.tile
            reps = (-(-h // T), -(-w // T), 1)
            ty, tc = self._tile(self.scheme.for_size(h, w))
            pat = np.ascontiguousarray(np.tile(np.float32(luma) * ty + np.float32(cb) * tc, reps)[:h, :w])
            if len(self._tiled) > 8:
                self._tiled.clear()
            self._tiled[key] = pat
        return pat

    def _chroma_gains(self, a: np.ndarray) -> tuple[float, np.ndarray | None]:
        """Gains of the Cb mark for frame ``a``: global (``WatermarkScheme.chroma_adapt``) and, with
        ``chroma_local``, per 8x8 block (at 1/8 resolution, already capped by the global one)."""
        adapt, local = self.scheme.chroma_adapt, self.scheme.chroma_local
        if adapt is None and local is None:
            return 1.0, None
        h, w = a.shape[:2]
        small = cv2.resize(a, (max(1, w // 8), max(1, h // 8)), interpolation=cv2.INTER_AREA)
        ycc = cv2.cvtColor(small, cv2.COLOR_RGB2YCrCb)
        g = 1.0
        if adapt is not None:
            floor, ref = adapt
            _, std = cv2.meanStdDev(ycc)  # (Y, Cr, Cb) stds
            spread = float(np.hypot(std[1, 0], std[2, 0]))
            g = round(float(np.clip(spread / ref, floor, 1.0)) * 20) / 20
        if local is None:
            return g, None
        floor, ref = local
        y, cr, cb = cv2.split(ycc.astype(np.float32))
        colour = cv2.blur(cv2.magnitude(cr - np.float32(128.0), cb - np.float32(128.0)), (3, 3))
        gl = np.clip(colour * np.float32(1.0 / ref), floor, 1.0)
        # near black no tint shows, and near white codecs wipe a weak mark from flat areas: the full
        # mark there (the ramps of dark_boost / bright_boost)
        mean_y = cv2.blur(y, (3, 3))
        for boost, dist in ((self.scheme.dark_boost, mean_y), (self.scheme.bright_boost, 255.0 - mean_y)):
            if boost is not None:
                gl = gl + (1.0 - gl) * np.clip(1.0 - dist * np.float32(1.0 / boost[1]), 0.0, 1.0)
        return g, np.minimum(gl, np.float32(g))

    def _mask_small(self, a: np.ndarray) -> np.ndarray | None:
        """Texture mask with luminance adaptation, at 1/8 resolution (None: no mask)."""
        if self.scheme.mask is None:
            return None
        lo, hi, gain = self.scheme.mask
        h, w = a.shape[:2]
        gray = cv2.cvtColor(a, cv2.COLOR_RGB2GRAY)
        sw, sh = max(1, w // 8), max(1, h // 8)
        small = cv2.resize(gray, (sw, sh), interpolation=cv2.INTER_AREA).astype(np.float32)
        # texture = mean absolute deviation of 8x8-block means from their 3x3 neighbourhood
        mean = cv2.blur(small, (3, 3))
        act = cv2.blur(np.abs(small - mean), (3, 3))
        m = np.clip(lo + gain * act, lo, hi)
        # luminance adaptation: stronger near black and near white (distance of the local mean luma)
        for boost, dist in ((self.scheme.dark_boost, mean), (self.scheme.bright_boost, 255.0 - mean)):
            if boost is not None:
                g, level = boost
                m *= 1.0 + g * np.clip(1.0 - dist / np.float32(level), 0.0, 1.0)
        return m

    def _offset(self, a: np.ndarray) -> np.ndarray:
        """The (H, W, 3) float RGB offset that marks frame ``a``."""
        h, w = a.shape[:2]
        up = lambda x: cv2.resize(np.repeat(x[..., None], 3, 2), (w, h), interpolation=cv2.INTER_LINEAR)  # noqa: E731
        g, local = self._chroma_gains(a)
        m = self._mask_small(a)
        if local is None:
            d = self._pattern(h, w, cb=g)
        else:  # luma mark + the Cb mark x the local colour gains
            d = cv2.add(cv2.multiply(self._pattern(h, w, luma=0.0), up(local)), self._pattern(h, w, cb=0.0))
        return d if m is None else cv2.multiply(d, up(m))

    def _headroom(self) -> np.ndarray | None:
        """(1, 256, 3) float LUT: each RGB level through the toe / shoulder curve (cached)."""
        k = self.scheme.headroom
        if k is None:
            return None
        if self._lut is None:
            x = np.arange(256, dtype=np.float32)[:, None]
            kk = np.asarray(k, np.float32)[None, :]
            lut = x + np.maximum(0.0, kk - x / 2) - np.maximum(0.0, kk - (255.0 - x) / 2)
            self._lut = np.ascontiguousarray(lut[None].astype(np.float32))
        return self._lut

    def embed(self, rgb: np.ndarray) -> np.ndarray:
        """Return a watermarked copy of the uint8 RGB frame ``rgb`` (H, W >= 64)."""
        a = _check_frame(rgb)
        d = self._offset(a)
        lut = self._headroom()
        if lut is not None:  # lift near-black / lower near-white levels: room for the mark
            return cv2.add(cv2.LUT(a, lut), d, dtype=cv2.CV_8U)
        return cv2.add(a, d, dtype=cv2.CV_8U)
