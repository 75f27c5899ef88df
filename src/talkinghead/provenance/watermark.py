"""Invisible watermark: a keyed spread-spectrum pattern tiled over the luma of every frame.

Scheme ("tiled band-pass spread spectrum", chosen after measuring the candidates in
``benchmarks/bench_watermark.py``):

* A ``TILE`` x ``TILE`` pattern is the sum of 1 + 64 orthonormal pseudo-random patterns, all
  band-limited to low-mid spatial frequencies (``BAND`` cycles per tile, i.e. about 0.03-0.16
  cycles/px): one *sync* pattern, and one pattern per payload bit multiplied by +-1.
  The patterns come from a fixed seed (the key); the bits carry a :class:`WatermarkPayload`
  (tool id, version, a random per-output id) protected by a CRC-12.
* Embedding adds the pattern, repeated on a grid anchored at the top-left pixel, to the luma and,
  at 0.6 of that amplitude, to the blue-yellow chroma (Cb: the eye is least sensitive to it and
  images carry little detail there, so it adds much robustness for little visibility), scaled by
  a cheap texture mask (stronger in textured areas, weaker but never off in flat ones). Per frame
  this is a few array operations on cached data.
* Detection works on luma + Cb residuals (image minus a blur, divided by the local RMS). A crop shifts the grid, which after
  *folding* the image modulo the tile becomes a circular shift, found by FFT correlation with
  the sync pattern. A resize changes the grid's period; the period is found from the comb of
  spectral peaks that any periodic pattern leaves in the power spectrum (a translation-invariant
  template), then refined. Video frames are averaged (residuals) before the search, so clips
  are detected even when each re-encoded frame alone would be too weak.
* A file is "marked" when the sync correlation peak is far above the noise floor *and* the
  decoded payload passes its CRC (or, without a valid CRC, when the peak alone is beyond any
  value seen on unmarked images).
"""
from __future__ import annotations

import math
import secrets
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import cv2
import numpy as np

__all__ = [
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

TOOL_IDS = {"talkinghead": 1}
"""Tool name -> 4-bit id carried in the payload (0 = unknown tool)."""
_TOOL_NAMES = {v: k for k, v in TOOL_IDS.items()}

_N_BITS = 64  # tool 4 + version 16 + id 32 + CRC 12
_K = 7  # constraint length of the convolutional code (rate 1/3, generators 171 133 165 octal)
_GENS = (0o171, 0o133, 0o165)
_N_CODED = (_N_BITS + _K - 1) * len(_GENS)  # 210 coded bits, one pattern each
_CRC_BITS = 12
_N_DUMMY = 16  # unembedded patterns whose projections measure the noise
_CRC_POLY = 0x80F  # CRC-12 (x^12 + x^11 + x^3 + x^2 + x + 1)
_KEY = 0x7A1C_4E55  # seed of the patterns: changing it changes the watermark (old files undetectable)
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)
_CB = np.array([-0.168736, -0.331264, 0.5], np.float32)


# -- payload -------------------------------------------------------------------------------------


def _crc12(value: int, nbits: int) -> int:
    crc = 0
    for i in range(nbits - 1, -1, -1):
        bit = (value >> i) & 1
        top = (crc >> (_CRC_BITS - 1)) & 1
        crc = ((crc << 1) & ((1 << _CRC_BITS) - 1))
        if top ^ bit:
            crc ^= _CRC_POLY & ((1 << _CRC_BITS) - 1)
    return crc


def _parse_version(version: str) -> tuple[int, int, int]:
    parts = []
    for p in str(version).split(".")[:3]:
        digits = "".join(ch for ch in p if ch.isdigit()) or "0"
        parts.append(int(digits[:6]))
    while len(parts) < 3:
        parts.append(0)
    return min(parts[0], 15), min(parts[1], 63), min(parts[2], 63)


