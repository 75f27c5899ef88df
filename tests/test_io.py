"""Tests for talkinghead.io: every input is generated in tmp_path (no media is committed)."""
from __future__ import annotations

import errno
import os
import struct
import time
import warnings
import zlib
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from talkinghead.errors import InputError, OutputError
from talkinghead.io import (
    MAX_IMAGE_SIDE,
    VideoReader,
    VideoWriter,
    atomic_output,
    is_image_path,
    probe_video,
    read_audio,
    read_image,
    read_video_frames,
    write_image,
    write_wav,
)

# ---------------------------------------------------------------------------------------------
# helpers


def _smooth_frames(n: int, w: int, h: int, seed: int = 0) -> list[np.ndarray]:
    """Smooth, moving colour gradients: compress well, so the round-trip error is meaningful."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    frames = []
    for i in range(n):
        r = 128 + 100 * np.sin(xx / 9.0 + i * 0.3 + seed)
        g = 128 + 100 * np.cos(yy / 7.0 - i * 0.2)
        b = 128 + 100 * np.sin((xx + yy) / 13.0 + i * 0.1)
        frames.append(np.clip(np.stack([r, g, b], -1), 0, 255).astype(np.uint8))
    return frames


def _tone(path: Path, seconds: float, sr: int = 44100, freq: float = 440.0, channels: int = 2,
          silent_head: float = 0.0) -> None:
    t = np.arange(int(seconds * sr)) / sr
    x = 0.5 * np.sin(2 * np.pi * freq * t)
    x[t < silent_head] = 0.0
    sf.write(path, np.stack([x] * channels, 1) if channels > 1 else x, sr)


def _peak_hz(x: np.ndarray, sr: int) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / sr)[np.argmax(spec)])


def _listing(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir())


def _png_with_header_size(path: Path, w: int, h: int) -> None:
    """A small valid PNG whose IHDR is patched to claim w x h (pixel data stays tiny)."""
    Image.new("L", (40, 40), 7).save(path)
    data = bytearray(path.read_bytes())
    assert data[12:16] == b"IHDR"
    data[16:24] = struct.pack(">II", w, h)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])) & 0xFFFFFFFF)
    path.write_bytes(bytes(data))


# ---------------------------------------------------------------------------------------------
# atomic_output


def test_atomic_folder_replaces_whole_or_not_at_all(tmp_path: Path) -> None:
    from talkinghead.io.atomic import atomic_folder

    out = tmp_path / "person"
    out.mkdir()
    (out / "old.txt").write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_folder(out) as tmp:
            (tmp / "new.txt").write_text("half")
            raise RuntimeError("interrupted")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["person"]  # no temp folder left
    assert [p.name for p in out.iterdir()] == ["old.txt"]
    with atomic_folder(out) as tmp:
        (tmp / "new.txt").write_text("new")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["person"]
    assert [p.name for p in out.iterdir()] == ["new.txt"]


def test_atomic_output_moves_into_place_on_success(tmp_path: Path) -> None:
    out = tmp_path / "x.mp4"
    with atomic_output(out) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".x.mp4.") and tmp.suffix == ".mp4"
        assert not out.exists()
        tmp.write_bytes(b"abc")
    assert out.read_bytes() == b"abc"
    assert _listing(tmp_path) == ["x.mp4"]


def test_atomic_output_removes_temp_on_exception(tmp_path: Path) -> None:
    out = tmp_path / "x.png"
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_output(out) as tmp:
            tmp.write_bytes(b"partial")
            raise RuntimeError("boom")
    assert _listing(tmp_path) == []


@pytest.mark.skipif(os.name != "posix", reason="process probing is POSIX-only")
def test_atomic_output_removes_the_temp_files_of_a_killed_run(tmp_path: Path) -> None:
    """A run killed outright (SIGKILL) leaves its hidden temp file; the next run writing the same
    output removes it. A live process's temp file (another run still writing) is kept."""
    import subprocess
    import sys

    out = tmp_path / "x.mp4"
    child = subprocess.run([sys.executable, "-c",
                            "import os, signal, sys\n"
                            "from talkinghead.io.atomic import atomic_output\n"
                            "with atomic_output(sys.argv[1]) as tmp:\n"
                            "    tmp.write_bytes(b'partial')\n"
                            "    os.kill(os.getpid(), signal.SIGKILL)\n", str(out)])
    assert child.returncode == -9
    left = _listing(tmp_path)
    assert len(left) == 1 and left[0].startswith(".x.mp4.")  # what SIGKILL leaves behind
    live = tmp_path / ".x.mp4.1-0000abcd.tmp.mp4"  # pid 1 is alive
    live.write_bytes(b"")
    other = tmp_path / ".y.mp4.999999-0000abcd.tmp.mp4"  # another output's: not touched
    other.write_bytes(b"")
    lookalike = tmp_path / ".x.mp4.2024-final.mp4.999999-0000abcd.tmp.mp4"  # output "x.mp4.2024-final.mp4"'s
    lookalike.write_bytes(b"")
    with atomic_output(out) as tmp:
        tmp.write_bytes(b"abc")
    assert _listing(tmp_path) == sorted([live.name, other.name, lookalike.name, "x.mp4"])


