"""Benchmark the full animate pipeline (decode, landmarks, motion, render, paste-back, encode).

Prints frames per second and peak RSS at 256 and 512 px, and RSS growth over a long driver.

    python benchmarks/bench_pipeline.py [--source IMG] [--driving CLIP] [--long-seconds 120] [--renderer neural]
        [--workers N] [--resolution 512]

Defaults: a portrait and a driving clip from ../shared/data/real when present, else the bundled
demo inputs (made with scripts/make_demo_inputs.py).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from talkinghead.eval.resources import RssSampler, peak_rss_mb  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "real"


def default_inputs() -> tuple[str, str]:
    if SHARED.exists():
        return str(SHARED / "portraits" / "photo_m_einstein.jpg"), str(SHARED / "videos" / "drive_m_vox_01.mp4")
    d = ROOT / "out" / "demo_inputs"
    if not (d / "driving.mp4").exists():
        subprocess.run([sys.executable, str(ROOT / "scripts" / "make_demo_inputs.py"), str(d)], check=True)
    return str(d / "portrait.png"), str(d / "driving.mp4")


def looped_driver(driving: str, seconds: float, out: str) -> str:
    """A long driver made by looping ``driving`` forwards and backwards (no jumps)."""
    from talkinghead.io.video import read_video_frames
    from talkinghead.io.video_writer import VideoWriter

    frames, info = read_video_frames(driving, max_frames=300)
    cycle = frames + frames[::-1]
    n = int(seconds * info.fps)
    with VideoWriter(out, fps=info.fps, size=(info.width, info.height), crf=23, preset="ultrafast") as w:
        for i in range(n):
            w.write(cycle[i % len(cycle)])
    return out


def run_once(source: str, driving: str, size: int, out_dir: str, renderer: str = "warp",
             workers: int | None = None, resolution: int | None = None) -> tuple[float, int, float, str]:
    from talkinghead.config import AnimateConfig
    from talkinghead.io.video import probe_video
    from talkinghead.pipelines.animate import AnimatePipeline

    extra = {} if resolution is None else {"resolution": resolution}
    pipe = AnimatePipeline(AnimateConfig(size=size, renderer=renderer, workers=workers, **extra))
    out = os.path.join(out_dir, f"bench_{size}.mp4")
    t0 = time.perf_counter()
    res = pipe(source, driving, out)
    dt = time.perf_counter() - t0
    info = probe_video(out)
    return res.n_frames / dt, res.n_frames, dt, f"{info.width}x{info.height}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--source")
    ap.add_argument("--driving")
    ap.add_argument("--sizes", default="256,512")
    ap.add_argument("--long-seconds", type=float, default=120.0, help="0 to skip the memory run")
    ap.add_argument("--renderer", default="warp", choices=["warp", "neural"])
    ap.add_argument("--resolution", type=int, default=None,
                    help="output video short side (at most the photo's; default: the pipeline's, 512; 0 = the crop's scale)")
    ap.add_argument("--workers", type=int, default=None,
                    help="render processes (default: the pipeline's auto choice; 0 = render in-process)")
    a = ap.parse_args()
    src, drv = default_inputs()
    src, drv = a.source or src, a.driving or drv
    from talkinghead.render.parallel import auto_workers

    print(f"source {src}\ndriving {drv}\ncpus {os.cpu_count()}; render workers {auto_workers(None, a.workers)}")
    with tempfile.TemporaryDirectory() as td:
        run_once(src, drv, 256, td, a.renderer, a.workers, a.resolution)  # warm-up (imports, mediapipe graph init)
        for size in map(int, a.sizes.split(",")):
            fps, n, dt, shape = run_once(src, drv, size, td, a.renderer, a.workers, a.resolution)
            print(f"size {size}, output {shape}: {n} frames in {dt:.2f} s -> {fps:.1f} fps (full pipeline incl. landmarks + encode); "
                  f"peak RSS so far {peak_rss_mb():.0f} MB")
        if a.long_seconds > 0:
            long = looped_driver(drv, a.long_seconds, os.path.join(td, "long.mp4"))
            sampler = RssSampler()
            sampler.start()
            fps, n, dt, _ = run_once(src, long, 256, td, a.renderer, a.workers, a.resolution)
            sampler.stop = True
            sampler.join()
            rs = sampler.samples
            q = max(1, len(rs) // 10)
            print(f"long driver {a.long_seconds:.0f} s ({n} frames) at 256: {fps:.1f} fps; RSS first 10% "
                  f"{max(rs[:q]):.0f} MB, last 10% {max(rs[-q:]):.0f} MB, max {max(rs):.0f} MB "
                  f"(this process + render workers); "
                  f"peak RSS of this process {peak_rss_mb():.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
