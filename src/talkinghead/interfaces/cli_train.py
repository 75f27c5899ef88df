"""``talkinghead train`` and ``talkinghead finetune`` (registered by :func:`add_train`).

    talkinghead train --config configs/refiner_cpu.yaml [--output DIR] [--steps N] [--max-minutes M]
    torchrun --nproc_per_node=2 -m talkinghead.interfaces.cli_train train --config ...   # data parallel
    talkinghead finetune --photos a.jpg b.jpg ... -o person/ [--model DIR] [--steps N]

Training resumes from the newest checkpoint in the output folder unless ``--restart``.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from talkinghead.interfaces.args import bounded_float, non_negative_int, positive_int


def add_train(sub) -> None:
    """Register the ``train`` and ``finetune`` subcommands on an argparse subparsers object."""
    p = sub.add_parser("train", help="train a neural renderer model from a YAML config")
    p.add_argument("--config", required=True, help="YAML training config (see configs/)")
    p.add_argument("--output", default=None, help="run folder (default: the config's output)")
    p.add_argument("--steps", type=non_negative_int, default=None, help="override the number of steps")
    p.add_argument("--max-minutes", type=bounded_float(0.01, 1e6, "max minutes"), default=None,
                   help="stop with a checkpoint after this long")
    p.add_argument("--threads", type=positive_int, default=None, help="torch CPU threads")
    p.add_argument("--restart", action="store_true", help="ignore existing checkpoints (default: resume)")
    p.set_defaults(func=_cmd_train)

    f = sub.add_parser("finetune", help="personalise the few-shot model on K photos of one person")
    f.add_argument("--photos", nargs="+", required=True, help="K photos of the same person (K >= 1)")
    f.add_argument("-o", "--output", required=True, help="person folder to write (use with animate --person)")
    f.add_argument("--model", default=None, help="meta-learnt few-shot model folder (default: bundled)")
    f.add_argument("--steps", type=non_negative_int, default=100, help="fine-tuning steps (0: embedding only)")
    f.add_argument("--no-adversarial", action="store_true", help="reconstruction losses only")
    f.add_argument("--threads", type=positive_int, default=None, help="torch CPU threads")
    f.set_defaults(func=_cmd_finetune)


def _cmd_train(a) -> int:
    from talkinghead.io.atomic import check_input_file
    from talkinghead.train.loop import TrainConfig, train

    check_input_file(a.config)
    cfg = TrainConfig.from_yaml(a.config)
    over = {k: v for k, v in (("output", a.output), ("steps", a.steps), ("max_minutes", a.max_minutes),
                              ("threads", a.threads)) if v is not None}
    cfg = cfg.replace(**over) if over else cfg
    res = train(cfg, resume=not a.restart)
    if int(os.environ.get("RANK", "0")) == 0:
        print(f"trained to step {res['step']} in {res['wall_s']:.0f}s; output in {res['output']}")
    return 0


def aligned_faces(photos: list[str], size: int) -> tuple:
    """Read each photo, find its largest face, return (crops (K, S, S, 3), points (K, 478, 2)) at ``size``."""
    import numpy as np

    from talkinghead.face.crop import crop_image, face_crop_transform
    from talkinghead.face.mesh import FaceMesh, check_face_size, select_face
    from talkinghead.io.atomic import check_input_file
    from talkinghead.io.image import read_image
    from talkinghead.errors import InputError

    crops, pts = [], []
    with FaceMesh(static=True, max_faces=4) as mesh:
        for ph in photos:
            check_input_file(ph)
            img = read_image(ph)
            faces = mesh.detect(img)
            if not faces:
                raise InputError(ph, "no face found")
            face = select_face(faces, None, path=ph)
            check_face_size(face, ph)
            tf = face_crop_transform(face, size)
            crops.append(crop_image(img, tf))
            pts.append(face.transformed(tf.M, (size, size)).points[:, :2])
    return np.stack(crops), np.stack(pts)


def _cmd_finetune(a) -> int:
    from talkinghead.errors import InputError
    from talkinghead.models.modeling import read_config
    from talkinghead.render.neural import default_fewshot_dir
    from talkinghead.train.loop import FinetuneConfig, finetune_person

    model = Path(a.model) if a.model else default_fewshot_dir()
    if not (model / "generator").is_dir():
        raise InputError(model, "no few-shot model here (expected embedder/ and generator/ folders)")
    from talkinghead.models.fewshot import FewShotGenerator

    gcls, gcfg, _ = read_config(model / "generator")
    if not issubclass(gcls, FewShotGenerator) or not (model / "embedder").is_dir():
        raise InputError(model, f"not a few-shot model (its generator: {gcls.__name__}; "
                                "finetune needs the embedder/ and generator/ of a few-shot training run)")
    crops, pts = aligned_faces(a.photos, gcfg.image_size)
    cfg = FinetuneConfig(steps=a.steps, adversarial=not a.no_adversarial, threads=a.threads or 0)
    info = finetune_person(crops, pts, model, a.output, cfg, sources=[str(p) for p in a.photos])
    print(f"wrote {a.output} (K={info['k']}, {info['finetune_steps']} fine-tuning steps, {info['wall_s']:.0f}s)")
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m talkinghead.interfaces.cli_train train|finetune ...`` (e.g. under torchrun)."""
    from talkinghead.interfaces.cli import _run

    parser = argparse.ArgumentParser(prog="talkinghead")
    parser.add_argument("--debug", action="store_true")
    add_train(parser.add_subparsers(dest="command", required=True))
    return _run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