def test_atomic_output_maps_enospc(tmp_path: Path) -> None:
    out = tmp_path / "x.wav"
    with pytest.raises(OutputError) as ei:
        with atomic_output(out):
            raise OSError(errno.ENOSPC, "No space left on device")
    assert ei.value.reason == "no space left on device"
    assert str(ei.value) == f"{out}: no space left on device"
    assert _listing(tmp_path) == []


def test_atomic_output_path_errors(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="directory does not exist"):
        with atomic_output(tmp_path / "missing" / "x.png"):
            pass
    with pytest.raises(OutputError, match="is a directory"):
        with atomic_output(tmp_path):
            pass
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="not a directory"):
        with atomic_output(tmp_path / "file" / "x.png"):
            pass
    with pytest.raises(OutputError, match="^empty output path$"):  # was ".: is a directory"
        with atomic_output(""):
            pass
    if Path("/proc/self").is_dir():  # a directory that exists and takes no new files
        with pytest.raises(OutputError, match="cannot create files in this directory"):
            with atomic_output("/proc/x.mp4"):
                pass


def test_atomic_output_folder_removed_while_writing(tmp_path: Path) -> None:
    """The output's folder deleted during a long render: a one-line OutputError, not an internal error
    naming the hidden temp file."""
    import shutil

    d = tmp_path / "vanish"
    d.mkdir()
    with pytest.raises(OutputError, match="the output directory was removed while writing"):
        with atomic_output(d / "x.mp4") as tmp:
            shutil.rmtree(d)
            open(tmp, "wb").close()  # the writer's next open fails
    assert not d.exists()


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root ignores chmod")
def test_atomic_output_permission_denied(tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(OutputError, match="permission denied"):
            with atomic_output(ro / "x.png"):
                pass
    finally:
        ro.chmod(0o700)


# ---------------------------------------------------------------------------------------------
# images


def test_read_image_rgb_png_roundtrip(tmp_path: Path) -> None:
    rgb = _smooth_frames(1, 64, 48)[0]
    write_image(tmp_path / "a.png", rgb)
    out = read_image(tmp_path / "a.png")
    assert out.dtype == np.uint8 and out.shape == (48, 64, 3)
    np.testing.assert_array_equal(out, rgb)
    assert _listing(tmp_path) == ["a.png"]  # no temp file left


def test_write_image_jpeg_close(tmp_path: Path) -> None:
    rgb = _smooth_frames(1, 64, 48)[0]
    write_image(tmp_path / "a.jpg", rgb)
    out = read_image(tmp_path / "a.jpg")
    assert out.shape == rgb.shape
    assert np.abs(out.astype(int) - rgb).mean() < 3


def test_write_image_errors(tmp_path: Path) -> None:
    rgb = np.zeros((40, 40, 3), np.uint8)
    with pytest.raises(OutputError, match="directory does not exist"):
        write_image(tmp_path / "nope" / "a.png", rgb)
    with pytest.raises(OutputError, match="unsupported image extension"):
        write_image(tmp_path / "a.xyz", rgb)
    with pytest.raises(ValueError):
        write_image(tmp_path / "a.png", rgb.astype(np.float32))
    assert _listing(tmp_path) == []


def test_read_image_alpha_composited_over_white(tmp_path: Path) -> None:
    rgba = np.zeros((40, 60, 4), np.uint8)
    rgba[:, :, 0] = 255  # red everywhere
    rgba[:, :20, 3] = 0  # left: fully transparent
    rgba[:, 20:40, 3] = 128  # middle: half
    rgba[:, 40:, 3] = 255  # right: opaque
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    out = read_image(tmp_path / "a.png")
    assert out.shape == (40, 60, 3)
    np.testing.assert_array_equal(out[0, 0], [255, 255, 255])
    np.testing.assert_array_equal(out[0, 59], [255, 0, 0])
    assert out[0, 30, 0] == 255 and 120 <= out[0, 30, 1] <= 135  # 50 % red over white


def test_read_image_palette_with_transparency(tmp_path: Path) -> None:
    p = Image.new("P", (40, 40), 1)
    p.putpalette([0, 0, 0, 0, 0, 255] + [0] * 762)
    p.paste(0, (0, 0, 20, 40))  # left half: index 0 = transparent
    p.save(tmp_path / "p.png", transparency=0)
    out = read_image(tmp_path / "p.png")
    np.testing.assert_array_equal(out[5, 5], [255, 255, 255])
    np.testing.assert_array_equal(out[5, 35], [0, 0, 255])


def test_read_image_greyscale_8_and_16_bit(tmp_path: Path) -> None:
    g8 = np.tile(np.arange(64, dtype=np.uint8)[None] * 4, (40, 1))
    cv2.imwrite(str(tmp_path / "g8.png"), g8)
    out = read_image(tmp_path / "g8.png")
    assert out.shape == (40, 64, 3)
    for c in range(3):
        np.testing.assert_array_equal(out[..., c], g8)

    g16 = np.tile(np.linspace(0, 65535, 64).astype(np.uint16)[None], (40, 1))
    cv2.imwrite(str(tmp_path / "g16.png"), g16)
    out = read_image(tmp_path / "g16.png")
    assert out.dtype == np.uint8 and out.shape == (40, 64, 3)
    assert out[0, 0, 0] == 0 and out[0, -1, 0] == 255
    assert np.abs(out[..., 1].astype(int) - np.rint(g16 / 257.0)).max() <= 1


def test_read_image_16_bit_rgb(tmp_path: Path) -> None:
    rgb16 = np.zeros((40, 50, 3), np.uint16)
    rgb16[..., 0] = 65535
    rgb16[..., 1] = 32896  # 128 * 257
    rgb16[..., 2] = 257 * 10
    cv2.imwrite(str(tmp_path / "c16.png"), rgb16[..., ::-1])  # cv2 writes BGR
    out = read_image(tmp_path / "c16.png")
    assert out.dtype == np.uint8
    assert np.abs(out[0, 0].astype(int) - [255, 128, 10]).max() <= 1


def test_read_image_cmyk_jpeg(tmp_path: Path) -> None:
    Image.new("CMYK", (48, 48), (0, 255, 255, 0)).save(tmp_path / "c.jpg", quality=95)
    assert Image.open(tmp_path / "c.jpg").mode == "CMYK"
    out = read_image(tmp_path / "c.jpg")
    assert out.shape == (48, 48, 3)
    r, g, b = out[24, 24].astype(int)
    assert r > 220 and g < 40 and b < 40  # cyan 0, magenta + yellow 100 % = red


def test_read_image_exif_orientation(tmp_path: Path) -> None:
    rgb = np.zeros((40, 80, 3), np.uint8)  # stored landscape: left half red, right half blue
    rgb[:, :40, 0] = 255
    rgb[:, 40:, 2] = 255
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    Image.fromarray(rgb).save(tmp_path / "r.jpg", exif=exif.tobytes(), quality=95)
    out = read_image(tmp_path / "r.jpg")
    assert out.shape == (80, 40, 3)  # displayed portrait
    assert out[10, 20, 0] > 200 and out[10, 20, 2] < 50  # old left (red) is now on top
    assert out[70, 20, 2] > 200 and out[70, 20, 0] < 50


def test_read_image_corrupt_exif_is_read_as_stored_without_warnings(tmp_path: Path) -> None:
    """An EXIF block whose IFD offset points past its end: Pillow warns "Corrupt EXIF data" on
    stderr; the image is read as stored, quietly."""
    import struct
    import warnings

    rgb = _smooth_frames(1, 64, 48)[0]
    Image.fromarray(rgb).save(tmp_path / "e.jpg", quality=95,
                              exif=b"Exif\x00\x00II*\x00" + struct.pack("<I", 0xFFFF0000))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = read_image(tmp_path / "e.jpg")
    assert out.shape == rgb.shape


def test_read_image_animated_gif_first_frame(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (40, 40), c) for c in ((255, 0, 0), (0, 255, 0))]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:], duration=100)
    out = read_image(tmp_path / "a.gif")
    assert out.shape == (40, 40, 3)
    np.testing.assert_array_equal(out[20, 20], [255, 0, 0])


