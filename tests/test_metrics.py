import numpy as np

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
