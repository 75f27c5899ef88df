"""The animate pipeline: portrait + driving video -> video of the portrait doing the same.

One ``__call__``: prepare the source (face crop, canvas), track the driver (pass 1: motions),
transfer the motion to target landmarks, render each crop (pass 2) and paste it back.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from contextlib import closing, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from talkinghead.config import AnimateConfig
from talkinghead.drivers.video import DriverTrack, track_driver
from talkinghead.errors import ConfigError, check_paths
from talkinghead.face.crop import crop_image, face_crop_transform
from talkinghead.face.types import FaceLandmarks
from talkinghead.io.video import VideoReader
from talkinghead.io.video_writer import VideoWriter
from talkinghead.motion.extract import neutral_index
from talkinghead.motion.transfer import MotionTransfer
from talkinghead.motion.types import Motion
from talkinghead.pipelines.provenance import Provenance
from talkinghead.pipelines.renderers import person_notice
from talkinghead.pipelines.source import PreparedSource, prepare_source
from talkinghead.provenance.credentials import VIDEO_EXTENSIONS
from talkinghead.render.base import MouthSource
from talkinghead.motion.object import object_similarity
from talkinghead.motion.scene import SceneFlow
from talkinghead.render.detail import DetailRenderer
from talkinghead.render.parallel import RenderWorkers, auto_workers
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

    def __init__(self, config: AnimateConfig | None = None, renderer=None, notify=None):
        self.config = config or AnimateConfig()
        from talkinghead.pipelines.renderers import renderer_for

        self.renderer = renderer if renderer is not None else renderer_for(self.config)
        # notices for the user (e.g. "no face found; using object mode"); stderr by default
        self.notify = notify or (lambda *a, **k: print(*a, file=sys.stderr))

    def __call__(self, source: str | os.PathLike, driving: str | os.PathLike,
                 output: str | os.PathLike | None = None, progress: bool = False,
                 keep_crops: bool = False, max_frames: int | None = None) -> AnimateResult:
        cfg = self.config
        check_paths(("output",), source=source, driving=driving, output=output)
        if output is not None:  # before any work: extension, folder, and never one of the inputs
            from talkinghead.io.atomic import probe_writable

            probe_writable(output, VIDEO_EXTENSIONS, inputs=(source, driving))
        if max_frames is not None and max_frames < 1:
            raise ConfigError(None, f"max_frames must be at least 1, got {max_frames}")
        src = prepare_source(source, cfg, log=self.notify)
        if src.mode == "object" and (cfg.person or cfg.renderer != "warp"):
            what = "--person" if cfg.person else f"--renderer {cfg.renderer}"
            self.notify(f"note: {what} draws faces; {source} has none and is animated as an object (object mode)")
        else:
            notice = person_notice(self.renderer, source)
            if notice:
                self.notify(notice)
        track = track_driver(driving, face_index=None, progress=progress, max_frames=max_frames)
        if track.note:
            self.notify(f"warning: {driving}: {track.note}")
        mark = Provenance(cfg)
        n_total = len(track.motions) if max_frames is None else min(max_frames, len(track.motions))
        workers = auto_workers(n_total, cfg.workers)
        rendered = self._render(src, track, driving, workers)
        with closing(rendered):  # on an error, an interrupt or max_frames the render workers stop at once
            frames_iter = ((mark(frame), crop) for frame, crop in rendered)
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
            W, H = src.output_size()
            # frame 0 is the driver's first picture: its audio from that moment (a track may start earlier)
            with VideoWriter(output, fps=track.fps, size=(W, H), audio_from=driving, audio_start=track.info.start_time,
                             crf=cfg.crf,
                             finalize=mark.signer([source, driving], output)) as writer:
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

    def _render(self, src: PreparedSource, track: DriverTrack, driving, workers: int = 0):
        """Yield (full frame, crop) per driver frame (re-decoding the driver for mouth interiors)."""
        r = self._reference(track)
        scene = self._scene_flow(driving, track, r) if src.mode == "face" else None
        with VideoReader(driving) as reader:
            yield from render_motions(src, track.motions, track.motions[r], self.config, self.renderer,
                                      driver_frames=reader, driver_points=track.points,
                                      abs_map=self._abs_map(track), scene_flow=scene, workers=workers)

    def _scene_flow(self, driving, track: DriverTrack, r: int) -> SceneFlow | None:
        """Optical flow of the driver's surroundings relative to its reference frame ``r``."""
        if track.points[r] is None or self.config.strength.pose == 0:
            return None
        with VideoReader(driving) as reader:
            for i, frame in enumerate(reader):
                if i == r:
                    break
        H, W = frame.shape[:2]
        flow = SceneFlow()
        flow.set_reference(frame, face_crop_transform(FaceLandmarks(track.points[r], (W, H)), self.config.size))
        return flow

    def _abs_map(self, track: DriverTrack) -> np.ndarray | None:
        """Absolute mode: driver image px -> crop px (the driver's own face crop at our size)."""
        if self.config.relative:
            return None
        i = int(np.argmax(track.found))
        H, W = track.info.height, track.info.width
        return face_crop_transform(FaceLandmarks(track.points[i], (W, H)), self.config.size).M