@dataclass(frozen=True)
class WatermarkPayload:
    """What the watermark carries: tool, version (major <= 15, minor/patch <= 63, saturating)
    and a random 32-bit id of the output (shown as 8 hex digits)."""

    tool: str
    version: str
    output_id: int

    def __post_init__(self) -> None:
        if not 0 <= int(self.output_id) < 2**32:
            raise ValueError(f"output_id must fit in 32 bits, got {self.output_id}")

    @property
    def id_hex(self) -> str:
        return f"{int(self.output_id):08x}"

    def as_dict(self) -> dict:
        return {"tool": self.tool, "version": self.version, "id": self.id_hex}

    def _value(self) -> int:
        tool = TOOL_IDS.get(self.tool, 0)
        ma, mi, pa = _parse_version(self.version)
        v = (tool << 48) | (ma << 44) | (mi << 38) | (pa << 32) | int(self.output_id)
        return (v << _CRC_BITS) | _crc12(v, _N_BITS - _CRC_BITS)

    def bits(self) -> np.ndarray:
        """The 64 payload bits (uint8, MSB first)."""
        v = self._value()
        return np.array([(v >> (_N_BITS - 1 - i)) & 1 for i in range(_N_BITS)], np.uint8)

    def to_bits(self) -> np.ndarray:
        """The 210 transmitted symbols as +-1 (float32): payload bits, convolutionally encoded
        (rate 1/3, K=7) and whitened by a fixed pseudo-random mask."""
        coded = _conv_encode(self.bits()) ^ _scramble()
        return (1.0 - 2.0 * coded).astype(np.float32)

    @classmethod
    def from_bits(cls, soft: np.ndarray) -> "WatermarkPayload | None":
        """Decode soft symbols (> 0 means 0) with a Viterbi decoder; None if the CRC fails."""
        s = np.asarray(soft, np.float64) * (1.0 - 2.0 * _scramble())
        bits = _viterbi(s)
        v = 0
        for b in bits:
            v = (v << 1) | int(b)
        data, crc = v >> _CRC_BITS, v & ((1 << _CRC_BITS) - 1)
        if _crc12(data, _N_BITS - _CRC_BITS) != crc:
            return None
        tool = _TOOL_NAMES.get((data >> 48) & 0xF, "unknown")
        version = f"{(data >> 44) & 0xF}.{(data >> 38) & 0x3F}.{(data >> 32) & 0x3F}"
        return cls(tool, version, data & 0xFFFFFFFF)


@lru_cache(maxsize=1)
def _scramble() -> np.ndarray:
    return np.random.default_rng(_KEY ^ 0x5C).integers(0, 2, _N_CODED).astype(np.uint8)


@lru_cache(maxsize=1)
def _trellis() -> tuple[np.ndarray, np.ndarray]:
    """outputs[state, input] -> (3,) code bits; next_state[state, input]. The state holds the
    last K-1 input bits (newest in the most significant position)."""
    n_states = 1 << (_K - 1)
    out = np.zeros((n_states, 2, len(_GENS)), np.uint8)
    nxt = np.zeros((n_states, 2), np.int64)
    for st in range(n_states):
        for b in (0, 1):
            reg = (b << (_K - 1)) | st  # K bits: input, then the state
            for j, g in enumerate(_GENS):
                out[st, b, j] = bin(reg & g).count("1") & 1
            nxt[st, b] = reg >> 1
    return out, nxt


def _conv_encode(bits: np.ndarray) -> np.ndarray:
    out, nxt = _trellis()
    st = 0
    coded = []
    for b in list(bits) + [0] * (_K - 1):  # zero tail: the decoder ends in state 0
        coded.extend(out[st, b])
        st = nxt[st, b]
    return np.array(coded, np.uint8)


