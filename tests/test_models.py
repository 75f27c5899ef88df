"""Neural renderer models on tiny configs: shapes, save -> load bit-exact, strict configs, ONNX."""
from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")

from talkinghead.errors import ConfigError, InputError  # noqa: E402
from talkinghead.models import modeling  # noqa: E402
from talkinghead.models.blocks import landmark_image  # noqa: E402
from talkinghead.models.dense_motion import inverse2x2  # noqa: E402
from talkinghead.models.discriminator import DiscriminatorConfig, MultiScaleDiscriminator  # noqa: E402
from talkinghead.models.fewshot import Embedder, FewShotConfig, FewShotGenerator, ProjectionDiscriminator  # noqa: E402
from talkinghead.models.generator import GeneratorConfig, OcclusionAwareGenerator, relative_keypoints  # noqa: E402
from talkinghead.models.keypoint import KeypointConfig, KeypointDetector  # noqa: E402
from talkinghead.models.refiner import RefinerConfig, WarpRefiner  # noqa: E402

torch.set_num_threads(1)

KP = dict(num_kp=4, block_expansion=8, max_features=32, num_blocks=3, scale_factor=0.5)
GEN = dict(num_kp=4, block_expansion=8, max_features=32, num_bottleneck_blocks=1,
           dense_motion=dict(block_expansion=8, max_features=32, num_blocks=3, scale_factor=0.5))
FS = dict(image_size=32, channels=8, max_channels=16, num_down=2, num_res=1, embed_dim=16, n_videos=3)
REF = dict(size=32, channels=8, max_channels=16, num_down=2, num_res=1)


def _models():
    torch.manual_seed(0)
    return [KeypointDetector(KeypointConfig(**KP)), OcclusionAwareGenerator(GeneratorConfig(**GEN)),
            MultiScaleDiscriminator(DiscriminatorConfig(block_expansion=8, num_blocks=3, max_features=16,
                                                        scales=(1.0, 0.5), use_kp=True, num_kp=4)),
            Embedder(FewShotConfig(**FS)), FewShotGenerator(FewShotConfig(**FS)),
            ProjectionDiscriminator(FewShotConfig(**FS)), WarpRefiner(RefinerConfig(**REF))]


def _run(m, x):
    """A deterministic forward of any of the models on images ``x`` (eval mode)."""
    kp = torch.tensor([[[-0.5, -0.5], [0.5, -0.5], [0.0, 0.3], [0.2, 0.6]]]).expand(len(x), -1, -1)
    if isinstance(m, KeypointDetector):
        return m(x)["value"]
    if isinstance(m, OcclusionAwareGenerator):
        return m(x, kp, kp.flip(-1))["prediction"]
    if isinstance(m, MultiScaleDiscriminator):
        return torch.cat([s.flatten() for _, s in m(x, kp).values()])
    if isinstance(m, Embedder):
        return m(x, x)
    if isinstance(m, FewShotGenerator):
        return m(x, torch.ones(len(x), 16))
    if isinstance(m, ProjectionDiscriminator):
        return m(x, x, torch.tensor([0, 2]))[1]
    return m(x, x, x, x)["prediction"]


def test_shapes() -> None:
    x = torch.rand(2, 3, 32, 32)
    kd, gen = KeypointDetector(KeypointConfig(**KP)), OcclusionAwareGenerator(GeneratorConfig(**GEN))
    kp = kd(x)
    assert kp["value"].shape == (2, 4, 2) and kp["jacobian"].shape == (2, 4, 2, 2)
    assert kp["value"].abs().max() <= 1
    # Jacobians start at the identity (FOMM initialisation).
    assert torch.allclose(kp["jacobian"], torch.eye(2).expand(2, 4, 2, 2), atol=1e-6)
    out = gen(x, kp["value"], kp["value"], kp["jacobian"], kp["jacobian"])
    assert out["prediction"].shape == (2, 3, 32, 32)
    assert out["mask"].shape[1] == 5 and torch.allclose(out["mask"].sum(1), torch.ones(1), atol=1e-5)
    assert out["occlusion_map"].min() >= 0 and out["occlusion_map"].max() <= 1
    e = Embedder(FewShotConfig(**FS))(x, x)
    assert e.shape == (2, 16)
    assert FewShotGenerator(FewShotConfig(**FS))(x, e).shape == (2, 3, 32, 32)
    with pytest.raises(ValueError):
        gen(torch.rand(2, 4, 32, 32), kp["value"], kp["value"])
    # output_skip: occluded pixels come from the decoder, visible ones from the warped source
    skip = OcclusionAwareGenerator(GeneratorConfig(**GEN, output_skip=True)).eval()
    s = skip(x, kp["value"], kp["value"], kp["jacobian"], kp["jacobian"])
    occ = torch.nn.functional.interpolate(s["occlusion_map"], size=(32, 32), mode="bilinear", align_corners=True)
    assert torch.all((s["prediction"] - s["deformed"]).abs() <= (1 - occ) + 1e-6)


