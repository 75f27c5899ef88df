"""Pack a training cache into a small portable folder, and unpack it (to train on another machine).

The cache (:mod:`.data`) is plain ``.npy`` arrays; its image stacks (T, S, S, 3) uint8 are
consecutive video-like frames, so they compress about 6x losslessly as H.264 in RGB
(``libx264rgb``, ``qp 0``) and further with a small ``qp`` (qp 6: mean error 0.14 / 255, max 3).
Landmark arrays (float32, crop pixels) travel as float16 (0.06 px steps at 128 px) and come back
as float32; the rest (indices, index.json) is copied as is; full-frame ``points.npy`` (only needed
to build the cache) stays behind. Packing writes with PyAV;
unpacking reads with OpenCV only, so a bare GPU machine with torch + OpenCV can train from it::

    python -m talkinghead.train.cache_pack pack out/cache/neural pack/ --parts refine128_r256 aligned64 --qp 6
    python -m talkinghead.train.cache_pack unpack pack/ out/cache/neural
"""
from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np

IMAGE_SUFFIX = ".mkv"
HALF_SUFFIX = ".f16"


def _is_image_stack(a: np.ndarray) -> bool:
    return a.dtype == np.uint8 and a.ndim == 4 and a.shape[-1] == 3 and a.shape[1] % 2 == 0 and a.shape[2] % 2 == 0


def encode_stack(arr: np.ndarray, path: Path, qp: int) -> None:
    import av

    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264rgb", rate=25)
        s.width, s.height, s.pix_fmt = arr.shape[2], arr.shape[1], "rgb24"
        s.options = {"qp": str(qp), "preset": "veryslow"}
        for f in arr:
            for p in s.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)


def decode_stack(path: Path, n: int) -> np.ndarray:
    import cv2

    cap = cv2.VideoCapture(str(path))
    frames = []
    while len(frames) < n:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(f[..., ::-1])
    cap.release()
    if len(frames) != n:
        raise ValueError(f"{path}: decoded {len(frames)} frames, expected {n}")
    return np.ascontiguousarray(np.stack(frames))


def pack(cache: Path, out: Path, parts: list[str], qp: int = 0) -> int:
    """Pack ``cache`` (only the named sub-folders / ``aligned<S>`` files of each clip) into ``out``."""
    index = json.loads((cache / "index.json").read_text())
    out.mkdir(parents=True, exist_ok=True)
    shutil.copy(cache / "index.json", out / "index.json")
    total = 0
    for clip in index["clips"]:
        for f in sorted((cache / clip).rglob("*.npy")):
            rel = f.relative_to(cache)
            if not any(part in rel.parts or rel.name.startswith(part) for part in parts):
                continue
            dst = out / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            a = np.load(f, allow_pickle=False)
            if _is_image_stack(a):
                encode_stack(a, dst.with_suffix(f".{len(a)}{IMAGE_SUFFIX}"), qp)
            elif a.dtype == np.float32:
                np.save(dst.with_suffix(HALF_SUFFIX), a.astype(np.float16), allow_pickle=False)
            else:
                shutil.copy(f, dst)
    for f in out.rglob("*"):
        total += f.stat().st_size if f.is_file() else 0
    return total


def unpack(src: Path, cache: Path) -> None:
    """Inverse of :func:`pack` (image stacks decoded with OpenCV). Files already there are kept."""
    for f in sorted(src.rglob("*")):
        if not f.is_file():
            continue
        rel = f.relative_to(src)
        if f.suffix == IMAGE_SUFFIX:
            stem, n = f.name[: -len(IMAGE_SUFFIX)].rsplit(".", 1)
            dst = cache / rel.parent / f"{stem}.npy"
            if not dst.exists():
                dst.parent.mkdir(parents=True, exist_ok=True)
                np.save(dst, decode_stack(f, int(n)), allow_pickle=False)
        elif f.name.endswith(HALF_SUFFIX + ".npy"):
            dst = cache / rel.parent / f.name.replace(HALF_SUFFIX + ".npy", ".npy")
            if not dst.exists():
                dst.parent.mkdir(parents=True, exist_ok=True)
                np.save(dst, np.load(f, allow_pickle=False).astype(np.float32), allow_pickle=False)
        else:
            dst = cache / rel
            if not dst.exists():
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(f, dst)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m talkinghead.train.cache_pack", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("pack")
    p.add_argument("cache", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("--parts", nargs="+", default=["refine128_r256", "aligned64"])
    p.add_argument("--qp", type=int, default=0, help="x264 quantiser (0: lossless)")
    u = sub.add_parser("unpack")
    u.add_argument("pack", type=Path)
    u.add_argument("cache", type=Path)
    a = ap.parse_args(argv)
    if a.cmd == "pack":
        print(f"packed {pack(a.cache, a.out, a.parts, a.qp) / 1e6:.1f} MB into {a.out}")
    else:
        unpack(a.pack, a.cache)
        print(f"unpacked {a.pack} into {a.cache}")


if __name__ == "__main__":
    main()
