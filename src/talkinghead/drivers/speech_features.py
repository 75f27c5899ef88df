"""Speech features: audio in, log-mel and energy frames out, and voice activity (stages 1-3 of
:mod:`talkinghead.drivers.audio`; shared by that driver, training and evaluation).

1. :func:`iter_audio_blocks` streams 16 kHz mono samples (constant memory for any length).
2. :func:`log_mel` turns samples into 80-band log-mel frames at 100 Hz (4 per video frame);
   :func:`frame_energy_db` gives per-10 ms energy for the voice-activity detector.
3. :func:`vad` marks speech (adaptive noise floor, hysteresis, hang-over); :func:`speech_gate`
   turns it into a 25 fps gate with a short anticipatory attack and a quick release, so silence
   gives an exactly closed, still mouth and onsets/offsets stay crisp.

Conventions: samples float32 in [-1, 1]; mel frame ``i`` is centred at ``i * 10 ms``; video frame
``k`` (time ``k / 25`` s) owns mel frames ``4k .. 4k + 3``.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from talkinghead.errors import InputError

SR = 16000  # feature sample rate (Hz)
HOP = 160  # 10 ms
WIN = 400  # 25 ms analysis window
N_FFT = 512
N_MELS = 80
FMIN, FMAX = 40.0, 7600.0
FPS = 25.0  # output frame rate of the speech driver
MEL_PER_FRAME = 4  # mel frames (100 Hz) per video frame (25 fps)
LOG_FLOOR = 1e-6  # power floor of the log (about -60 dB re full scale)


# -- audio input ------------------------------------------------------------------------------

DC_TAU = 2.0  # s: time constant of the running DC estimate
DC_MIN = 0.025  # |DC| (-32 dBFS) below which nothing is removed (real recordings reach 0.017); all from twice that


def _dc_remove(a: np.ndarray, state: np.ndarray | None, sr: int) -> tuple[np.ndarray, np.ndarray]:
    """Subtract a constant offset: a running mean ``d`` (one pole, ``DC_TAU``), removed as
    ``d * clip(|d| / DC_MIN - 1, 0, 1)``, so an ordinary recording (offset under -32 dBFS) passes
    unchanged, sample for sample. ``state``: the filter's (None at the start: the mean of ``a``)."""
    from scipy.signal import lfilter

    r = float(np.exp(-1.0 / (sr * DC_TAU)))
    if state is None:
        state = np.array([r * float(a.mean())]) if a.size else np.zeros(1)
    d, state = lfilter([1.0 - r], [1.0, -r], a, zi=state)
    w = np.clip(np.abs(d) * (1.0 / DC_MIN) - 1.0, 0.0, 1.0)
    return (a - w * d if w.any() else a), state


def _to_mono(a: np.ndarray) -> np.ndarray:
    """(channels, n) -> (n,): the mean of the channels, or the first channel where the mean cancels
    what the channels carry (a stereo file with one channel inverted mixes down to silence)."""
    if a.ndim == 1 or a.shape[0] == 1 or a.shape[1] == 0:
        return a[:1].reshape(-1) if a.ndim == 2 else a
    m = a.mean(axis=0)
    e0 = float(np.mean(a[0].astype(np.float64) ** 2))
    if e0 > 1e-8 and float(np.mean(m.astype(np.float64) ** 2)) < 0.01 * e0:
        return a[0]
    return m