def test_same_keypoints_give_identity_motion() -> None:
    """With identical source and driving keypoints every sparse motion is the identity (Eq. 4)."""
    gen = OcclusionAwareGenerator(GeneratorConfig(**GEN)).eval()
    x = torch.rand(1, 3, 32, 32)
    kp = torch.rand(1, 4, 2) * 2 - 1
    out = gen(x, kp, kp, torch.eye(2).expand(1, 4, 2, 2), torch.eye(2).expand(1, 4, 2, 2))
    assert torch.allclose(out["deformed"], x, atol=1e-5)


def test_inverse2x2_and_relative_transfer() -> None:
    # a fixed generator: with the global RNG the matrices depended on the test order, and a nearly
    # singular draw now and then failed the tolerance (seen once in a full run)
    m = torch.randn(5, 3, 2, 2, generator=torch.Generator().manual_seed(0)) + 2 * torch.eye(2)
    assert torch.allclose(inverse2x2(m), torch.inverse(m), atol=1e-4)
    s = {"value": torch.zeros(1, 2, 2), "jacobian": torch.eye(2).expand(1, 2, 2, 2)}
    d0 = {"value": torch.full((1, 2, 2), 0.1), "jacobian": 2 * torch.eye(2).expand(1, 2, 2, 2)}
    d = {"value": torch.full((1, 2, 2), 0.3), "jacobian": 2 * torch.eye(2).expand(1, 2, 2, 2)}
    r = relative_keypoints(s, d, d0)
    assert torch.allclose(r["value"], torch.full((1, 2, 2), 0.2)) and torch.allclose(r["jacobian"], s["jacobian"])


def test_refiner_starts_as_identity() -> None:
    """The residual head is zero-initialised: an untrained refiner returns the warp unchanged."""
    r = WarpRefiner(RefinerConfig(**REF))
    w = torch.rand(2, 3, 32, 32)
    assert torch.equal(r(w, torch.rand_like(w), torch.rand_like(w), torch.rand_like(w))["prediction"], w)


def test_refiner_output_scale_and_shrink() -> None:
    """output_scale / shrink: delta = alpha * sign(d) * max(|d| - tau, 0) of the raw correction d."""
    import dataclasses

    torch.manual_seed(0)
    r = WarpRefiner(RefinerConfig(**REF)).eval()
    with torch.no_grad():
        r.head.weight.normal_(0, 0.05)
    w = torch.rand(2, 3, 32, 32)
    args = (w, torch.rand_like(w), torch.rand_like(w), torch.rand_like(w))
    with torch.no_grad():
        raw = r(*args)["delta"]
        r.config = dataclasses.replace(r.config, output_scale=0.5, shrink=0.01)
        out = r(*args)
    assert (raw.abs() > 0.01).any() and (raw.abs() < 0.01).any()
    assert torch.allclose(out["delta"], 0.5 * torch.sign(raw) * (raw.abs() - 0.01).clamp(min=0), atol=1e-6)
    assert torch.allclose(out["prediction"], (w + out["delta"]).clamp(0, 1))
    assert torch.equal(out["raw_delta"], raw)  # the unshrunk correction, for sweeping (alpha, tau)
    with pytest.raises(ConfigError):
        RefinerConfig(**REF, output_scale=1.5)


