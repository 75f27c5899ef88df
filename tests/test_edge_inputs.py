"""Unusual but legitimate inputs work; bad ones get one clear error and leave nothing behind.

Each case here was found by running the CLI on derived media (session 8 sweep)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import wave
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from talkinghead.errors import InputError, OutputError

CLI = [sys.executable, "-m", "talkinghead.interfaces.cli"]


@pytest.fixture(scope="module")
def face_image() -> str:
    import matplotlib.cbook as cbook

    return cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)


def _cli(*args, timeout=300):
    return subprocess.run(CLI + [str(a) for a in args], capture_output=True, text=True, timeout=timeout)


def _error_line(r) -> str:
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    assert "Traceback" not in r.stderr
    errs = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert len(errs) == 1, r.stderr
    return errs[0]


def _wav(path: Path, x: np.ndarray, sr: int = 16000) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sr)
        w.writeframes((np.clip(x, -1, 1) * 32767).astype("<i2").tobytes())
    return path


def _vfr_mkv(path: Path, n_decoded: int = 40, fps: int = 30) -> None:
    """A Matroska clip whose frames are spaced 1, 2, 1, 2... frame periods apart (variable frame rate;
    the header gives the nominal rate)."""
    with av.open(str(path), "w") as c:
        s = c.add_stream("mpeg4", rate=fps)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        s.time_base = Fraction(1, 1000)
        t = 0
        for i in range(n_decoded):
            img = np.full((48, 64, 3), (i * 6) % 256, np.uint8)
            fr = av.VideoFrame.from_ndarray(img, format="rgb24")
            fr.pts, fr.time_base = int(round(t * 1000 / fps)), Fraction(1, 1000)
            for p in s.encode(fr):
                c.mux(p)
            t += 1 if i % 2 == 0 else 2
        for p in s.encode():
            c.mux(p)


def test_variable_frame_rate_keeps_duration(tmp_path):
    from talkinghead.io.video import VideoReader

    p = tmp_path / "vfr.mkv"
    _vfr_mkv(p)
    with VideoReader(p) as r:
        frames = list(r)
        fps = r.info.fps
    span = 1 + sum(1 if i % 2 == 0 else 2 for i in range(39))  # frame periods covered: 59
    assert r.frames_read == 40
    assert abs(len(frames) / fps - span / 30) <= 1.5 / 30, (len(frames), fps)
    # a gap holds the previous frame: the grey level steps only where a new frame was decoded
    levels = [int(f[0, 0, 0]) for f in frames]
    assert len(set(levels)) >= 35 and levels[0] != levels[1] and levels[1] == levels[2] != levels[3]


def test_mp4_with_a_gap_keeps_its_nominal_rate(tmp_path):
    """A 25 fps MP4 missing 0.44 s (frames 8-18) averages 19.5 fps; read on that grid, one real frame
    in five was dropped and the gap showed the frame after it, 0.44 s early."""
    from talkinghead.io.video import VideoReader

    p = tmp_path / "gap.mp4"
    kept = [i for i in range(50) if not 8 <= i <= 18]
    with av.open(str(p), "w") as c:
        s = c.add_stream("mpeg4", rate=25)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        for i in kept:
            fr = av.VideoFrame.from_ndarray(np.full((48, 64, 3), i * 5, np.uint8), format="rgb24")
            fr.pts, fr.time_base = i, Fraction(1, 25)
            for pk in s.encode(fr):
                c.mux(pk)
        for pk in s.encode():
            c.mux(pk)
    with VideoReader(p) as r:
        frames = list(r)
        assert r.info.fps == pytest.approx(25.0)
    assert len(frames) == 50 and r.frames_read == len(kept)
    got = [int(f[24, 32, 0]) for f in frames]  # grey level 5 * source index (video range-scaled)
    assert all(abs(g - got[7]) <= 1 for g in got[8:19]), got  # the gap holds frame 7
    assert got[19] - got[7] > 40, got  # then frame 19 in its own slot, not 0.44 s early
    real = got[:8] + got[19:]
    assert all(b >= a for a, b in zip(real, real[1:])) and len(set(real)) >= 33, got  # all kept, in order


def test_truncated_driving_video_is_used_with_a_warning(tmp_path, demo_inputs):
    """A driver cut off part way (a phone recording that stopped): its good frames are animated and
    the user is told (it used to happen silently)."""
    from talkinghead.io.video import probe_video

    data = (demo_inputs / "driving.mp4").read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: int(len(data) * 0.6)])
    out = tmp_path / "o.mp4"
    r = _cli("animate", "-s", demo_inputs / "portrait.png", "-d", cut, "-o", out, "-q")
    assert r.returncode == 0, r.stderr[-2000:]
    warns = [ln for ln in r.stderr.splitlines() if ln.startswith("warning:")]
    assert len(warns) == 1 and str(cut) in warns[0] and "truncated or corrupt video" in warns[0], r.stderr
    n_total = probe_video(demo_inputs / "driving.mp4").n_frames
    assert 0 < probe_video(out).n_frames < n_total


def test_truncated_wav_is_spoken_with_a_warning(tmp_path, face_image):
    from talkinghead.io.audio import read_audio, wav_truncation

    rng = np.random.default_rng(1)
    t = np.arange(32000) / 16000
    x = 0.3 * np.sin(2 * np.pi * 200 * t) * (np.sin(2 * np.pi * 3 * t) > 0) + 0.01 * rng.standard_normal(t.size)
    full = _wav(tmp_path / "full.wav", x)
    data = full.read_bytes()
    cut = tmp_path / "cut.wav"
    cut.write_bytes(data[: len(data) // 2])
    assert wav_truncation(full) is None
    assert wav_truncation(cut).startswith("truncated WAV file: ") and "of the 64000 data bytes" in wav_truncation(cut)
    out = tmp_path / "o.mp4"
    r = _cli("speak", "-s", face_image, "-a", cut, "-o", out, "-q")
    assert r.returncode == 0, r.stderr[-2000:]
    warns = [ln for ln in r.stderr.splitlines() if ln.startswith("warning:")]
    assert len(warns) == 1 and str(cut) in warns[0] and "truncated WAV file" in warns[0], r.stderr
    # a streamed WAV (sox/ffmpeg to a pipe) has a placeholder size: complete, all samples read
    streamed = bytearray(data)
    i = streamed.index(b"data")
    streamed[i + 4:i + 8] = (0x7FFFF000).to_bytes(4, "little")
    (tmp_path / "streamed.wav").write_bytes(bytes(streamed))
    assert wav_truncation(tmp_path / "streamed.wav") is None
    y, _ = read_audio(tmp_path / "streamed.wav")
    assert y.shape[0] == 32000


def test_truncated_mp3_is_spoken_with_a_warning(tmp_path, face_image, write_mono_audio):
    """An MP3 whose Xing/Info header gives its length, cut off: spoken as far as it goes, with a warning;
    the complete file and an MP3 without a length header (only estimated) get none."""
    from talkinghead.drivers.audio import plan_audio
    from talkinghead.io.audio import mp3_truncation

    t = np.arange(3 * 16000) / 16000
    x = (0.3 * np.sin(2 * np.pi * 200 * t) * (np.sin(2 * np.pi * 3 * t) > 0)).astype(np.float32)
    full = write_mono_audio(tmp_path / "full.mp3", x, 16000, "libmp3lame")
    data = full.read_bytes()
    cut = tmp_path / "cut.mp3"
    cut.write_bytes(data[: int(len(data) * 0.6)])
    assert mp3_truncation(full, plan_audio(full).duration) is None
    note = mp3_truncation(cut, plan_audio(cut).duration)
    assert note is not None and note.startswith("truncated MP3 file: ") and "of the 3.00 s" in note
    bare = cut.read_bytes()  # the same cut file without its length header: not judged
    for tag in (b"Xing", b"Info"):
        bare = bare.replace(tag, b"\0\0\0\0", 1)
    (tmp_path / "bare.mp3").write_bytes(bare)
    assert mp3_truncation(tmp_path / "bare.mp3", 1.0) is None
    out = tmp_path / "o.mp4"
    r = _cli("speak", "-s", face_image, "-a", cut, "-o", out, "-q")
    assert r.returncode == 0, r.stderr[-2000:]
    warns = [ln for ln in r.stderr.splitlines() if ln.startswith("warning:")]
    assert len(warns) == 1 and str(cut) in warns[0] and "truncated MP3 file" in warns[0], r.stderr


@pytest.mark.parametrize("seconds", [0.1, 0.3])
def test_very_short_loud_speech_is_spoken(tmp_path, face_image, seconds):
    """A short clip that is speech from end to end ("Yes!") has no quiet part to measure a noise floor
    on: it used to be refused as silent (0.2-0.4 s) or to crash (< 9 frames)."""
    rng = np.random.default_rng(0)
    n = int(seconds * 16000)
    t = np.arange(n) / 16000
    x = 0.4 * np.sin(2 * np.pi * 180 * t) * (1 + 0.5 * np.sin(2 * np.pi * 4 * t)) + 0.02 * rng.standard_normal(n)
    a = _wav(tmp_path / "yes.wav", x)
    out = tmp_path / "o.mp4"
    r = _cli("speak", "-s", face_image, "-a", a, "-o", out, "-q")
    assert r.returncode == 0, r.stderr[-2000:]
    from talkinghead.io.video import probe_video

    assert probe_video(out).n_frames == int(np.ceil(seconds * 25))


def test_short_clip_vad_threshold():
    from talkinghead.drivers.speech_features import vad, vad_thresholds

    e = np.full(30, -20.0)  # 0.3 s, loud from end to end
    assert vad(e, vad_thresholds(e)).all()
    quiet = np.full(30, -70.0)  # near-silent: still nothing
    assert not vad(quiet, vad_thresholds(quiet)).any()


def test_convolve_same_keeps_length():
    from talkinghead.drivers.procedural import convolve_same

    k = np.hanning(11)[1:-1]
    for n in (1, 4, 9, 30):
        x = np.random.default_rng(n).random(n)
        y = convolve_same(x, k)
        assert y.shape == (n,)
        if n >= k.size:
            np.testing.assert_allclose(y, np.convolve(x, k, mode="same"))


def test_banner_image_in_object_mode(tmp_path, demo_inputs):
    """An image far wider than tall with no face: object mode animates the square around its middle
    and the output keeps a usable height (it was 256x32 px, and the watermark refused it)."""
    from talkinghead.config import AnimateConfig
    from talkinghead.io.image import write_image
    from talkinghead.pipelines.source import prepare_source

    rng = np.random.default_rng(0)
    banner = (rng.random((90, 720, 3)) * 255).astype(np.uint8)
    write_image(tmp_path / "banner.png", banner)
    src = prepare_source(tmp_path / "banner.png", AnimateConfig(mode="object"), log=lambda *a: None)
    assert min(src.canvas.shape[:2]) >= 64 and src.canvas.shape[1] / src.canvas.shape[0] == pytest.approx(8, rel=0.05)
    # an image so thin that even that stays under 64 px: one clear error
    write_image(tmp_path / "thread.png", (rng.random((40, 7000, 3)) * 255).astype(np.uint8))
    out = tmp_path / "o.mp4"
    r = _cli("animate", "-s", tmp_path / "thread.png", "-d", demo_inputs / "driving.mp4", "-o", out, "-q")
    line = _error_line(r)
    assert "thread.png" in line and "too narrow" in line and not out.exists()


def test_output_that_is_an_input_is_refused(tmp_path, demo_inputs):
    import shutil

    from talkinghead.io.atomic import probe_writable

    drv = tmp_path / "drv.mp4"
    shutil.copy(demo_inputs / "driving.mp4", drv)
    before = drv.read_bytes()
    r = _cli("animate", "-s", demo_inputs / "portrait.png", "-d", drv, "-o", drv, "-q")
    assert "is also an input file" in _error_line(r)
    assert drv.read_bytes() == before
    with pytest.raises(OutputError, match="is also an input file"):
        probe_writable(tmp_path / "." / "drv.mp4", {".mp4"}, inputs=(None, drv))
    probe_writable(tmp_path / "new.mp4", {".mp4"}, inputs=(drv,))  # a different file is fine


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGHUP"])  # kill / timeout; the terminal closed
def test_sigterm_leaves_no_temp_file(tmp_path, demo_inputs, sig):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    drv = tmp_path / "long.mp4"
    from talkinghead.io.video import read_video_frames
    from talkinghead.io.video_writer import VideoWriter

    frames, info = read_video_frames(demo_inputs / "driving.mp4")
    with VideoWriter(drv, fps=info.fps, size=(info.width, info.height)) as w:
        for _ in range(8):  # long enough to be still rendering when the signal comes
            for f in frames:
                w.write(f)
    p = subprocess.Popen(CLI + ["animate", "-s", str(demo_inputs / "portrait.png"), "-d", str(drv),
                                "-o", str(out_dir / "o.mp4"), "-q"], stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not any(out_dir.iterdir()) and p.poll() is None:
        time.sleep(0.2)  # the temp output appears once rendering starts
    assert p.poll() is None, p.stderr.read()[-2000:]
    p.send_signal(getattr(signal, sig))
    p.wait(timeout=60)
    assert p.returncode == 128 + getattr(signal, sig)
    assert list(out_dir.iterdir()) == []


@pytest.mark.parametrize("voice,expect", [("zh", "sit/cmn"), ("en-GB", "gmw/en"), ("fr-fr", "roa/fr"),
                                          ("en+f3", "gmw/en+f3"), ("xx-nope", None)])
def test_voice_language_names(voice, expect):
    from talkinghead.drivers.tts import resolve_voice

    assert resolve_voice(voice) == expect


def test_mandarin_by_language_code():
    from talkinghead.drivers.tts import synthesize

    sp = synthesize("你好，世界。", voice="zh")
    assert sp.duration > 0.5 and len(sp.phonemes) >= 6


def test_signing_files_checked_before_rendering(tmp_path, demo_inputs):
    bad = tmp_path / "cert.pem"
    bad.write_text("not a certificate")
    from talkinghead.provenance.credentials import check_user_identity, ensure_identity

    ident = ensure_identity(tmp_path / "id")
    with pytest.raises(InputError, match="not a PEM certificate chain") as ei:
        check_user_identity(bad, ident.key)
    assert str(ei.value.path) == str(bad)
    with pytest.raises(InputError, match="not an unencrypted PEM private key") as ei:
        check_user_identity(ident.chain, bad)
    assert str(ei.value.path) == str(bad)
    check_user_identity(ident.chain, ident.key)
    # a valid key that is not the certificate's: refused up front, not after the render
    other = ensure_identity(tmp_path / "id2")
    with pytest.raises(InputError, match="cannot sign with this certificate and key") as ei:
        check_user_identity(ident.chain, other.key)
    assert str(ei.value.path) == str(ident.chain)


@pytest.mark.parametrize("argv, least", [(["verify", "x.mp4", "--max-frames", "0"], 1),
                                         (["live", "-s", "a", "-d", "b", "--queue", "0"], 1),
                                         (["eval", "reenact", "--max-frames", "-3"], 2),
                                         (["eval", "reenact", "--max-frames", "1"], 2)])  # frame 1 is the source
def test_counts_must_be_positive(argv, least, capsys):
    from talkinghead.interfaces.cli import build_parser

    with pytest.raises(SystemExit) as ei:
        build_parser().parse_args(argv)
    assert ei.value.code == 2 and f"must be at least {least}" in capsys.readouterr().err


def test_reenact_summary_of_clips_with_nothing_to_compare_is_nan_without_warnings():
    import math
    import warnings

    from talkinghead.eval.reenact import summarize

    nan = {k: float("nan") for k in ("l1", "psnr", "ssim", "akd")}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = summarize([{"clip": "a", "frames": 0, "ours": nan, "static": nan}])
        assert math.isnan(m["ours"]["l1"]) and math.isnan(m["l1_ratio"])
        ok = {"l1": 0.1, "psnr": 30.0, "ssim": 0.9, "akd": 0.02}
        m = summarize([{"clip": "a", "ours": nan, "static": nan}, {"clip": "b", "ours": ok, "static": ok}])
        assert m["ours"]["l1"] == 0.1



def test_strict_configs_check_value_types():
    from talkinghead.config import AnimateConfig
    from talkinghead.errors import ConfigError
    from talkinghead.train.loop import TrainConfig

    for d, msg in [({"relative": "false"}, "relative: expected true or false"),
                   ({"size": "256"}, "size: expected a whole number"), ({"crf": 18.5}, "crf: expected a whole number"),
                   ({"strength": 3}, "strength: expected a mapping"),
                   ({"strength": {"pose": "lots"}}, "MotionStrength.pose: expected a number")]:
        with pytest.raises(ConfigError, match=msg) as ei:
            AnimateConfig.from_dict(d, source="jobs.csv line 2")
        assert str(ei.value).startswith("jobs.csv line 2: ")
    c = AnimateConfig.from_dict({"strength": {"pose": 2}, "relative": False})
    assert c.strength.pose == 2.0 and isinstance(c.strength.pose, float) and c.relative is False
    with pytest.raises(ConfigError, match="t.yaml: TrainConfig: expected a mapping"):
        TrainConfig.from_dict([{"task": "refiner"}], source="t.yaml")
    with pytest.raises(ConfigError, match="t.yaml: unknown config key.*DataConfig: bogus"):
        TrainConfig.from_dict({"task": "refiner", "data": {"bogus": 1}}, source="t.yaml")


def test_train_config_file_errors(tmp_path):
    from talkinghead.errors import ConfigError
    from talkinghead.train.loop import TrainConfig

    (tmp_path / "broken.yaml").write_text("task: [unclosed\n")
    with pytest.raises(ConfigError, match=r"not valid YAML \(line \d+, column \d+: ") as ei:
        TrainConfig.from_yaml(tmp_path / "broken.yaml")
    assert "\n" not in str(ei.value)
    (tmp_path / "bin.yaml").write_bytes(b"\x00\xff\xfe binary")
    with pytest.raises(ConfigError, match="not UTF-8"):
        TrainConfig.from_yaml(tmp_path / "bin.yaml")


def test_live_with_an_empty_stream_is_an_error(tmp_path, face_image):
    out = tmp_path / "o.mp4"
    r = subprocess.run(CLI + ["live", "-s", face_image, "-d", "-", "--raw-size", "64x64", "-o", str(out)],
                       input=b"\x00" * 1000, capture_output=True, timeout=120)
    assert r.returncode == 2 and b"no driver frames arrived" in r.stderr and not out.exists()


def test_eval_json_path_checked_first(tmp_path, demo_inputs):
    r = _cli("eval", "reenact", demo_inputs / "driving.mp4", "--json", demo_inputs / "driving.mp4")
    assert "unsupported output extension" in _error_line(r)
    (tmp_path / "empty").mkdir()
    r = _cli("eval", "reenact", tmp_path / "empty")
    assert "no video clips" in _error_line(r)


def test_api_output_that_is_an_input_is_refused(tmp_path, demo_inputs):
    import shutil

    from talkinghead.pipelines.animate import AnimatePipeline

    drv = tmp_path / "d.mp4"
    shutil.copy(demo_inputs / "driving.mp4", drv)
    before = drv.read_bytes()
    with pytest.raises(OutputError, match="is also an input file"):
        AnimatePipeline()(demo_inputs / "portrait.png", drv, output=drv)
    assert drv.read_bytes() == before


def test_failed_web_render_leaves_no_run_folder(tmp_path, face_image):
    from talkinghead.interfaces.web import render

    with pytest.raises(InputError, match="file not found"):
        render(face_image, "Video", str(tmp_path / "missing.mp4"), None, None, "en", 256, 1, 1, 1, 1, 17, 1, False,
               tmp_path / "results", progress=False)
    assert list((tmp_path / "results").iterdir()) == []


def test_reenact_names_the_clip_when_its_first_frame_has_no_face(tmp_path):
    from talkinghead.eval.reenact import reenact_clip
    from talkinghead.io.video_writer import VideoWriter

    clip = tmp_path / "noface.mp4"
    with VideoWriter(clip, fps=25, size=(64, 64)) as w:
        for i in range(3):
            w.write(np.full((64, 64, 3), 40 * i, np.uint8))
    with pytest.raises(InputError, match="first frame: no face found") as ei:
        reenact_clip(clip, max_frames=3)
    assert str(ei.value.path) == str(clip)


def test_constant_rate_grid():
    from talkinghead.io.video import _ConstantRate

    g = _ConstantRate(10.0)
    # steady, a gap of 3 periods, a duplicate slot, then the clock resets (joined clips), then no timestamps
    times = [5.0, 5.1, 5.2, 5.5, 5.52, 5.6, 0.0, 0.1, None]
    reps = [g.place(t) for t in times]
    assert reps == [1, 1, 1, 3, 0, 1, 1, 1, 1]


@pytest.mark.parametrize("call, name", [
    (lambda P, img: P["animate"]()(None, img, output="x.mp4"), "source="),
    (lambda P, img: P["animate"]()(img, None), "driving="),
    (lambda P, img: P["speak"]()(img, audio=b"x.wav"), "audio="),
    (lambda P, img: P["speak"]()(img, text=3), "text="),
    (lambda P, img: P["speak"]()(img, text="hi", output=7), "output="),
    (lambda P, img: P["live"](None, "x.mp4"), "source="),
])
def test_api_arguments_of_the_wrong_type_are_named(face_image, call, name):
    from talkinghead.errors import ArgumentTypeError
    from talkinghead.pipelines.animate import AnimatePipeline
    from talkinghead.pipelines.live import run_live
    from talkinghead.pipelines.speak import SpeakPipeline

    P = {"animate": AnimatePipeline, "speak": SpeakPipeline, "live": run_live}
    with pytest.raises(ArgumentTypeError) as e:
        call(P, face_image)
    assert str(e.value).startswith(name) and isinstance(e.value, TypeError)


def test_stderr_filter_drops_cut_off_noise():
    """fd 2 handed back while a C++ log line was half written ("INFO: "): the fragment is dropped, not
    left to prefix the next line; other text, complete or not, passes unchanged."""

    from talkinghead.interfaces.quiet import _pump

    def through(*writes: bytes) -> bytes:
        r, w = os.pipe()
        out_r, out_w = os.pipe()
        for chunk in writes:
            os.write(w, chunk)
        os.close(w)
        _pump(r, out_w)
        os.close(r)
        os.close(out_w)
        with os.fdopen(out_r, "rb") as f:
            return f.read()

    noise = b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n"
    assert through(b"hello\n", noise, b"W0000 00:00 x\n", b"INFO: ") == b"hello\n"
    assert through(b"INFO: something else\n", b"error: tail without newline") == \
        b"INFO: something else\nerror: tail without newline"


def test_stderr_filter_never_merges_a_message_into_a_noise_line(tmp_path):
    """A C++ logger writes its line in pieces from its own thread; an error printed between the pieces
    used to land inside the noise line ("W0000 ...error: ...", dropped: exit 2 with no message)."""
    import subprocess
    import sys

    script = (
        "import os, sys\n"
        "from talkinghead.interfaces.quiet import filtered_stderr\n"
        "with filtered_stderr():\n"
        "    for head, rest in ((b'W0000 00:00:1 x.cc:1] ', b'Feedback manager ...\\n'),\n"
        "                       (b'INFO: ', b'Created TensorFlow Lite XNNPACK delegate for CPU.\\n')):\n"
        "        os.write(2, head)\n"
        "        print('error: ' + head.decode()[:4], file=sys.stderr)\n"
        "        os.write(2, rest)\n"
        "    os.write(2, b'kept line\\n')\n")
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert sorted(res.stderr.splitlines()) == ["error: INFO", "error: W000", "kept line"], res.stderr


def test_a_logger_set_up_inside_the_stderr_filter_still_writes_after_it():
    """gradio/uvicorn configure logging (to sys.stderr) while the filter is on and log on the way out."""
    import subprocess
    import sys

    script = ("import logging\n"
              "from talkinghead.interfaces.quiet import filtered_stderr\n"
              "with filtered_stderr():\n"
              "    logging.basicConfig(format='%(message)s')\n"
              "    logging.warning('inside')\n"
              "logging.warning('after')\n")
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and res.stderr.splitlines() == ["inside", "after"], res.stderr


def test_stderr_filter_does_not_wait_for_children_holding_the_pipe(tmp_path):
    """A child that outlives the command (a process pool's resource tracker) inherits the filtered fd
    2; handing fd 2 back must not wait for that child's exit (it used to cost 5 s at every batch's end)."""
    import subprocess
    import sys

    script = (
        "import os, subprocess, sys, time\n"
        "from talkinghead.interfaces.quiet import filtered_stderr\n"
        "with filtered_stderr():\n"
        "    child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)'])  # inherits fd 2\n"
        "    os.write(2, b'W0000 00:00 noise\\nkept line\\n')\n"
        "    t0 = time.perf_counter()\n"
        "print(f'{time.perf_counter() - t0:.3f}')\n"
        "child.kill()\n")
    err = tmp_path / "stderr.txt"  # a file, not a pipe: the sleeping child holds it too
    with open(err, "wb") as f:
        res = subprocess.run([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=f, text=True, timeout=60)
    assert res.returncode == 0, err.read_text()
    assert float(res.stdout) < 2.0  # handed back at once, not after a 5 s join
    assert err.read_text() == "kept line\n"  # the noise is still dropped, the rest passes
