"""Training on tiny configs (CPU, seconds): losses fall, checkpoints resume exactly, 2-process DDP
(gloo) matches one process, shipped YAML configs are valid."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")

from talkinghead.errors import ConfigError  # noqa: E402
from talkinghead.train.loop import TrainConfig, build_task, make_batch, train  # noqa: E402
from talkinghead.train.data import MovingShapes  # noqa: E402

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[1]

TINY = {
    "refiner": dict(model=dict(size=32, channels=8, max_channels=16, num_down=2, num_res=1),
                    discriminator=dict(block_expansion=8, num_blocks=2, max_features=16)),
    "keypoint": dict(model=dict(detector=dict(num_kp=4, block_expansion=8, max_features=32, num_blocks=3, scale_factor=0.5),
                                generator=dict(block_expansion=8, max_features=32, num_bottleneck_blocks=1,
                                               dense_motion=dict(block_expansion=8, max_features=32, num_blocks=3,
                                                                 scale_factor=0.5))),
                     discriminator=dict(block_expansion=8, num_blocks=2, max_features=16)),
    "fewshot": dict(model=dict(image_size=32, channels=8, max_channels=16, num_down=2, num_res=1, embed_dim=16),
                    discriminator={}),
}


def tiny_config(task: str, out: Path, **kw) -> TrainConfig:
    d = dict(task=task, **TINY[task], data=dict(source="shapes", size=32, shapes_videos=4, shapes_frames=8, k_shot=2),
             steps=6, batch_size=4, log_every=1, sample_every=3, checkpoint_every=3, output=str(out),
             optim=dict(lr=1e-3, lr_d=1e-3))
    d.update(kw)
    return TrainConfig.from_dict(d)


def _dataset(cfg: TrainConfig):
    from talkinghead.train.data import build_dataset

    return build_dataset(cfg.data, cfg.task)


@pytest.mark.parametrize("task", ["refiner", "keypoint", "fewshot"])
def test_loss_falls(tmp_path, task) -> None:
    """A few Adam steps on one fixed batch lower the reconstruction loss."""
    cfg = tiny_config(task, tmp_path, discriminator=None)
    ds = _dataset(cfg)
    t = build_task(cfg, ds.n_videos)
    batch = make_batch(ds, cfg, 0, 0, 1, "cpu")
    opt = torch.optim.Adam([p for n in t.g_names for p in t.networks[n].parameters()], 2e-3)
    losses = []
    for _ in range(12):
        total, logs, _ = t.g_loss(batch)
        opt.zero_grad()
        total.backward()
        opt.step()
        losses.append(float(logs["l1"] + logs["pyramid"]))
    assert losses[-1] < 0.8 * losses[0], losses


def _weights(out: Path) -> dict:
    from safetensors.torch import load_file

    return {f"{d.name}.{k}": v for d in sorted((out / "final").iterdir()) for k, v in
            load_file(str(d / "model.safetensors")).items()}


def test_train_checkpoint_resume_is_exact(tmp_path) -> None:
    """Kill after step 3 (a checkpoint), resume: the final weights equal an uninterrupted run."""
    a, b = tmp_path / "a", tmp_path / "b"
    train(tiny_config("keypoint", a), log=lambda *x: None)
    train(tiny_config("keypoint", b), log=lambda *x: None, stop_at=3)
    assert not (b / "final").exists() and (b / "checkpoints" / "step-0000003" / "state.json").exists()
    res = train(tiny_config("keypoint", b), log=lambda *x: None)
    assert res["step"] == 6
    wa, wb = _weights(a), _weights(b)
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    # run folder: config, log (one line per step, no duplicates after the resume), samples, checkpoints
    steps = [json.loads(ln)["step"] for ln in (b / "log.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4, 5, 6]
    assert {"l1", "pyramid", "eq_value", "d_hinge", "g_adv"} <= set(json.loads((b / "log.jsonl").read_text().splitlines()[-1]))
    assert (b / "samples" / "step-0000006.png").exists()
    assert sorted(p.name for p in (b / "checkpoints").iterdir()) == ["step-0000003", "step-0000006"]
    ck = b / "checkpoints" / "step-0000006"
    assert {p.name for p in ck.iterdir()} == {"detector", "generator", "discriminator", "optimizer.safetensors", "state.json"}
    assert not list(ck.rglob("*.pt*")) and not list(ck.rglob("*.pkl"))


def test_restart_sets_the_old_checkpoints_aside(tmp_path) -> None:
    """--restart, then a plain resume: it resumes from the restarted run, not from the abandoned run's
    newer step (which used to win, mixing two runs in one log)."""
    out = tmp_path / "run"
    train(tiny_config("keypoint", out), log=lambda *x: None)  # steps 3 and 6 checkpointed
    train(tiny_config("keypoint", out, steps=3), log=lambda *x: None, resume=False)
    assert [p.name for p in (out / "checkpoints").iterdir()] == ["step-0000003"]
    aside = [p for p in out.iterdir() if p.name.startswith("checkpoints.before-restart-")]
    assert len(aside) == 1 and (aside[0] / "step-0000006").is_dir()  # set aside, not deleted
    msgs = []
    res = train(tiny_config("keypoint", out, steps=4), log=msgs.append)
    assert res["step"] == 4 and any("step-0000003" in m for m in msgs)
    steps = [json.loads(ln)["step"] for ln in (out / "log.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4]


def test_optimizer_state_round_trip(tmp_path) -> None:
    from talkinghead.train.checkpoint import load_checkpoint, save_checkpoint

    cfg = tiny_config("refiner", tmp_path, discriminator=None)
    ds = _dataset(cfg)
    t = build_task(cfg)
    opt = torch.optim.Adam(t.networks["refiner"].parameters(), 1e-3)
    total, _, _ = t.g_loss(make_batch(ds, cfg, 0, 0, 1, "cpu"))
    total.backward()
    opt.step()
    p = save_checkpoint(tmp_path, 1, t.networks, {"g": opt})
    t2 = build_task(cfg.replace(seed=5))
    opt2 = torch.optim.Adam(t2.networks["refiner"].parameters(), 1e-3)
    assert load_checkpoint(p, t2.networks, {"g": opt2})["step"] == 1
    s1, s2 = opt.state_dict(), opt2.state_dict()
    assert s1["param_groups"] == s2["param_groups"]
    for k in s1["state"]:
        assert all(torch.equal(torch.as_tensor(s1["state"][k][n]), torch.as_tensor(s2["state"][k][n])) for n in s1["state"][k])


def test_config_rejects_unknown_keys(tmp_path) -> None:
    with pytest.raises(ConfigError, match="learning_rate"):
        TrainConfig.from_dict({"task": "refiner", "learning_rate": 1})
    with pytest.raises(ConfigError, match="sise"):
        TrainConfig.from_dict({"task": "refiner", "data": {"sise": 64}})
    with pytest.raises(ConfigError, match="chanels"):
        TrainConfig.from_dict({"task": "refiner", "model": {"chanels": 8}})
    with pytest.raises(ConfigError, match="blocks"):
        TrainConfig.from_dict({"task": "keypoint", "model": {"detector": {"blocks": 2}}})
    with pytest.raises(ConfigError):
        TrainConfig.from_dict({"task": "gan"})
    y = tmp_path / "bad.yaml"
    y.write_text("task: refiner\nloss: {l1: 1.0, perceptual: 10.0}\n")
    with pytest.raises(ConfigError, match="perceptual"):
        TrainConfig.from_yaml(y)


def test_shipped_configs_are_valid() -> None:
    paths = sorted((ROOT / "configs").glob("*.yaml"))
    assert paths
    for p in paths:
        TrainConfig.from_yaml(p)


_DDP_SCRIPT = textwrap.dedent("""
    import os, sys, torch
    torch.set_num_threads(1)
    sys.path.insert(0, {tests!r})
    from test_train import tiny_config, _dataset
    from talkinghead.train.loop import build_task, make_batch
    from talkinghead.train import distributed as D
    from safetensors.torch import save_file
    info = D.init_distributed()
    cfg = tiny_config("keypoint", {out!r})
    ds = _dataset(cfg)
    t = build_task(cfg)
    g = D.wrap_ddp(t.g_loss, info)
    d = D.wrap_ddp(t.d_loss, info)
    batch = make_batch(ds, cfg, 0, info.rank, info.world_size, info.device)
    total, logs, outs = g(batch)
    total.backward()
    d_total, _ = d(outs["real"], outs["fake"].detach())
    d_total.backward()
    if info.rank == 0:
        grads = {{n + "." + k: p.grad.contiguous() for n, m in t.networks.items()
                  for k, p in m.named_parameters() if p.grad is not None}}
        save_file(grads, os.path.join({out!r}, "grads_%d.safetensors" % info.world_size))
    del g, d
    D.cleanup(info)