def test_read_image_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="file not found"):
        read_image(tmp_path / "missing.png")
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(InputError, match=r"empty file \(0 bytes\)"):
        read_image(tmp_path / "empty.png")
    (tmp_path / "text.jpg").write_text("hello, I am not a JPEG\n" * 20)
    with pytest.raises(InputError, match="not an image or unsupported format"):
        read_image(tmp_path / "text.jpg")
    Image.new("RGB", (1, 1)).save(tmp_path / "tiny.png")
    with pytest.raises(InputError, match=r"image too small \(1x1; need at least 32x32\)"):
        read_image(tmp_path / "tiny.png")
    with pytest.raises(InputError, match="is a directory"):
        read_image(tmp_path)


@pytest.mark.parametrize("ext", [".jpg", ".png"])
def test_read_image_truncated(tmp_path: Path, ext: str) -> None:
    noisy = (np.random.default_rng(0).random((200, 200, 3)) * 255).astype(np.uint8)
    full = tmp_path / f"full{ext}"
    write_image(full, noisy)
    data = full.read_bytes()
    cut = tmp_path / f"cut{ext}"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError) as ei:
        read_image(cut)
    assert ei.value.reason == "truncated or corrupt image"


@pytest.mark.parametrize("side", [10000, 30000])
def test_read_image_too_large_refused_from_header(tmp_path: Path, side: int) -> None:
    path = tmp_path / "huge.png"
    _png_with_header_size(path, side, side)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no DecompressionBombWarning may surface
        with pytest.raises(InputError, match="image too large") as ei:
            read_image(path)
    assert time.perf_counter() - t0 < 1.0
    assert f"at most {MAX_IMAGE_SIDE} px per side" in ei.value.reason
    if side == 10000:
        assert "10000x10000" in ei.value.reason