def _viterbi(soft: np.ndarray) -> np.ndarray:
    """Soft-decision Viterbi decoding (correlation metric) of :func:`_conv_encode`'s output."""
    out, nxt = _trellis()
    n_states = out.shape[0]
    sym = 1.0 - 2.0 * out.astype(np.float64)  # (S, 2, 3) as +-1
    steps = len(soft) // len(_GENS)
    metric = np.full(n_states, -np.inf)
    metric[0] = 0.0
    src_state = np.repeat(np.arange(n_states), 2)
    src_bit = np.tile([0, 1], n_states)
    dst = nxt.reshape(-1)
    back = np.zeros((steps, n_states), np.int64)  # index into (src_state, bit) pairs
    for t in range(steps):
        r = soft[t * len(_GENS) : (t + 1) * len(_GENS)]
        cand = metric[src_state] + (sym.reshape(-1, len(_GENS)) @ r)
        new = np.full(n_states, -np.inf)
        order = np.argsort(cand, kind="stable")  # larger metrics written last win
        new[dst[order]] = cand[order]
        best_pair = np.zeros(n_states, np.int64)
        best_pair[dst[order]] = order
        metric, back[t] = new, best_pair
    st = 0
    bits = []
    for t in range(steps - 1, -1, -1):
        pair = back[t, st]
        bits.append(src_bit[pair])
        st = src_state[pair]
    return np.array(bits[::-1][:_N_BITS], np.uint8)


def new_payload(tool: str = "talkinghead", version: str | None = None) -> WatermarkPayload:
    """A payload for one output: ``tool``, ``version`` (default: this package's) and a random id."""
    if version is None:
        from talkinghead import __version__ as version
    return WatermarkPayload(tool, str(version), secrets.randbits(32))


