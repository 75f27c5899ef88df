"""Live mode: a portrait driven frame by frame from a camera, a file or raw frames on stdin.

Causal by construction (no look-ahead, unlike the offline two-pass driver tracking): each driver
frame goes through mediapipe's tracker, the causal One-Euro :class:`LandmarkSmoother`, motion
extraction, :class:`MotionTransfer` (relative to the first frame with a face), the warp renderer,
paste-back and the provenance watermark, then to a sink: :class:`FileSink` (H.264, C2PA-signed),
:class:`RawSink` (rgb24 on stdout, for a virtual-camera tool) or :class:`MjpegSink` (HTTP on localhost).

Latency stays bounded: a capture thread feeds a queue of ``queue_size`` frames (default 1); when
the renderer is behind, the oldest waiting frame is dropped instead of letting the queue grow.
"""
from __future__ import annotations

import http.server
import math
import os
import queue
import socketserver
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np

from talkinghead.config import AnimateConfig
from talkinghead.drivers.video import EASE_IN_SECONDS, EASE_SECONDS, HOLD_SECONDS, _blend, landmark_cutoffs
from talkinghead.errors import InputError, check_paths
from talkinghead.face.crop import face_crop_transform, paste_back
from talkinghead.face.mesh import TrackingFaceMesh
from talkinghead.face.smoothing import LandmarkSmoother
from talkinghead.face.types import FaceLandmarks
from talkinghead.motion.extract import motion_from_landmarks
from talkinghead.motion.scene import SceneFlow
from talkinghead.motion.transfer import MotionTransfer
from talkinghead.motion.types import Motion
from talkinghead.pipelines.animate import MOUTH_SOURCE_MIN_OPENING, mouth_source
from talkinghead.pipelines.provenance import Provenance
from talkinghead.pipelines.source import PreparedSource, prepare_source
from talkinghead.render.warp import WarpRenderer

__all__ = ["LiveOptions", "LiveStats", "LiveAnimator", "FileSink", "RawSink", "MjpegSink", "NullSink",
           "open_driver", "run_live"]


@dataclass
class LiveOptions:
    """How frames flow: queue bound, pacing, length, optional scene motion, raw-stdin geometry."""

    queue_size: int = 1
    """Frames that may wait for the renderer; when full the oldest is dropped (latency stays bounded)."""
    pace: bool = True
    """Real time: a file is fed at its own frame rate, as a camera would, and frames are dropped when the
    renderer is behind. False: every frame is rendered, as fast as possible (back-pressure, no drops)."""
    max_frames: int | None = None
    """Stop after this many driver frames."""
    scene: bool = False
    """Also move hair, torso and background with the driver's optical flow (a few ms per frame)."""
    raw_size: tuple[int, int] | None = None
    """(width, height) of rgb24 frames read from stdin (driver ``-``)."""
    raw_fps: float = 25.0

    def __post_init__(self) -> None:
        if self.queue_size < 1:
            raise ValueError("queue_size must be >= 1")


@dataclass
class LiveStats:
    """Per-frame end-to-end latency (driver frame available -> frame handed to the sink)."""

    latencies_ms: list[float] = field(default_factory=list)
    frames_in: int = 0
    dropped: int = 0
    seconds: float = 0.0

    @property
    def frames_out(self) -> int:
        return len(self.latencies_ms)

    def summary(self) -> dict[str, float]:
        lat = np.asarray(self.latencies_ms or [math.nan])
        return {"frames_in": self.frames_in, "frames_out": self.frames_out, "dropped": self.dropped,
                "median_ms": float(np.median(lat)), "p95_ms": float(np.percentile(lat, 95)),
                "fps": self.frames_out / self.seconds if self.seconds > 0 else 0.0}

    def describe(self) -> str:
        s = self.summary()
        return (f"{s['frames_out']} frames out of {s['frames_in']} ({s['dropped']} dropped), "
                f"latency median {s['median_ms']:.1f} ms, p95 {s['p95_ms']:.1f} ms, {s['fps']:.1f} fps")