""")


def test_ddp_two_processes_match_single(tmp_path) -> None:
    """torchrun --nproc_per_node=2 (gloo): DDP-averaged gradients == one process on the whole batch."""
    from safetensors.torch import load_file

    script = tmp_path / "ddp_step.py"
    script.write_text(_DDP_SCRIPT.format(tests=str(ROOT / "tests"), out=str(tmp_path)))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("WORLD_SIZE", None)
    subprocess.run([sys.executable, str(script)], check=True, env=env, capture_output=True, timeout=120)
    for attempt in range(2):  # one retry: gloo can rarely abort a rank at teardown ("terminate called
        # without an active exception", SIGABRT; seen once in ~60 runs), which says nothing of the gradients
        r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                            str(script)], env=env, capture_output=True, text=True, timeout=180)
        if r.returncode == 0 or "SIGABRT" not in r.stderr:
            break
    assert r.returncode == 0, r.stderr[-3000:]
    g1, g2 = load_file(str(tmp_path / "grads_1.safetensors")), load_file(str(tmp_path / "grads_2.safetensors"))
    assert g1.keys() == g2.keys() and len(g1) > 50
    for k in g1:  # float summation order differs: tolerance relative to each tensor's scale
        assert float((g1[k] - g2[k]).abs().max()) <= 1e-4 * float(g1[k].abs().max()) + 1e-6, k


def test_moving_shapes_deterministic() -> None:
    ds = MovingShapes(32, 3, 8)
    a, b = ds.item(5, np.random.default_rng(1)), ds.item(5, np.random.default_rng(1))
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert ds.keypoints(0, 0).shape[1] == 2


def test_cli_registers_train_and_finetune() -> None:
    import argparse

    from talkinghead.interfaces.cli_train import add_train

    p = argparse.ArgumentParser()
    add_train(p.add_subparsers(dest="command"))
    a = p.parse_args(["train", "--config", "c.yaml", "--steps", "3"])
    assert a.steps == 3 and a.func.__name__ == "_cmd_train"
    a = p.parse_args(["finetune", "--photos", "a.jpg", "b.jpg", "-o", "person"])
    assert a.photos == ["a.jpg", "b.jpg"] and a.steps == 100


def test_cache_pack_round_trip(tmp_path) -> None:
    """pack -> unpack: image stacks exact at qp 0, landmarks within float16 steps; a cache without
    its video folder is used through index.json (how a bare GPU machine trains)."""
    pytest.importorskip("av")
    from talkinghead.train.cache_pack import pack, unpack
    from talkinghead.train.data import DataConfig, RefinerPairs, build_cache

    rng = np.random.default_rng(0)
    cache = tmp_path / "cache"
    d = cache / "clipA" / "refine32_r64"
    d.mkdir(parents=True)
    base = rng.integers(0, 255, (1, 32, 32, 3))
    arrays = {"warped": np.clip(base + rng.integers(-3, 4, (6, 32, 32, 3)), 0, 255).astype(np.uint8),
              "target": np.clip(base + rng.integers(-3, 4, (6, 32, 32, 3)), 0, 255).astype(np.uint8),
              "source": base.astype(np.uint8),
              "source_points": rng.uniform(0, 31, (1, 478, 2)).astype(np.float32),
              "target_points": rng.uniform(0, 31, (6, 478, 2)).astype(np.float32),
              "pair_source": np.zeros(6, np.int64)}
    for k, a in arrays.items():
        np.save(d / f"{k}.npy", a)
    (cache / "index.json").write_text(json.dumps({"version": 1, "clips": ["clipA"], "holdout": []}))
    pack(cache, tmp_path / "pack", ["refine32_r64"], qp=0)
    unpack(tmp_path / "pack", tmp_path / "back")
    for k, a in arrays.items():
        b = np.load(tmp_path / "back" / "clipA" / "refine32_r64" / f"{k}.npy")
        assert b.dtype == a.dtype and b.shape == a.shape, k
        if a.dtype == np.float32:
            assert np.abs(b - a).max() < 0.02, k
        else:
            assert np.array_equal(a, b), k
    cfg = DataConfig(videos=str(tmp_path / "no-videos"), cache=str(tmp_path / "back"), holdout=(), size=32,
                     render_size=64)
    clips = build_cache(cfg, ("refine",))
    assert clips == ["clipA"]
    assert len(RefinerPairs(cfg, clips)) == 6
    # photometric / geometric augmentation: the same change on warp, target and source
    plain = RefinerPairs(cfg, clips).item(0, np.random.default_rng(1))
    import dataclasses

    aug = RefinerPairs(dataclasses.replace(cfg, color_jitter=0.2, shift=2, flip=False), clips)
    a, b = aug.item(0, np.random.default_rng(5)), aug.item(0, np.random.default_rng(5))
    assert all(np.array_equal(a[k], b[k]) for k in a)  # a pure function of the generator
    assert a["warped"].shape == plain["warped"].shape and a["warped"].dtype == np.float32
    assert not np.allclose(a["target"], plain["target"]) and 0 <= a["target"].min() and a["target"].max() <= 1


def test_cache_index_merges_runs(tmp_path) -> None:
    """A training run on a subset of the cached clips (a validation split) keeps the others listed."""
    from talkinghead.train.data import write_index

    for c in ("a", "b", "c"):
        (tmp_path / c).mkdir()
    write_index(tmp_path, ["a", "b", "c"], ["x", "y"])
    idx = write_index(tmp_path, ["a"], ["b", "c", "x", "y"])
    assert idx["clips"] == ["a", "b", "c"] and idx["holdout"] == ["x", "y"]
    assert json.loads((tmp_path / "index.json").read_text()) == idx


def test_refiner_delta_penalty(tmp_path) -> None:
    """loss.delta adds weight * mean |correction| to the refiner objective."""
    cfg = tiny_config("refiner", tmp_path, discriminator=None)
    ds = _dataset(cfg)
    t = build_task(cfg, ds.n_videos)
    with torch.no_grad():
        t.networks["refiner"].head.weight.normal_(0, 0.05)
    batch = make_batch(ds, cfg, 0, 0, 1, "cpu")
    base, _, _ = t.g_loss(batch)
    import dataclasses

    t.g_loss.cfg = dataclasses.replace(cfg.loss, delta=2.0)
    tot, logs, outs = t.g_loss(batch)
    assert torch.allclose(tot, base + 2.0 * outs["delta"].abs().mean(), atol=1e-6) and "delta_abs" in logs


def test_refiner_select_rule() -> None:
    """The validation rule: do-no-harm filter (SSIM gain > 0, L1 below the warp on every clip), then the lowest
    mean per-clip L1 ratio; with require_akd, a candidate whose validation AKD is worse than the warp's drops out."""
    from talkinghead.train.refiner_select import select

    def v(ratios, ssim_gain, akd_gain):
        return {"l1_ratio_per_clip": ratios, "l1_ratio_mean": sum(ratios) / len(ratios), "ssim_gain": ssim_gain,
                "psnr_gain": 0.1, "akd_gain": akd_gain}

    res = [{"refiners": {"run/step-0001000/refiner": {
        "a1_t0": v([0.90, 1.01], 0.01, -0.1),      # best mean ratio but worse than the warp on one clip
        "a0.5_t0": v([0.95, 0.97], 0.01, 0.02),    # better everywhere, but worse landmarks
        "a0.25_t0": v([0.97, 0.98], 0.005, -0.01),  # better everywhere, landmarks no worse
        "a0.1_t0": v([0.94, 0.96], -0.001, -0.2),  # lower SSIM than the warp
    }}}]
    pick, rows = select(res)
    assert (pick["step"], pick["alpha"]) == (1000, 0.5) and len(rows) == 4
    pick, _ = select(res, require_akd=True)
    assert (pick["step"], pick["alpha"], pick["refiner"]) == (1000, 0.25, "run/step-0001000/refiner")