def test_personalize_matches_embedding() -> None:
    """Fine-tuning starts where the embedding left off: psi' = P e_hat and w' = w_0 + e_hat."""
    cfg = FewShotConfig(**FS)
    g, d = FewShotGenerator(cfg).eval(), ProjectionDiscriminator(cfg).eval()
    y, e = torch.rand(2, 3, 32, 32), torch.randn(1, 16)
    assert torch.allclose(g.personalize(e).eval()(y), g(y, e.expand(2, -1)), atol=1e-6)
    with torch.no_grad():
        d.W[1] = 0
    assert torch.allclose(d.personalize(e).eval()(y, y)[1], d(y, y, torch.tensor([1, 1]))[1] +
                          (d.V(y, y)[1] * e).sum(1), atol=1e-4)


@pytest.mark.parametrize("i", range(7))
def test_save_load_bit_exact(tmp_path, i) -> None:
    m = _models()[i].eval()
    m.save_pretrained(tmp_path / "m")
    m2 = modeling.load_model(tmp_path / "m")
    assert type(m2) is type(m) and m2.config == m.config
    sd, sd2 = m.state_dict(), m2.state_dict()
    assert sd.keys() == sd2.keys() and all(torch.equal(sd[k], sd2[k]) for k in sd)
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(_run(m, x), _run(m2, x))
    assert type(m).from_pretrained(tmp_path / "m").config == m.config


def test_unknown_config_keys_rejected(tmp_path) -> None:
    with pytest.raises(ConfigError, match="bogus"):
        RefinerConfig.from_dict({**REF, "bogus": 1})
    with pytest.raises(ConfigError, match="typo"):
        GeneratorConfig.from_dict({**GEN, "dense_motion": {"typo": 3}})
    with pytest.raises(ConfigError):
        RefinerConfig(size=30, num_down=2)  # not divisible by 4
    WarpRefiner(RefinerConfig(**REF)).save_pretrained(tmp_path / "m")
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    cfg["config"]["extra_layer"] = 1
    (tmp_path / "m" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ConfigError, match="extra_layer"):
        modeling.load_model(tmp_path / "m")


