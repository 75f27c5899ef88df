"""Reading and writing videos with PyAV: frames are uint8 RGB numpy arrays (H, W, 3).

* :func:`probe_video` reads the header and decodes one frame to check the file is usable.
* :class:`VideoReader` iterates frames; a truncated file ends the iteration after the last good
  frame (``reader.truncated`` is then True) instead of raising mid-stream.
* :class:`VideoWriter` encodes H.264 (libx264, yuv420p) into mp4/mov/mkv, optionally muxing the
  audio of another file (48 kHz AAC, mono or stereo as the source; trimmed to the video's length), and
  writes atomically: an exception inside ``with VideoWriter(...)`` leaves no file behind.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import TracebackType

import av
import cv2
import numpy as np
from av.video.reformatter import ColorRange, Colorspace

from talkinghead.errors import InputError, OutputError
from talkinghead.io.atomic import atomic_output, check_input_file

__all__ = ["VideoInfo", "VideoReader", "VideoWriter", "first_audio_time", "probe_video", "read_video_frames"]

# Demuxers that FFmpeg uses for still images; such files are not accepted as videos.
_STILL_IMAGE_FORMATS = {"image2", "png_pipe", "jpeg_pipe", "bmp_pipe", "webp_pipe", "tiff_pipe"}
# Magic bytes of containers we would recognise if they were intact (used to word errors).
_VIDEO_MAGIC = (
    (4, b"ftyp"),  # mp4 / mov / m4v / 3gp
    (0, b"\x1a\x45\xdf\xa3"),  # matroska / webm
    (8, b"AVI "),  # avi (RIFF....AVI )
)
_WRITE_EXTENSIONS = {".mp4", ".m4v", ".mov", ".mkv"}
_AUDIO_RATE = 48000

# BT.601 limited-range chroma rows (Cb, Cr) with their offset, for cv2.transform on 8-bit RGB:
# Cb = 128 + 224/255 * (B - Y') / (2 (1 - Kb)), Cr = 128 + 224/255 * (R - Y') / (2 (1 - Kr)).
_KR, _KB = 0.299, 0.114
_CHROMA = np.array([[-_KR, _KB + _KR - 1, 1 - _KB], [1 - _KR, _KB + _KR - 1, -_KB]], np.float64)
_CHROMA = np.concatenate([_CHROMA / (2 * (1 - np.array([[_KB], [_KR]]))) * 224 / 255, [[128.0], [128.0]]], 1)


def rgb_to_i420(rgb: np.ndarray) -> np.ndarray:
    """Even-sized uint8 RGB -> (H * 3 / 2, W) yuv420p planes, BT.601 limited range: OpenCV's luma,
    chroma of each 2x2 block's mean colour (what swscale's reformat gives, within 1 level of luma
    and ~0.1 of chroma on natural frames, at a third of its time)."""
    h, w = rgb.shape[:2]
    out = np.empty((h * 3 // 2, w), np.uint8)
    out[:h] = cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420)[:h]
    uv = cv2.transform(cv2.resize(rgb, (w // 2, h // 2), interpolation=cv2.INTER_AREA), _CHROMA)
    q = h * w // 4
    flat = out[h:].reshape(-1)
    flat[:q] = uv[..., 0].reshape(-1)
    flat[q:] = uv[..., 1].reshape(-1)
    return out


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


def _open_input(path: Path, what: str = "a video") -> av.container.InputContainer:
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
    with _open_input(p) as container:
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
    with _open_input(p, "an audio or video file") as c:
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
        self._container = _open_input(self.path)
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


class _AudioTrack:
    """The audio of another file, re-encoded to 48 kHz AAC in step with the video: mono for a mono
    source (96 kb/s), stereo otherwise (128 kb/s; more channels are downmixed), with FFmpeg's fast
    AAC coder (a quarter of the default's CPU time for mono speech).

    Samples are pulled lazily: :meth:`pump` encodes up to a given time, so audio and video packets
    are interleaved in the output and the track never runs past the video (or ``max_duration``).
    """

    def __init__(
        self,
        source: Path,
        output: av.container.OutputContainer,
        start: float,
        max_duration: float | None,
    ):
        self._in = _open_input(source, "an audio or video file")
        self._src = source
        self._ain = self._in.streams.audio[0]
        self._ain.thread_type = "AUTO"
        self._start = max(0.0, float(start))
        self._limit = None if max_duration is None else max(0, round(max_duration * _AUDIO_RATE))
        self._layout = "mono" if (self._ain.channels or 2) == 1 else "stereo"
        self.stream = output.add_stream("aac", rate=_AUDIO_RATE)
        self.stream.layout = self._layout
        self.stream.bit_rate = 96_000 if self._layout == "mono" else 128_000
        self.stream.options = {"aac_coder": "fast"}
        self._output = output
        self._resampler = av.AudioResampler(format="fltp", layout=self._layout, rate=_AUDIO_RATE)
        self._chunks = self._decode()
        self._pending = np.zeros((len(self.stream.layout.channels), 0), np.float32)
        self._encoded = 0  # samples handed to the encoder so far
        self._exhausted = False

    @staticmethod
    def has_audio(source: Path) -> bool:
        with _open_input(source, "an audio or video file") as c:
            return bool(c.streams.audio)

    def _seek_to_start(self) -> bool:
        if self._start <= 0 or not self._ain.time_base:
            return False
        try:
            self._in.seek(int(self._start / self._ain.time_base), stream=self._ain)
            return True
        except av.FFmpegError:
            return False

    def _resampled(self) -> Iterator[tuple[float | None, np.ndarray]]:
        """Yield (source time of the input frame or None, (channels, n) float32 samples at 48 kHz)."""
        self._seek_to_start()
        frames = self._in.decode(self._ain)
        while True:
            try:
                frame = next(frames)
            except (StopIteration, av.FFmpegError, EOFError):
                break  # a damaged audio tail ends the track early rather than failing the write
            t = frame.time
            for out in self._resampler.resample(frame):
                yield t, out.to_ndarray()
                t = None
        for out in self._resampler.resample(None):
            yield None, out.to_ndarray()

    def _decode(self) -> Iterator[np.ndarray]:
        """Yield sample blocks so that the first yielded sample is at ``start`` seconds."""
        drop: int | None = None
        for t, block in self._resampled():
            if drop is None:  # first block: align the source time to ``start``
                offset = round(((t or 0.0) - self._start) * _AUDIO_RATE)
                if offset > 0:  # the audio begins after ``start``: lead with silence
                    yield np.zeros((self._pending.shape[0], offset), np.float32)
                drop = max(0, -offset)
            if drop:  # skip the lead-in before ``start`` (may span several blocks)
                n = min(drop, block.shape[1])
                block, drop = block[:, n:], drop - n
            if block.shape[1]:
                yield np.ascontiguousarray(block, dtype=np.float32)

    def _fill(self, target: int) -> None:
        while not self._exhausted and self._encoded + self._pending.shape[1] < target:
            try:
                block = next(self._chunks)
            except StopIteration:
                self._exhausted = True
                break
            self._pending = np.concatenate([self._pending, block], axis=1)

    def _encode(self, samples: np.ndarray | None) -> None:
        if samples is None:
            packets = self.stream.encode(None)
        else:
            frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout=self._layout)
            frame.sample_rate = _AUDIO_RATE
            frame.pts = self._encoded
            frame.time_base = Fraction(1, _AUDIO_RATE)
            self._encoded += samples.shape[1]
            packets = self.stream.encode(frame)
        for packet in packets:
            self._output.mux(packet)

    def pump(self, until: float, final: bool = False) -> None:
        """Encode audio up to ``until`` seconds; with ``final`` also the last partial frame."""
        target = round(until * _AUDIO_RATE)
        if self._limit is not None:
            target = min(target, self._limit)
        self._fill(target)
        size = self.stream.codec_context.frame_size or 1024
        while self._pending.shape[1] >= size and self._encoded + size <= target:
            self._encode(np.ascontiguousarray(self._pending[:, :size]))
            self._pending = self._pending[:, size:]
        if final:
            rest = min(self._pending.shape[1], max(0, target - self._encoded))
            if rest > 0:
                self._encode(np.ascontiguousarray(self._pending[:, :rest]))
            self._pending = self._pending[:, :0]

    def finish(self, until: float) -> None:
        """Encode the remaining audio up to ``until`` seconds and flush the encoder."""
        self.pump(until, final=True)
        self._encode(None)
        self.close()

    def close(self) -> None:
        self._in.close()


class VideoWriter:
    """Encode uint8 RGB frames to an H.264 video, optionally with the audio of another file.

    Example::

        with VideoWriter("out.mp4", fps=25, size=(512, 512), audio_from="speech.wav") as w:
            for rgb in frames:
                w.write(rgb)

    The output is written to a hidden temporary file and moved to ``path`` when the ``with``
    block ends without an exception; otherwise the temporary file is deleted.

    Args:
        path: output file (.mp4, .m4v, .mov or .mkv).
        fps: frame rate (e.g. 25 or 30000/1001 ~ 29.97).
        size: (width, height) of the frames passed to :meth:`write`. H.264 in yuv420p needs even
            dimensions, so an odd width/height is cropped by one pixel (right/bottom).
        audio_from: a video or audio file whose first audio stream is muxed (as 48 kHz AAC, mono
            for a mono source, else stereo), trimmed to the video's duration (frames / fps). No
            audio if it has none.
        audio_start: the time in ``audio_from``'s timeline (its container timestamps) that plays with
            the first frame; audio that begins later is led in with silence. A driver video's
            :attr:`VideoInfo.start_time`; for audio analysed from its first sample,
            :func:`first_audio_time`.
        audio_duration: at most this many seconds of audio.
        crf: x264 constant rate factor (0 lossless ... 51 worst; 18 is visually near-lossless).
        preset: x264 speed preset ("ultrafast" ... "veryslow").
        finalize: called with the temporary file once it is complete, before it is moved into
            place (e.g. to sign it in place); if it raises, nothing is written.

    Raises:
        OutputError: bad extension, missing/unwritable directory, disk full, no frames written.
        InputError: ``audio_from`` is missing or unreadable.
        ValueError: bad fps/size, or a frame of the wrong shape/dtype.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        fps: float,
        size: tuple[int, int],
        audio_from: str | os.PathLike | None = None,
        audio_start: float = 0.0,
        audio_duration: float | None = None,
        crf: int = 18,
        preset: str = "veryfast",
        finalize: Callable[[Path], None] | None = None,
    ):
        self.path = Path(os.fspath(path))
        if self.path.suffix.lower() not in _WRITE_EXTENSIONS:
            raise OutputError(
                self.path, f"unsupported video extension '{self.path.suffix}' (use .mp4)"
            )
        if not fps or fps <= 0:
            raise ValueError(f"fps must be > 0, got {fps}")
        w, h = int(size[0]), int(size[1])
        if w < 2 or h < 2:
            raise ValueError(f"size must be at least 2x2, got {size}")
        self.fps = float(fps)
        self.size = (w, h)
        self._enc_size = (w - w % 2, h - h % 2)
        self._rate = Fraction(fps).limit_denominator(100_000)
        self.audio_from = None if audio_from is None else check_input_file(audio_from)
        self.audio_start = float(audio_start)
        self.audio_duration = audio_duration
        self.crf = int(crf)
        self.preset = preset
        self.frames_written = 0
        self._finalize = finalize
        self._tmp: Path | None = None
        self._atomic = None
        self._container: av.container.OutputContainer | None = None
        self._stream: av.VideoStream | None = None
        self._audio: _AudioTrack | None = None

    # -- context management -------------------------------------------------------------------

    def __enter__(self) -> "VideoWriter":
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            self.close()
        else:
            self._abort(exc_type, exc, tb)

    def open(self) -> None:
        """Create the temporary output and set up the streams (called by ``__enter__``)."""
        if self._container is not None:
            raise RuntimeError("VideoWriter is already open")
        atomic = atomic_output(self.path)
        tmp = atomic.__enter__()  # raises OutputError for a missing/unwritable directory
        self._atomic = atomic
        self._tmp = tmp
        try:
            self._container = self._open_container(tmp)
        except BaseException as e:
            self._abort(type(e), e, e.__traceback__)
            raise

    def _open_container(self, tmp: Path) -> av.container.OutputContainer:
        opts = {"movflags": "+faststart"} if self.path.suffix.lower() != ".mkv" else {}
        container = av.open(os.fspath(tmp), "w", container_options=opts)
        try:
            stream = container.add_stream("libx264", rate=self._rate)
            stream.width, stream.height = self._enc_size
            stream.pix_fmt = "yuv420p"
            stream.options = {"crf": str(self.crf), "preset": self.preset}
            cc = stream.codec_context
            cc.thread_count = 0  # let x264 pick (all cores)
            cc.thread_type = "AUTO"
            # Tag what write() produces (BT.601 limited range) so players convert it back alike.
            cc.colorspace = Colorspace.ITU601
            cc.color_range = ColorRange.MPEG
            self._stream = stream
            if self.audio_from is not None and _AudioTrack.has_audio(self.audio_from):
                self._audio = _AudioTrack(
                    self.audio_from, container, self.audio_start, self.audio_duration
                )
        except BaseException:
            container.close()
            raise
        return container

    # -- writing ----------------------------------------------------------------------------

    def write(self, rgb: np.ndarray) -> None:
        """Append one uint8 RGB frame of exactly ``size`` (shape (height, width, 3))."""
        if self._container is None or self._stream is None:
            raise RuntimeError("VideoWriter is not open (use it as a context manager)")
        a = np.asarray(rgb)
        w, h = self.size
        if a.shape != (h, w, 3) or a.dtype != np.uint8:
            raise ValueError(
                f"frame must be uint8 of shape {(h, w, 3)}, got {a.dtype} {a.shape}"
            )
        ew, eh = self._enc_size
        a = np.ascontiguousarray(a[:eh, :ew])  # drop an odd last row/column (H.264 4:2:0)
        frame = av.VideoFrame.from_ndarray(rgb_to_i420(a), format="yuv420p")
        frame.pts = self.frames_written
        frame.time_base = 1 / self._rate
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        self.frames_written += 1
        if self._audio is not None:
            self._audio.pump(self.frames_written / self.fps)

    def close(self) -> None:
        """Flush the encoders, finish the file and move it into place."""
        if self._container is None:
            return
        try:
            if self.frames_written == 0:
                raise OutputError(self.path, "no frames were written")
            for packet in self._stream.encode(None):
                self._container.mux(packet)
            if self._audio is not None:
                self._audio.finish(self.frames_written / self.fps)
            self._container.close()
            self._container = None
            if self._finalize is not None:
                try:
                    self._finalize(self._tmp)
                except OutputError as e:  # name the user's path, not our hidden temp file
                    if e.path is not None and Path(e.path) == Path(self._tmp):
                        raise OutputError(self.path, e.reason) from None
                    raise
        except BaseException as e:
            self._abort(type(e), e, e.__traceback__)
            raise
        atomic, self._atomic = self._atomic, None
        atomic.__exit__(None, None, None)

    def _abort(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close everything and delete the temporary file; re-raises a mapped OutputError."""
        for closer in (self._audio, self._container):
            if closer is not None:
                try:
                    closer.close()
                except Exception:  # noqa: BLE001 - already failing; cleanup is best effort
                    pass
        self._audio = None
        self._container = None
        atomic, self._atomic = self._atomic, None
        if atomic is not None:
            atomic.__exit__(exc_type, exc, tb)  # removes the temp file; may raise OutputError