def test_finetune_refuses_a_model_that_is_not_few_shot(tmp_path, capsys) -> None:
    """--model pointing at a keypoint (FOMM) run: a one-line error naming it, not an internal error."""
    from talkinghead.interfaces.cli import main
    from talkinghead.models.generator import GeneratorConfig, OcclusionAwareGenerator

    OcclusionAwareGenerator(GeneratorConfig()).save_pretrained(tmp_path / "kp" / "generator")
    photo = tmp_path / "p.png"
    photo.write_bytes(b"unused: the model is refused first")
    assert main(["finetune", "--photos", str(photo), "-o", str(tmp_path / "person"),
                 "--model", str(tmp_path / "kp"), "--steps", "0"]) == 2
    err = capsys.readouterr().err
    assert "not a few-shot model (its generator: OcclusionAwareGenerator" in err and "internal" not in err
    assert not (tmp_path / "person").exists()


def test_prefetched_batches_equal_make_batch() -> None:
    """The loader threads hand out exactly the batches make_batch builds, in step order."""
    from talkinghead.train.loop import Prefetcher

    cfg = tiny_config("fewshot", Path("unused"), loader_threads=3)
    ds = _dataset(cfg)
    with Prefetcher(ds, cfg, 0, 1, torch.device("cpu"), end=7) as pre:
        for step in range(7):
            got, want = pre.get(step), make_batch(ds, cfg, step, 0, 1, "cpu")
            assert got.keys() == want.keys()
            for k in want:
                assert torch.equal(got[k], want[k]), (step, k)
    # an error in the training step (Ctrl-C, a NaN check) still stops the loader threads
    with pytest.raises(KeyboardInterrupt), Prefetcher(ds, cfg, 0, 1, torch.device("cpu"), end=7) as pre:
        pre.get(0)
        raise KeyboardInterrupt
    assert pre.pool._shutdown and all(not t.is_alive() for t in pre.pool._threads)
    with pytest.raises(ConfigError):
        tiny_config("fewshot", Path("unused"), loader_threads=-1)


