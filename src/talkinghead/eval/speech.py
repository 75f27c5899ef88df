"""Speech-animation metrics and the held-out-speaker evaluation.

Metrics (pure functions on per-frame series):

* :func:`lagged_corr` / :func:`sync_scores`: Pearson r of our mouth-opening series against the real
  speaker's, at lag 0 and the best lag within +/- ``max_lag`` frames.
* :func:`lmd`: mouth landmark distance (Chen et al. 2018, "Lip movements generation at a glance"):
  mean 2-D distance over the lip landmarks, here in the canonical pose-free frame (unit =
  inter-ocular distance), after aligning each sequence's closed-mouth neutral.
* :func:`blink_stats`: blinks per minute and blink durations from an eye-openness series.
* :func:`silence_ratio`: std of the mouth opening in silent stretches / std in speech.

The evaluation (:func:`evaluate_clip`, ``python -m talkinghead.eval.speech``) renders the held-out
speaker's own first frame with the speaker's own audio through :class:`SpeakPipeline`, re-tracks
the *rendered video* with our face analysis, and compares it with the tracked real video; the
baseline opens the mouth from the audio energy alone and is rendered and tracked the same way.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from talkinghead.face import topology as T

LIP_POINTS = sorted(set(T.OUTER_LIPS + T.INNER_LIPS))


# -- metrics --------------------------------------------------------------------------------------

def lagged_corr(a: np.ndarray, b: np.ndarray, lag: int) -> float:
    """Pearson r of ``a[k]`` and ``b[k + lag]`` over the overlap (nan when constant)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    n = min(a.shape[0], b.shape[0])
    a, b = a[:n], b[:n]
    if lag >= 0:
        x, y = a[: n - lag], b[lag:]
    else:
        x, y = a[-lag:], b[: n + lag]
    if x.size < 3 or x.std() < 1e-12 or y.std() < 1e-12:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1])


def sync_scores(ours: np.ndarray, real: np.ndarray, max_lag: int = 10) -> dict[str, float]:
    """{"r": r at lag 0, "best_lag": lag of the max r (positive = real trails ours), "r_best"}."""
    rs = {L: lagged_corr(ours, real, L) for L in range(-max_lag, max_lag + 1)}
    finite = {k: v for k, v in rs.items() if np.isfinite(v)}
    if not finite:
        return {"r": float("nan"), "best_lag": 0, "r_best": float("nan")}
    L = max(finite, key=finite.get)
    return {"r": rs[0], "best_lag": int(L), "r_best": finite[L]}


def lmd(ours: np.ndarray, real: np.ndarray, ours_neutral: np.ndarray | None = None,
        real_neutral: np.ndarray | None = None, points: list[int] | None = None) -> float:
    """Mean lip-landmark distance between two (T, 478, >=2) canonical landmark sequences.

    Each sequence is expressed relative to its neutral (given, or the frame with the smallest mouth
    opening) so a different resting shape of the source is not counted, only the motion.
    """
    idx = LIP_POINTS if points is None else points
    A = np.asarray(ours)[:, idx, :2]
    B = np.asarray(real)[:, idx, :2]
    n = min(A.shape[0], B.shape[0])
    A, B = A[:n], B[:n]
    na = A[_closed_frame(ours[:n])] if ours_neutral is None else np.asarray(ours_neutral)[idx, :2]
    nb = B[_closed_frame(real[:n])] if real_neutral is None else np.asarray(real_neutral)[idx, :2]
    return float(np.linalg.norm((A - na) - (B - nb), axis=-1).mean())


def _closed_frame(C: np.ndarray) -> int:
    from talkinghead.motion.extract import summaries

    return int(np.argmin([summaries(c)[2] for c in C]))


def blink_stats(eyes: np.ndarray, fps: float, drop: float = 0.5) -> dict[str, float]:
    """Blinks from a per-frame eye-openness series (mean of both eyes).

    A blink is a run where openness falls below ``drop`` x the open level (the series' 90th
    percentile); its duration is the run of frames where openness is below 90 % of the open level
    (closing + closed + opening), in seconds.
    """
    e = np.asarray(eyes, np.float64)
    if e.size == 0:
        return {"per_min": 0.0, "n": 0, "mean_s": float("nan"), "min_s": float("nan"), "max_s": float("nan")}
    open_level = np.percentile(e, 90)
    moving = e < 0.9 * open_level
    durations = []
    edges = np.flatnonzero(np.diff(np.concatenate([[0], moving.astype(np.int8), [0]])))
    for s, t in zip(edges[::2], edges[1::2]):
        if e[s:t].min() < drop * open_level:
            durations.append((t - s) / fps)
    minutes = e.size / fps / 60.0
    d = np.array(durations) if durations else np.array([np.nan])
    return {"per_min": len(durations) / minutes, "n": len(durations), "mean_s": float(np.nanmean(d)),
            "min_s": float(np.nanmin(d)), "max_s": float(np.nanmax(d))}


def silence_ratio(mouth: np.ndarray, speech: np.ndarray, margin: int = 3) -> dict[str, float]:
    """Mouth-opening std in silence (frames at least ``margin`` frames from speech) vs in speech."""
    m = np.asarray(mouth, np.float64)
    s = np.asarray(speech, bool)[: m.shape[0]]
    m = m[: s.shape[0]]
    near = s.copy()
    for k in range(1, margin + 1):
        near[k:] |= s[:-k]
        near[:-k] |= s[k:]
    sil = ~near
    std_sil = float(m[sil].std()) if sil.sum() > 2 else float("nan")
    std_sp = float(m[s].std()) if s.sum() > 2 else float("nan")
    return {"std_silence": std_sil, "std_speech": std_sp, "ratio": std_sil / std_sp if std_sp > 0 else float("nan"),
            "silent_frames": int(sil.sum())}