# -- drivers ------------------------------------------------------------------------------------
class Driver:
    """An iterator of RGB frames with a nominal ``fps``; ``live`` sources pace themselves."""

    fps: float = 25.0
    live: bool = True

    def __iter__(self) -> Iterator[np.ndarray]:
        raise NotImplementedError

    def close(self) -> None:
        pass


class FileDriver(Driver):
    live = False

    def __init__(self, path: str | os.PathLike):
        from talkinghead.io.video import VideoReader

        self.reader = VideoReader(path)
        self.fps = self.reader.info.fps or 25.0

    def __iter__(self) -> Iterator[np.ndarray]:
        return iter(self.reader)

    def close(self) -> None:
        self.reader.close()


class CameraDriver(Driver):
    def __init__(self, device: str):
        self.device = device
        self.cap = cv2.VideoCapture(int(device) if device.isdigit() else device)
        if not self.cap.isOpened():
            raise InputError(device, "cannot open the camera")
        self.fps = float(self.cap.get(cv2.CAP_PROP_FPS) or 0) or 30.0

    def __iter__(self) -> Iterator[np.ndarray]:
        while True:
            ok, bgr = self.cap.read()
            if not ok:
                return
            yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    def close(self) -> None:
        self.cap.release()


class RawStdinDriver(Driver):
    """rgb24 frames of a fixed size on stdin (e.g. ``ffmpeg ... -f rawvideo -pix_fmt rgb24 -``)."""

    def __init__(self, size: tuple[int, int] | None, fps: float, stream=None):
        if size is None:
            raise InputError("-", "raw frames on stdin need their size (--raw-size WxH)")
        self.size, self.fps = size, fps
        self.stream = stream if stream is not None else sys.stdin.buffer

    def __iter__(self) -> Iterator[np.ndarray]:
        W, H = self.size
        n = W * H * 3
        while True:
            buf = self.stream.read(n)
            if len(buf) < n:
                return
            yield np.frombuffer(buf, np.uint8).reshape(H, W, 3)


def open_driver(spec: str, opts: LiveOptions) -> Driver:
    """``-``: raw rgb24 on stdin; ``/dev/videoN`` or a digit: a camera; anything else: a video file."""
    if spec == "-":
        return RawStdinDriver(opts.raw_size, opts.raw_fps)
    if spec.isdigit() or spec.startswith("/dev/video"):
        return CameraDriver(spec)
    return FileDriver(spec)


# -- sinks --------------------------------------------------------------------------------------
class NullSink:
    """Discards frames (benchmarks)."""

    def open(self, size: tuple[int, int], fps: float, mark: Provenance, ingredients: list) -> None:
        pass

    def write(self, frame: np.ndarray) -> None:
        pass

    def close(self, ok: bool = True) -> None:
        pass


class FileSink(NullSink):
    """An H.264 file, C2PA-signed when it is closed (atomic: nothing is left if the run fails).

    Frames dropped in real time are missing from the file; ``LiveOptions(pace=False)`` keeps them all.
    """

    def __init__(self, path: str | os.PathLike, crf: int = 20, preset: str = "ultrafast",
                 inputs: tuple[str | os.PathLike | None, ...] = ()):
        from talkinghead.io.atomic import probe_writable
        from talkinghead.provenance.credentials import VIDEO_EXTENSIONS

        self.path = probe_writable(path, VIDEO_EXTENSIONS, inputs=inputs)
        self.crf, self.preset = crf, preset
        self._w = None

    def open(self, size, fps, mark, ingredients) -> None:
        from talkinghead.io.video_writer import VideoWriter

        self._w = VideoWriter(self.path, fps=fps, size=size, crf=self.crf, preset=self.preset,
                              finalize=mark.signer(ingredients, self.path))
        self._w.__enter__()

    def write(self, frame: np.ndarray) -> None:
        self._w.write(frame)

    def close(self, ok: bool = True) -> None:
        if self._w is not None:
            exc = None if ok else RuntimeError("live run failed")
            self._w.__exit__(type(exc) if exc else None, exc, None)
            self._w = None