def test_episode_landmarks_are_drawn_from_each_frames_points(tmp_path) -> None:
    """Few-shot episodes from the video cache: each landmark picture is that frame's own points drawn
    (they are drawn once at load and looked up per episode)."""
    from talkinghead.models.blocks import landmark_image
    from talkinghead.train.data import AlignedFrames, DataConfig

    rng = np.random.default_rng(0)
    d = tmp_path / "clip"
    d.mkdir()
    n, S = 6, 32
    base = np.random.default_rng(1).uniform(6, 26, (478, 3))
    pts = np.stack([base + rng.normal(0, 0.8, base.shape) for _ in range(n)])
    pts[2] = np.nan  # an untracked frame is never sampled
    crops = (np.arange(n, dtype=np.uint8)[:, None, None, None] * 40 + np.zeros((n, S, S, 3), np.uint8))
    np.save(d / f"aligned{S}.npy", crops)
    np.save(d / f"aligned{S}_points.npy", pts)
    cfg = DataConfig(source="videos", cache=str(tmp_path), size=S, k_shot=3, flip=False)
    ds = AlignedFrames(cfg, ["clip"], "episodes")
    for i in range(5):
        ep = ds.item(0, np.random.default_rng(i))
        for img, lm in zip(ep["frames"], ep["landmarks"]):
            f = int(round(float(img[0, 0, 0]) * 255 / 40))  # the crop's value says which frame it is
            assert f != 2
            want = landmark_image(pts[f], S).transpose(2, 0, 1).astype(np.float32) / 255
            np.testing.assert_array_equal(lm, want)


