"""The watermark's scheme: its parameters, keyed patterns and codebook (see :mod:`watermark` for the design).

Shared by the embedder (:mod:`watermark`) and the detector (:mod:`wm_detect`); changing ``key`` or the
bands changes the mark, so files marked before can no longer be detected."""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from talkinghead.provenance.wm_payload import N_CODED

__all__ = ["DEFAULT_SCHEME", "WatermarkScheme", "freq_radius"]

_N_DUMMY = 16  # unembedded patterns whose projections measure the noise
_KEY = 0x7A1C_4E55  # seed of the patterns: changing it changes the watermark (old files undetectable)


# -- the scheme ------------------------------------------------------------------------------------


def freq_radius(T: int) -> np.ndarray:
    """(T, T) radial frequency of each FFT bin, in cycles per tile."""
    f = np.fft.fftfreq(T) * T
    return np.hypot(f[:, None], f[None, :])


def _ring(T: int, band: tuple[float, float]) -> np.ndarray:
    f = np.fft.fftfreq(T) * T
    r = freq_radius(T)
    off_axes = (np.abs(f)[:, None] > 1.5) & (np.abs(f)[None, :] > 1.5)  # host edges pile up on the axes
    return (r >= band[0]) & (r <= band[1]) & off_axes


@dataclass(frozen=True)
class WatermarkScheme:
    """Parameters of the watermark (the defaults are the shipped scheme).

    ``tile``: period (px); ``band_y`` / ``band_c``: radial bands (cycles per tile) of luma and
    Cb; ``strength`` / ``chroma``: RMS offset of luma / Cb in levels before the mask;
    ``sync_bins``: share of the bins given to the sync pattern (luma band, Cb band: presence rests
    mostly on the low Cb bins after 0.5x + CRF 28, the payload mostly on luma); ``mask``: texture mask
    (min, max, gain). ``z_with_crc`` / ``z_alone``: detection thresholds on the sync peak.
    """

    tile: int = 256
    band_y: tuple[float, float] = (12.0, 56.0)
    band_c: tuple[float, float] = (3.0, 14.0)
    strength: float = 1.2
    chroma: float = 2.2
    sync_bins: float | tuple[float, float] = (0.4, 0.6)  # (luma band, Cb band)
    mask: tuple[float, float, float] | None = (0.6, 1.45, 0.12)
    hp_sigma: float = 16.0  # detector: residual = x - blur(x, hp_sigma)
    key: int = _KEY
    z_with_crc: float = 6.0  # real media (261 stills/clips, 16 and 100 frames) peak at 6.24 (CRC fails)
    z_alone: float = 7.0  # margin 0.76 over the highest real-media score (6.24)
    max_frames: int = 150
    # matched filters tried (max taken): per channel, ((r0, r1, weight), ...) rings of the band in
    # cycles/tile; luma segments first, then Cb. Whitened bins have unit noise, so weighting a
    # ring by its expected SNR after a transform concentrates the filter on the bins that survive
    filters: tuple = (
        (((0, 99, 1.0),), ()),  # luma (JPEG stills, full-size re-encodes)
        ((), ((0, 99, 1.0),)),  # Cb
        (((0, 99, 1.0),), ((0, 99, 1.0),)),  # both
    )
    scale_range: tuple[float, float] = (0.3, 2.0)
    # frames whose short side is below small_side are marked with sync_bins = small_sync_bins
    # (None: no variant); the detector tries both
    small_side: int = 448
    small_sync_bins: tuple[float, float] | None = (0.4, 1.0)
    # Cb strength of the small-frame variant (None: same as ``chroma``). After 0.5x such frames
    # hold ~1 period and CRF 28 leaves the sync a thin margin (200-300 px outputs reached
    # z 6-9 vs the threshold 7); +18 % Cb costs ~0.9 dB PSNR on those frames only
    small_chroma: float | None = 2.6
    # ... and below ``tiny_side`` px the Cb strength grows further, x (tiny_side / short side) up to
    # ``tiny_max_boost``: after 0.5x such frames hold about half a tile. Found on clean renders (the
    # benchmark had marked the pipeline's already-marked frames): a 278 px cartoon (flat colours)
    # read z 5.4-5.7 after 0.5x + CRF 28 on 16 frames (7.0-7.2 on 50), z 7.6 with Cb x 1.3.
    tiny_side: int = 360
    tiny_max_boost: float = 1.35
    # Headroom (levels, per R, G, B) kept at both ends of the range so the mark is not clipped
    # away in black / white areas: a soft toe and shoulder (0 -> k, identity above 2k; same at
    # 255). Equal in the three channels: until session 15 B had 3 and R, G 1 (B carries 1.77x the
    # Cb mark), but unequal room is itself a cast, and with the clipped half of the Cb mark it
    # turned white backgrounds cream (Cb -1.4 levels on a 512 px white background, -0.5 now; black
    # ones blue, +1.6 -> +0.8) at the same sync z after every benchmark transform. None: plain
    # saturation.
    headroom: tuple[float, float, float] | None = (3.0, 3.0, 3.0)
    # Luminance adaptation of the mask: strength x (1 + gain) at black, ramping down to x1 at
    # ``dark_boost[1]`` levels of local mean luma (visibility thresholds rise steeply near black,
    # while codecs quantise flat dark areas hard: a black-background cartoon went from z 4.5 to 8+
    # after 0.5x + CRF 28). None: no adaptation. (gain, luma level)
    dark_boost: tuple[float, float] | None = (1.5, 48.0)
    # the same near white: x (1 + gain) at 255, ramping down to x1 ``bright_boost[1]`` levels below
    bright_boost: tuple[float, float] | None = (1.0, 48.0)
    # Colour adaptation of the Cb mark: x clip(spread / ref, floor, 1), where spread is the frame's
    # own colour spread (hypot of the std of its Cb and Cr, levels, at 1/8 resolution), in steps of
    # 0.05. Low-frequency blue-yellow blotches are plain to see on a black-and-white photo or a
    # marble statue (a 231 px B&W portrait showed yellow whites and lavender skin: Cb std 4.8
    # levels), while colour content hides them. The luma mark is unchanged. None: no adaptation.
    # (floor, ref)
    chroma_adapt: tuple[float, float] | None = (0.6, 8.0)
    # ... and locally: x clip(colourfulness / ref, floor, 1) per 8x8 block, where colourfulness is
    # the block neighbourhood's mean distance from grey (hypot of Cb and Cr, levels); the lower of
    # the two gains wins. Grey areas of colour frames (white or grey backgrounds, a grey wolf on
    # green leaves) showed lavender / yellow blotches, up to 18 levels of Cb on a 232 px wolf.
    # None: no local adaptation. (floor, ref)
    chroma_local: tuple[float, float] | None = (0.6, 12.0)
    _cache: dict = field(default_factory=dict, compare=False, repr=False, hash=False)

    def variant(self) -> WatermarkScheme | None:
        """The small-frame variant of this scheme (None when there is none)."""
        if self.small_sync_bins is None:
            return None
        if "variant" not in self._cache:
            chroma = self.chroma if self.small_chroma is None else self.small_chroma
            self._cache["variant"] = replace(self, sync_bins=self.small_sync_bins, small_sync_bins=None,
                                             chroma=chroma, small_chroma=None, _cache={})
        return self._cache["variant"]

    def for_size(self, h: int, w: int) -> WatermarkScheme:
        """The scheme a frame of ``h`` x ``w`` px is marked with."""
        v = self.variant()
        if v is None or min(h, w) >= self.small_side:
            return self
        boost = round(min(self.tiny_max_boost, max(1.0, self.tiny_side / min(h, w))) * 20) / 20
        if boost <= 1.0:
            return v
        key = ("tiny", boost)
        if key not in self._cache:  # same bins and patterns (shared caches), stronger Cb
            shared = {k: x for k, x in v._cache.items() if k in ("masks", "split", "codebook", "lattice")}
            self._cache[key] = replace(v, chroma=v.chroma * boost, _cache=shared)
        return self._cache[key]

    # patterns --------------------------------------------------------------------------------
    def masks(self) -> tuple[np.ndarray, np.ndarray]:
        """Bins of the luma band and of the Cb band."""
        if "masks" not in self._cache:
            self._cache["masks"] = (_ring(self.tile, self.band_y), _ring(self.tile, self.band_c))
        return self._cache["masks"]

    def _split(self) -> tuple[np.ndarray, np.ndarray]:
        """Disjoint sync and message bins (Hermitian-symmetric) inside the union of the bands,
        so the sync correlation has no self-noise from the message at any shift."""
        if "split" not in self._cache:
            T = self.tile
            my, mc = self.masks()
            band = my | mc
            rng = np.random.default_rng(self.key + 1)
            fy, fc = self.sync_bins if isinstance(self.sync_bins, tuple) else (self.sync_bins,) * 2
            pick = rng.random((T, T)) < np.where(mc, fc, fy)
            idx = (-np.arange(T)) % T
            pick = np.where(np.arange(T)[:, None] * T + np.arange(T)[None, :]
                            <= idx[:, None] * T + idx[None, :], pick, pick[idx][:, idx])
            self._cache["split"] = (band & pick, band & ~pick)
        return self._cache["split"]

    def _codebook(self) -> dict:
        """Patterns as spectra. Message patterns are orthonormal vectors over the real degrees of
        freedom (re/im of one bin per conjugate pair) of the message bins; the sync pattern has
        random coefficients on its own bins. ``C`` rows: 210 coded symbols then 16 unused
        patterns (noise reference)."""
        if "codebook" not in self._cache:
            T = self.tile
            sync_bins, msg_bins = self._split()
            flat = np.arange(T * T).reshape(T, T)
            conj = flat[(-np.arange(T)) % T][:, (-np.arange(T)) % T]
            half = msg_bins & (flat < conj)  # one bin of each conjugate pair
            h_idx, hc_idx = flat[half], conj[half]
            rng = np.random.default_rng(self.key)
            n = N_CODED + _N_DUMMY
            q, _ = np.linalg.qr(rng.standard_normal((2 * h_idx.size, n)))
            shalf = sync_bins & (flat < conj)
            sc = rng.standard_normal((2, int(shalf.sum())))
            S = np.zeros(T * T, complex)
            S[flat[shalf]] = sc[0] + 1j * sc[1]
            S[conj[shalf]] = sc[0] - 1j * sc[1]
            S *= T * T / np.sqrt(np.sum(np.abs(S) ** 2))  # unit RMS in space
            self._cache["codebook"] = {"h": h_idx, "hc": hc_idx, "C": q.T, "S": S.reshape(T, T)}
        return self._cache["codebook"]

    def tile_pattern(self, bits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The (tile, tile) luma and Cb offsets for the coded symbols ``bits`` (+-1), with RMS
        ``strength`` and ``chroma``. Sync and message get equal power per bin."""
        T = self.tile
        cb = self._codebook()
        m = cb["h"].size
        coef = np.asarray(bits, np.float64) @ cb["C"][:N_CODED]  # (2m,), unit norm per symbol
        X = np.zeros(T * T, complex)
        X[cb["h"]] = coef[:m] + 1j * coef[m:]
        X[cb["hc"]] = coef[:m] - 1j * coef[m:]
        X *= math.sqrt(2 * m / N_CODED)  # ~unit power per message bin, as the sync's
        S = cb["S"].reshape(-1)
        sync_bins = self._split()[0]
        S = S / np.sqrt(np.mean(np.abs(S[sync_bins.reshape(-1)]) ** 2))
        X = (X + S).reshape(T, T)
        out = []
        for band, rms in zip(self.masks(), (self.strength, self.chroma)):
            w = np.real(np.fft.ifft2(X * band))
            out.append((rms * w / (w.std() + 1e-12)).astype(np.float32))
        return out[0], out[1]

    def project(self, F: np.ndarray, shift: tuple[int, int]) -> np.ndarray:
        """Projections of the tile with spectrum ``F``, circularly shifted back by ``shift``, on
        every message pattern (210 + 16), up to a common scale."""
        T = self.tile
        cb = self._codebook()
        f = np.fft.fftfreq(T)
        ramp = np.exp(2j * np.pi * (f[:, None] * shift[0] + f[None, :] * shift[1]))
        v = (F * ramp).reshape(-1)[cb["h"]]
        return cb["C"] @ np.concatenate([v.real, v.imag])

    def lattice(self) -> np.ndarray:
        """(n, 2) integer harmonics (k, l) of the tile inside the luma band, one per +-pair, no axes."""
        if "lattice" not in self._cache:
            lo, hi = self.band_y
            n = int(hi) + 1
            pts = [(k, l) for k in range(1, n) for l in range(-n, n)
                   if l != 0 and lo <= math.hypot(k, l) <= hi]
            self._cache["lattice"] = np.array(pts, np.float64)
        return self._cache["lattice"]


DEFAULT_SCHEME = WatermarkScheme()