# -- the scheme ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WatermarkScheme:
    """Parameters of the tiled spread-spectrum watermark (the defaults are the shipped scheme).

    ``tile``: period of the pattern (px); ``band``: radial frequency band in cycles per tile;
    ``strength``: RMS of the luma offset in levels (before the mask); ``sync_share``: fraction
    of the pattern power given to the sync pattern; ``mask``: texture masking (min, max, gain).
    """

    tile: int = 128
    band: tuple[float, float] = (4.0, 20.0)
    strength: float = 1.8
    sync_share: float = 0.2
    sync_bins: float = 0.25
    chroma: float = 0.6  # blue-yellow (Cb) amplitude relative to the luma one (0: luma only)
    mask: tuple[float, float, float] | None = (0.6, 1.4, 0.1)
    key: int = _KEY
    # detection thresholds on the sync peak (z-score of the correlation surface)
    z_with_crc: float = 6.5
    z_alone: float = 12.0
    max_frames: int = 48
    scale_range: tuple[float, float] = (0.3, 2.0)
    _cache: dict = field(default_factory=dict, compare=False, repr=False, hash=False)

    # patterns --------------------------------------------------------------------------------
    def band_mask(self) -> np.ndarray:
        key = "band"
        if key not in self._cache:
            f = np.fft.fftfreq(self.tile) * self.tile
            r = np.hypot(f[:, None], f[None, :])
            self._cache[key] = (r >= self.band[0]) & (r <= self.band[1])
        return self._cache[key]

    def _split(self) -> tuple[np.ndarray, np.ndarray]:
        """Disjoint halves of the band: sync bins and message bins (Hermitian-symmetric), so the
        sync correlation has no self-noise from the message at any shift."""
        if "split" not in self._cache:
            T = self.tile
            band = self.band_mask()
            rng = np.random.default_rng(self.key + 1)
            pick = rng.random((T, T)) < self.sync_bins
            idx = (-np.arange(T)) % T
            pick = np.where(np.arange(T)[:, None] * T + np.arange(T)[None, :]
                            <= idx[:, None] * T + idx[None, :], pick, pick[idx][:, idx])
            self._cache["split"] = (band & pick, band & ~pick)
        return self._cache["split"]

    def _codebook(self) -> dict:
        """The patterns, held as spectra. Message patterns are orthonormal vectors over the real
        degrees of freedom (re/im of one bin per conjugate pair) of the message bins, so they are
        exactly orthogonal as images too; the sync pattern has random coefficients on its own
        bins. ``C`` rows: 210 coded symbols then 16 unused patterns (noise reference)."""
        if "codebook" not in self._cache:
            T = self.tile
            sync_bins, msg_bins = self._split()
            flat = np.arange(T * T).reshape(T, T)
            conj = flat[(-np.arange(T)) % T][:, (-np.arange(T)) % T]
            half = msg_bins & (flat < conj)  # one bin of each conjugate pair
            h_idx, hc_idx = flat[half], conj[half]
            rng = np.random.default_rng(self.key)
            n = _N_CODED + _N_DUMMY
            q, _ = np.linalg.qr(rng.standard_normal((2 * h_idx.size, n)))
            C = q.T  # (n, 2m) orthonormal rows
            shalf = sync_bins & (flat < conj)
            sc = rng.standard_normal((2, int(shalf.sum())))
            S = np.zeros(T * T, complex)
            S[flat[shalf]] = sc[0] + 1j * sc[1]
            S[conj[shalf]] = sc[0] - 1j * sc[1]
            S *= T * T / np.sqrt(np.sum(np.abs(S) ** 2))  # unit RMS in space
            self._cache["codebook"] = {"h": h_idx, "hc": hc_idx, "C": C, "S": S.reshape(T, T)}
        return self._cache["codebook"]

    def tile_pattern(self, bits: np.ndarray) -> np.ndarray:
        """The (tile, tile) luma offset for the coded symbols ``bits`` (+-1), RMS = ``strength``."""
        T = self.tile
        cb = self._codebook()
        rho = self.sync_share
        m = cb["h"].size
        coef = np.asarray(bits, np.float64) @ cb["C"][:_N_CODED]  # (2m,)
        X = np.zeros(T * T, complex)
        X[cb["h"]] = coef[:m] + 1j * coef[m:]
        X[cb["hc"]] = coef[:m] - 1j * coef[m:]
        X *= T * T / math.sqrt(2.0 * _N_CODED)  # unit RMS in space
        X = math.sqrt(rho) * cb["S"].reshape(-1) + math.sqrt(1 - rho) * X
        w = np.real(np.fft.ifft2(X.reshape(T, T)))
        return (self.strength * w).astype(np.float32)

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
        """(n, 2) integer harmonics (k, l) of the tile inside the band, one per +-pair, no axes."""
        if "lattice" not in self._cache:
            lo, hi = self.band
            n = int(hi) + 1
            pts = [(k, l) for k in range(1, n) for l in range(-n, n)
                   if l != 0 and lo <= math.hypot(k, l) <= hi]
            self._cache["lattice"] = np.array(pts, np.float64)
        return self._cache["lattice"]