def test_is_image_path_sniffs_content(tmp_path: Path) -> None:
    Image.new("RGB", (40, 40)).save(tmp_path / "really_png.dat", format="PNG")
    (tmp_path / "fake.jpg").write_text("not an image")
    (tmp_path / "empty.png").write_bytes(b"")
    assert is_image_path(tmp_path / "really_png.dat") is True
    assert is_image_path(tmp_path / "fake.jpg") is False
    assert is_image_path(tmp_path / "empty.png") is False
    assert is_image_path(tmp_path / "missing.png") is False


# ---------------------------------------------------------------------------------------------
# video

W, H, N, FPS = 96, 64, 20, 25.0


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[np.ndarray]]:
    """A 20-frame 25 fps clip muxed with (longer) 440 Hz audio."""
    d = tmp_path_factory.mktemp("clip")
    _tone(d / "tone.wav", 1.5)
    frames = _smooth_frames(N, W, H)
    with VideoWriter(d / "clip.mp4", FPS, (W, H), audio_from=d / "tone.wav") as w:
        for f in frames:
            w.write(f)
    assert _listing(d) == ["clip.mp4", "tone.wav"]  # no temp files
    return d / "clip.mp4", frames


def test_video_roundtrip(clip: tuple[Path, list[np.ndarray]]) -> None:
    path, frames = clip
    info = probe_video(path)
    assert (info.width, info.height) == (W, H)
    assert info.fps == pytest.approx(FPS)
    assert info.n_frames == N
    assert info.duration == pytest.approx(N / FPS, abs=0.05)
    assert info.has_audio and info.audio_rate == 48000
    out, info2 = read_video_frames(path)
    assert info2 == info
    assert len(out) == N
    assert all(f.shape == (H, W, 3) and f.dtype == np.uint8 for f in out)
    err = np.mean([np.abs(a.astype(int) - b).mean() for a, b in zip(out, frames, strict=True)])
    assert err < 6
    # frames keep their order: each decoded frame is closest to its own source frame
    own, other = (np.abs(out[10].astype(int) - frames[i]).mean() for i in (10, 0))
    assert own < other