def iter_audio_blocks(path: str | os.PathLike, sr: int = SR, block: int = SR * 10) -> Iterator[np.ndarray]:
    """Decode the first audio stream of ``path`` as consecutive mono float32 blocks of ``block``
    samples at ``sr`` Hz (the last block may be shorter). Memory stays constant for any length.

    The samples are cleaned for analysis (not for the output's audio track, which is the input's):
    non-finite samples (a corrupt float WAV) become 0, and a constant offset above -32 dBFS (cheap
    recorders), which would raise the noise floor until speech reads as silence, is subtracted.

    Raises:
        InputError: file not found / empty / not audio / no audio stream / nothing decodable.
    """
    import av

    from talkinghead.io.atomic import check_input_file

    p = check_input_file(path)
    dc_state = None
    try:
        container = av.open(os.fspath(p), "r")
    except (av.FFmpegError, UnicodeDecodeError, ValueError):
        raise InputError(p, "not an audio file or unsupported format") from None
    with container:
        if not container.streams.audio:
            raise InputError(p, "no audio stream")
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="fltp", layout=None, rate=sr)
        pending: list[np.ndarray] = []
        n_pending = 0
        total = 0
        frames = container.decode(stream)
        configured = False
        while True:
            try:
                frame = next(frames)
                outs = resampler.resample(frame)
                configured = True
            except (StopIteration, av.FFmpegError, EOFError):
                outs = resampler.resample(None) if configured else []
                frame = None
            for f in outs:
                a = _to_mono(f.to_ndarray())  # (channels, n) -> (n,)
                a = np.nan_to_num(a.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
                a, dc_state = _dc_remove(a, dc_state, sr)
                pending.append(a.astype(np.float32))
                n_pending += a.shape[0]
            while n_pending >= block:
                buf = np.concatenate(pending)
                yield np.ascontiguousarray(buf[:block])
                total += block
                rest = buf[block:]
                pending, n_pending = [rest], rest.shape[0]
            if frame is None:
                break
        if n_pending:
            total += n_pending
            yield np.ascontiguousarray(np.concatenate(pending))
    if total == 0:
        raise InputError(p, "no audio samples (empty, truncated or corrupt audio)")


def audio_n_samples(path: str | os.PathLike, sr: int = SR) -> int:
    """Number of samples at ``sr`` (decodes the stream once; constant memory)."""
    return sum(b.shape[0] for b in iter_audio_blocks(path, sr))


# -- features ---------------------------------------------------------------------------------

def _hz_to_mel(f):
    return 2595.0 * np.log10(1.0 + np.asarray(f, np.float64) / 700.0)


def _mel_to_hz(m):
    return 700.0 * (10.0 ** (np.asarray(m, np.float64) / 2595.0) - 1.0)


@lru_cache(maxsize=4)
def mel_filterbank(sr: int = SR, n_fft: int = N_FFT, n_mels: int = N_MELS,
                   fmin: float = FMIN, fmax: float = FMAX) -> np.ndarray:
    """(n_mels, n_fft // 2 + 1) triangular HTK-mel filters with unit area (Slaney normalisation)."""
    freqs = np.linspace(0.0, sr / 2.0, n_fft // 2 + 1)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(fmin), _hz_to_mel(fmax), n_mels + 2))
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    up = (freqs[None] - lo) / (mid - lo)
    down = (hi - freqs[None]) / (hi - mid)
    fb = np.maximum(0.0, np.minimum(up, down)) * (2.0 / (hi - lo))
    fb = fb.astype(np.float32)
    fb.setflags(write=False)
    return fb


def _frames(samples: np.ndarray, n_frames: int) -> np.ndarray:
    """(n_frames, WIN) windows centred at i * HOP (zero padded at both ends)."""
    pad = WIN // 2
    x = np.zeros(n_frames * HOP + WIN, np.float32)
    n = min(samples.shape[0], x.shape[0] - pad)
    x[pad:pad + n] = samples[:n]
    return np.lib.stride_tricks.sliding_window_view(x, WIN)[::HOP][:n_frames]


def n_mel_frames(n_samples: int) -> int:
    """Mel frames for ``n_samples``: a multiple of MEL_PER_FRAME covering the audio."""
    n_video = int(np.ceil(n_samples / (SR / FPS)))
    return n_video * MEL_PER_FRAME


def log_mel(samples: np.ndarray, n_frames: int | None = None) -> np.ndarray:
    """Log-mel power spectrogram (n_frames, N_MELS) float32 of 16 kHz mono ``samples``.

    Frame ``i`` is centred at sample ``i * HOP`` (Hann window of WIN, FFT of N_FFT).
    ``n_frames`` defaults to :func:`n_mel_frames` (whole video frames).
    """
    samples = np.asarray(samples, np.float32)
    n_frames = n_mel_frames(samples.shape[0]) if n_frames is None else n_frames
    window = np.hanning(WIN + 1)[:-1].astype(np.float32)
    fb = mel_filterbank()
    out = np.empty((n_frames, N_MELS), np.float32)
    for s in range(0, n_frames, 4096):  # bounded temporaries
        fr = _frames(samples[s * HOP: (s + 4096) * HOP + WIN], min(4096, n_frames - s)) * window
        spec = np.fft.rfft(fr, N_FFT, axis=1)
        power = (spec.real ** 2 + spec.imag ** 2).astype(np.float32)
        out[s:s + fr.shape[0]] = np.log(power @ fb.T + LOG_FLOOR)
    return out


def model_input(samples: np.ndarray, n_frames: int, embed: bool) -> np.ndarray:
    """The audio-to-motion network's input (n_frames, bands) float32 at 100 Hz: the log-mel bands,
    then, with ``embed`` (a model whose ``config.embed_dims`` > 0), the pretrained speech features."""
    mel = log_mel(samples, n_frames)
    if not embed:
        return mel
    from talkinghead.models.speech_embedding import speech_features

    return np.concatenate([mel, speech_features(samples, n_frames)], axis=1)


def frame_energy_db(samples: np.ndarray, n_frames: int | None = None) -> np.ndarray:
    """Per-10 ms RMS energy in dB re full scale (n_frames,), same framing as :func:`log_mel`."""
    samples = np.asarray(samples, np.float32)
    n_frames = n_mel_frames(samples.shape[0]) if n_frames is None else n_frames
    out = np.empty(n_frames, np.float32)
    for s in range(0, n_frames, 8192):
        fr = _frames(samples[s * HOP: (s + 8192) * HOP + WIN], min(8192, n_frames - s))
        out[s:s + fr.shape[0]] = 10.0 * np.log10(np.mean(fr.astype(np.float64) ** 2, axis=1) + 1e-10)
    return out


def normalize_mel(mel: np.ndarray, speech: np.ndarray | None = None) -> np.ndarray:
    """Per-utterance mean normalisation: subtract each band's mean over speech frames.

    Removes the microphone/channel colouring and the level (language- and speaker-agnostic input);
    frames with less than 2 speech frames fall back to all frames.
    """
    sel = mel if speech is None or int(np.sum(speech)) < 2 else mel[np.asarray(speech, bool)]
    return ((mel - sel.mean(axis=0, keepdims=True)) / 4.0).astype(np.float32)


# -- voice activity -----------------------------------------------------------------------------

@dataclass(frozen=True)
class VadThresholds:
    """dB thresholds of :func:`vad` (derived once per file by :func:`vad_thresholds`)."""

    on: float
    off: float
    floor: float
    peak: float


SHORT_CLIP_FRAMES = 100  # 1 s of 100 Hz energy frames: too short for a percentile noise floor


def vad_thresholds(energy_db: np.ndarray) -> VadThresholds:
    """Adaptive thresholds from the energy distribution: noise floor (10th percentile) and speech
    level (97th percentile); on at 35 % of the way floor -> peak (at least floor + 9 dB), off 4 dB
    lower. Near-silent input (peak < -55 dBFS) never triggers. A clip shorter than
    ``SHORT_CLIP_FRAMES`` may be speech from end to end ("Yes!"), so its floor is at most -60 dBFS."""
    e = np.asarray(energy_db, np.float64)
    if e.size == 0:
        return VadThresholds(0.0, 0.0, -100.0, -100.0)
    floor = float(np.percentile(e, 10))
    if e.size < SHORT_CLIP_FRAMES:
        floor = min(floor, -60.0)
    peak = float(np.percentile(e, 97))
    on = max(floor + 9.0, floor + 0.35 * (peak - floor), -55.0)
    return VadThresholds(on=on, off=on - 4.0, floor=floor, peak=peak)


def vad(energy_db: np.ndarray, th: VadThresholds, hangover: int = 8, min_speech: int = 6,
        min_gap: int = 15) -> np.ndarray:
    """Speech mask (bool, 100 Hz) with hysteresis: start above ``th.on``, continue while above
    ``th.off`` (+ ``hangover`` frames); drop bursts shorter than ``min_speech`` frames; bridge gaps
    shorter than ``min_gap`` frames (stop closures and short pauses inside a phrase)."""
    e = np.asarray(energy_db)
    m = np.zeros(e.shape[0], bool)
    on, hang = False, 0
    for i, v in enumerate(e):
        if on:
            if v >= th.off:
                hang = hangover
            elif hang > 0:
                hang -= 1
            else:
                on = False
        elif v >= th.on:
            on, hang = True, hangover
        m[i] = on
    runs = bool_runs(m)
    for s, t, val in runs:  # bridge short gaps between speech runs
        if not val and s > 0 and t < m.shape[0] and t - s < min_gap:
            m[s:t] = True
    for s, t, val in bool_runs(m):  # drop clicks
        if val and t - s < min_speech:
            m[s:t] = False
    return m


def bool_runs(m: np.ndarray) -> list[tuple[int, int, bool]]:
    """[(start, stop, value)] of the constant runs of a bool array."""
    if m.size == 0:
        return []
    edges = np.flatnonzero(np.diff(m.astype(np.int8))) + 1
    starts = np.concatenate([[0], edges])
    stops = np.concatenate([edges, [m.size]])
    return [(int(s), int(t), bool(m[s])) for s, t in zip(starts, stops)]


def speech_gate(speech_100hz: np.ndarray, attack: int = 2, release: int = 2) -> np.ndarray:
    """25 fps gate in [0, 1] from the 100 Hz speech mask.

    A video frame is "speech" when any of its 4 mel frames is; the gate ramps up over ``attack``
    frames *before* an onset (lips move ahead of the sound) and down over ``release`` frames after
    an offset, with cosine ramps, and is exactly 0 elsewhere.
    """
    s = np.asarray(speech_100hz, bool)
    n = s.shape[0] // MEL_PER_FRAME
    f = s[: n * MEL_PER_FRAME].reshape(n, MEL_PER_FRAME).any(axis=1).astype(np.float32)
    g = f.copy()
    for k in range(1, attack + 1):  # anticipate onsets
        w = 0.5 * (1 + np.cos(np.pi * k / (attack + 1)))
        g[:-k] = np.maximum(g[:-k], w * f[k:])
    for k in range(1, release + 1):
        w = 0.5 * (1 + np.cos(np.pi * k / (release + 1)))
        g[k:] = np.maximum(g[k:], w * f[:-k])
    return g
