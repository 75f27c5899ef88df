"""Data for the audio-to-motion training (:mod:`talkinghead.train.audio_to_motion`): tracked clips,
25 fps targets, the mouth PCA basis, the speech-feature projection, the anticipatory onset profile, and
training-time augmentation of the log-mel input.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

# Held-out speakers (never seen in training): GRID speaker s2 (two clips) and VidTIMIT fadg0.
VAL_CLIPS = ("talk_m_grid_03a", "talk_m_grid_03b", "talk_f_vidtimit")


def clip_paths(data: Path) -> list[Path]:
    """The talking clips with speech audio (``videos/talk_*``), sorted by name."""
    return sorted(p for p in (data / "videos").glob("talk_*") if p.suffix in (".mp4", ".mpg", ".mov", ".mkv"))


def track_clip(path: Path, cache: Path) -> Path:
    """Track one clip (landmarks -> canonical frame) and cache it with its 16 kHz audio."""
    from talkinghead.drivers.video import track_driver
    from talkinghead.io.audio import read_audio

    out = cache / "tracks" / f"{path.stem}.npz"
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tr = track_driver(path)
    canon = np.stack([m.canonical for m in tr.motions]).astype(np.float32)
    euler = np.array([m.pose.euler_deg() for m in tr.motions], np.float32)
    scale = np.array([m.pose.scale for m in tr.motions], np.float32)
    audio, _ = read_audio(path, sr=16000)
    tmp = out.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, canonical=canon, euler=euler, scale=scale, found=tr.found,
                        fps=np.float32(tr.fps), audio=audio.astype(np.float32))
    os.replace(tmp, out)
    return out


def prepare(data: Path, cache: Path, log=print) -> list[Path]:
    """Stage 1: track and cache every talking clip (skips clips already cached)."""
    outs = []
    for p in clip_paths(data):
        t0 = time.time()
        cached = (cache / "tracks" / f"{p.stem}.npz").exists()
        outs.append(track_clip(p, cache))
        if not cached:
            log(f"tracked {p.name} in {time.time() - t0:.1f}s")
    return outs


# -- targets ----------------------------------------------------------------------------------

MOUTH_WEIGHT_MIN = 0.2  # landmarks whose mouth-channel weight exceeds this form the mouth region
NEUTRAL_PERCENTILE = 10  # frames with mouth opening below this percentile define the neutral
HEAD_TREND_S = 2.0  # head rotation minus its moving average over this window = speech head motion
SPEEDS = (0.9, 0.95, 1.0, 1.05, 1.1)  # speed perturbation (audio and targets resampled together)


def mouth_region() -> np.ndarray:
    """Indices of the mouth-region landmarks (lips, jaw, chin, lower cheeks), sorted."""
    from talkinghead.face.canonical import load_canonical
    from talkinghead.motion.regions import channel_weights

    w = channel_weights(load_canonical())["mouth"]
    return np.flatnonzero(w > MOUTH_WEIGHT_MIN)


def opening_weights(index: np.ndarray, width: float) -> np.ndarray:
    """(P * 3,) linear map from mouth offsets to the change of Motion.mouth (inner-lip gap / width)."""
    from talkinghead.motion.regions import INNER_LIP_PAIRS

    pos = {int(j): i for i, j in enumerate(index)}
    w = np.zeros((len(index), 3), np.float64)
    pairs = INNER_LIP_PAIRS[3:6]  # the pairs motion.extract.summaries uses
    for up, lo in pairs:
        w[pos[lo], 1] += 1.0 / (len(pairs) * width)
        w[pos[up], 1] -= 1.0 / (len(pairs) * width)
    return w.reshape(-1)


def _resample_time(x: np.ndarray, fps: float, n_out: int, step: float) -> np.ndarray:
    """Linear interpolation of a per-frame array (T, ...) at times k * step (s), k < n_out."""
    t_in = np.arange(x.shape[0]) / fps
    t_out = np.clip(np.arange(n_out) * step, 0, t_in[-1])
    i = np.clip(np.searchsorted(t_in, t_out, side="right") - 1, 0, x.shape[0] - 2)
    w = ((t_out - t_in[i]) * fps).reshape(-1, *([1] * (x.ndim - 1)))
    return (1 - w) * x[i] + w * x[i + 1]


def _moving_average(x: np.ndarray, n: int) -> np.ndarray:
    k = np.ones(n) / n
    pad = np.pad(x, ((n // 2, n - 1 - n // 2), (0, 0)), mode="reflect")
    return np.stack([np.convolve(pad[:, j], k, mode="valid") for j in range(x.shape[1])], 1)


def clip_targets(npz: Path, index: np.ndarray) -> dict[str, np.ndarray]:
    """25 fps targets of one cached clip: mouth offsets (T, P, 3) from the closed-mouth neutral,
    opening (T,), brow raise (T,), head offsets (T, 3) deg, plus the audio."""
    from talkinghead.face import topology as T
    from talkinghead.motion.extract import summaries

    d = np.load(npz)
    fps = float(d["fps"])
    C, E, audio = d["canonical"].astype(np.float64), d["euler"].astype(np.float64), d["audio"]
    dur = min(C.shape[0] / fps, audio.shape[0] / 16000)
    n = int(dur * 25)
    C = _resample_time(C, fps, n, 1 / 25)
    E = _resample_time(E, fps, n, 1 / 25)
    opening = np.array([summaries(c)[2] for c in C])
    closed = opening <= np.percentile(opening, NEUTRAL_PERCENTILE)
    neutral = np.median(C[closed], axis=0)
    width = float(np.linalg.norm(neutral[T.MOUTH_CORNERS[0], :2] - neutral[T.MOUTH_CORNERS[1], :2]))
    brows = list(T.LEFT_BROW) + list(T.RIGHT_BROW)
    brow_y = C[:, brows, 1].mean(1)
    brow = -(brow_y - np.median(brow_y))
    head = E - _moving_average(E, int(HEAD_TREND_S * 25) | 1)
    return {"mouth": (C[:, index] - neutral[index]).astype(np.float32), "opening": opening.astype(np.float32),
            "brow": brow.astype(np.float32), "head": head.astype(np.float32), "width": np.float32(width),
            "audio": audio[: int(round(n / 25 * 16000))]}


def speed_perturb(audio: np.ndarray, tg: dict[str, np.ndarray], speed: float) -> tuple[np.ndarray, dict]:
    """Play ``speed`` x faster: resample the audio and the 25 fps targets consistently."""
    from fractions import Fraction

    from scipy.signal import resample_poly

    if speed == 1.0:
        return audio, tg
    fr = Fraction(speed).limit_denominator(40)
    a = resample_poly(audio, fr.denominator, fr.numerator).astype(np.float32)
    n = int(tg["mouth"].shape[0] / speed)
    out = {k: (_resample_time(v, 25.0, n, speed / 25.0).astype(np.float32) if np.ndim(v) else v)
           for k, v in tg.items() if k != "audio"}
    return a[: int(round(n / 25 * 16000))], out


# -- dataset --------------------------------------------------------------------------------------

class ClipData:
    """One clip at one speed: raw log-mel (4T, 80), speech mask (4T,), whitened targets (T, D)."""

    def __init__(self, name: str, speed: float, mel: np.ndarray, speech: np.ndarray, y: np.ndarray,
                 opening: np.ndarray, mouth: np.ndarray):
        self.name, self.speed, self.mel, self.speech, self.y = name, speed, mel, speech, y
        self.opening, self.mouth = opening, mouth

    @property
    def T(self) -> int:
        return self.y.shape[0]


OPENING_STD_REF = 0.09  # per-clip articulation amplitude is normalised to this opening std


def amplitude_gain(tg: dict) -> float:
    """Gain that brings a clip's mouth-opening std to OPENING_STD_REF (clamped to 0.5..2): speakers'
    articulation amplitude is a style the audio barely tells, so we learn the pattern, not the size."""
    return float(np.clip(OPENING_STD_REF / max(float(np.std(tg["opening"])), 1e-6), 0.5, 2.0))


def build_clip(name: str, audio: np.ndarray, tg: dict, basis: dict, speed: float, lag: int = 0,
               gain: float = 1.0, embed: bool = False) -> ClipData:
    """Features + whitened targets; ``lag`` > 0 means the video trails the audio by lag frames;
    ``gain`` scales the mouth offsets (and the opening about its closed level); ``embed`` adds the
    pretrained speech features to the log-mel (``drivers.speech_features.model_input``)."""
    from talkinghead.drivers.speech_features import frame_energy_db, model_input, vad, vad_thresholds

    if gain != 1.0:
        o = tg["opening"]
        o0 = np.percentile(o, NEUTRAL_PERCENTILE)
        tg = {**tg, "mouth": tg["mouth"] * gain, "opening": (o0 + gain * (o - o0)).astype(np.float32)}
    T = tg["mouth"].shape[0]
    mel = model_input(audio, 4 * T, embed)
    e = frame_energy_db(audio, 4 * T)
    speech = vad(e, vad_thresholds(e))
    D = tg["mouth"].reshape(T, -1) - basis["mean"]
    z = (D @ basis["basis"].T) / basis["std"]
    y = np.concatenate([z, (tg["brow"] / basis["brow_std"])[:, None], tg["head"] / basis["head_std"]], 1)
    opening = tg["opening"]
    mouth = tg["mouth"]
    if lag:
        a = max(lag, 0)
        b = max(-lag, 0)
        n = T - abs(lag)
        y, opening, mouth = y[a:a + n], opening[a:a + n], mouth[a:a + n]  # video frame k + lag <-> audio k
        mel, speech = mel[4 * b: 4 * (b + n)], speech[4 * b: 4 * (b + n)]
    return ClipData(name, speed, mel, speech, y.astype(np.float32), opening, mouth)


def fit_basis(targets: dict[str, dict], n_mouth: int) -> dict[str, np.ndarray]:
    """PCA of the training speakers' mouth offsets (frames pooled) and std of brow / head."""
    D = np.concatenate([t["mouth"].reshape(t["mouth"].shape[0], -1) for t in targets.values()])
    # The closed-mouth neutral is the zero of our motion space: centre at 0, not the data mean.
    mean = np.zeros(D.shape[1], np.float32)
    U, S, Vt = np.linalg.svd(D - mean, full_matrices=False)
    basis = Vt[:n_mouth].astype(np.float32)
    z = (D - mean) @ basis.T
    std = z.std(0).astype(np.float32) + 1e-6
    explained = float((S[:n_mouth] ** 2).sum() / (S ** 2).sum())
    brow = np.concatenate([t["brow"] for t in targets.values()])
    head = np.concatenate([t["head"] for t in targets.values()])
    width = float(np.mean([t["width"] for t in targets.values()]))
    return {"mean": mean, "basis": basis, "std": std, "explained": explained,
            "brow_std": np.float32(brow.std() + 1e-6), "head_std": (head.std(0) + 1e-6).astype(np.float32),
            "width": width}