def test_video_audio_is_trimmed_to_video(clip: tuple[Path, list[np.ndarray]]) -> None:
    path, _ = clip
    audio, sr = read_audio(path, sr=16000)
    assert sr == 16000 and audio.dtype == np.float32 and audio.ndim == 1
    assert len(audio) / sr == pytest.approx(N / FPS, abs=0.05)  # 1.5 s source cut to 0.8 s
    assert _peak_hz(audio, sr) == pytest.approx(440, abs=10)
    assert 0.3 < np.abs(audio).max() < 0.7
    assert _audio_channels(path) == 2  # the stereo source stays stereo


def test_video_reader_iterates_with_info(clip: tuple[Path, list[np.ndarray]]) -> None:
    path, _ = clip
    with VideoReader(path) as reader:
        assert reader.info.n_frames == N
        n = sum(1 for _ in reader)
    assert n == N and reader.frames_read == N and reader.truncated is False
    frames, _ = read_video_frames(path, max_frames=5)
    assert len(frames) == 5


def test_video_writer_odd_size_and_audio_start(tmp_path: Path) -> None:
    _tone(tmp_path / "t.wav", 2.0, channels=1, silent_head=1.0)  # silent first second
    frames = _smooth_frames(10, 51, 33)
    out = tmp_path / "odd.mp4"
    with VideoWriter(out, 10, (51, 33), audio_from=tmp_path / "t.wav", audio_start=1.0) as w:
        for f in frames:
            w.write(f)
    info = probe_video(out)
    assert (info.width, info.height) == (50, 32)  # cropped to even
    audio, sr = read_audio(out, sr=16000)
    assert len(audio) / sr == pytest.approx(1.0, abs=0.05)
    assert np.abs(audio[: sr // 10]).max() > 0.3  # starts in the tone, not the silence
    assert _audio_channels(out) == 1  # a mono source is muxed as mono


def _audio_channels(path: Path) -> int:
    import av

    with av.open(str(path)) as c:
        return c.streams.audio[0].codec_context.channels


def test_start_times_of_picture_and_sound(tmp_path: Path) -> None:
    """A file whose picture starts 0.48 s after its sound: ``probe_video`` reports the picture's start
    (animate muxes the driver's audio from there), ``first_audio_time`` the sound's."""
    import av

    from talkinghead.io.video import first_audio_time

    p = tmp_path / "late_picture.mp4"
    noise = (np.random.default_rng(0).standard_normal(16000) * 0.2).astype(np.float32)
    with av.open(str(p), "w") as c:
        vs = c.add_stream("libx264", rate=25)
        vs.width, vs.height, vs.pix_fmt = 64, 48, "yuv420p"
        aus = c.add_stream("aac", rate=16000)
        aus.layout = "mono"
        fr = av.AudioFrame.from_ndarray(noise[None], format="flt", layout="mono")
        fr.rate, fr.pts = 16000, 0
        for pk in [*aus.encode(fr), *aus.encode(None)]:
            c.mux(pk)
        for i, im in enumerate(_smooth_frames(10, 64, 48)):
            vf = av.VideoFrame.from_ndarray(im, format="rgb24")
            vf.pts, vf.time_base = i + 12, Fraction(1, 25)
            for pk in vs.encode(vf):
                c.mux(pk)
        for pk in vs.encode(None):
            c.mux(pk)
    assert probe_video(p).start_time == pytest.approx(0.48, abs=1e-3)
    assert first_audio_time(p) < 0.01
    silent = tmp_path / "silent.mp4"
    with VideoWriter(silent, 25, (64, 48)) as w:
        for im in _smooth_frames(3, 64, 48):
            w.write(im)
    assert first_audio_time(silent) == 0.0 and probe_video(silent).start_time == 0.0


def test_video_writer_audio_duration_and_no_audio_source(tmp_path: Path) -> None:
    _tone(tmp_path / "t.wav", 2.0)
    with VideoWriter(tmp_path / "a.mp4", 10, (32, 32), audio_from=tmp_path / "t.wav",
                     audio_duration=0.5) as w:
        for f in _smooth_frames(10, 32, 32):
            w.write(f)
    audio, sr = read_audio(tmp_path / "a.mp4", sr=8000)
    assert len(audio) / sr == pytest.approx(0.5, abs=0.05)
    # audio taken from another video's track, trimmed to this (0.1 s) video
    with VideoWriter(tmp_path / "b.mp4", 10, (32, 32), audio_from=tmp_path / "a.mp4") as w:
        w.write(np.zeros((32, 32, 3), np.uint8))
    assert probe_video(tmp_path / "b.mp4").has_audio is True
    audio, sr = read_audio(tmp_path / "b.mp4", sr=8000)
    assert len(audio) / sr == pytest.approx(0.1, abs=0.05)
    # a source without audio (a silent video) gives a video without audio
    with VideoWriter(tmp_path / "d.mp4", 10, (32, 32)) as w:
        w.write(np.zeros((32, 32, 3), np.uint8))
    with VideoWriter(tmp_path / "e.mp4", 10, (32, 32), audio_from=tmp_path / "d.mp4") as w:
        w.write(np.zeros((32, 32, 3), np.uint8))
    assert probe_video(tmp_path / "d.mp4").has_audio is False
    assert probe_video(tmp_path / "e.mp4").has_audio is False


@pytest.mark.parametrize("frac", [0.5, 0.85])
def test_truncated_video_stops_cleanly(tmp_path: Path, clip: tuple[Path, list[np.ndarray]],
                                       frac: float) -> None:
    """A file cut inside its media data yields the good frames, then stops (no exception)."""
    data = clip[0].read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: int(len(data) * frac)])
    reader = VideoReader(cut)
    frames = list(reader)
    assert 0 < len(frames) < N
    assert reader.truncated is True
    assert all(f.shape == (H, W, 3) for f in frames)