def test_mixed_episode_sizes_embed_only_their_first_shots() -> None:
    """``k_shot_min``: each episode embeds its first K' of the K frames (K' drawn in [k_shot_min, K]);
    the frames drawn are those of plain K-shot episodes, and K' = 1 gives exactly the one-shot embedding."""
    data = dict(source="shapes", size=32, shapes_videos=4, shapes_frames=8, k_shot=3)
    plain = tiny_config("fewshot", Path("unused"), data=data, discriminator=None)
    mixed = tiny_config("fewshot", Path("unused"), data={**data, "k_shot_min": 1}, discriminator=None)
    ds_p, ds_m = _dataset(plain), _dataset(mixed)
    seen = []
    for step in range(8):
        bp, bm = make_batch(ds_p, plain, step, 0, 1, "cpu"), make_batch(ds_m, mixed, step, 0, 1, "cpu")
        assert "shots" not in bp and torch.equal(bp["frames"], bm["frames"])
        seen += bm["shots"].tolist()
    assert set(seen) == {1, 2, 3}, seen
    t = build_task(mixed, ds_m.n_videos)
    for net in t.networks.values():
        net.eval()  # spectral norm's power iteration stays put between the two calls
    with torch.no_grad():
        b = dict(bm, shots=torch.tensor([1, 3, 1, 2]))
        e = t.g_loss(b)[2]["embedding"]
        emb = t.networks["embedder"]
        one = emb(b["frames"][:, 0], b["landmarks"][:, 0])
        all3 = torch.stack([emb(b["frames"][:, k], b["landmarks"][:, k]) for k in range(3)], 1)
    torch.testing.assert_close(e[0], one[0])
    torch.testing.assert_close(e[2], one[2])
    torch.testing.assert_close(e[1], all3[1].mean(0))
    torch.testing.assert_close(e[3], all3[3, :2].mean(0))
    with pytest.raises(ConfigError, match="k_shot_min"):
        tiny_config("fewshot", Path("unused"), data={**data, "k_shot_min": 4})
