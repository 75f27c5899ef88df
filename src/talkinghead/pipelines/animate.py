"""The animate pipeline: portrait + driving video -> video of the portrait doing the same.

One ``__call__``: prepare the source (face crop, canvas), track the driver (pass 1: motions),
transfer the motion to target landmarks, render each crop (pass 2) and paste it back.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from talkinghead.config import AnimateConfig
from talkinghead.drivers.video import DriverTrack, track_driver
from talkinghead.face.crop import crop_image, face_crop_transform, paste_back
from talkinghead.face.types import FaceLandmarks
from talkinghead.io.video import VideoReader, VideoWriter
from talkinghead.motion.extract import neutral_index
from talkinghead.motion.transfer import MotionTransfer
from talkinghead.pipelines.source import PreparedSource, prepare_source
from talkinghead.render.base import MouthSource
from talkinghead.motion.object import object_similarity
from talkinghead.render.warp import WarpRenderer

MOUTH_SOURCE_MIN_OPENING = 0.04  # driver inner-lip gap / mouth width above which we pass the driver mouth


@dataclass
class AnimateResult:
    """What the pipeline produced. ``frames`` only when no output path was given."""

    output: Path | None
    fps: float
    n_frames: int
    mode: str
    frames: list[np.ndarray] | None = None
    crops: list[np.ndarray] | None = None  # rendered face crops, when ``keep_crops``
    source: PreparedSource | None = None
    driver: DriverTrack | None = field(default=None, repr=False)


class AnimatePipeline:
    """``AnimatePipeline(cfg)(source, driving, output=None)``; see :class:`AnimateConfig`."""

    def __init__(self, config: AnimateConfig | None = None, renderer=None):
        self.config = config or AnimateConfig()
        self.renderer = renderer

    def __call__(self, source: str | os.PathLike, driving: str | os.PathLike,
                 output: str | os.PathLike | None = None, progress: bool = False,
                 keep_crops: bool = False, max_frames: int | None = None) -> AnimateResult:
        cfg = self.config
        log = (lambda *a, **k: print(*a, **k)) if progress else (lambda *a, **k: None)
        src = prepare_source(source, cfg, log=log)
        track = track_driver(driving, face_index=None, progress=progress, max_frames=max_frames)
        frames_iter = self._render(src, track, driving, keep_crops)
        n_total = len(track.motions) if max_frames is None else min(max_frames, len(track.motions))
        crops: list[np.ndarray] | None = [] if keep_crops else None
        bar = tqdm(total=n_total, desc="rendering", unit="f", disable=not progress)
        if output is None:
            frames = []
            for i, (frame, crop) in enumerate(frames_iter):
                if i >= n_total:
                    break
                frames.append(frame)
                if crops is not None:
                    crops.append(crop)
                bar.update(1)
            bar.close()
            return AnimateResult(None, track.fps, len(frames), src.mode, frames, crops, src, track)
        H, W = src.canvas.shape[:2]
        with VideoWriter(output, fps=track.fps, size=(W, H), audio_from=driving, crf=cfg.crf) as writer:
            n = 0
            for frame, crop in frames_iter:
                if n >= n_total:
                    break
                writer.write(frame)
                if crops is not None:
                    crops.append(crop)
                n += 1
                bar.update(1)
        bar.close()
        return AnimateResult(Path(output), track.fps, n, src.mode, None, crops, src, track)

    # -- internals ------------------------------------------------------------------------------
    def _reference(self, track: DriverTrack) -> int:
        if self.config.reference == "first":
            return int(np.argmax(track.found))
        return neutral_index(track.motions)

    def _render(self, src: PreparedSource, track: DriverTrack, driving, keep_crops: bool):
        """Yield (full frame, crop) per driver frame."""
        cfg = self.config
        ref = track.motions[self._reference(track)]
        if src.mode == "object":
            from talkinghead.render.object import ObjectRenderer

            renderer = ObjectRenderer()
            renderer.prepare(src.crop)
            for m in track.motions:
                crop = renderer.render(object_similarity(m, ref, cfg.size, cfg.strength.pose))
                yield paste_back(src.canvas, crop, src.crop_tf), crop
            return
        renderer = self.renderer or WarpRenderer()
        renderer.prepare(src.crop, src.points[:, :2])
        transfer = MotionTransfer(src.points, cfg.strength, relative=cfg.relative,
                                  driver_to_source_scale=self._abs_scale(src, track))
        transfer.set_reference(ref)
        want_mouth = cfg.mouth_interior == "transfer" and cfg.strength.mouth > 0
        with VideoReader(driving) as reader:
            for i, frame in enumerate(reader):
                if i >= len(track.motions):
                    break
                m = track.motions[i]
                target = transfer(m)[:, :2]
                mouth = None
                if want_mouth and track.points[i] is not None and m.mouth > MOUTH_SOURCE_MIN_OPENING:
                    mouth = self._mouth_source(frame, track.points[i])
                crop = renderer.render(target, mouth)
                yield paste_back(src.canvas, crop, src.crop_tf), crop

    def _mouth_source(self, frame: np.ndarray, points: np.ndarray) -> MouthSource:
        """The driver's face crop at our size, for the mouth interior."""
        H, W = frame.shape[:2]
        face = FaceLandmarks(points, (W, H))
        tf = face_crop_transform(face, self.config.size)
        crop = crop_image(frame, tf)
        return MouthSource(crop, face.transformed(tf.M, (tf.size, tf.size)).points[:, :2])

    def _abs_scale(self, src: PreparedSource, track: DriverTrack) -> float:
        """Absolute mode: map driver px to source crop px (ratio of face-crop scales)."""
        if self.config.relative:
            return 1.0
        i = int(np.argmax(track.found))
        H, W = track.info.height, track.info.width
        tf = face_crop_transform(FaceLandmarks(track.points[i], (W, H)), self.config.size)
        return tf.scale  # driver image px -> crop px; translation handled in crop coords


def animate(source, driving, output=None, config: AnimateConfig | None = None, **kw) -> AnimateResult:
    """Functional shortcut for ``AnimatePipeline(config)(source, driving, output)``."""
    return AnimatePipeline(config)(source, driving, output, **kw)
