"""Watermark detection: residuals averaged over frames, folded to the tile, whitened, sync-correlated
(crop = circular shift, resize = tile period) and the payload read by projection. The design and the
calibration of the thresholds are described in :mod:`watermark`."""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

import cv2
import numpy as np

from talkinghead.provenance.wm_payload import CRC_BITS, N_CODED, WatermarkPayload
from talkinghead.provenance.wm_scheme import DEFAULT_SCHEME, WatermarkScheme, freq_radius

__all__ = ["WatermarkResult", "detect_watermark"]

_CB = np.array([-0.168736, -0.331264, 0.5], np.float32)


@dataclass
class WatermarkResult:
    """``found``: marked; ``confidence``: 0..1 (1 - an estimate of the chance that an unmarked
    input scores as high); ``payload``: the decoded payload dict, or None when unreadable.
    ``score`` (z of the sync peak), ``scale`` (size relative to the marked original) and
    ``bits_margin`` (mean |soft symbol| / noise) are diagnostics."""

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


def _channels(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    a = np.asarray(rgb)
    if a.ndim == 2:
        return a.astype(np.float32), None
    if a.ndim != 3 or a.shape[2] not in (3, 4):
        raise ValueError(f"expected an RGB image (H, W, 3), got shape {a.shape}")
    x = a[..., :3].astype(np.float32)
    return cv2.cvtColor(x, cv2.COLOR_RGB2GRAY), x @ _CB


def _blur(x: np.ndarray, sigma: float) -> np.ndarray:
    """Wide Gaussian blur, computed at 1/4 resolution when sigma >= 8 px (the result is smooth)."""
    h, w = x.shape
    f = 4 if sigma >= 8 and min(h, w) >= 64 else 1
    if f == 1:
        return cv2.GaussianBlur(x, (0, 0), sigma)
    small = cv2.resize(x, (-(-w // f), -(-h // f)), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), sigma / f, borderType=cv2.BORDER_REFLECT)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def _residual(y: np.ndarray, sigma: float) -> np.ndarray:
    """Residual of a channel (minus a wide blur: keeps the low band), divided by its local RMS:
    flat areas (little noise from the content) count more than textured ones, edges are clipped."""
    r = y - _blur(y, sigma)
    local = _blur(r * r, sigma)
    r = r / np.sqrt(local + 1.0)
    return np.clip(r, -3.0, 3.0)


def _accumulate(frames: Sequence[np.ndarray], scheme: WatermarkScheme) -> list[np.ndarray]:
    """Per-channel residuals averaged over (up to ``max_frames`` evenly spaced) frames."""
    if len(frames) > scheme.max_frames:
        idx = np.linspace(0, len(frames) - 1, scheme.max_frames).round().astype(int)
        frames = [frames[i] for i in idx]
    acc: list[np.ndarray] | None = None
    for f in frames:
        y, c = _channels(f)
        rs = [_residual(y, scheme.hp_sigma)] + ([] if c is None else [_residual(c, scheme.hp_sigma)])
        if acc is None:
            acc = rs
        elif len(rs) != len(acc) or rs[0].shape != acc[0].shape:
            raise ValueError("frames of one clip must share a size")
        else:
            for a, r in zip(acc, rs):
                a += r
    assert acc is not None
    return [a / len(frames) for a in acc]


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
    ok = (u <= W / 2 - 1) & (np.abs(v) <= H / 2 - 1) & (periods[:, None] < 0.7 * min(H, W))
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
    F: np.ndarray  # whitened, band-combined spectrum of the folded tile
    soft: np.ndarray | None = None  # coded symbols / noise std, once decoded
    others: list = field(default_factory=list)  # the other filters' spectra (payload fallbacks)
    chans: list = field(default_factory=list)  # whitened spectra per channel


def _whiten(F: np.ndarray, band: np.ndarray) -> np.ndarray:
    """Divide by the local (7x7 bins) RMS of the spectrum, estimated from the band's bins only
    (the host's huge DC region must not leak into the low band's noise estimate)."""
    P = np.abs(F) ** 2 * band
    k = 3
    num = cv2.blur(np.pad(P, k, mode="wrap"), (2 * k + 1, 2 * k + 1))[k:-k, k:-k]
    den = cv2.blur(np.pad(band.astype(np.float64), k, mode="wrap"), (2 * k + 1, 2 * k + 1))[k:-k, k:-k]
    env = num / np.maximum(den, 1e-6)
    env = np.maximum(env, 0.0)  # box-filter round-off can dip below 0
    ok = band & (env > 1e-12 * (float(env.max()) + 1e-30))  # empty bins (e.g. flat frames): no evidence
    return np.where(ok, F / np.sqrt(np.where(ok, env, 1.0)), 0.0)


def _noise_std(F: np.ndarray, shift: tuple[int, int], scheme: WatermarkScheme) -> float:
    """Std of the sync correlation surface *without* the sync's own sidelobes: the sync, shifted
    to the peak, is fitted per ring (one gain each: resize and codecs filter) and removed first.
    A low-band pattern's autocorrelation is wide, so the plain surface std would cap the score
    near sqrt(#sync bins) however strong the mark; on unmarked input this changes little."""
    T = scheme.tile
    if "rings" not in scheme._cache:
        rid = (freq_radius(T) / 3.0).astype(np.int64)
        scheme._cache["rings"] = rid
    rid = scheme._cache["rings"]
    S = scheme._codebook()["S"]
    f = np.fft.fftfreq(T)
    tmpl = S * np.exp(-2j * np.pi * (f[:, None] * shift[0] + f[None, :] * shift[1]))
    num = np.bincount(rid.ravel(), np.real(F * np.conj(tmpl)).ravel())
    den = np.bincount(rid.ravel(), (np.abs(tmpl) ** 2 * (F != 0)).ravel()) + 1e-12
    R = F - (num / den)[rid] * tmpl * (F != 0)
    c = np.real(np.fft.ifft2(R * _sync_conj(scheme)))
    return float(c.std()) + 1e-12


def _ringw(segs, scheme: WatermarkScheme) -> np.ndarray | float:
    if not segs:
        return 0.0
    key = ("ringw", segs)
    if key not in scheme._cache:
        T = scheme.tile
        r = freq_radius(T)
        w = np.zeros((T, T))
        for r0, r1, g in segs:
            w[(r >= r0) & (r < r1)] = g
        scheme._cache[key] = w
    return scheme._cache[key]


def _fold_spectra(rs: list[np.ndarray], period: float, scheme: WatermarkScheme) -> list[np.ndarray]:
    """Per channel: resample so the period is one tile, fold modulo the tile, whiten. Depends on
    the tile and the bands only, so both variants of a scheme share it."""
    T = scheme.tile
    s = T / period
    Fs = []
    for r, band in zip(rs, scheme.masks()):
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
        Fs.append(_whiten(np.fft.fft2(fold), band))
    return Fs


def _sync_conj(scheme: WatermarkScheme) -> np.ndarray:
    """The sync pattern's conjugate spectrum, unit mean power (the correlation template)."""
    if "sync_conj" not in scheme._cache:
        S = scheme._codebook()["S"]
        scheme._cache["sync_conj"] = np.conj(S) / np.sqrt(np.mean(np.abs(S) ** 2))
    return scheme._cache["sync_conj"]


def _spectra_at(rs: list[np.ndarray], period: float, scheme: WatermarkScheme, spectra: dict) -> list[np.ndarray]:
    """:func:`_fold_spectra` at ``period``, memoised in ``spectra`` (shared by both variants)."""
    if period not in spectra:
        spectra[period] = _fold_spectra(rs, period, scheme)
    return spectra[period]


def _fold_at(Fs: list[np.ndarray], period: float, scheme: WatermarkScheme) -> _Fold:
    """Correlate the folded, whitened spectra (:func:`_fold_spectra`) with the sync."""
    sync = _sync_conj(scheme)
    # Three matched filters: luma, Cb, both. Which channel keeps the mark depends on the
    # transform (0.5x + CRF 28: Cb only; JPEG still: mostly luma) and a channel without it only
    # adds noise; the max of 3 costs little in false alarms (thresholds are calibrated on it).
    best: _Fold | None = None
    if len(Fs) == 1:
        combos = [Fs[0]]
    else:
        combos = []
        for fy, fc in scheme.filters:
            combos.append(_ringw(fy, scheme) * Fs[0] + _ringw(fc, scheme) * Fs[1])
    for F in combos:
        c = np.real(np.fft.ifft2(F * sync))
        iy, ix = np.unravel_index(int(np.argmax(c)), c.shape)
        z = (float(c[iy, ix]) - float(c.mean())) / _noise_std(F, (int(iy), int(ix)), scheme)
        if best is None or z > best.z:
            best = _Fold(z, (int(iy), int(ix)), period / scheme.tile, F)
    assert best is not None
    best.others = [F for F in combos if F is not best.F]
    best.chans = Fs
    return best


def _decode_symbols(f: _Fold, scheme: WatermarkScheme) -> np.ndarray:
    """Soft coded symbols at the sync's alignment, in units of the noise (unused patterns)."""
    proj = scheme.project(f.F, f.shift)
    noise = float(np.sqrt(np.mean(proj[N_CODED:] ** 2))) + 1e-12
    return proj[:N_CODED] / noise


def _candidate_periods(rs: list[np.ndarray], scheme: WatermarkScheme) -> list[float]:
    """1x, 0.5x and the comb's periods (each refined +-0.9 %), without repeats."""
    T = scheme.tile
    periods = [float(T), T / 2.0]
    for p in _comb_periods(rs[0] if len(rs) == 1 else rs[0] + rs[1], scheme):
        for d in (-0.009, -0.0045, 0.0, 0.0045, 0.009):
            periods.append(p * (1 + d))
    out, seen = [], set()
    for p in periods:
        if round(p, 3) not in seen:
            seen.add(round(p, 3))
            out.append(p)
    return out


def _analyse(rs: list[np.ndarray], scheme: WatermarkScheme, periods: list[float], spectra: dict) -> _Fold:
    """The best sync fold over ``periods``; ``spectra`` memoises :func:`_fold_spectra` per period."""
    best: _Fold | None = None
    for p in periods:
        f = _fold_at(_spectra_at(rs, p, scheme, spectra), p, scheme)
        if best is None or f.z > best.z:
            best = f
    assert best is not None
    best.soft = _decode_symbols(best, scheme)
    return best


def _snr_combined(f: _Fold, scheme: WatermarkScheme) -> np.ndarray:
    """Channels combined by their measured mark amplitude (the sync's gain at the found
    alignment, per channel): whitened bins have unit noise, so this is the matched weighting."""
    if len(f.chans) == 1:
        return f.chans[0]
    T = scheme.tile
    fr = np.fft.fftfreq(T)
    tmpl = scheme._codebook()["S"] * np.exp(-2j * np.pi * (fr[:, None] * f.shift[0] + fr[None, :] * f.shift[1]))
    out = 0.0
    for F in f.chans:
        on = F != 0
        g = float(np.sum(np.real(F * np.conj(tmpl)))) / (float(np.sum(np.abs(tmpl[on]) ** 2)) + 1e-12)
        out = out + max(g, 0.0) * F
    return out if isinstance(out, np.ndarray) else f.F


def _norm_sf(z: float) -> float:
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def detect_watermark(
    frames: np.ndarray | Sequence[np.ndarray] | Iterable[np.ndarray],
    scheme: WatermarkScheme = DEFAULT_SCHEME,
) -> WatermarkResult:
    """Look for the watermark in one RGB image (H, W, 3) or in the frames of one clip.

    Frames are averaged (as residuals, up to ``scheme.max_frames`` evenly spaced ones) before the
    search, so weak per-frame marks add up. Works after crops, resizes (0.3x-2x) and lossy
    re-encoding; see the module docstring for how. Not after mirroring (the pattern is not
    symmetric: a flipped frame reads as unmarked).
    """
    if isinstance(frames, np.ndarray) and frames.ndim in (2, 3) and (
        frames.ndim == 2 or frames.shape[-1] in (3, 4)
    ):
        frame_list = [frames]
    else:
        frame_list = list(frames)
    if not frame_list:
        raise ValueError("no frames to analyse")
    rs = _accumulate(frame_list, scheme)
    if max(float(np.abs(r).max()) for r in rs) < 1e-3:  # flat input: nothing to analyse
        return WatermarkResult(found=False, confidence=0.0, payload=None, score=0.0)
    # the mark may come from either variant (the marked frame's size is unknown after a resize):
    # keep a found one with a payload, else a found one, else the higher score
    # the variants differ only in the sync/message split: periods and folded spectra are shared
    periods, spectra = _candidate_periods(rs, scheme), {}
    variants = [sch for sch in (scheme, scheme.variant()) if sch is not None]
    out: WatermarkResult | None = None
    for sch in variants:
        r = _detect_in(rs, sch, periods, spectra)
        if out is None or (r.found, r.payload is not None, r.score) > (out.found, out.payload is not None, out.score):
            out = r
    assert out is not None
    if out.found and out.payload is not None:
        return out
    # Frames holding only about one tile (outputs under ~450 px, then resized by any factor other
    # than 0.5) show no comb of tiling peaks: scan the scale instead. Many more hypotheses, so the
    # bar is higher: z_alone with a payload whose CRC checks, or z_alone + SCAN_MARGIN alone.
    scanned = _scan_periods(rs, variants, spectra)
    best: WatermarkResult | None = None
    for sch in variants:
        r = _detect_in(rs, sch, scanned, spectra)
        if r.score >= sch.z_alone and r.payload is None:  # the sync tolerates ~2 % of scale error,
            r2 = _detect_in(rs, sch, _payload_periods(rs, sch, r.scale * sch.tile, spectra), spectra)
            r = r2 if r2.payload is not None else r  # ... the payload's luma bins need ~0.3 %
        if r.payload is not None and r.score >= sch.z_alone:
            return r
        if r.score >= sch.z_alone + SCAN_MARGIN and (best is None or r.score > best.score):
            best = replace(r, found=True, payload=None)
    return best if best is not None else out


SCAN_MARGIN = 2.0
"""Extra sync z a scale-scan detection needs without a payload (real media peak at 6.24 < 7 + 2)."""


def _quick_z(Fs: list[np.ndarray], scheme: WatermarkScheme) -> float:
    """A cheap sync score for ranking scales: the low-frequency Cb band alone (its peak stays up
    ~2 % off the true scale, the luma band's falls to noise), plain surface std (no sidelobe
    removal; one inverse FFT instead of six)."""
    F = Fs[-1]  # Cb (or luma alone): the low band tolerates the coarse scale steps, luma does not
    c = np.real(np.fft.ifft2(F * _sync_conj(scheme)))
    return float((c.max() - c.mean()) / (c.std() + 1e-12))


def _payload_periods(rs: list[np.ndarray], scheme: WatermarkScheme, period: float, spectra: dict,
                     span: float = 0.025, step: float = 0.0025) -> list[float]:
    """The period within +-``span`` of ``period`` where the luma sync peaks: the payload's luma
    bins need the scale to ~0.3 %, while the Cb sync that found the mark is ~10x more tolerant."""
    if "luma_only" not in scheme._cache:
        scheme._cache["luma_only"] = replace(scheme, filters=(scheme.filters[0],), _cache={})
    luma = scheme._cache["luma_only"]
    best, best_z = period, -np.inf
    for d in np.arange(-span, span + 1e-9, step):
        p = period * math.exp(d)
        z = _fold_at(_spectra_at(rs, p, scheme, spectra), p, luma).z
        if z > best_z:
            best, best_z = p, z
    return [best]


def _scan_periods(rs: list[np.ndarray], variants: list[WatermarkScheme], spectra: dict,
                  step: float = 0.015, fine: float = 0.005, n_top: int = 3) -> list[float]:
    """Periods around the ``n_top`` best sync peaks of a coarse log-spaced scan of the scale range
    (``step`` apart: the sync peak stays high ~2 % off the true scale), refined ``fine`` apart."""
    scheme = variants[0]
    T = scheme.tile
    lo, hi = scheme.scale_range
    longest = 1.5 * max(rs[0].shape)  # a frame holding under 2/3 of a tile has too little to fold
    coarse = [T * float(x) for x in np.exp(np.arange(math.log(lo), math.log(hi) + 1e-9, step))
              if T * x <= longest]
    zs = []
    for p in coarse:
        Fs = _spectra_at(rs, p, scheme, spectra)
        zs.append(max(_quick_z(Fs, sch) for sch in variants))
    top: list[float] = []
    for i in np.argsort(zs)[::-1]:
        if len(top) >= n_top:
            break
        if all(abs(math.log(coarse[i] / q)) > step * 1.5 for q in top):
            top.append(coarse[i])
    return [q * math.exp(d) for q in top for d in np.arange(-step, step + 1e-9, fine)]


def _fallback_spectra(best: _Fold, scheme: WatermarkScheme) -> Iterable[np.ndarray]:
    yield _snr_combined(best, scheme)  # computed only when the winning filter's decode failed
    yield from best.others


def _detect_in(rs: list[np.ndarray], scheme: WatermarkScheme, periods: list[float], spectra: dict) -> WatermarkResult:
    best = _analyse(rs, scheme, periods, spectra)
    payload = WatermarkPayload.from_bits(best.soft)
    # the filter that wins the sync (often Cb alone) need not carry the payload best: try the
    # others at the same alignment (the CRC picks; 3 tries cost a factor 3 in CRC false accepts)
    if payload is None:
        for F in _fallback_spectra(best, scheme):
            soft = _decode_symbols(_Fold(best.z, best.shift, best.scale, F), scheme)
            payload = WatermarkPayload.from_bits(soft)
            if payload is not None:
                best.soft = soft
                break
    margin = float(np.mean(np.abs(best.soft)))  # about 0.8 on noise, grows with the mark
    # rough false-alarm estimate: max of (positions x candidate periods) Gaussian samples
    n_hyp = scheme.tile**2 * 20
    p_false = min(1.0, n_hyp * _norm_sf(best.z))
    if payload is not None:
        p_false *= 2.0**-CRC_BITS
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