def test_truncated_video_header_only(tmp_path: Path, clip: tuple[Path, list[np.ndarray]]) -> None:
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(clip[0].read_bytes()[:200])
    with pytest.raises(InputError, match="truncated or corrupt"):
        probe_video(cut)


def test_probe_video_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="file not found"):
        probe_video(tmp_path / "missing.mp4")
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(InputError, match=r"empty file \(0 bytes\)"):
        probe_video(tmp_path / "empty.mp4")
    (tmp_path / "text.mp4").write_text("definitely not a video\n" * 50)
    with pytest.raises(InputError, match="not a video or unsupported format"):
        probe_video(tmp_path / "text.mp4")
    _tone(tmp_path / "t.wav", 0.2)
    with pytest.raises(InputError, match="no video stream"):
        probe_video(tmp_path / "t.wav")
    Image.new("RGB", (40, 40)).save(tmp_path / "still.png")
    with pytest.raises(InputError, match="not a video"):
        probe_video(tmp_path / "still.png")


def test_video_reader_applies_rotation_metadata(tmp_path: Path) -> None:
    """A phone-style clip (stored landscape, display matrix 'rotate 90 clockwise')."""
    stored = np.zeros((32, 64, 3), np.uint8)
    stored[:, :32, 0] = 255  # left half red
    with VideoWriter(tmp_path / "r.mp4", 10, (64, 32)) as w:
        for _ in range(3):
            w.write(stored)
    data = bytearray((tmp_path / "r.mp4").read_bytes())
    i = data.find(b"tkhd")
    assert i > 0 and data[i + 4] == 0  # version-0 track header
    m = i + 4 + 4 + 20 + 8 + 8  # version/flags, times/ids/duration, reserved, layer..volume
    assert struct.unpack(">9i", data[m : m + 36]) == (1 << 16, 0, 0, 0, 1 << 16, 0, 0, 0, 1 << 30)
    data[m : m + 36] = struct.pack(">9i", 0, 1 << 16, 0, -(1 << 16), 0, 0, 0, 0, 1 << 30)
    (tmp_path / "r.mp4").write_bytes(bytes(data))
    info = probe_video(tmp_path / "r.mp4")
    assert (info.width, info.height, info.rotation) == (32, 64, 270)
    frames, _ = read_video_frames(tmp_path / "r.mp4")
    assert frames[0].shape == (64, 32, 3)
    assert frames[0][5, 16, 0] > 200 and frames[0][58, 16, 0] < 50  # left went to the top


