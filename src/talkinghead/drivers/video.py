"""Video driver: a driving clip -> one :class:`Motion` per frame (pass 1 of the pipeline).

Landmarks come from mediapipe's tracker, are smoothed with a One-Euro filter (no jitter when
still, little lag on fast motion), and frames where no face is found hold the last good motion
and then ease back towards the reference (so a lost face never makes the portrait jump).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from talkinghead.errors import InputError
from talkinghead.face.mesh import TrackingFaceMesh
from talkinghead.face.canonical import load_canonical
from talkinghead.face.smoothing import MIN_CUTOFF, LandmarkSmoother
from talkinghead.face.types import HeadPose
from talkinghead.io.video import VideoInfo, VideoReader
from talkinghead.motion.extract import motion_from_landmarks, summaries
from talkinghead.motion.regions import channel_weights
from talkinghead.motion.types import Motion

FAST_CUTOFF_HZ = 6.0  # One-Euro min cutoff for lips, jaw and lids (blinks and speech are fast)
HOLD_SECONDS = 0.3  # hold the last good motion this long before easing back
EASE_SECONDS = 0.5  # time constant of the ease back towards the reference
EASE_IN_SECONDS = 0.25  # when the face returns, blend into it over this long


@dataclass
class DriverTrack:
    """Per-frame driver motion plus the smoothed landmarks (None where no face was found)."""

    info: VideoInfo
    motions: list[Motion]
    points: list[np.ndarray | None]  # (478, 3) smoothed image px, or None
    found: np.ndarray  # (T,) bool
    note: str | None = None  # a warning for the user (e.g. the file is cut off: its good frames are used)

    @property
    def fps(self) -> float:
        return self.info.fps


def landmark_cutoffs() -> np.ndarray:
    """Per-point One-Euro min cutoff (478, 1): 1 Hz for the rigid face, FAST_CUTOFF_HZ for mouth and eyes."""
    w = channel_weights(load_canonical())
    return (MIN_CUTOFF + (FAST_CUTOFF_HZ - MIN_CUTOFF) * np.clip(w["mouth"] + w["eyes"], 0, 1))[:, None]


def _blend(a: Motion, b: Motion, w: float) -> Motion:
    """(1 - w) a + w b, rotation by projecting the blended matrix back onto SO(3)."""
    R = (1 - w) * a.pose.rotation + w * b.pose.rotation
    U, _, Vt = np.linalg.svd(R)
    R = U @ np.diag([1, 1, np.linalg.det(U @ Vt)]) @ Vt
    pose = HeadPose(R, (1 - w) * a.pose.translation + w * b.pose.translation,
                    (1 - w) * a.pose.scale + w * b.pose.scale, (1 - w) * a.pose.tz + w * b.pose.tz)
    canon = ((1 - w) * a.canonical + w * b.canonical).astype(np.float32)
    eyes, gaze, mouth = summaries(canon)
    return Motion(pose, canon, eyes, gaze, mouth, valid=False)


def fill_missing(motions: list[Motion | None], fps: float, reference: Motion) -> list[Motion]:
    """Hold the last good motion for HOLD_SECONDS, then ease exponentially back to ``reference``;
    when the face returns, ease from the held motion into the tracked one over EASE_IN_SECONDS."""
    out: list[Motion] = []
    last, missing, since_gap, held = None, 0, 10**9, None
    hold, tau = HOLD_SECONDS * fps, max(EASE_SECONDS * fps, 1.0)
    n_in = max(int(round(EASE_IN_SECONDS * fps)), 1)
    for m in motions:
        if m is not None:
            if missing:
                held, since_gap = out[-1] if out else None, 0
            last, missing = m, 0
            since_gap += 1
            if held is not None and since_gap <= n_in:
                eased = _blend(held, m, since_gap / (n_in + 1))
                eased.valid = True
                out.append(eased)
            else:
                out.append(m)
            continue
        missing += 1
        base = last if last is not None else reference
        w = 0.0 if missing <= hold else 1.0 - np.exp(-(missing - hold) / tau)
        out.append(_blend(base, reference, float(w)))
    return out


def smooth_track(points: list[np.ndarray | None], fps: float) -> list[np.ndarray | None]:
    """Zero-lag smoothing of a whole track: One-Euro forwards and backwards, averaged.

    A causal filter lags fast motion by a frame or two; running it both ways and averaging cancels
    the lag (as a zero-phase filter does) while keeping its jitter suppression. Gaps reset it.
    """
    cut = landmark_cutoffs()

    def one_way(order) -> list[np.ndarray | None]:
        out: list[np.ndarray | None] = [None] * len(points)
        sm = LandmarkSmoother(min_cutoff=cut)
        for k, i in enumerate(order):
            if points[i] is None:
                sm.reset()
            else:
                out[i] = sm(points[i], k / fps)
        return out

    fwd = one_way(range(len(points)))
    bwd = one_way(range(len(points) - 1, -1, -1))
    return [None if f is None else (0.5 * (f + b)).astype(np.float32) for f, b in zip(fwd, bwd)]


def track_driver(path: str | os.PathLike, face_index: int | None = None, progress: bool = False,
                 max_frames: int | None = None) -> DriverTrack:
    """Pass 1 over the driving clip: landmarks -> smoothed (zero lag) -> motions.

    Memory per frame is one (478, 3) float32 landmark array (~6 KB), never the frame itself.
    """
    raw: list[np.ndarray | None] = []
    with VideoReader(path) as reader, TrackingFaceMesh(face_index=face_index) as tracker:
        info = reader.info
        fps = info.fps or 25.0
        bar = tqdm(total=info.n_frames, desc="tracking driver", unit="f", disable=not progress, leave=False)
        for i, frame in enumerate(reader):
            if max_frames is not None and i >= max_frames:
                break
            face = tracker.track(frame)
            raw.append(None if face is None else face.points.astype(np.float32))
            bar.update(1)
        bar.close()
        truncated = reader.truncated  # set once the whole file was read and decoding stopped early
        read = reader.frames_read
    found = np.array([p is not None for p in raw])
    if not found.any():
        raise InputError(path, "no face found in any frame of the driving video")
    pts = smooth_track(raw, fps)
    motions = [None if p is None else motion_from_landmarks(p) for p in pts]
    motions = fill_missing(motions, fps, motions[int(np.argmax(found))])
    note = (f"truncated or corrupt video: decoding stopped after {read} of {info.n_frames or '?'} frames; "
            f"using those") if truncated else None
    return DriverTrack(info=info, motions=motions, points=pts, found=found, note=note)
