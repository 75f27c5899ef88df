"""Reading audio (any format FFmpeg decodes, including the audio track of a video) and writing WAV.

Samples are float32 in [-1, 1]: shape (n,) for mono, (n, channels) otherwise (soundfile's layout).
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import soundfile as sf

from talkinghead.errors import InputError, OutputError
from talkinghead.io.atomic import atomic_output, check_input_file

__all__ = ["mp3_truncation", "read_audio", "wav_truncation", "write_wav"]


def _open_audio(path: Path) -> av.container.InputContainer:
    try:
        return av.open(os.fspath(path), "r")
    except (av.FFmpegError, UnicodeDecodeError, ValueError):
        raise InputError(path, "not an audio file or unsupported format") from None


def _decoded(
    container: av.container.InputContainer, stream: av.AudioStream
) -> Iterator[av.AudioFrame]:
    """Decoded frames; a decode error part way (truncated file) ends the stream quietly."""
    frames = container.decode(stream)
    while True:
        try:
            yield next(frames)
        except (StopIteration, av.FFmpegError, EOFError):
            return


_WAV_UNKNOWN_SIZE = 0x7FFF0000  # data sizes from here up mean "unknown length" (streamed WAV: sox, pipes)


def wav_truncation(path: str | os.PathLike) -> str | None:
    """A warning if ``path`` is a RIFF/WAVE file whose ``data`` chunk is cut short, else None.

    FFmpeg quietly decodes what is there (its duration shrinks to match), so a cut-off upload
    would otherwise give a shorter video without a word. Streamed WAVs, whose header could not
    give the length (size 0 or ~2 GiB placeholders), are complete. Other formats: None.
    """
    p = Path(os.fspath(path))
    try:
        size = p.stat().st_size
        with open(p, "rb") as f:
            head = f.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return None
            pos = 12
            while pos + 8 <= size:
                f.seek(pos)
                hdr = f.read(8)
                n = int.from_bytes(hdr[4:8], "little")
                if hdr[:4] == b"data":
                    if 0 < n < _WAV_UNKNOWN_SIZE and pos + 8 + n > size:
                        have = size - pos - 8
                        return (f"truncated WAV file: {have} of the {n} data bytes its header announces "
                                f"({100 * have / n:.0f} %); using those")
                    return None
                pos += 8 + n + (n & 1)  # chunks are word-aligned
    except OSError:
        pass  # unreadable files get their error from the decoder
    return None


MP3_LENGTH_TAGS = (b"Xing", b"Info", b"VBRI")  # a first-frame header that gives the stream's frame count


def mp3_truncation(path: str | os.PathLike, decoded_s: float) -> str | None:
    """A warning if ``path`` is an MP3 whose length header (Xing / Info / VBRI, which LAME and FFmpeg
    write) announces more than the ``decoded_s`` seconds it decodes to, else None.

    As for a cut-off WAV, FFmpeg decodes what is there without a word. Without such a header an
    MP3's length is only estimated from its bitrate (wrong for VBR files), so it is not judged."""
    p = Path(os.fspath(path))
    try:
        with open(p, "rb") as f:
            head = f.read(10)
            skip = 0
            if head[:3] == b"ID3" and len(head) == 10:  # ID3v2 tag: its size is 4 x 7 bits
                skip = 10 + sum((b & 0x7F) << (7 * (3 - i)) for i, b in enumerate(head[6:10]))
            f.seek(skip)
            first = f.read(256)
        if not (len(first) > 4 and first[0] == 0xFF and first[1] & 0xE0 == 0xE0
                and any(t in first for t in MP3_LENGTH_TAGS)):
            return None
        with av.open(os.fspath(p)) as c:
            if "mp3" not in c.format.name or not c.duration:
                return None
            declared = c.duration / 1e6
    except (OSError, av.FFmpegError):
        return None
    if declared - decoded_s > max(0.25, 0.02 * declared):
        return (f"truncated MP3 file: {decoded_s:.2f} of the {declared:.2f} s its header announces "
                f"({100 * decoded_s / declared:.0f} %); using those")
    return None


def read_audio(
    path: str | os.PathLike, sr: int = 16000, mono: bool = True
) -> tuple[np.ndarray, int]:
    """Decode the first audio stream of ``path`` and resample it to ``sr`` Hz.

    Args:
        path: wav, mp3, flac, ogg, m4a, ... or a video with an audio track.
        sr: output sample rate.
        mono: mix down to one channel, the mean of the channels (shape (n,)); otherwise keep
            the source channels
            (shape (n, channels)).

    Returns:
        (samples float32 in [-1, 1], sr)

    Raises:
        InputError: "file not found", "empty file (0 bytes)", "not an audio file or unsupported
            format", "no audio stream" or "no decodable audio (truncated or corrupt)".
    """
    if sr <= 0:
        raise ValueError(f"sr must be > 0, got {sr}")
    p = check_input_file(path)
    with _open_audio(p) as container:
        if not container.streams.audio:
            raise InputError(p, "no audio stream")
        stream = container.streams.audio[0]
        stream.thread_type = "AUTO"
        # Keep the source layout (mono is mixed below as a plain channel mean: FFmpeg's
        # stereo->mono rematrix scales by 1/sqrt(2) per channel and can exceed [-1, 1]).
        resampler = av.AudioResampler(format="fltp", layout=None, rate=sr)
        blocks: list[np.ndarray] = []
        for frame in _decoded(container, stream):
            blocks.extend(f.to_ndarray() for f in resampler.resample(frame))  # (ch, n) each
        if blocks:  # flush only a resampler that was configured by at least one frame
            blocks.extend(f.to_ndarray() for f in resampler.resample(None))
    if not blocks or sum(b.shape[1] for b in blocks) == 0:
        raise InputError(p, "no decodable audio (truncated or corrupt)")
    samples = np.concatenate(blocks, axis=1).astype(np.float32, copy=False)  # (ch, n)
    out = samples.mean(axis=0) if mono else samples.T
    return np.ascontiguousarray(out), sr


def write_wav(path: str | os.PathLike, samples: np.ndarray, sr: int) -> None:
    """Write float samples (n,) or (n, channels) in [-1, 1] as a 16-bit PCM WAV, atomically.

    Values outside [-1, 1] are clipped.

    Raises:
        OutputError: extension is not .wav, missing/unwritable directory, disk full.
        ValueError: bad ``sr`` or array shape.
    """
    p = Path(os.fspath(path))
    if p.suffix.lower() != ".wav":
        raise OutputError(p, f"unsupported audio extension '{p.suffix}' (use .wav)")
    if sr <= 0:
        raise ValueError(f"sr must be > 0, got {sr}")
    a = np.asarray(samples)
    if a.ndim not in (1, 2):
        raise ValueError(f"samples must have shape (n,) or (n, channels), got {a.shape}")
    if np.issubdtype(a.dtype, np.floating):
        a = np.clip(np.nan_to_num(a), -1.0, 1.0).astype(np.float32)
    with atomic_output(p) as tmp:
        sf.write(os.fspath(tmp), a, int(sr), format="WAV", subtype="PCM_16")
