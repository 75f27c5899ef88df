"""Writing videos with PyAV: :class:`VideoWriter` encodes uint8 RGB frames (H, W, 3) to H.264 (libx264,
yuv420p) in mp4/mov/m4v/mkv, optionally muxing the audio of another file (48 kHz AAC, mono or stereo
as the source; trimmed to the video's length), and writes atomically: an exception inside
``with VideoWriter(...)`` leaves no file behind. Reading is :mod:`talkinghead.io.video`.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path
from types import TracebackType

import av
import cv2
import numpy as np
from av.video.reformatter import ColorRange, Colorspace

from talkinghead.errors import OutputError
from talkinghead.io.atomic import atomic_output, check_input_file
from talkinghead.io.video import open_media

__all__ = ["VideoWriter", "rgb_to_i420"]

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
        self._in = open_media(source, "an audio or video file")
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
        with open_media(source, "an audio or video file") as c:
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
            if block.shape[1]:  # NaN / inf samples (a corrupt float WAV) would stop the AAC encoder
                yield np.nan_to_num(np.ascontiguousarray(block, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)

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