DEFAULT_SCHEME = WatermarkScheme()


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

    ``embed`` is cheap (a cached tiled pattern, a low-resolution texture mask and two saturating
    additions) and keeps the frame's shape and dtype. Frames smaller than 64 px per side raise
    ``ValueError``: outputs are never returned unmarked.
    """

    def __init__(self, payload: WatermarkPayload, scheme: WatermarkScheme = DEFAULT_SCHEME):
        self.payload = payload
        self.scheme = scheme
        self._tile = scheme.tile_pattern(payload.to_bits())
        self._tiled: dict[tuple[int, int], np.ndarray] = {}

    def _pattern(self, h: int, w: int) -> np.ndarray:
        key = (h, w)
        pat = self._tiled.get(key)
        if pat is None:
            T = self.scheme.tile
            reps = (-(-h // T), -(-w // T))
            pat = np.ascontiguousarray(np.tile(self._tile, reps)[:h, :w])
            if len(self._tiled) > 8:
                self._tiled.clear()
            self._tiled[key] = pat
        return pat

    def _mask(self, a: np.ndarray) -> np.ndarray | None:
        if self.scheme.mask is None:
            return None
        lo, hi, gain = self.scheme.mask
        h, w = a.shape[:2]
        gray = cv2.cvtColor(a, cv2.COLOR_RGB2GRAY)
        sw, sh = max(1, w // 8), max(1, h // 8)
        small = cv2.resize(gray, (sw, sh), interpolation=cv2.INTER_AREA).astype(np.float32)
        # texture = mean absolute deviation of 8x8-block means from their 3x3 neighbourhood
        act = cv2.blur(np.abs(small - cv2.blur(small, (3, 3))), (3, 3))
        m = np.clip(lo + gain * act, lo, hi)
        return cv2.resize(m, (w, h), interpolation=cv2.INTER_LINEAR)

    def embed(self, rgb: np.ndarray) -> np.ndarray:
        """Return a watermarked copy of the uint8 RGB frame ``rgb`` (H, W >= 64)."""
        a = _check_frame(rgb)
        h, w = a.shape[:2]
        d = self._pattern(h, w)
        m = self._mask(a)
        if m is not None:
            d = cv2.multiply(d, m)
        c = self.scheme.chroma
        if c <= 0:  # luma only: the same offset on R, G and B
            pos = cv2.convertScaleAbs(cv2.max(d, 0.0))
            neg = cv2.convertScaleAbs(cv2.min(d, 0.0))
            out = cv2.add(a, cv2.merge((pos, pos, pos)))
            return cv2.subtract(out, cv2.merge((neg, neg, neg)))
        # luma offset d plus a blue-yellow (Cb) offset c*d: dR = d, dG = d(1 - 0.344c), dB = d(1 + 1.772c)
        delta = cv2.merge((d, d * np.float32(1 - 0.344136 * c), d * np.float32(1 + 1.772 * c)))
        return cv2.add(a, delta, dtype=cv2.CV_8U)


# -- detection ---------------------------------------------------------------------------------------


@dataclass
class WatermarkResult:
    """``found``: marked; ``confidence``: 0..1 (1 - an estimate of the chance that an unmarked
    input scores as high); ``payload``: the decoded payload dict, or None when unreadable.
    ``score`` (z of the sync peak), ``scale`` (size relative to the marked original) and
    ``bits_margin`` (smallest |soft bit| / noise) are diagnostics."""

    found: bool
    confidence: float
    payload: dict | None
    score: float = 0.0
    scale: float | None = None
    bits_margin: float = 0.0

    def as_dict(self) -> dict:
        return {
            "found": self.found,
            "confidence": round(float(self.confidence), 6),
            "payload": self.payload,
            "score": round(float(self.score), 3),
            "scale": None if self.scale is None else round(float(self.scale), 4),
        }


def _luma(rgb: np.ndarray) -> np.ndarray:
    a = np.asarray(rgb)
    if a.ndim == 2:
        return a.astype(np.float32)
    if a.ndim != 3 or a.shape[2] not in (3, 4):
        raise ValueError(f"expected an RGB image (H, W, 3), got shape {a.shape}")
    return cv2.cvtColor(a[..., :3].astype(np.float32), cv2.COLOR_RGB2GRAY)


def _cb(rgb: np.ndarray) -> np.ndarray:
    """Blue-difference chroma (BT.601, without offset) as float32."""
    return np.asarray(rgb)[..., :3].astype(np.float32) @ _CB


def _residual(y: np.ndarray, sigma: float = 6.0) -> np.ndarray:
    """Band-pass residual of the luma, divided by its local RMS: flat areas (little noise from
    the content) count more than textured ones, hard edges are clipped."""
    r = y - cv2.GaussianBlur(y, (0, 0), sigma)
    local = cv2.GaussianBlur(r * r, (0, 0), 8.0)
    r = r / np.sqrt(local + 1.0)
    return np.clip(r, -3.0, 3.0)


def _accumulate(frames: Sequence[np.ndarray], max_frames: int) -> np.ndarray:
    if len(frames) > max_frames:
        idx = np.linspace(0, len(frames) - 1, max_frames).round().astype(int)
        frames = [frames[i] for i in idx]
    acc: np.ndarray | None = None
    for f in frames:
        r = _residual(_luma(f))
        if np.asarray(f).ndim == 3:
            r += _residual(_cb(f))
        if acc is None:
            acc = r
        elif r.shape != acc.shape:
            raise ValueError("frames of one clip must share a size")
        else:
            acc += r
    assert acc is not None
    return acc / len(frames)


def _comb_periods(r: np.ndarray, scheme: WatermarkScheme, n_best: int = 3) -> list[float]:
    """Candidate periods (px) of a tiled pattern, from the power spectrum's lattice of peaks."""
    H, W = r.shape
    if min(H, W) < 48:
        return []
    win = np.outer(np.hanning(H), np.hanning(W)).astype(np.float32)
    P = np.abs(np.fft.rfft2(r * win)).astype(np.float32) ** 2
    base = cv2.blur(P, (17, 17)) + 1e-9
    Q = np.minimum(P / base, 25.0)
    Q = cv2.dilate(Q, np.ones((3, 3), np.uint8))
    lat = scheme.lattice()
    T = scheme.tile
    lo, hi = scheme.scale_range
    # scales in 0.6 % steps (log-spaced); the period in the image is T * scale
    scales = np.exp(np.arange(math.log(lo), math.log(hi), 0.006))
    periods = T * scales
    u = lat[None, :, 0] * (W / periods[:, None])  # x frequency bin
    v = lat[None, :, 1] * (H / periods[:, None])  # y frequency bin (signed)
    ok = (u <= W / 2 - 1) & (np.abs(v) <= H / 2 - 1)
    ui = np.clip(np.rint(u).astype(np.int64), 0, Q.shape[1] - 1)
    vi = np.rint(v).astype(np.int64) % H
    vals = np.where(ok, Q[vi, ui], 0.0)
    cnt = ok.sum(1)
    score = np.where(cnt >= 24, vals.sum(1) / np.maximum(cnt, 1), 0.0)
    if not np.any(score > 0):
        return []
    good = score[score > 0]
    med = float(np.median(good))
    mad = float(np.median(np.abs(good - med))) + 1e-6
    z = (score - med) / (1.4826 * mad)
    out: list[float] = []
    for i in np.argsort(-z):
        if z[i] < 4.0 or len(out) >= n_best:
            break
        if all(abs(math.log(periods[i] / p)) > 0.03 for p in out):
            out.append(float(periods[i]))
    return out


