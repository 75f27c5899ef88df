"""Reading videos with PyAV: frames are uint8 RGB numpy arrays (H, W, 3).

* :func:`probe_video` reads the header and decodes one frame to check the file is usable.
* :class:`VideoReader` iterates frames; a truncated file ends the iteration after the last good
  frame (``reader.truncated`` is then True) instead of raising mid-stream.
* :func:`open_media` opens any audio/video input with a clear error (shared with the writer's audio track).

Writing (H.264, muxed audio, atomic) is :mod:`talkinghead.io.video_writer`.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from talkinghead.errors import InputError
from talkinghead.io.atomic import check_input_file

__all__ = ["VideoInfo", "VideoReader", "first_audio_time", "open_media", "probe_video", "read_video_frames"]

# Demuxers that FFmpeg uses for still images; such files are not accepted as videos.
_STILL_IMAGE_FORMATS = {"image2", "png_pipe", "jpeg_pipe", "bmp_pipe", "webp_pipe", "tiff_pipe"}
# Magic bytes of containers we would recognise if they were intact (used to word errors).
_VIDEO_MAGIC = (
    (4, b"ftyp"),  # mp4 / mov / m4v / 3gp
    (0, b"\x1a\x45\xdf\xa3"),  # matroska / webm
    (8, b"AVI "),  # avi (RIFF....AVI )
)

_NO_FRAMES = "no decodable frames (truncated or corrupt)"


@dataclass(frozen=True)
class VideoInfo:
    """What :func:`probe_video` learns about a video.

    ``width``/``height`` are those of the frames as displayed (after the rotation metadata is
    applied), i.e. the shape of the arrays :class:`VideoReader` yields.
    """

    width: int
    height: int
    fps: float
    n_frames: int | None  # from the header, else estimated as duration * fps; None if unknown
    duration: float  # seconds (0.0 if unknown)
    has_audio: bool
    audio_rate: int | None  # sample rate of the first audio stream
    rotation: int = 0  # degrees counterclockwise applied to decoded frames (0, 90, 180, 270)
    start_time: float = 0.0  # container time (s) of the first video frame: frame 0's moment in the audio


def _looks_like_video_container(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            head = f.read(16)
    except OSError:
        return False
    return any(head[off : off + len(magic)] == magic for off, magic in _VIDEO_MAGIC)


def open_media(path: Path, what: str = "a video") -> av.container.InputContainer:
    """Open a media file for reading or raise InputError with a helpful reason."""
    try:
        return av.open(os.fspath(path), "r")
    except (av.FFmpegError, UnicodeDecodeError, ValueError):
        if _looks_like_video_container(path):
            reason = "truncated or corrupt video (container index unreadable)"
            raise InputError(path, reason) from None
        raise InputError(path, f"not {what} or unsupported format") from None


def _video_stream(path: Path, container: av.container.InputContainer) -> av.VideoStream:
    if container.format.name in _STILL_IMAGE_FORMATS:
        raise InputError(path, "not a video (a still image, or a format FFmpeg does not know)")
    if not container.streams.video:
        if not container.streams.audio and _looks_like_video_container(path):
            # e.g. an mp4 cut inside its index: the container is recognised, its streams are not
            raise InputError(path, "truncated or corrupt video (no readable streams)")
        raise InputError(path, "no video stream")
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    return stream


def _stream_fps(stream: av.VideoStream) -> float:
    """The stream's frame rate: the nominal (guessed) rate where the header has one in a sane range,
    else the average. The average alone is too low for a file with a gap (a 25 fps clip missing 0.44 s
    averages 19.5 fps: on that grid, one real frame in five would be dropped); a nominal rate of
    90 kHz or several times the average (timestamp resolution, not frames) falls back to the average."""
    avg = float(stream.average_rate) if stream.average_rate and float(stream.average_rate) > 0 else 0.0
    for rate in (stream.guessed_rate, stream.base_rate):
        if rate and 0 < float(rate) <= 240 and (not avg or 0.9 * avg <= float(rate) <= 2 * avg):
            return float(rate)
    if avg:
        return avg
    return 25.0  # FFmpeg's own fallback for streams without timing


def _stream_duration(container: av.container.InputContainer, stream: av.VideoStream) -> float:
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / av.time_base
    return 0.0


def _rotation_k(frame: av.VideoFrame) -> int:
    """Number of counterclockwise quarter turns that make ``frame`` upright (0..3)."""
    try:
        angle = frame.rotation
    except Exception:  # noqa: BLE001 - missing/odd side data means no rotation
        return 0
    return int(round((angle or 0) / 90.0)) % 4


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """Read a video's header and decode its first frame.

    Raises:
        InputError: "file not found", "empty file (0 bytes)", "not a video or unsupported
            format", "no video stream" or "no decodable frames (truncated or corrupt)".
    """
    p = check_input_file(path)
    with open_media(p) as container:
        stream = _video_stream(p, container)
        try:
            first = next(container.decode(stream))
        except (StopIteration, av.FFmpegError):
            raise InputError(p, _NO_FRAMES) from None
        fps = _stream_fps(stream)
        duration = _stream_duration(container, stream)
        n_frames = stream.frames if stream.frames > 0 else (round(duration * fps) or None)
        k = _rotation_k(first)
        w, h = (first.width, first.height) if k % 2 == 0 else (first.height, first.width)
        audio = container.streams.audio
        return VideoInfo(
            width=w,
            height=h,
            fps=fps,
            n_frames=n_frames,
            duration=duration,
            has_audio=bool(audio),
            audio_rate=(audio[0].rate or None) if audio else None,
            rotation=90 * k,
            start_time=float(first.time or 0.0),
        )


def first_audio_time(path: str | os.PathLike) -> float:
    """Container time (s) of the first decoded audio sample of ``path`` (0.0 if it has no audio or no
    timestamp). An MP3's first frame sits at its encoder delay (~0.025 s); a video's audio track may
    start after its picture. Audio analysed from its first sample is muxed from this time on."""
    p = check_input_file(path)
    with open_media(p, "an audio or video file") as c:
        if not c.streams.audio:
            return 0.0
        try:
            frame = next(c.decode(c.streams.audio[0]))
        except (StopIteration, av.FFmpegError):
            return 0.0
        return float(frame.time or 0.0)


class _ConstantRate:
    """Maps decoded frames onto the stream's constant frame-rate grid, the way ``ffmpeg -vsync cfr``
    does: a variable-frame-rate file (e.g. a Matroska file with dropped frames, whose header gives the
    nominal rate) keeps its duration: a gap holds the frame before it (a frame shows until the next
    one's time), a frame that lands on an already filled slot is dropped. Frames without a timestamp take the next slot."""

    MAX_GAP_S = 10.0  # a longer jump in the timestamps is a discontinuity, not a gap to fill

    def __init__(self, fps: float):
        self.fps = float(fps) if fps and fps > 0 else 25.0
        self.t0: float | None = None
        self.next = 0  # the next grid slot to fill

    def place(self, t: float | None) -> int:
        """How many times to emit the frame with timestamp ``t`` (seconds): 0 (drop), 1, or more."""
        if t is None:
            self.next += 1
            return 1
        if self.t0 is None:
            self.t0 = t
        k = int(round((t - self.t0) * self.fps))
        if k - self.next > self.MAX_GAP_S * self.fps or k < self.next - self.fps:
            # a timestamp jump (forward by > MAX_GAP_S, or back by > 1 s: joined clips, a reset
            # clock): a discontinuity, not a gap to fill or frames to drop; re-anchor here
            self.t0 = t - self.next / self.fps
            k = self.next
        if k < self.next:
            return 0
        n = k - self.next + 1
        self.next = k + 1
        return n


class VideoReader:
    """Iterate the frames of a video as uint8 RGB arrays (H, W, 3).

    Use as a context manager::

        with VideoReader("in.mp4") as reader:
            for rgb in reader:
                ...

    ``info`` is available right after construction. If decoding fails part way (a truncated or
    damaged file) the iteration ends after the last good frame and ``truncated`` becomes True; if
    the header promised more frames than could be decoded, ``truncated`` is True as well.

    Raises:
        InputError: see :func:`probe_video`; also while iterating if no frame at all decodes.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(os.fspath(path))
        self.info: VideoInfo = probe_video(self.path)
        self.truncated = False
        self.frames_read = 0
        self._container: av.container.InputContainer | None = None

    def __enter__(self) -> "VideoReader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the underlying file (safe to call more than once)."""
        if self._container is not None:
            self._container.close()
            self._container = None

    def __iter__(self) -> Iterator[np.ndarray]:
        self.close()
        self.truncated = False
        self.frames_read = 0
        self._container = open_media(self.path)
        try:
            stream = _video_stream(self.path, self._container)
            exact_count = stream.frames > 0  # mp4/mov indexes give the true frame count
            frames = self._container.decode(stream)
            grid = _ConstantRate(self.info.fps)
            prev: np.ndarray | None = None
            while True:
                try:
                    frame = next(frames)
                except StopIteration:
                    break
                except (av.FFmpegError, EOFError):
                    self.truncated = True
                    break
                self.frames_read += 1
                repeat = grid.place(frame.time)
                if repeat:
                    rgb = self._to_rgb(frame)
                    hold = rgb if prev is None else prev
                    for _ in range(repeat - 1):  # a gap: copies, so a kept frame is never aliased
                        yield hold.copy()
                    yield rgb
                    prev = rgb
        finally:
            self.close()
        if self.frames_read == 0:
            raise InputError(self.path, _NO_FRAMES)
        if exact_count and self.info.n_frames and self.frames_read < self.info.n_frames:
            self.truncated = True

    def _to_rgb(self, frame: av.VideoFrame) -> np.ndarray:
        # the frame's colour matrix and range tags (BT.709, full range...) drive the conversion
        rgb = frame.to_ndarray(format="rgb24", src_color_range=frame.color_range)
        k = self.info.rotation // 90
        return np.ascontiguousarray(np.rot90(rgb, k)) if k else rgb


def read_video_frames(
    path: str | os.PathLike, max_frames: int | None = None
) -> tuple[list[np.ndarray], VideoInfo]:
    """Decode (up to ``max_frames``) frames of a video into a list of uint8 RGB arrays."""
    frames: list[np.ndarray] = []
    with VideoReader(path) as reader:
        if max_frames is not None and max_frames <= 0:
            return frames, reader.info
        for rgb in reader:
            frames.append(rgb)
            if max_frames is not None and len(frames) >= max_frames:
                break
        return frames, reader.info
