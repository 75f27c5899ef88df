"""Generate the bad-input corpus: images, videos, audio, text and paths that users will hand us.

    python tests/corpus/make_corpus.py OUT_DIR [--portrait P.png --driving D.mp4]

Everything is *generated* here (nothing is copied from ../shared): the base portrait and driving
clip come from ``scripts/make_demo_inputs.py`` (made on the fly when not given), the extra faces
from matplotlib's bundled ``grace_hopper.jpg``. Each case is a :class:`Case`: the files it needs
(made by its ``make`` function in its own folder), the CLI arguments, and what a sensible CLI does
with it: exit 2 with one ``error: <file>: <reason>`` line (``reasons``: accepted wordings), or
exit 0 with a playable video (the valid-but-unusual inputs: CMYK, 16-bit, alpha, EXIF-rotated,
several faces...). ``tests/test_corpus.py`` runs every case through the real CLI.

Writes OUT_DIR/<case>/... and OUT_DIR/cases.json (name -> argv, expectations) for manual runs:
``python -m talkinghead.interfaces.cli <argv...>`` from inside OUT_DIR/<case>.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import wave
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Base:
    """The generated inputs every case starts from."""

    portrait: Path  # a face photo (PNG)
    driving: Path  # a short talking-head clip (mp4)


@dataclass
class Case:
    name: str
    kind: str  # image | video | audio | text | path
    command: str  # animate | speak
    make: Callable[[Path, Base], list[str]]  # builds the files in a folder, returns the CLI args
    exit: int = 2
    reasons: tuple[str, ...] = ()  # for exit 2: the error line contains one of these
    names: str | None = None  # for exit 2: the error line names this file (relative to the case folder)
    output: str = "out.mp4"  # the output path (relative to the case folder)
    full_disk: bool = False  # run with a file-size limit (writes beyond it fail: a full disk)
    read_only: bool = False  # the output folder is read-only (root drops its DAC capabilities)
    timeout: float = 150.0  # seconds; a sensible CLI answers well within this
    note: str = ""
    mode: str | None = None  # for exit 0 (animate): the mode the CLI reports ("face" or "object")
    meta: dict = field(default_factory=dict)


# -- helpers ---------------------------------------------------------------------------------------


def _rgb(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def hopper(scale: float = 0.5) -> np.ndarray:
    """matplotlib's bundled photo of Grace Hopper (always installed), as RGB, resized."""
    import cv2
    from matplotlib import cbook

    a = _rgb(Path(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)))
    if scale != 1.0:
        a = cv2.resize(a, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(a)


def small_portrait(base: Base, side: int = 320) -> np.ndarray:
    """The base portrait at about ``side`` px (renders stay cheap)."""
    import cv2

    a = _rgb(base.portrait)
    s = side / max(a.shape[:2])
    return cv2.resize(a, None, fx=s, fy=s, interpolation=cv2.INTER_AREA) if s < 1 else a


def save(a: np.ndarray, path: Path, fmt: str | None = None, **kw) -> Path:
    from PIL import Image

    Image.fromarray(a).save(path, format=fmt, **kw)
    return path


def encode_video(path: Path, frames: list[np.ndarray], fps: int = 25, fmt: str | None = None,
                 rotate: int | None = None) -> Path:
    import av

    h, w = frames[0].shape[:2]
    with av.open(str(path), "w", format=fmt) as c:
        s = c.add_stream("libx264", rate=Fraction(fps))
        s.width, s.height, s.pix_fmt = w - w % 2, h - h % 2, "yuv420p"
        if rotate is not None:
            s.metadata["rotate"] = str(rotate)
        for i, f in enumerate(frames):
            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(f[: h - h % 2, : w - w % 2]), format="rgb24")
            vf.pts = i
            for p in s.encode(vf):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    return path


def driver_frames(base: Base, n: int | None = None) -> list[np.ndarray]:
    import av

    out = []
    with av.open(str(base.driving)) as c:
        for f in c.decode(video=0):
            out.append(f.to_ndarray(format="rgb24"))
            if n and len(out) >= n:
                break
    return out


def write_wav(path: Path, samples: np.ndarray, sr: int = 16000) -> Path:
    pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sr)
        w.writeframes(pcm.tobytes())
    return path