def fit_embedding(targets: dict[str, dict], names: list[str], dims: int) -> dict[str, np.ndarray]:
    """Whitened PCA (``dims`` components) of the pretrained speech features over the training clips
    (25 fps samples, speed 1): the model's ``embed_mean`` / ``embed_std`` / ``embed_proj`` buffers."""
    from talkinghead.models.speech_embedding import speech_features

    X = np.concatenate([speech_features(targets[k]["audio"], 4 * targets[k]["mouth"].shape[0])[::4] for k in names])
    mean, std = X.mean(0), X.std(0) + 1e-6
    _, S, Vt = np.linalg.svd((X - mean) / std, full_matrices=False)
    proj = Vt[:dims].T / (S[:dims] / np.sqrt(X.shape[0]))[None]  # unit variance per component
    return {"embed_mean": mean.astype(np.float32), "embed_std": std.astype(np.float32),
            "embed_proj": proj.astype(np.float32)}


def onset_profile(targets: dict[str, dict], names: list[str], frames: int = 12, min_pause: int = 10) -> np.ndarray:
    """Median mouth opening (amplitude-normalised, above the closed level) in the ``frames`` video
    frames before each utterance onset that follows >= ``min_pause`` frames of silence, over the
    training clips: (frames,) ordered from ``frames`` before the onset to 1 before."""
    from talkinghead.drivers.speech_features import bool_runs, frame_energy_db, vad, vad_thresholds

    segs = []
    for k in names:
        t = targets[k]
        o = t["opening"]
        T = o.shape[0]
        e = frame_energy_db(t["audio"], 4 * T)
        s25 = vad(e, vad_thresholds(e)).reshape(T, 4).any(axis=1)
        o0 = np.percentile(o, NEUTRAL_PERCENTILE)
        g = amplitude_gain(t)
        for s, _, val in bool_runs(s25):
            if val and s >= max(frames, min_pause) and not s25[s - max(frames, min_pause): s].any():
                segs.append(g * (o[s - frames: s] - o0))
    if not segs:
        return np.zeros(frames, np.float32)
    prof = np.median(np.stack(segs), axis=0)
    return np.clip(np.convolve(np.pad(prof, 1, mode="edge"), np.ones(3) / 3, mode="valid"), 0, None).astype(np.float32)


