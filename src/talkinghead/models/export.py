"""ONNX export of the neural renderers' generators, checked against PyTorch with onnxruntime.

``torch.onnx.export`` needs ``onnx`` + ``onnxscript``, which need protobuf >= 6.31, while
mediapipe needs protobuf 4.25: ``make install`` puts them in a side folder (``.venv/onnx-side``),
used only by this module's process::

    PYTHONPATH=.venv/onnx-side .venv/bin/python -m talkinghead.models.export [--out DIR] [--tiny]

Exports the shipped warp refiner and few-shot generator (``--tiny``: small random networks of
every kind, incl. the FOMM generator), runs each in onnxruntime on random inputs and prints the
largest absolute difference from PyTorch; exits 1 when one is above ``--tol``.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import torch


class _Prediction(torch.nn.Module):
    """Exports ``module(*args)["prediction"]`` (the renderers return dicts)."""

    def __init__(self, module: torch.nn.Module):
        super().__init__()
        self.module = module

    def forward(self, *args):
        out = self.module(*args)
        return out["prediction"] if isinstance(out, dict) else out


def check_onnx(module: torch.nn.Module, args: tuple, path: Path) -> float:
    """Export ``module`` to ``path`` and return max |onnxruntime - PyTorch| on ``args``."""
    import onnxruntime as ort

    mod = _Prediction(module).eval()
    torch.onnx.export(mod, args, str(path), dynamo=True, opset_version=18)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = sess.run(None, {i.name: a.numpy() for i, a in zip(sess.get_inputs(), args)})[0]
    with torch.no_grad():
        want = mod(*args).numpy()
    return float(abs(got - want).max())


def _cases(tiny: bool):
    from talkinghead.models.fewshot import FewShotConfig, FewShotGenerator
    from talkinghead.models.generator import GeneratorConfig, OcclusionAwareGenerator
    from talkinghead.models.modeling import load_model
    from talkinghead.models.refiner import RefinerConfig, WarpRefiner

    g = torch.Generator().manual_seed(0)
    if tiny:
        ref = WarpRefiner(RefinerConfig(size=32, channels=8, max_channels=16, num_down=2, num_res=1))
        fs = FewShotGenerator(FewShotConfig(image_size=32, channels=8, max_channels=16, num_down=2, num_res=1,
                                            embed_dim=16, n_videos=3))
        fomm = OcclusionAwareGenerator(GeneratorConfig(
            num_kp=4, block_expansion=8, max_features=32, num_bottleneck_blocks=1,
            dense_motion=dict(block_expansion=8, max_features=32, num_blocks=3, scale_factor=0.5)))
        x = torch.rand(1, 3, 32, 32, generator=g)
        kp = torch.rand(1, 4, 2, generator=g) - 0.5
        jac = torch.eye(2).expand(1, 4, 2, 2) + 0.05 * torch.randn(1, 4, 2, 2, generator=g)
        yield "fomm_generator", fomm, (x, kp, kp.flip(-1), jac, jac.transpose(-1, -2))
    else:
        from talkinghead.config import NEURAL_ASSETS

        ref = load_model(NEURAL_ASSETS / "refiner")
        fs = load_model(NEURAL_ASSETS / "fewshot" / "generator")
    n, m = ref.config.size, fs.config.image_size
    imgs = [torch.rand(1, 3, n, n, generator=g) for _ in range(4)]
    yield "refiner", ref, tuple(imgs)
    yield "fewshot_generator", fs, (torch.rand(1, 3, m, m, generator=g), torch.randn(1, fs.config.embed_dim, generator=g))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m talkinghead.models.export", description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=None, help="keep the .onnx files here (default: a temp folder)")
    ap.add_argument("--tiny", action="store_true", help="small random networks instead of the shipped weights")
    ap.add_argument("--tol", type=float, default=1e-4)
    a = ap.parse_args(argv)
    out = Path(a.out or tempfile.mkdtemp(prefix="talkinghead-onnx-"))
    out.mkdir(parents=True, exist_ok=True)
    ok = True
    for name, module, args in _cases(a.tiny):
        err = check_onnx(module.eval(), args, out / f"{name}.onnx")
        ok &= err <= a.tol
        print(json.dumps({"model": name, "max_abs_diff": err, "onnx": str(out / f"{name}.onnx")}), flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