def speechlike(seconds: float, sr: int = 16000) -> np.ndarray:
    """A voiced, syllable-rhythm signal (harmonics of 120 Hz gated at 4 Hz): not speech, but audio."""
    t = np.arange(int(seconds * sr)) / sr
    tone = sum(np.sin(2 * np.pi * 120 * k * t) / k for k in range(1, 8))
    gate = 0.5 * (1 + np.sin(2 * np.pi * 4 * t)) ** 2 / 2
    return (0.2 * tone * gate).astype(np.float32)


def a(*parts) -> list[str]:
    return [str(p) for p in parts]


def animate(src, drv, out="out.mp4", *extra) -> list[str]:
    return a("animate", "--source", src, "--driving", drv, "-o", out, "-q", *extra)


def speak_audio(src, aud, out="out.mp4", *extra) -> list[str]:
    return a("speak", "--source", src, "--audio", aud, "-o", out, "-q", *extra)


def speak_text(src, text: str, out="out.mp4", *extra) -> list[str]:
    return ["speak", "--source", str(src), "--text", text, "-o", str(out), "-q", *extra]


def portrait_png(d: Path, base: Base, name: str = "portrait.png") -> Path:
    return save(small_portrait(base), d / name)


# -- images (the --source portrait) ----------------------------------------------------------------


def img_truncated_jpeg(d, base):
    b = io.BytesIO()
    save(hopper(), b, "JPEG", quality=90)
    data = b.getvalue()
    (d / "portrait.jpg").write_bytes(data[: int(len(data) * 0.4)])
    return animate("portrait.jpg", base.driving)