# -- augmentation ---------------------------------------------------------------------------------

def augment_mel(mel: np.ndarray, rng: np.random.Generator, bandlimit: float = 0.0) -> np.ndarray:
    """Speaker / channel / noise augmentation in the log-mel domain (4T, 80):
    vocal-tract-length warp of the band axis (x0.88..1.12), additive noise at 5-40 dB SNR,
    a random spectral tilt and SpecAugment-style band masks; with probability ``bandlimit`` first
    a low-pass channel (cut-off ~3.4-7 kHz, 2-7 dB more loss per mel band above it: telephone, low-rate codecs)."""
    from talkinghead.drivers.speech_features import N_MELS

    if mel.shape[1] > N_MELS:  # pretrained speech features follow the bands: left as they are
        return np.concatenate([augment_mel(np.ascontiguousarray(mel[:, :N_MELS]), rng, bandlimit), mel[:, N_MELS:]], 1)
    T4, F = mel.shape
    x = mel
    if bandlimit > 0 and rng.random() < bandlimit:
        fc = int(rng.integers(55, 76))  # mel band of the cut-off (~3.4-7 kHz)
        roll = np.clip(np.arange(F) - fc, 0, None) * rng.uniform(0.5, 1.5)  # ln-power per band above fc
        x = np.maximum(x - roll[None], x.min() if rng.random() < 0.5 else -np.inf)
    alpha = rng.uniform(0.88, 1.12)  # VTLP (Jaitly & Hinton 2013)
    pos = np.clip(np.arange(F) * alpha, 0, F - 1)
    i0 = np.floor(pos).astype(int)
    i1 = np.minimum(i0 + 1, F - 1)
    w = (pos - i0)[None]
    x = (1 - w) * x[:, i0] + w * x[:, i1]
    if rng.random() < 0.7:  # noise: power domain add
        p = np.exp(x)
        level = np.percentile(p.sum(1), 90)
        snr = rng.uniform(5, 40)
        shape = np.exp(np.linspace(0, rng.uniform(-3, 1), F))
        noise = shape / shape.sum() * level * 10 ** (-snr / 10)
        noise = noise[None] * rng.gamma(4.0, 0.25, size=(T4, F))
        x = np.log(p + noise)
    x = x + np.linspace(-1, 1, F)[None] * rng.uniform(-1.0, 1.0)  # tilt
    for _ in range(rng.integers(0, 3)):
        f0 = rng.integers(0, F - 8)
        x[:, f0:f0 + rng.integers(2, 9)] = x.mean()
    return x.astype(np.float32)
