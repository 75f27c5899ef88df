"""``talkinghead live``: causal, bounded-latency animation to file, raw stdout and MJPEG sinks."""
from __future__ import annotations

import argparse
import io
import threading
import time
import urllib.request

import cv2
import numpy as np
import pytest

from talkinghead.config import AnimateConfig
from talkinghead.io.video import read_video_frames
from talkinghead.pipelines.live import (Driver, LiveAnimator, LiveOptions, MjpegSink, NullSink, RawSink,
                                        RawStdinDriver, run_live)
from talkinghead.pipelines.source import prepare_source


def run_cli(argv: list[str]) -> int:
    from talkinghead.interfaces import cli
    from talkinghead.interfaces.cli_extra import add_extra

    p = argparse.ArgumentParser(prog="talkinghead")
    p.add_argument("--debug", action="store_true")
    add_extra(p.add_subparsers(dest="command", required=True))
    return cli._run(p.parse_args(argv))


class ListDriver(Driver):
    """Frames from a list, as a live source (paced by the test itself when ``delay`` is set)."""

    def __init__(self, frames, fps=25.0, live=False, delay=0.0):
        self.frames, self.fps, self.live, self.delay = frames, fps, live, delay

    def __iter__(self):
        for f in self.frames:
            if self.delay:
                time.sleep(self.delay)
            yield f


@pytest.fixture(scope="module")
def driver_frames(demo_inputs):
    frames, _ = read_video_frames(demo_inputs / "driving.mp4", max_frames=24)
    return frames


def test_motion_is_causal(demo_inputs, driver_frames):
    """A frame's motion depends only on the frames before it (no look-ahead, unlike the offline tracker)."""
    cfg = AnimateConfig()
    src = prepare_source(demo_inputs / "portrait.png", cfg)

    def motions(frames):
        anim = LiveAnimator(src, cfg)
        try:
            return [anim.motion(f, i / 25.0)[0] for i, f in enumerate(frames)]
        finally:
            anim.close()

    short, full = motions(driver_frames[:8]), motions(driver_frames)
    for a, b in zip(short, full[:8]):
        np.testing.assert_array_equal(a.canonical, b.canonical)
    assert any(np.abs(full[i].canonical - full[0].canonical).max() > 1e-3 for i in range(1, len(full)))


def test_every_frame_watermarked_and_faceless_frames_hold(demo_inputs, driver_frames):
    from talkinghead.provenance.watermark import detect_watermark

    blank = np.full_like(driver_frames[0], 90)
    frames = [blank] * 3 + driver_frames[:10] + [blank] * 3
    out: list[np.ndarray] = []
    stats = run_live(demo_inputs / "portrait.png", ListDriver(frames), NullSink(), options=LiveOptions(pace=False),
                     on_frame=lambda i, f: out.append(f))
    assert stats.frames_out == len(frames) and stats.dropped == 0
    assert all(detect_watermark([f]).found for f in out[::4])
    np.testing.assert_array_equal(out[0], out[1])  # before the first face: the portrait at rest
    assert np.abs(out[-1].astype(int) - out[12]).mean() < 1.0  # face lost: the last motion is held


def test_file_sink_via_cli(demo_inputs, tmp_path, capsys):
    from talkinghead.provenance.credentials import read_credentials

    out = tmp_path / "live.mp4"
    rc = run_cli(["live", "-s", str(demo_inputs / "portrait.png"), "-d", str(demo_inputs / "driving.mp4"),
                  "-o", str(out), "--no-pace", "--max-frames", "12"])
    assert rc == 0 and "latency median" in capsys.readouterr().err
    frames, info = read_video_frames(out)
    assert len(frames) == 12 and read_credentials(out).ok


def test_raw_sink_and_raw_stdin_driver(demo_inputs, driver_frames):
    H, W = driver_frames[0].shape[:2]
    stdin = io.BytesIO(b"".join(f.tobytes() for f in driver_frames[:6]) + b"\0" * 10)  # a partial tail is ignored
    stdout = io.BytesIO()
    stats = run_live(demo_inputs / "portrait.png", RawStdinDriver((W, H), 25.0, stream=stdin),
                     RawSink(stdout, announce=False), options=LiveOptions(pace=False))
    canvas = prepare_source(demo_inputs / "portrait.png", AnimateConfig()).canvas
    assert stats.frames_out == 6
    assert len(stdout.getvalue()) == 6 * canvas.size


def test_mjpeg_stream(demo_inputs, driver_frames):
    sink = MjpegSink(port=0)
    frames = driver_frames * 3
    t = threading.Thread(target=run_live, args=(demo_inputs / "portrait.png", ListDriver(frames, live=True, delay=0.04),
                                                sink), daemon=True)
    t.start()
    try:
        jpeg = urllib.request.urlopen(sink.url + "frame.jpg", timeout=20).read()
        img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        assert img is not None and img.shape[0] > 100
        with urllib.request.urlopen(sink.url + "stream", timeout=20) as r:
            assert r.headers["Content-Type"].startswith("multipart/x-mixed-replace")
            head = r.read(200)
            assert head.startswith(b"--talkingheadframe\r\nContent-Type: image/jpeg")
    finally:
        t.join(30)
    assert not t.is_alive()


def test_frames_are_dropped_when_behind(demo_inputs, driver_frames):
    class SlowSink(NullSink):
        def write(self, frame):
            time.sleep(0.12)  # ~8 fps sink behind a 25 fps camera

    stats = run_live(demo_inputs / "portrait.png", ListDriver(driver_frames, live=True, delay=0.04), SlowSink())
    s = stats.summary()
    assert s["dropped"] > 0 and stats.frames_out < stats.frames_in
    assert s["p95_ms"] < 400, s  # bounded: at most one frame waits, never a growing backlog


def test_driver_without_a_face_is_reported(demo_inputs, driver_frames):
    blank = [np.full_like(driver_frames[0], 90) for _ in range(4)]
    H, W = blank[0].shape[:2]
    notes: list[str] = []
    stdin = io.BytesIO(b"".join(f.tobytes() for f in blank))
    stats = run_live(demo_inputs / "portrait.png", RawStdinDriver((W, H), 25.0, stream=stdin), NullSink(),
                     options=LiveOptions(pace=False), log=lambda *a, **k: notes.append(" ".join(map(str, a))))
    assert stats.frames_out == 4
    assert any(n.startswith("warning: no face in any of the 4 driver frames") for n in notes), notes


def test_warm_up_leaves_no_state(demo_inputs, driver_frames):
    """run_live warms the animator before the driver's clock starts (a paced file used to lose its
    first ~2 s to the tracker's start-up); the warm-up must not change what is rendered."""
    cfg = AnimateConfig()
    src = prepare_source(demo_inputs / "portrait.png", cfg)

    def render(warm: bool):
        anim = LiveAnimator(src, cfg)
        try:
            if warm:
                anim.warm_up()
                assert anim.reference is None
            return [anim.motion(f, i / 25.0)[0].canonical for i, f in enumerate(driver_frames[:6])]
        finally:
            anim.close()

    for a, b in zip(render(False), render(True)):
        np.testing.assert_allclose(a, b, atol=1e-4)
