"""Output at the photo's own resolution (talkinghead.render.detail): the warp applied to the photo at
output scale, only the painted pixels (mouth interior, lids, irises) taken from the face crop."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from talkinghead.face.types import CropTransform
from talkinghead.render.detail import DetailCanvas

S = 128


def _photo(h=600, w=800, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return cv2.GaussianBlur((rng.random((h, w, 3)) * 255).astype(np.uint8), (0, 0), 2.0)


def _setup():
    """A 800x600 photo, its render-scale canvas (x0.4) and a 128 px crop at canvas (100, 60)."""
    photo = _photo()
    canvas = cv2.resize(photo, (320, 240), interpolation=cv2.INTER_AREA)
    tf = CropTransform(np.array([[1.0, 0.0, -100.0], [0.0, 1.0, -60.0]]), S)
    crop = canvas[60:60 + S, 100:100 + S].copy()
    grid = np.stack(np.meshgrid(np.arange(S, dtype=np.float32), np.arange(S, dtype=np.float32)), -1)
    return photo, DetailCanvas(photo, canvas.shape, tf), crop, grid


def test_identity_map_gives_the_photo_itself():
    photo, dc, crop, grid = _setup()
    out = dc.compose(crop, grid, crop.copy())
    assert out.shape == photo.shape
    assert np.array_equal(out, photo)  # not a resampled copy: every pixel of the photo, exactly


def test_the_map_moves_the_photo_at_output_scale():
    photo, dc, crop, grid = _setup()
    out = dc.compose(crop, grid + np.float32([2.0, 0.0]), crop.copy())  # sample 2 crop px to the right
    x0, y0, x1, y1 = dc.box
    assert (x0, y0, x1, y1) == (250, 150, 570, 470)  # the crop's place at x2.5 ((100 + 0.5) * 2.5 - 0.5)
    # inside the feathered border the output is the photo shifted by 2 x 2.5 = 5 output px
    inner = (slice(y0 + 60, y1 - 60), slice(x0 + 60, x1 - 60))
    shifted = photo[:, 5:][inner]
    assert np.abs(out[inner].astype(int) - shifted).max() <= 1
    # outside the crop the photo is untouched
    assert np.array_equal(out[:, : x0], photo[:, : x0]) and np.array_equal(out[y1:], photo[y1:])


def test_painted_pixels_come_from_the_crop_and_nothing_else_does():
    photo, dc, crop, grid = _setup()
    plain = crop.copy()
    crop[50:60, 70:90] = (255, 0, 0)  # e.g. a drawn mouth interior
    out = dc.compose(crop, grid, plain)
    # crop px (80, 55) -> canvas (180, 115) -> output px ((180 + 0.5) * 2.5 - 0.5, ...)
    assert tuple(out[288, 451]) == (255, 0, 0)
    ys, xs = np.nonzero(np.abs(out.astype(int) - photo).max(-1) > 0)
    # the painted 20 x 10 crop px are 50 x 25 output px at (426, 276); the blend adds a few px around
    assert xs.min() >= 426 - 8 and xs.max() <= 476 + 8 and ys.min() >= 276 - 8 and ys.max() <= 301 + 8


def test_crop_outside_the_photo_is_refused():
    photo = _photo(100, 100)
    tf = CropTransform(np.array([[1.0, 0.0, 500.0], [0.0, 1.0, 500.0]]), S)
    with pytest.raises(ValueError, match="outside"):
        DetailCanvas(photo, (50, 50, 3), tf)


def _sharpness(img: np.ndarray) -> float:
    return float(cv2.Laplacian(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), cv2.CV_32F).var())


def test_speak_keeps_a_large_photos_detail(tmp_path):
    """A 1024 px photo: the default output is 512 px on its short side with the photo's detail (not the
    crop's scale upscaled); --resolution 0 gives the crop's scale; the face still talks."""
    import matplotlib.cbook as cbook

    from talkinghead.config import SpeakConfig
    from talkinghead.io.audio import write_wav
    from talkinghead.io.image import read_image, write_image
    from talkinghead.pipelines.speak import SpeakPipeline

    photo = read_image(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))  # 512 x 600
    big = cv2.resize(photo, (1024, 1200), interpolation=cv2.INTER_CUBIC)
    src = tmp_path / "big.png"
    write_image(src, big)
    t = np.arange(int(1.2 * 16000)) / 16000.0  # a vowel-like buzz with syllable-rate loudness
    x = 0.3 * np.sin(2 * np.pi * 140 * t) * np.sign(np.sin(2 * np.pi * 3 * t)).clip(0, 1)
    x += 0.1 * np.sin(2 * np.pi * 700 * t) * (x != 0)
    wav = tmp_path / "a.wav"
    write_wav(wav, x.astype(np.float32), 16000)
    hi = SpeakPipeline(SpeakConfig(workers=0))(src, audio=wav)
    lo = SpeakPipeline(SpeakConfig(workers=0, resolution=0))(src, audio=wav)
    assert hi.frames[0].shape == (600, 512, 3)
    assert min(lo.frames[0].shape[:2]) < 512
    ref = cv2.resize(big, (512, 600), interpolation=cv2.INTER_AREA)
    up = cv2.resize(lo.frames[0], (512, 600), interpolation=cv2.INTER_CUBIC)
    # the photo's own detail: as sharp as the photo at that size, much sharper than the crop's scale upscaled
    assert _sharpness(hi.frames[0]) > 0.8 * _sharpness(ref)
    assert _sharpness(hi.frames[0]) > 1.5 * _sharpness(up)
    # and it is the same picture as the crop-scale render (blurred: the detail differs, and each output
    # carries its own watermark payload)
    blur = lambda a: cv2.GaussianBlur(a.astype(np.float32), (0, 0), 2.0)  # noqa: E731
    assert np.abs(blur(up) - blur(hi.frames[0])).mean() < 4
    moving = np.stack(hi.frames).astype(np.float32).std(0).max(-1)
    assert moving.max() > 20 and np.median(moving) < 2


def test_a_tiny_face_in_a_very_large_photo_is_found_and_the_output_capped(tmp_path):
    """A 6000x4000 photo with a portrait 400 px wide: the face is found (tiled search), the render runs
    on a general crop of a canvas capped at 1920 px, and that canvas is area-resized to the default
    512 px short side (was 1920x1280), with a notice that the face is small in it."""
    import matplotlib.cbook as cbook

    from talkinghead.config import SpeakConfig
    from talkinghead.io.audio import write_wav
    from talkinghead.io.image import read_image, write_image
    from talkinghead.pipelines.speak import SpeakPipeline

    photo = read_image(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))  # 512 x 600
    noise = np.random.default_rng(1).uniform(60, 200, (80, 120, 3)).astype(np.float32)
    big = cv2.resize(noise, (6000, 4000), interpolation=cv2.INTER_CUBIC).clip(0, 255).astype(np.uint8)
    big[1800:2269, 3000:3400] = cv2.resize(photo, (400, 469), interpolation=cv2.INTER_AREA)
    src = tmp_path / "big.jpg"
    write_image(src, big)
    t = np.arange(int(1.2 * 16000)) / 16000.0
    x = 0.3 * np.sin(2 * np.pi * 140 * t) * np.sign(np.sin(2 * np.pi * 3 * t)).clip(0, 1)
    wav = tmp_path / "a.wav"
    write_wav(wav, x.astype(np.float32), 16000)
    notes: list[str] = []
    res = SpeakPipeline(SpeakConfig(workers=0), notify=lambda m, **k: notes.append(m))(src, audio=wav)
    assert res.frames[0].shape == (512, 768, 3)
    assert any("px wide in the 768x512 output" in n for n in notes), notes
    moving = np.stack(res.frames).astype(np.float32).std(0).max(-1)
    ys, xs = np.nonzero(moving > 10)  # what moves is the face, inside the portrait's place (x 0.128)
    assert len(ys) and 1800 * 0.128 - 2 <= ys.min() and ys.max() <= 2269 * 0.128 + 2
    assert 3000 * 0.128 - 2 <= xs.min() and xs.max() <= 3400 * 0.128 + 2


def test_resolution_is_checked():
    from talkinghead.config import SpeakConfig
    from talkinghead.errors import ConfigError
    from talkinghead.interfaces.args import output_resolution

    assert SpeakConfig(resolution=0).resolution == 0 and SpeakConfig().resolution == 512
    for bad in (-1, 50, 5000):
        with pytest.raises(ConfigError, match="resolution"):
            SpeakConfig(resolution=bad)
    import argparse

    assert output_resolution("720") == 720
    for bad in ("50", "x", "-3"):
        with pytest.raises(argparse.ArgumentTypeError):
            output_resolution(bad)


def test_object_mode_output_keeps_the_photos_resolution(demo_inputs, tmp_path):
    """A face-less 1200x900 image animated by a driving video (object mode): 512 px on its short side with
    the photo's detail, against the crop's scale (long side 256) at --resolution 0."""
    from talkinghead.config import AnimateConfig
    from talkinghead.io.image import write_image
    from talkinghead.pipelines.animate import AnimatePipeline

    rng = np.random.default_rng(1)
    big = cv2.GaussianBlur((rng.random((900, 1200, 3)) * 255).astype(np.uint8), (0, 0), 1.5)
    src = tmp_path / "texture.png"
    write_image(src, big)
    drv = demo_inputs / "driving.mp4"
    hi = AnimatePipeline(AnimateConfig(mode="object", workers=0))(src, drv, max_frames=6)
    lo = AnimatePipeline(AnimateConfig(mode="object", workers=0, resolution=0))(src, drv, max_frames=6)
    assert hi.mode == lo.mode == "object"
    assert hi.frames[0].shape == (512, 682, 3) and max(lo.frames[0].shape[:2]) == 256
    ref = cv2.resize(big, (682, 512), interpolation=cv2.INTER_AREA)
    up = cv2.resize(lo.frames[0], (682, 512), interpolation=cv2.INTER_CUBIC)
    assert _sharpness(hi.frames[0]) > 0.8 * _sharpness(ref) and _sharpness(hi.frames[0]) > 1.5 * _sharpness(up)


@pytest.mark.parametrize("t", [(30.0, 20.0), (-250.0, -170.0)])  # past the top-left / bottom-right edges
def test_crop_past_the_photos_edge(t):
    photo = _photo()
    canvas = cv2.resize(photo, (320, 240), interpolation=cv2.INTER_AREA)
    tf = CropTransform(np.array([[1.0, 0.0, t[0]], [0.0, 1.0, t[1]]]), S)
    dc = DetailCanvas(photo, canvas.shape, tf)
    x0, y0, x1, y1 = dc.box
    assert 0 <= x0 < x1 <= 800 and 0 <= y0 < y1 <= 600
    grid = np.stack(np.meshgrid(np.arange(S, dtype=np.float32), np.arange(S, dtype=np.float32)), -1)
    crop = np.zeros((S, S, 3), np.uint8)
    assert np.array_equal(dc.compose(crop, grid, crop.copy()), photo)
    painted = crop.copy()
    u, v = (64, 64) if t[0] > 0 else (40, 40)  # a crop px inside the photo
    if t[0] < 0:  # and one outside it: ignored
        painted[S - 20:S - 10, S - 20:S - 10] = 255
    painted[int(v) - 3:int(v) + 4, int(u) - 3:int(u) + 4] = 255
    out = dc.compose(painted, grid, crop)
    X, Y = round((u - t[0] + 0.5) * 2.5 - 0.5), round((v - t[1] + 0.5) * 2.5 - 0.5)
    assert out[Y, X].min() >= 250


def test_a_canvas_larger_than_the_output_is_area_averaged_down():
    """A small face enlarges the crop's scale past the photo's own: the output is the photo itself
    (identity map: bit for bit), and a painted patch still lands in place."""
    photo = _photo(300, 400)
    canvas = cv2.resize(photo, (800, 600), interpolation=cv2.INTER_CUBIC)  # the crop's scale: x2
    tf = CropTransform(np.array([[1.0, 0.0, -300.0], [0.0, 1.0, -200.0]]), S)
    dc = DetailCanvas(photo, canvas.shape, tf)
    assert dc.box == (150, 100, 214, 164)  # the 128 px crop is 64 output px
    grid = np.stack(np.meshgrid(np.arange(S, dtype=np.float32), np.arange(S, dtype=np.float32)), -1)
    crop = canvas[200:200 + S, 300:300 + S].copy()
    assert np.array_equal(dc.compose(crop, grid, crop.copy()), photo)
    painted = crop.copy()
    painted[60:70, 60:70] = (0, 0, 255)  # crop px 60-69 -> output px 180-184 / 130-134
    out = dc.compose(painted, grid, crop)
    assert tuple(out[132, 182]) == (0, 0, 255)
    assert np.array_equal(out[:, :170], photo[:, :170]) and np.array_equal(out[150:], photo[150:])