class RawSink(NullSink):
    """rgb24 frames on a byte stream (stdout by default), e.g. for ffmpeg -> v4l2loopback."""

    def __init__(self, stream=None, announce: bool = True):
        self.stream = stream if stream is not None else sys.stdout.buffer
        self.announce = announce

    def open(self, size, fps, mark, ingredients) -> None:
        if self.announce:
            W, H = size
            print(f"live: rgb24 {W}x{H} at {fps:g} fps on stdout, e.g. | ffmpeg -f rawvideo -pix_fmt rgb24 "
                  f"-s {W}x{H} -r {fps:g} -i - -f v4l2 /dev/video10", file=sys.stderr, flush=True)

    def write(self, frame: np.ndarray) -> None:
        try:
            self.stream.write(np.ascontiguousarray(frame).tobytes())
            self.stream.flush()
        except BrokenPipeError:
            raise KeyboardInterrupt from None  # the consumer went away: stop quietly


class MjpegSink(NullSink):
    """MJPEG over HTTP on localhost: ``/`` a page, ``/stream`` multipart/x-mixed-replace, ``/frame.jpg``."""

    BOUNDARY = "talkingheadframe"

    def __init__(self, host: str = "127.0.0.1", port: int = 8090, quality: int = 80):
        self.quality = quality
        self._cond = threading.Condition()
        self._jpeg: bytes | None = None
        self._seq = 0
        self._closed = False
        self.server = _ThreadingServer((host, port), self._handler())
        self.host, self.port = self.server.server_address[:2]
        threading.Thread(target=self.server.serve_forever, daemon=True, name="mjpeg").start()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    def write(self, frame: np.ndarray) -> None:
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        if ok:
            with self._cond:
                self._jpeg, self._seq = buf.tobytes(), self._seq + 1
                self._cond.notify_all()

    def next_jpeg(self, after: int, timeout: float = 1.0) -> tuple[int, bytes | None]:
        with self._cond:
            self._cond.wait_for(lambda: self._seq > after or self._closed, timeout)
            return self._seq, self._jpeg

    def close(self, ok: bool = True) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self.server.shutdown()
        self.server.server_close()

    def _handler(self):
        sink = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a) -> None:  # quiet
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server API
                if self.path == "/":
                    body = b'<html><body style="margin:0;background:#000"><img src="/stream"></body></html>'
                    self._send(200, "text/html", body)
                elif self.path == "/frame.jpg":
                    _, jpeg = sink.next_jpeg(0, timeout=5.0)
                    self._send(200, "image/jpeg", jpeg) if jpeg else self._send(503, "text/plain", b"no frame yet")
                elif self.path == "/stream":
                    self._stream()
                else:
                    self._send(404, "text/plain", b"not found")

            def _send(self, code: int, ctype: str, body: bytes) -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _stream(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={MjpegSink.BOUNDARY}")
                self.send_header("Cache-Control", "no-cache")
                self.end_headers()
                seq = 0
                try:
                    while not sink._closed:
                        new, jpeg = sink.next_jpeg(seq)
                        if new == seq or jpeg is None:
                            continue
                        seq = new
                        self.wfile.write(f"--{MjpegSink.BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                                         f"Content-Length: {len(jpeg)}\r\n\r\n".encode() + jpeg + b"\r\n")
                        self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    pass

        return Handler


class _ThreadingServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


# -- the causal animator ------------------------------------------------------------------------
class LiveAnimator:
    """``animator(rgb, t) -> watermarked output frame``: one driver frame in, one portrait frame out."""

    def __init__(self, src: PreparedSource, cfg: AnimateConfig, scene: bool = False, renderer=None):
        self.src, self.cfg = src, cfg
        self.mark = Provenance(cfg)
        self.tracker = TrackingFaceMesh()
        self.smoother = LandmarkSmoother(min_cutoff=landmark_cutoffs())
        self.scene = SceneFlow() if scene and src.mode == "face" and cfg.strength.pose > 0 else None
        self.reference: Motion | None = None
        self.transfer: MotionTransfer | None = None
        self._last: Motion | None = None  # last tracked motion
        self._out: Motion | None = None  # last rendered motion
        self._lost_at: float | None = None
        self._back_at: float | None = None
        self._held: Motion | None = None
        if src.mode == "face":
            self.renderer = renderer or WarpRenderer()
            self.renderer.prepare(src.crop, src.points[:, :2])
        else:
            from talkinghead.render.object import ObjectRenderer

            self.renderer = ObjectRenderer()
            self.renderer.prepare(src.crop, src.crop_bounds())

    def close(self) -> None:
        self.tracker.close()

    def warm_up(self) -> None:
        """Pay the one-off costs (the face tracker's graph, the renderer's and the watermark's first
        frame: ~2 s) before the driver's clock starts, so a paced file does not drop its first
        seconds. Leaves no state: the blank frame has no face, and the tracker is reset."""
        self.tracker.track(np.full((256, 256, 3), 127, np.uint8))
        self.tracker.reset()
        if self.src.mode == "face":
            self.renderer.render(self.src.points[:, :2].astype(np.float32))
        self.mark(self.src.canvas.copy())

    def _set_reference(self, rgb: np.ndarray, pts: np.ndarray, m: Motion) -> None:
        H, W = rgb.shape[:2]
        tf = face_crop_transform(FaceLandmarks(pts, (W, H)), self.cfg.size)
        self.reference = m
        if self.src.mode == "face":
            self.transfer = MotionTransfer(self.src.points, self.cfg.strength, relative=self.cfg.relative,
                                           driver_to_source=None if self.cfg.relative else tf.M)
            self.transfer.set_reference(m)
        if self.scene is not None:
            self.scene.set_reference(rgb, tf)

    def motion(self, rgb: np.ndarray, t: float) -> tuple[Motion | None, np.ndarray | None]:
        """The motion for this frame (tracked, held or easing back) and the smoothed points (or None)."""
        face = self.tracker.track(rgb)
        if face is None:
            self.smoother.reset()
            if self._last is None:
                return None, None
            if self._lost_at is None:
                self._lost_at, self._back_at = t, None
            gone = t - self._lost_at
            w = 0.0 if gone <= HOLD_SECONDS else 1.0 - math.exp(-(gone - HOLD_SECONDS) / EASE_SECONDS)
            self._out = _blend(self._last, self.reference, w)
            return self._out, None
        pts = self.smoother(face.points, t)
        m = motion_from_landmarks(pts)
        if self.reference is None:
            self._set_reference(rgb, pts, m)
        if self._lost_at is not None:  # the face is back: ease in from what was shown
            self._lost_at, self._back_at, self._held = None, t, self._out
        self._last = m
        if self._back_at is not None and self._held is not None and t - self._back_at < EASE_IN_SECONDS:
            m = _blend(self._held, m, (t - self._back_at) / EASE_IN_SECONDS)
            m.valid = True
        self._out = m
        return m, pts

    def __call__(self, rgb: np.ndarray, t: float) -> np.ndarray:
        m, pts = self.motion(rgb, t)
        src, cfg = self.src, self.cfg
        if m is None:  # no face seen yet: the portrait at rest
            return self.mark(src.canvas.copy())
        if src.mode == "object":
            from talkinghead.motion.object import object_similarity

            crop = self.renderer.render(object_similarity(m, self.reference, cfg.size, cfg.strength.pose))
            return self.mark(paste_back(src.canvas, crop, src.crop_tf))
        mouth = None
        if (pts is not None and cfg.mouth_interior == "transfer" and cfg.strength.mouth > 0
                and m.mouth > MOUTH_SOURCE_MIN_OPENING):
            mouth = mouth_source(rgb, pts, cfg.size)
        scene = self.scene(rgb) * cfg.strength.pose if self.scene is not None else None
        crop = self.renderer.render(self.transfer(m)[:, :2], mouth, scene)
        return self.mark(paste_back(src.canvas, crop, src.crop_tf))


# -- the loop -----------------------------------------------------------------------------------
_END = object()


def _capture(driver: Driver, q: queue.Queue, opts: LiveOptions, stats: LiveStats, stop: threading.Event,
             errors: list) -> None:
    """Read driver frames into ``q`` as (index, t_available, rgb); drop the oldest when full."""
    pace = opts.pace and not driver.live
    t0 = time.perf_counter()
    try:
        for i, rgb in enumerate(driver):
            if stop.is_set() or (opts.max_frames is not None and i >= opts.max_frames):
                break
            if pace:
                delay = t0 + i / driver.fps - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
            item = (i, time.perf_counter(), rgb)
            stats.frames_in += 1
            if not opts.pace:
                q.put(item)  # offline: keep every frame (back-pressure instead of drops)
                continue
            while True:
                try:
                    q.put_nowait(item)
                    break
                except queue.Full:
                    try:
                        q.get_nowait()
                        stats.dropped += 1
                    except queue.Empty:
                        pass
    except Exception as e:  # noqa: BLE001 - handed to the consumer thread
        errors.append(e)
    finally:
        q.put(_END)


def run_live(source: str | os.PathLike, driving: str | Driver, sink: NullSink | None = None,
             config: AnimateConfig | None = None, options: LiveOptions | None = None,
             on_frame: Callable[[int, np.ndarray], None] | None = None, log=None) -> LiveStats:
    """Animate ``source`` live from ``driving`` into ``sink``; returns latency statistics."""
    cfg = config or AnimateConfig()
    opts = options or LiveOptions()
    sink = sink or NullSink()
    log = log or (lambda *a, **k: print(*a, file=sys.stderr, **k))
    check_paths(source=source)
    if not isinstance(driving, Driver):
        check_paths(driving=driving)
    src = prepare_source(source, replace(cfg, resolution=0), log=log)  # live frames stay at the crop's scale (latency)
    driver = driving if isinstance(driving, Driver) else open_driver(os.fspath(driving), opts)
    animator = LiveAnimator(src, cfg, scene=opts.scene)
    animator.warm_up()
    H, W = src.canvas.shape[:2]
    ingredients = [source] + ([driving] if isinstance(driving, (str, Path)) and Path(driving).is_file() else [])
    stats, stop, errors = LiveStats(), threading.Event(), []
    q: queue.Queue = queue.Queue(maxsize=opts.queue_size)
    ok = False
    sink.open((W, H), driver.fps, animator.mark, ingredients)
    cap = threading.Thread(target=_capture, args=(driver, q, opts, stats, stop, errors), daemon=True, name="capture")
    t_start = time.perf_counter()
    cap.start()
    try:
        try:
            while True:
                item = q.get()
                if item is _END:
                    break
                i, t_avail, rgb = item
                frame = animator(rgb, i / driver.fps if not driver.live else t_avail - t_start)
                sink.write(frame)
                stats.latencies_ms.append(1000.0 * (time.perf_counter() - t_avail))
                if on_frame is not None:
                    on_frame(i, frame)
        except KeyboardInterrupt:  # Ctrl-C (or the stdout consumer went away) ends a live session normally
            interrupted = True
        else:
            interrupted = False
        if errors:
            raise errors[0]
        if stats.frames_in == 0 and not interrupted:
            name = os.fspath(driving) if isinstance(driving, (str, os.PathLike)) else getattr(driving, "device", "-")
            raise InputError(name, "no driver frames arrived (an empty stream, or shorter than one frame)")
        if animator.reference is None and stats.frames_out > 0:
            log(f"warning: no face in any of the {stats.frames_out} driver frames: the portrait stayed still")
        ok = True
    finally:
        stats.seconds = time.perf_counter() - t_start
        stop.set()
        while cap.is_alive():  # unblock a capture thread waiting on a full queue
            try:
                q.get_nowait()
            except queue.Empty:
                cap.join(0.05)
        animator.close()
        driver.close()
        sink.close(ok and stats.frames_out > 0)
    return stats