def img_truncated_png(d, base):
    data = (portrait_png(d, base, "full.png")).read_bytes()
    (d / "full.png").unlink()
    (d / "portrait.png").write_bytes(data[: len(data) // 2])
    return animate("portrait.png", base.driving)


def img_zero_bytes(d, base):
    (d / "portrait.jpg").write_bytes(b"")
    return animate("portrait.jpg", base.driving)


def img_text_named_jpg(d, base):
    (d / "portrait.jpg").write_text("This is a text file, not a photo.\n")
    return animate("portrait.jpg", base.driving)


def img_html_named_png(d, base):
    (d / "portrait.png").write_text("<!DOCTYPE html><html><body>404 Not Found</body></html>\n")
    return animate("portrait.png", base.driving)


def img_png_named_jpg(d, base):
    save(small_portrait(base), d / "portrait.jpg", "PNG")
    return animate("portrait.jpg", base.driving)


def img_jpeg_named_mp4(d, base):
    save(small_portrait(base), d / "portrait.mp4", "JPEG", quality=92)
    return animate("portrait.mp4", base.driving)


def img_cmyk_jpeg(d, base):
    from PIL import Image

    Image.fromarray(small_portrait(base)).convert("CMYK").save(d / "portrait.jpg", quality=92)
    return animate("portrait.jpg", base.driving)


def img_16bit_png(d, base):
    import cv2

    a16 = small_portrait(base).astype(np.uint16) * 257
    cv2.imwrite(str(d / "portrait.png"), cv2.cvtColor(a16, cv2.COLOR_RGB2BGR))  # 16-bit RGB PNG
    return animate("portrait.png", base.driving)


def img_16bit_grey_png(d, base):
    from PIL import Image

    g = (np.asarray(Image.fromarray(small_portrait(base)).convert("L")).astype(np.uint16) * 257)
    Image.fromarray(g).save(d / "portrait.png")  # mode I;16
    return animate("portrait.png", base.driving)


def img_alpha_png(d, base):
    rgb = small_portrait(base)
    h, w = rgb.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    alpha = np.where(((yy - h / 2) / (0.55 * h)) ** 2 + ((xx - w / 2) / (0.5 * w)) ** 2 <= 1, 255, 0)
    save(np.dstack([rgb, alpha.astype(np.uint8)]), d / "portrait.png")  # transparent outside an ellipse
    return animate("portrait.png", base.driving)


def img_exif_rotated_jpeg(d, base):
    from PIL import Image

    up = small_portrait(base)
    stored = np.ascontiguousarray(np.rot90(up, 1))  # pixels stored turned 90 degrees
    im = Image.fromarray(stored)
    exif = im.getexif()
    exif[0x0112] = 6  # Orientation: rotate 90 CW to display -> upright again
    im.save(d / "portrait.jpg", quality=92, exif=exif.tobytes())
    return animate("portrait.jpg", base.driving)


def img_grey_palette_gif(d, base):
    from PIL import Image

    Image.fromarray(small_portrait(base)).convert("P", palette=Image.Palette.ADAPTIVE).save(d / "portrait.gif")
    return animate("portrait.gif", base.driving)


def img_1x1(d, base):
    save(np.full((1, 1, 3), 200, np.uint8), d / "portrait.png")
    return animate("portrait.png", base.driving)


def img_10000x10000(d, base):
    from PIL import Image

    Image.new("1", (10000, 10000), 1).save(d / "portrait.png", optimize=True)  # small file, huge image
    return animate("portrait.png", base.driving)


def img_three_faces(d, base):
    f = hopper(0.4)
    save(np.concatenate([f, f[:, ::-1], f], axis=1), d / "three.jpg", quality=90)
    return animate("three.jpg", base.driving)


def img_two_faces_index_out_of_range(d, base):
    f = hopper(0.4)
    save(np.concatenate([f, f[:, ::-1]], axis=1), d / "two.jpg", quality=90)
    return animate("two.jpg", base.driving, "out.mp4", "--face-index", "5")


def img_no_face_auto(d, base):
    rng = np.random.default_rng(3)
    img = np.full((240, 300, 3), 225, np.uint8)
    img[50:190, 90:210] = rng.integers(30, 220, (140, 120, 3))  # a textured object, no face
    save(img, d / "object.png")
    return animate("object.png", base.driving)


def img_no_face_face_mode(d, base):
    yy, xx = np.mgrid[0:240, 0:320]
    img = np.dstack([xx * 0.7, yy * 0.9, 128 + 0 * xx]).astype(np.uint8)  # a smooth gradient
    save(img, d / "gradient.png")
    return animate("gradient.png", base.driving, "out.mp4", "--mode", "face")


def img_directory(d, base):
    (d / "portrait.png").mkdir()
    return animate("portrait.png", base.driving)


def img_missing(d, base):
    return animate("nowhere/portrait.png", base.driving)


# -- videos (the --driving clip) -------------------------------------------------------------------


def vid_truncated_mp4(d, base):
    data = base.driving.read_bytes()
    (d / "driving.mp4").write_bytes(data[: int(len(data) * 0.6)])
    return animate(portrait_png(d, base), "driving.mp4")


def vid_truncated_header(d, base):
    data = base.driving.read_bytes()
    (d / "driving.mp4").write_bytes(data[:600])
    return animate(portrait_png(d, base), "driving.mp4")


def vid_zero_bytes(d, base):
    (d / "driving.mp4").write_bytes(b"")
    return animate(portrait_png(d, base), "driving.mp4")


def vid_text_named_mp4(d, base):
    (d / "driving.mp4").write_text("ftyp? no: this is just text\n" * 20)
    return animate(portrait_png(d, base), "driving.mp4")


def vid_image_named_mp4(d, base):
    save(small_portrait(base), d / "driving.mp4", "PNG")
    return animate(portrait_png(d, base), "driving.mp4")


def vid_audio_only(d, base):
    write_wav(d / "driving.wav", speechlike(1.0))
    return animate(portrait_png(d, base), "driving.wav")


def vid_no_face(d, base):
    # smooth colour ramps with a drifting bar: nothing face-like (blurred noise can make the
    # detector hallucinate a face in a frame or two)
    yy, xx = np.mgrid[0:128, 0:160].astype(np.float32)
    frames = []
    for i in range(12):
        img = np.stack([xx * 1.5, yy * 1.8, 255 - xx * 1.2], -1) + 4 * i
        img[:, (10 * i) % 150:(10 * i) % 150 + 10] = (30, 200, 90)
        frames.append(np.clip(img, 0, 255).astype(np.uint8))
    encode_video(d / "driving.mp4", frames)
    return animate(portrait_png(d, base), "driving.mp4")


def vid_one_frame(d, base):
    encode_video(d / "driving.mp4", driver_frames(base, 1))
    return animate(portrait_png(d, base), "driving.mp4")


def vid_mkv_named_mp4(d, base):
    encode_video(d / "driving.mp4", driver_frames(base, 20), fmt="matroska")
    return animate(portrait_png(d, base), "driving.mp4")


def vid_rotated_metadata(d, base):
    frames = [np.ascontiguousarray(np.rot90(f, -1)) for f in driver_frames(base, 20)]  # stored sideways
    encode_video(d / "driving.mp4", frames, rotate=90)
    return animate(portrait_png(d, base), "driving.mp4")


def vid_directory(d, base):
    (d / "driving.mp4").mkdir()
    return animate(portrait_png(d, base), "driving.mp4")


# -- audio (speak --audio) -------------------------------------------------------------------------


def aud_zero_seconds(d, base):
    write_wav(d / "speech.wav", np.zeros(0, np.float32))  # a valid WAV header, no samples
    return speak_audio(portrait_png(d, base), "speech.wav")


def aud_two_hours_silence(d, base):
    import soundfile as sf

    sr = 8000
    with sf.SoundFile(str(d / "silence.flac"), "w", sr, 1, format="FLAC", subtype="PCM_16") as f:
        block = np.zeros(sr * 60, np.int16)
        for _ in range(120):  # 2 h of digital silence: FLAC stores it in a few hundred kB
            f.write(block)
    return speak_audio(portrait_png(d, base), "silence.flac")


def aud_zero_bytes(d, base):
    (d / "speech.wav").write_bytes(b"")
    return speak_audio(portrait_png(d, base), "speech.wav")


def aud_text_named_wav(d, base):
    (d / "speech.wav").write_text("RIFF? no. Just words.\n")
    return speak_audio(portrait_png(d, base), "speech.wav")


def aud_truncated_wav(d, base):
    write_wav(d / "full.wav", speechlike(1.6))
    data = (d / "full.wav").read_bytes()
    (d / "full.wav").unlink()
    (d / "speech.wav").write_bytes(data[: len(data) // 2])  # header claims 1.6 s, 0.8 s present
    return speak_audio(portrait_png(d, base), "speech.wav")


def aud_flac_named_wav(d, base):
    import soundfile as sf

    sf.write(str(d / "speech.wav"), speechlike(0.8), 16000, format="FLAC")
    return speak_audio(portrait_png(d, base), "speech.wav")


def aud_video_without_audio(d, base):
    encode_video(d / "clip.mp4", driver_frames(base, 10))
    return speak_audio(portrait_png(d, base), "clip.mp4")


# -- text (speak --text) ---------------------------------------------------------------------------


def txt_non_utf8(d, base):
    # argv bytes that are not UTF-8 (Latin-1 "café"): Python hands them over as surrogate escapes
    return speak_text(portrait_png(d, base), os.fsdecode(b"caf\xe9 au lait"))


def txt_empty(d, base):
    return speak_text(portrait_png(d, base), "")


def txt_only_punctuation(d, base):
    return speak_text(portrait_png(d, base), " ... !!! ,,, ")


# -- paths -----------------------------------------------------------------------------------------


def path_read_only_dir(d, base):
    (d / "ro").mkdir()
    return animate(portrait_png(d, base), base.driving, "ro/out.mp4")


def path_full_disk(d, base):
    return animate(portrait_png(d, base), base.driving)


def path_missing_dir(d, base):
    return animate(portrait_png(d, base), base.driving, "no/such/dir/out.mp4")


def path_output_is_dir(d, base):
    (d / "out.mp4").mkdir()
    return animate(portrait_png(d, base), base.driving, "out.mp4")


def path_output_bad_extension(d, base):
    return animate(portrait_png(d, base), base.driving, "out.gif")


def path_parent_is_file(d, base):
    (d / "afile").write_text("x")
    return animate(portrait_png(d, base), base.driving, "afile/out.mp4")


def path_name_too_long(d, base):
    return animate(portrait_png(d, base), base.driving, "o" * 300 + ".mp4")


def path_non_utf8_names(d, base):
    src = os.fsdecode(b"portr\xe4it.png")  # Latin-1 bytes in the file names
    save(small_portrait(base), d / src)
    return animate(src, base.driving, os.fsdecode(b"r\xe9sultat.mp4"))


def path_unicode_spaces(d, base):
    save(small_portrait(base), d / "pörträt mit leerzeichen 😀.png")
    return animate("pörträt mit leerzeichen 😀.png", base.driving, "résultat final.mp4")


def path_source_is_output(d, base):
    save(small_portrait(base), d / "same.png")
    return animate("same.png", base.driving, "same.png")


_IMG_BAD = ("truncated or corrupt", "not an image")
CASES: list[Case] = [
    # images
    Case("img_truncated_jpeg", "image", "animate", img_truncated_jpeg, 2, ("truncated or corrupt",), "portrait.jpg"),
    Case("img_truncated_png", "image", "animate", img_truncated_png, 2, ("truncated or corrupt",), "portrait.png"),
    Case("img_zero_bytes", "image", "animate", img_zero_bytes, 2, ("empty file",), "portrait.jpg"),
    Case("img_text_named_jpg", "image", "animate", img_text_named_jpg, 2, ("not an image",), "portrait.jpg"),
    Case("img_html_named_png", "image", "animate", img_html_named_png, 2, ("not an image",), "portrait.png"),
    Case("img_png_named_jpg", "image", "animate", img_png_named_jpg, 0, mode="face",
         note="content decides, not the extension"),
    Case("img_jpeg_named_mp4", "image", "animate", img_jpeg_named_mp4, 0, mode="face",
         note="a photo named .mp4 is still a photo"),
    Case("img_cmyk_jpeg", "image", "animate", img_cmyk_jpeg, 0, mode="face"),
    Case("img_16bit_rgb_png", "image", "animate", img_16bit_png, 0, mode="face"),
    Case("img_16bit_grey_png", "image", "animate", img_16bit_grey_png, 0, mode="face"),
    Case("img_alpha_png", "image", "animate", img_alpha_png, 0, mode="face", note="alpha composited over white"),
    Case("img_exif_rotated_jpeg", "image", "animate", img_exif_rotated_jpeg, 0, mode="face",
         note="EXIF orientation applied"),
    Case("img_palette_gif", "image", "animate", img_grey_palette_gif, 0, mode="face"),
    Case("img_1x1", "image", "animate", img_1x1, 2, ("too small",), "portrait.png"),
    Case("img_10000x10000", "image", "animate", img_10000x10000, 2, ("too large",), "portrait.png"),
    Case("img_three_faces", "image", "animate", img_three_faces, 0, mode="face", note="the largest face is animated"),
    Case("img_two_faces_index_5", "image", "animate", img_two_faces_index_out_of_range, 2, ("out of range",)),
    Case("img_no_face_auto_object_mode", "image", "animate", img_no_face_auto, 0, mode="object", note="object mode"),
    Case("img_no_face_face_mode", "image", "animate", img_no_face_face_mode, 2, ("no face",), "gradient.png"),
    Case("img_directory", "image", "animate", img_directory, 2, ("is a directory",), "portrait.png"),
    Case("img_missing", "image", "animate", img_missing, 2, ("not found",), "nowhere/portrait.png"),
    # videos
    Case("vid_truncated_mp4", "video", "animate", vid_truncated_mp4, 0, mode="face",
         note="cut at 60 % inside the media data (index at the front): the frames before the cut are used, "
              "with a warning", meta={"warns": "truncated or corrupt video"}),
    Case("vid_truncated_header", "video", "animate", vid_truncated_header, 2, ("truncated or corrupt",),
         "driving.mp4", note="cut inside the index"),
    Case("vid_zero_bytes", "video", "animate", vid_zero_bytes, 2, ("empty file",), "driving.mp4"),
    Case("vid_text_named_mp4", "video", "animate", vid_text_named_mp4, 2, ("not a video",), "driving.mp4"),
    Case("vid_image_named_mp4", "video", "animate", vid_image_named_mp4, 2, ("still image", "not a video"),
         "driving.mp4"),
    Case("vid_audio_only", "video", "animate", vid_audio_only, 2, ("no video stream",), "driving.wav"),
    Case("vid_no_face", "video", "animate", vid_no_face, 2, ("no face",), "driving.mp4"),
    Case("vid_one_frame", "video", "animate", vid_one_frame, 0, mode="face"),
    Case("vid_mkv_named_mp4", "video", "animate", vid_mkv_named_mp4, 0, mode="face"),
    Case("vid_rotated_metadata", "video", "animate", vid_rotated_metadata, 0, mode="face",
         note="display rotation applied"),
    Case("vid_directory", "video", "animate", vid_directory, 2, ("is a directory",), "driving.mp4"),
    # audio (speak)
    Case("aud_zero_seconds_wav", "audio", "speak", aud_zero_seconds, 2, ("0 s", "empty", "no decodable audio"),
         "speech.wav"),
    Case("aud_two_hours_silence_flac", "audio", "speak", aud_two_hours_silence, 2,
         ("too long", "silent", "no speech", "silence"), "silence.flac", timeout=30.0,
         note="refused up front (one streaming pass finds no speech), not rendered for hours"),
    Case("aud_zero_bytes", "audio", "speak", aud_zero_bytes, 2, ("empty file",), "speech.wav"),
    Case("aud_text_named_wav", "audio", "speak", aud_text_named_wav, 2, ("not an audio",), "speech.wav"),
    Case("aud_truncated_wav", "audio", "speak", aud_truncated_wav, 0, note="the decodable part is spoken, with a warning",
         meta={"warns": "truncated WAV file"}),
    Case("aud_flac_named_wav", "audio", "speak", aud_flac_named_wav, 0),
    Case("aud_video_without_audio", "audio", "speak", aud_video_without_audio, 2, ("no audio stream",), "clip.mp4"),
    # text (speak)
    Case("txt_non_utf8_argv", "text", "speak", txt_non_utf8, 2, ("UTF-8", "utf-8", "not valid text"),
         note="or exit 0 with the undecodable bytes replaced; never a traceback",
         names="--text", meta={"or_exit_0": True}),
    Case("txt_empty", "text", "speak", txt_empty, 2, ("empty text",)),
    Case("txt_only_punctuation", "text", "speak", txt_only_punctuation, 2, ("no speech", "nothing to say"),
         meta={"or_exit_0": True}),
    # paths
    Case("path_read_only_dir", "path", "animate", path_read_only_dir, 2, ("permission denied", "read-only"),
         "ro/out.mp4", output="ro/out.mp4", read_only=True),
    Case("path_full_disk", "path", "animate", path_full_disk, 2, ("no space left", "file too large"), "out.mp4",
         full_disk=True, note="writes beyond 64 kB fail (RLIMIT_FSIZE), as on a full disk"),
    Case("path_missing_dir", "path", "animate", path_missing_dir, 2, ("directory does not exist",),
         "no/such/dir/out.mp4", output="no/such/dir/out.mp4"),
    Case("path_output_is_dir", "path", "animate", path_output_is_dir, 2, ("is a directory",), "out.mp4"),
    Case("path_output_bad_extension", "path", "animate", path_output_bad_extension, 2, ("extension",), "out.gif",
         output="out.gif"),
    Case("path_parent_is_file", "path", "animate", path_parent_is_file, 2,
         ("not a directory", "directory does not exist"), "afile/out.mp4", output="afile/out.mp4"),
    Case("path_name_too_long", "path", "animate", path_name_too_long, 2, ("name too long",), None,
         output="o" * 300 + ".mp4"),
    Case("path_non_utf8_names", "path", "animate", path_non_utf8_names, 0, mode="face",
         output=os.fsdecode(b"r\xe9sultat.mp4")),
    Case("path_unicode_spaces", "path", "animate", path_unicode_spaces, 0, mode="face", output="résultat final.mp4"),
    Case("path_output_over_source", "path", "animate", path_source_is_output, 2, ("extension",), "same.png",
         output="same.png", note="the portrait must survive"),
]


def make_base(out: Path) -> Base:
    """The demo portrait and a 1.2 s driving clip, generated by scripts/make_demo_inputs.py."""
    d = out / "_base"
    if not ((d / "portrait.png").exists() and (d / "driving.mp4").exists()):
        d.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, str(ROOT / "scripts" / "make_demo_inputs.py"), str(d), "--seconds", "1.2"],
                       check=True, capture_output=True)
    return Base(d / "portrait.png", d / "driving.mp4")


def build(out: Path, base: Base, names: list[str] | None = None) -> dict[str, list[str]]:
    """Generate the cases' files under ``out/<case>/``; return case name -> CLI args."""
    out.mkdir(parents=True, exist_ok=True)
    argv = {}
    for c in CASES:
        if names is not None and c.name not in names:
            continue
        d = out / c.name
        d.mkdir(exist_ok=True)
        argv[c.name] = c.make(d, base)
    return argv


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out_dir", type=Path)
    ap.add_argument("--portrait", type=Path, default=None)
    ap.add_argument("--driving", type=Path, default=None)
    a = ap.parse_args()
    base = Base(a.portrait, a.driving) if a.portrait and a.driving else make_base(a.out_dir)
    argv = build(a.out_dir, base)
    doc = {c.name: {"kind": c.kind, "argv": argv[c.name], "exit": c.exit, "reasons": list(c.reasons),
                    "names": c.names, "output": c.output, "full_disk": c.full_disk, "read_only": c.read_only,
                    "note": c.note} for c in CASES}
    (a.out_dir / "cases.json").write_text(json.dumps(doc, indent=1))  # ASCII: file names may not be UTF-8
    print(f"{len(CASES)} cases in {a.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