@dataclass
class _Fold:
    z: float  # sync peak, z-score over the correlation surface
    shift: tuple[int, int]
    scale: float
    F: np.ndarray  # spectrum of the folded tile
    soft: np.ndarray | None = None  # coded symbols / noise std, once decoded


def _fold_at(r: np.ndarray, period: float, scheme: WatermarkScheme) -> _Fold:
    """Resample so the period is one tile, fold modulo the tile, correlate with the sync."""
    T = scheme.tile
    s = T / period
    H, W = r.shape
    if abs(s - 1.0) > 1e-4:
        size = (max(1, int(math.ceil(W * s))), max(1, int(math.ceil(H * s))))
        if s < 1:
            r = cv2.resize(r, size, interpolation=cv2.INTER_AREA)
        else:
            M = np.array([[s, 0, 0], [0, s, 0]], np.float64)
            r = cv2.warpAffine(r, M, size, flags=cv2.INTER_LINEAR)
    h, w = r.shape
    ph, pw = (-h) % T, (-w) % T
    if ph or pw:
        r = np.pad(r, ((0, ph), (0, pw)))
    fold = r.reshape(r.shape[0] // T, T, r.shape[1] // T, T).sum(axis=(0, 2))
    F = np.fft.fft2(fold)
    key = "sync_fft"
    if key not in scheme._cache:
        scheme._cache[key] = np.conj(scheme._codebook()["S"])
    c = np.real(np.fft.ifft2(F / (np.abs(F) + 1e-9) * scheme._cache[key]))  # phase-only
    iy, ix = np.unravel_index(int(np.argmax(c)), c.shape)
    z = (float(c[iy, ix]) - float(c.mean())) / (float(c.std()) + 1e-12)
    return _Fold(z, (int(iy), int(ix)), period / T, F)


def _decode_symbols(f: _Fold, scheme: WatermarkScheme) -> np.ndarray:
    """Soft coded symbols at the sync's alignment, in units of the noise (unused patterns).
    The tile is whitened by a local average of its power spectrum first."""
    env = cv2.blur(np.pad(np.abs(f.F) ** 2, 3, mode="wrap"), (7, 7))[3:-3, 3:-3]
    proj = scheme.project(f.F / np.sqrt(env + 1e-9), f.shift)
    noise = float(np.sqrt(np.mean(proj[_N_CODED:] ** 2))) + 1e-12
    return proj[:_N_CODED] / noise


def _analyse(r: np.ndarray, scheme: WatermarkScheme) -> _Fold:
    T = scheme.tile
    periods = [float(T), T / 2.0]
    for p in _comb_periods(r, scheme):
        for d in (-0.009, -0.0045, 0.0, 0.0045, 0.009):
            periods.append(p * (1 + d))
    best: _Fold | None = None
    seen: set[float] = set()
    for p in periods:
        key = round(p, 3)
        if key in seen:
            continue
        seen.add(key)
        f = _fold_at(r, p, scheme)
        if best is None or f.z > best.z:
            best = f
    assert best is not None
    best.soft = _decode_symbols(best, scheme)
    return best


def _norm_sf(z: float) -> float:
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def detect_watermark(
    frames: np.ndarray | Sequence[np.ndarray] | Iterable[np.ndarray],
    scheme: WatermarkScheme = DEFAULT_SCHEME,
) -> WatermarkResult:
    """Look for the watermark in one RGB image (H, W, 3) or in the frames of one clip.

    Frames are averaged (as residuals, up to ``scheme.max_frames`` evenly spaced ones) before the
    search, so weak per-frame marks add up. Works after crops, resizes (0.3x-2x) and lossy
    re-encoding; see the module docstring for how.
    """
    if isinstance(frames, np.ndarray) and frames.ndim in (2, 3) and (
        frames.ndim == 2 or frames.shape[-1] in (3, 4)
    ):
        frame_list = [frames]
    else:
        frame_list = list(frames)
    if not frame_list:
        raise ValueError("no frames to analyse")
    r = _accumulate(frame_list, scheme.max_frames)
    best = _analyse(r, scheme)
    payload = WatermarkPayload.from_bits(best.soft)
    # mean |symbol| / noise: about 1.2 on noise, grows with the mark's strength
    margin = float(np.mean(np.abs(best.soft)))
    # rough false-alarm estimate: max of (positions x candidate periods) Gaussian samples
    n_hyp = scheme.tile**2 * 20
    p_false = min(1.0, n_hyp * _norm_sf(best.z))
    if payload is not None:
        p_false *= 2.0**-_CRC_BITS
    found = (payload is not None and best.z >= scheme.z_with_crc) or best.z >= scheme.z_alone
    conf = 1.0 - p_false if found else min(1.0 - p_false, 0.5)
    return WatermarkResult(
        found=bool(found),
        confidence=float(max(0.0, conf)),
        payload=payload.as_dict() if (payload is not None and found) else None,
        score=float(best.z),
        scale=float(best.scale),
        bits_margin=margin,
    )