def test_video_writer_exception_leaves_no_file(tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    with pytest.raises(RuntimeError, match="stop"):
        with VideoWriter(out, FPS, (W, H)) as w:
            for f in _smooth_frames(3, W, H):
                w.write(f)
            raise RuntimeError("stop")
    assert _listing(tmp_path) == []
    with pytest.raises(ValueError, match="frame must be uint8"):
        with VideoWriter(out, FPS, (W, H)) as w:
            w.write(np.zeros((H + 1, W, 3), np.uint8))
    assert _listing(tmp_path) == []
    with pytest.raises(OutputError, match="no frames were written"):
        with VideoWriter(out, FPS, (W, H)):
            pass
    assert _listing(tmp_path) == []


def test_video_writer_output_errors(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="directory does not exist"):
        with VideoWriter(tmp_path / "missing" / "o.mp4", FPS, (W, H)) as w:
            w.write(np.zeros((H, W, 3), np.uint8))
    with pytest.raises(OutputError, match="unsupported video extension"):
        VideoWriter(tmp_path / "o.gif", FPS, (W, H))
    with pytest.raises(InputError, match="file not found"):
        VideoWriter(tmp_path / "o.mp4", FPS, (W, H), audio_from=tmp_path / "nope.wav")
    assert _listing(tmp_path) == []


def test_video_writer_ntsc_fps(tmp_path: Path) -> None:
    with VideoWriter(tmp_path / "n.mp4", 30000 / 1001, (32, 32)) as w:
        for f in _smooth_frames(6, 32, 32):
            w.write(f)
    assert probe_video(tmp_path / "n.mp4").fps == pytest.approx(29.97, abs=0.01)


# ---------------------------------------------------------------------------------------------
# audio


def test_read_audio_resamples_and_mixes(tmp_path: Path) -> None:
    _tone(tmp_path / "t.wav", 1.0, sr=44100, freq=300.0, channels=2)
    mono, sr = read_audio(tmp_path / "t.wav", sr=16000)
    assert sr == 16000 and mono.shape == (16000,) and mono.dtype == np.float32
    assert _peak_hz(mono, sr) == pytest.approx(300, abs=5)
    assert np.abs(mono).max() == pytest.approx(0.5, abs=0.03)
    stereo, _ = read_audio(tmp_path / "t.wav", sr=22050, mono=False)
    assert stereo.shape == (22050, 2)


@pytest.mark.parametrize("name,fmt,codec,rate", [
    ("t.m4a", "mp4", "aac", 44100), ("t.mp3", "mp3", "libmp3lame", 44100), ("t.flac", "flac", "flac", 44100),
    ("t.opus", "ogg", "libopus", 48000), ("t.webm", "webm", "libopus", 48000)])
def test_read_audio_compressed_formats(tmp_path: Path, write_mono_audio, name: str, fmt: str, codec: str,
                                       rate: int) -> None:
    """The formats users bring (speech issue: wav, mp3, flac, m4a; phones record opus / webm) decode to
    the same tone, resampled to 16 kHz, with their length kept (AAC adds at most its ~1500 priming and
    padding samples, as FFmpeg's own decoder does)."""
    t = np.arange(int(1.5 * rate)) / rate
    x = (0.5 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32)
    write_mono_audio(tmp_path / name, x, rate, codec, fmt)
    mono, sr = read_audio(tmp_path / name, sr=16000)
    assert sr == 16000 and mono.ndim == 1 and mono.dtype == np.float32
    assert 1.5 <= len(mono) / sr <= 1.55
    assert _peak_hz(mono, sr) == pytest.approx(440, abs=5)
    mid = mono[4000:20000]  # away from the codecs' edge transients
    assert np.abs(mid).max() == pytest.approx(0.5, abs=0.05)


def test_read_audio_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="file not found"):
        read_audio(tmp_path / "missing.wav")
    (tmp_path / "empty.wav").write_bytes(b"")
    with pytest.raises(InputError, match=r"empty file \(0 bytes\)"):
        read_audio(tmp_path / "empty.wav")
    (tmp_path / "junk.wav").write_bytes(b"\x00\x01garbage" * 100)
    with pytest.raises(InputError, match="not an audio file|no decodable audio"):
        read_audio(tmp_path / "junk.wav")
    with VideoWriter(tmp_path / "silent.mp4", 10, (32, 32)) as w:
        w.write(np.zeros((32, 32, 3), np.uint8))
    with pytest.raises(InputError, match="no audio stream"):
        read_audio(tmp_path / "silent.mp4")


