"""End-to-end CLI tests: a real run on a short clip, and every kind of bad input."""
import os
import subprocess
import sys

import numpy as np
import pytest

from talkinghead.io.image import write_image
from talkinghead.io.video import probe_video, read_video_frames
from talkinghead.io.video_writer import VideoWriter

CLI = [sys.executable, "-m", "talkinghead.interfaces.cli"]


def run(*args, timeout=300):
    return subprocess.run(CLI + [str(a) for a in args], capture_output=True, text=True, timeout=timeout)


def assert_clean_error(r, needle: str, path=None):
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    assert "Traceback" not in r.stderr
    errs = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert len(errs) == 1, r.stderr
    assert needle in errs[0], errs[0]
    if path is not None:
        assert str(path) in errs[0]


def test_animate_end_to_end(demo_inputs, tmp_path):
    out = tmp_path / "out.mp4"
    r = run("animate", "--source", demo_inputs / "portrait.png", "--driving", demo_inputs / "driving.mp4",
            "-o", out, "-q")
    assert r.returncode == 0, r.stderr[-3000:]
    info = probe_video(out)
    drv = probe_video(demo_inputs / "driving.mp4")
    assert info.n_frames == drv.n_frames and abs(info.fps - drv.fps) < 1e-3
    assert info.has_audio == drv.has_audio
    frames, _ = read_video_frames(out)
    frames = frames[1:]  # frame 0 also carries the watermark in chroma (a still's copy of the mark)
    # the portrait moves: frames differ from each other, but the frame edges stay still
    diffs = [np.abs(f.astype(int) - frames[0].astype(int)) for f in frames[1:]]
    assert max(d.mean() for d in diffs) > 0.5
    edge = max(max(d[:4].mean(), d[-4:].mean(), d[:, :4].mean(), d[:, -4:].mean()) for d in diffs)
    assert edge < 2.0, edge
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".")]  # no temp files left


def test_strength_zero_gives_still_video(demo_inputs, tmp_path):
    out = tmp_path / "still.mp4"
    r = run("animate", "-s", demo_inputs / "portrait.png", "-d", demo_inputs / "driving.mp4", "-o", out, "-q",
            "--pose", "0", "--expression", "0", "--eyes", "0", "--mouth", "0")
    assert r.returncode == 0, r.stderr[-3000:]
    frames, _ = read_video_frames(out)
    frames = frames[1:]  # frame 0 also carries the watermark in chroma
    assert max(np.abs(f.astype(int) - frames[0].astype(int)).mean() for f in frames) < 1.0


@pytest.fixture()
def blank_png(tmp_path):
    p = tmp_path / "blank.png"
    write_image(p, np.full((200, 200, 3), 128, np.uint8))
    return p


def test_no_face_in_source_face_mode(blank_png, demo_inputs, tmp_path):
    out = tmp_path / "o.mp4"
    r = run("animate", "-s", blank_png, "-d", demo_inputs / "driving.mp4", "-o", out, "--mode", "face", "-q")
    assert_clean_error(r, "no face", blank_png)
    assert not out.exists()


def test_no_face_source_auto_uses_object_mode(tmp_path, demo_inputs):
    rng = np.random.default_rng(0)
    img = np.full((240, 240, 3), 200, np.uint8)
    img[60:180, 70:170] = rng.integers(0, 255, (120, 100, 3))  # a textured "object", no face
    p = tmp_path / "object.png"
    write_image(p, img)
    out = tmp_path / "obj.mp4"
    r = run("animate", "-s", p, "-d", demo_inputs / "driving.mp4", "-o", out, "-q")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "object mode" in r.stderr
    assert probe_video(out).n_frames > 10
    r = run("animate", "-s", p, "-d", demo_inputs / "driving.mp4", "-o", out, "-q", "--renderer", "neural")
    assert r.returncode == 0, r.stderr[-3000:]  # says the face renderer is not used, not that it drew a face
    assert f"note: --renderer neural draws faces; {p} has none" in r.stderr, r.stderr