def render_motions(src: PreparedSource, motions: list[Motion], reference: Motion, cfg: AnimateConfig,
                   renderer=None, driver_frames: Iterable[np.ndarray] | None = None,
                   driver_points: list[np.ndarray | None] | None = None,
                   abs_map: np.ndarray | None = None,
                   scene_flow: SceneFlow | None = None, workers: int = 0) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The render loop shared by every driver: motion -> target landmarks -> crop -> full frame.

    ``driver_frames``/``driver_points`` (video drivers) let an opening mouth take its interior
    from the driver; without them the renderer synthesises it. ``workers`` > 0 renders the warp in
    that many processes (:mod:`talkinghead.render.parallel`; same frames, in order).
    """
    if src.mode == "object":
        from talkinghead.render.object import ObjectRenderer

        obj = ObjectRenderer()
        obj.prepare(src.crop, src.crop_bounds())
        for m in motions:
            crop, mapping = obj.render_mapped(object_similarity(m, reference, cfg.size, cfg.strength.pose))
            yield src.frame(crop, mapping), crop
        return
    renderer = renderer or WarpRenderer()
    renderer.prepare(src.crop, src.points[:, :2])
    transfer = MotionTransfer(src.points, cfg.strength, relative=cfg.relative, driver_to_source=abs_map)
    transfer.set_reference(reference)
    want_mouth = cfg.mouth_interior == "transfer" and cfg.strength.mouth > 0 and driver_frames is not None
    frames = iter(driver_frames) if driver_frames is not None else None

    def jobs() -> Iterator[tuple]:
        for i, m in enumerate(motions):
            frame = next(frames, None) if frames is not None else None
            mouth = None
            if want_mouth and frame is not None and driver_points[i] is not None and m.mouth > MOUTH_SOURCE_MIN_OPENING:
                mouth = mouth_source(frame, driver_points[i], cfg.size)
            scene = None
            if scene_flow is not None and frame is not None:
                scene = scene_flow(frame) * cfg.strength.pose
            yield transfer(m), mouth, scene  # target (478, 3): z orders folds

    if src.detail is not None and type(renderer) is WarpRenderer:  # the warp redone on the photo (render.detail)
        runner = DetailRenderer(renderer, src.detail)
        with RenderWorkers(runner, workers) if workers > 0 else nullcontext() as pool:
            yield from (pool.map(jobs()) if pool else (runner.render(*j) for j in jobs()))
        return
    if workers > 0 and type(renderer) is WarpRenderer:  # the neural renderers keep their own torch threads
        with RenderWorkers(renderer, workers) as pool:
            for crop in pool.map(jobs()):
                yield src.frame(crop), crop
        return
    for job in jobs():
        crop = renderer.render(*job)
        yield src.frame(crop), crop


def mouth_source(frame: np.ndarray, points: np.ndarray, size: int) -> MouthSource:
    """The driver's face crop at our size, for the mouth interior."""
    H, W = frame.shape[:2]
    face = FaceLandmarks(points, (W, H))
    tf = face_crop_transform(face, size)
    return MouthSource(crop_image(frame, tf), face.transformed(tf.M, (tf.size, tf.size)).points[:, :2])


def animate(source, driving, output=None, config: AnimateConfig | None = None, **kw) -> AnimateResult:
    """Functional shortcut for ``AnimatePipeline(config)(source, driving, output)``."""
    return AnimatePipeline(config)(source, driving, output, **kw)