def test_write_wav_roundtrip_and_errors(tmp_path: Path) -> None:
    x = np.linspace(-1.5, 1.5, 1000).astype(np.float32)
    write_wav(tmp_path / "o.wav", x, 16000)
    y, sr = sf.read(tmp_path / "o.wav", dtype="float32")
    assert sr == 16000 and y.shape == (1000,)
    assert y.min() >= -1.0 and y.max() <= 1.0  # clipped, not wrapped
    np.testing.assert_allclose(y[400:600], x[400:600], atol=1e-4)
    back, _ = read_audio(tmp_path / "o.wav", sr=16000)
    assert back.shape == (1000,)
    with pytest.raises(OutputError, match="unsupported audio extension"):
        write_wav(tmp_path / "o.mp3", x, 16000)
    with pytest.raises(OutputError, match="directory does not exist"):
        write_wav(tmp_path / "no" / "o.wav", x, 16000)
    assert _listing(tmp_path) == ["o.wav"]


def test_rgb_to_i420_matches_swscale() -> None:
    """The writer's own RGB -> yuv420p conversion gives what FFmpeg's swscale gives (BT.601, limited
    range): luma within one level, chroma within a fraction of a level on average."""
    from av.video.reformatter import ColorRange, Colorspace

    from talkinghead.io.video_writer import rgb_to_i420

    smooth = _smooth_frames(1, 64, 48)[0]
    colours = [[0, 0, 0], [255, 255, 255], [255, 0, 0], [0, 255, 0], [0, 0, 255], [128, 64, 200], [30, 200, 90],
               [250, 240, 10]]
    swatches = np.ascontiguousarray(np.repeat(np.array(colours, np.uint8)[None], 8, 1).repeat(48, 0))  # 8-px stripes
    for rgb in (smooth, swatches):
        want = av_frame_yuv(rgb, Colorspace.ITU601, ColorRange.MPEG)
        got = rgb_to_i420(rgb)
        assert got.shape == want.shape == (72, 64)
        d = np.abs(got.astype(int) - want)
        assert d[:48].max() <= 1
        assert d[48:].mean() < 0.5 and d[48:].max() <= 8


def av_frame_yuv(rgb: np.ndarray, space, rng) -> np.ndarray:
    import av

    f = av.VideoFrame.from_ndarray(rgb, format="rgb24")
    return f.reformat(format="yuv420p", dst_colorspace=space, dst_color_range=rng).to_ndarray().astype(int)