def test_driver_without_any_face(tmp_path, demo_inputs):
    drv = tmp_path / "noface.mp4"
    with VideoWriter(drv, fps=25, size=(128, 128)) as w:
        for i in range(10):
            w.write(np.full((128, 128, 3), 40 + i, np.uint8))
    out = tmp_path / "o.mp4"
    r = run("animate", "-s", demo_inputs / "portrait.png", "-d", drv, "-o", out, "-q")
    assert_clean_error(r, "no face found in any frame", drv)
    assert not out.exists()


def test_driver_with_some_faceless_frames(tmp_path, demo_inputs):
    frames, info = read_video_frames(demo_inputs / "driving.mp4")
    drv = tmp_path / "gaps.mp4"
    with VideoWriter(drv, fps=info.fps, size=(info.width, info.height)) as w:
        for i, f in enumerate(frames):
            w.write(np.zeros_like(f) if 10 <= i < 20 else f)
    out = tmp_path / "o.mp4"
    r = run("animate", "-s", demo_inputs / "portrait.png", "-d", drv, "-o", out, "-q")
    assert r.returncode == 0, r.stderr[-3000:]
    outs, _ = read_video_frames(out)
    assert len(outs) == len(frames)
    # no jump while the face is missing: consecutive output frames stay close
    steps = [np.abs(outs[i].astype(int) - outs[i - 1].astype(int)).mean() for i in range(10, 21)]
    assert max(steps) < 6.0, steps