def test_load_rejects_mismatched_weights(tmp_path) -> None:
    WarpRefiner(RefinerConfig(**REF)).save_pretrained(tmp_path / "m")
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    cfg["config"]["channels"] = 4
    (tmp_path / "m" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(InputError, match="do not match"):
        modeling.load_model(tmp_path / "m")
    (tmp_path / "m" / "model.safetensors").write_bytes(b"not a safetensors file")
    cfg["config"]["channels"] = 8
    (tmp_path / "m" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(InputError, match="unreadable"):
        modeling.load_model(tmp_path / "m")
    with pytest.raises(InputError):
        modeling.load_model(tmp_path / "nothing")


def test_landmark_image() -> None:
    from talkinghead.face.canonical import load_canonical

    X = load_canonical()[:, :2]
    pts = (X - X.mean(0)) / np.ptp(X[:, 0]) * 40 + 64
    img = landmark_image(pts, 128)
    assert img.shape == (128, 128, 3) and img.dtype == np.uint8
    assert all((img[..., c] > 128).sum() > 20 for c in range(3))  # every channel has drawn structure


def _face_crop(size: int = 128):
    from talkinghead.face.canonical import load_canonical

    X = load_canonical()[:, :2]
    pts = ((X - X.mean(0)) / np.ptp(X[:, 0]) * size * 0.4 + size / 2).astype(np.float32)
    yy, xx = np.mgrid[0:size, 0:size]
    img = np.stack([(xx * 2) % 256, (yy * 3) % 256, (xx + yy) % 256], -1).astype(np.uint8)
    return img, pts


def test_neural_renderer_untrained_refiner_equals_warp(tmp_path) -> None:
    from talkinghead.render.neural import NeuralRenderer
    from talkinghead.render.warp import WarpRenderer

    WarpRefiner(RefinerConfig(**REF)).save_pretrained(tmp_path / "ref")
    img, pts = _face_crop()
    tgt = pts.copy()
    tgt[:, 0] += 3.0
    nr, wr = NeuralRenderer("refiner", tmp_path / "ref"), WarpRenderer()
    nr.prepare(img, pts)
    wr.prepare(img, pts)
    assert np.array_equal(nr.render(tgt), wr.render(tgt))


def test_fewshot_renderer_and_person(tmp_path) -> None:
    from talkinghead.render.neural import NeuralRenderer, load_person
    from talkinghead.train.loop import FinetuneConfig, finetune_person

    cfg = FewShotConfig(**{**FS, "image_size": 32})
    for name, cls in (("embedder", Embedder), ("generator", FewShotGenerator), ("discriminator", ProjectionDiscriminator)):
        cls(cfg).save_pretrained(tmp_path / "fs" / name)
    img, pts = _face_crop(128)
    r = NeuralRenderer("fewshot", tmp_path / "fs")
    r.prepare(img, pts)
    assert r.render(pts).shape == (128, 128, 3)
    small, spts = _face_crop(32)
    info = finetune_person(small[None], spts[None], tmp_path / "fs", tmp_path / "person",
                           FinetuneConfig(steps=2, batch_size=2), progress=False)
    assert info["k"] == 1 and (tmp_path / "person" / "generator" / "model.safetensors").exists()
    p = load_person(tmp_path / "person")
    p.prepare(img, pts)
    assert p.render(pts).shape == (128, 128, 3)
    with pytest.raises(InputError):
        load_person(tmp_path / "fs")
    # person.json is strict: everything finetune writes is known; a foreign key or a bad type is refused
    import json
    import shutil

    meta = json.loads((tmp_path / "person" / "person.json").read_text())
    for change, match in (({"bogus": 1}, "unknown key"), ({"image_size": "big"}, "image_size: expected a whole")):
        shutil.copytree(tmp_path / "person", tmp_path / "bad", dirs_exist_ok=True)
        (tmp_path / "bad" / "person.json").write_text(json.dumps({**meta, **change}))
        with pytest.raises(InputError, match=match):
            load_person(tmp_path / "bad")

    # a source photo the person was not fine-tuned on gets a notice (the face drawn is theirs)
    from talkinghead.pipelines.renderers import person_notice

    a_png, b_png = tmp_path / "a.png", tmp_path / "b.png"
    a_png.write_bytes(b"photo a"), b_png.write_bytes(b"photo b")
    finetune_person(small[None], spts[None], tmp_path / "fs", tmp_path / "person2",
                    FinetuneConfig(steps=1, batch_size=1), sources=[str(a_png)], progress=False)
    p2 = load_person(tmp_path / "person2")
    assert person_notice(p2, a_png) is None
    assert "not one of the 1 photo(s)" in person_notice(p2, b_png)
    assert person_notice(p, a_png) is None  # no sources recorded: nothing to compare

    # an existing person folder is replaced whole; a folder of other files is refused before training
    from talkinghead.errors import OutputError

    finetune_person(small[None], spts[None], tmp_path / "fs", tmp_path / "person2",
                    FinetuneConfig(steps=1, batch_size=1), progress=False)
    assert json.loads((tmp_path / "person2" / "person.json").read_text())["sources"] == []
    assert not [q for q in tmp_path.iterdir() if q.name.startswith(".person2")]  # no temp folder left
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "letter.txt").write_text("mine")
    with pytest.raises(OutputError, match="other files"):
        finetune_person(small[None], spts[None], tmp_path / "fs", docs, FinetuneConfig(steps=1, batch_size=1),
                        progress=False)
    assert sorted(q.name for q in docs.iterdir()) == ["letter.txt"]


def test_onnx_export_matches_pytorch() -> None:
    """The generators (FOMM, few-shot, refiner) export to ONNX and onnxruntime reproduces PyTorch.

    onnx + onnxscript need protobuf >= 6.31 (mediapipe needs 4.25), so they live in the side
    folder ``.venv/onnx-side`` (made by ``make install``) and the export runs in its own process.
    """
    import os
    import subprocess
    import sys
    from pathlib import Path

    side = Path(__file__).resolve().parents[1] / ".venv" / "onnx-side"
    if not (side / "onnx").is_dir():
        pytest.skip("no .venv/onnx-side (run `make install`)")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(side), os.environ.get("PYTHONPATH", "")]))
    p = subprocess.run([sys.executable, "-m", "talkinghead.models.export", "--tiny"], env=env,
                       capture_output=True, text=True, timeout=600)
    rows = [json.loads(line) for line in p.stdout.splitlines() if line.startswith("{")]
    assert p.returncode == 0, p.stderr[-2000:]
    assert {r["model"] for r in rows} == {"fomm_generator", "refiner", "fewshot_generator"}
    assert all(r["max_abs_diff"] < 1e-4 for r in rows), rows