@pytest.mark.parametrize("kind", ["missing", "empty", "text", "truncated"])
def test_bad_source_files(kind, tmp_path, demo_inputs):
    p = tmp_path / "src.jpg"
    if kind == "empty":
        p.write_bytes(b"")
    elif kind == "text":
        p.write_text("this is not an image")
    elif kind == "truncated":
        data = (demo_inputs / "portrait.png").read_bytes()
        p = tmp_path / "src.png"
        p.write_bytes(data[: len(data) // 3])
    out = tmp_path / "o.mp4"
    r = run("animate", "-s", p, "-d", demo_inputs / "driving.mp4", "-o", out, "-q")
    needle = {"missing": "not found", "empty": "empty", "text": "not an image", "truncated": "truncated"}[kind]
    assert_clean_error(r, needle, p)
    assert not out.exists()


@pytest.mark.parametrize("kind", ["empty", "text", "truncated", "image"])
def test_bad_driving_files(kind, tmp_path, demo_inputs):
    p = tmp_path / "drv.mp4"
    if kind == "empty":
        p.write_bytes(b"")
    elif kind == "text":
        p.write_text("not a video at all")
    elif kind == "truncated":
        data = (demo_inputs / "driving.mp4").read_bytes()
        p.write_bytes(data[:2000])
    elif kind == "image":
        p = demo_inputs / "portrait.png"
    out = tmp_path / "o.mp4"
    r = run("animate", "-s", demo_inputs / "portrait.png", "-d", p, "-o", out, "-q")
    assert_clean_error(r, "", p)
    assert not out.exists()


def test_face_too_small(tmp_path, demo_inputs):
    from talkinghead.io.image import read_image
    import cv2

    img = read_image(demo_inputs / "portrait.png")
    small = cv2.resize(img, (img.shape[1] // 8, img.shape[0] // 8), interpolation=cv2.INTER_AREA)
    canvas = np.full((400, 400, 3), 255, np.uint8)
    canvas[10:10 + small.shape[0], 10:10 + small.shape[1]] = small
    p = tmp_path / "tiny.png"
    write_image(p, canvas)
    r = run("animate", "-s", p, "-d", demo_inputs / "driving.mp4", "-o", tmp_path / "o.mp4", "-q", "--mode", "face")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert ("too small" in r.stderr) or ("no face" in r.stderr)


def test_unwritable_output(tmp_path, demo_inputs):
    out = tmp_path / "missing_dir" / "o.mp4"
    r = run("animate", "-s", demo_inputs / "portrait.png", "-d", demo_inputs / "driving.mp4", "-o", out, "-q")
    assert_clean_error(r, "directory does not exist", out)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    r = run("animate", "-s", demo_inputs / "portrait.png", "-d", demo_inputs / "driving.mp4", "-o", blocker / "o.mp4", "-q")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    r = run("animate", "-s", demo_inputs / "portrait.png", "-d", demo_inputs / "driving.mp4", "-o", tmp_path / "o.avi", "-q")
    assert_clean_error(r, "extension")


def test_face_index_out_of_range(tmp_path, demo_inputs):
    r = run("animate", "-s", demo_inputs / "portrait.png", "-d", demo_inputs / "driving.mp4",
            "-o", tmp_path / "o.mp4", "-q", "--face-index", "3")
    assert_clean_error(r, "face_index 3 out of range")
    r = run("animate", "-s", demo_inputs / "portrait.png", "-d", demo_inputs / "driving.mp4",
            "-o", tmp_path / "o.mp4", "-q", "--face-index", str(2**31))  # was an internal OverflowError
    assert_clean_error(r, "face_index must be in [0, 99]")


def test_neural_renderer_end_to_end(demo_inputs, tmp_path):
    """--renderer neural (warp + trained refiner) renders the same clip; its frames differ from the warp's."""
    outs = {}
    for name in ("warp", "neural"):
        outs[name] = tmp_path / f"{name}.mp4"
        r = run("animate", "-s", demo_inputs / "portrait.png", "-d", demo_inputs / "driving.mp4", "-o", outs[name],
                "-q", "--renderer", name)
        assert r.returncode == 0, r.stderr[-3000:]
    fw = np.stack(read_video_frames(outs["warp"])[0])
    fn = np.stack(read_video_frames(outs["neural"])[0])
    assert fw.shape == fn.shape
    d = np.abs(fw[1:].astype(int) - fn[1:].astype(int)).mean()
    assert d < 8.0, d  # a correction, not a different picture


def test_renderer_choice_reaches_the_pipeline():
    from talkinghead.config import AnimateConfig, SpeakConfig
    from talkinghead.errors import ConfigError
    from talkinghead.pipelines.animate import AnimatePipeline
    from talkinghead.pipelines.speak import SpeakPipeline
    from talkinghead.render.neural import NeuralRenderer

    assert AnimatePipeline(AnimateConfig()).renderer is None  # default: the warp renderer
    assert isinstance(AnimatePipeline(AnimateConfig(renderer="neural")).renderer, NeuralRenderer)
    assert isinstance(SpeakPipeline(SpeakConfig(renderer="neural")).renderer, NeuralRenderer)
    with pytest.raises(ConfigError):
        AnimateConfig.from_dict({"renderer": "gan"})


def test_person_folder_errors(demo_inputs, tmp_path):
    out = tmp_path / "p.mp4"
    r = run("animate", "-s", demo_inputs / "portrait.png", "-d", demo_inputs / "driving.mp4", "-o", out,
            "--person", tmp_path / "nobody")
    assert_clean_error(r, "person folder not found", tmp_path / "nobody")
    (tmp_path / "empty").mkdir()
    r = run("animate", "-s", demo_inputs / "portrait.png", "-d", demo_inputs / "driving.mp4", "-o", out,
            "--person", tmp_path / "empty")
    assert_clean_error(r, "not a person folder")
    assert not out.exists()


def test_eval_json_has_no_nan(tmp_path):
    """A metric with nothing to measure (a 1-frame clip) is null in the --json file: the file stays
    valid JSON (Python's json writes NaN, which other readers refuse)."""
    import json

    import numpy as np

    from talkinghead.io.atomic import write_json as _write_json

    out = tmp_path / "r.json"
    _write_json(out, [{"clip": "a", "r_mouth": float("nan"), "lmd": np.float32(0.5), "n": np.int64(1),
                       "rows": [np.inf, 2.0]}])
    text = out.read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == [{"clip": "a", "r_mouth": None, "lmd": 0.5, "n": 1, "rows": [None, 2.0]}]
