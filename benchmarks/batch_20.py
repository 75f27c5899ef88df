"""Batch of 20 (portrait, driver) jobs on ../shared/data/real, run twice: the second run skips all 20.

    python benchmarks/batch_20.py [--out out/batch_20] [--frames 50] [--workers 2] [--ray ADDRESS] [--keep]

Writes OUT/jobs.csv (20 pairs, each driver cut to ``--frames`` frames with the ``max_frames`` column),
removes earlier outputs unless ``--keep``, then runs ``talkinghead batch OUT/jobs.csv`` twice and
prints both summaries.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "real"


def pairs(n: int = 20) -> list[tuple[Path, Path]]:
    """``n`` (portrait, driver) pairs: photos, paintings, statues, cartoons and an animal, each with a clip."""
    portraits = sorted(p for p in (SHARED / "portraits").iterdir() if not p.name.startswith("animal_"))
    portraits.append(SHARED / "portraits" / "animal_dog_shiba.jpg")  # object mode
    clips = sorted((SHARED / "videos").glob("*.mp4"))
    step = max(1, len(portraits) // n)
    return [(portraits[(i * step) % len(portraits)], clips[(i * 7) % len(clips)]) for i in range(n - 1)] + \
        [(portraits[-1], clips[0])]


def write_jobs(out: Path, frames: int) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    lines = ["source,driving,output,max_frames"]
    for i, (p, c) in enumerate(pairs()):
        lines.append(f"{p},{c},{out / f'{i:02d}_{p.stem}__{c.stem}.mp4'},{frames}")
    jobs = out / "jobs.csv"
    jobs.write_text("\n".join(lines) + "\n")
    return jobs


def talkinghead(argv: list[str]) -> int:
    """``talkinghead ARGV``, through the real CLI when it registers ``batch``, else its subcommand module."""
    from talkinghead.interfaces import cli
    from talkinghead.interfaces.cli_extra import add_extra

    p = cli.build_parser()
    if "batch" not in p._subparsers._group_actions[0].choices:  # cli.py without add_extra yet
        p = argparse.ArgumentParser(prog="talkinghead")
        p.add_argument("--debug", action="store_true")
        add_extra(p.add_subparsers(dest="command", required=True))
    return cli._run(p.parse_args(argv))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "out" / "batch_20"))
    ap.add_argument("--frames", type=int, default=50, help="driver frames per job (default 50 = 2 s)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--ray", default=None, help="run on a Ray cluster (e.g. 'local')")
    ap.add_argument("--keep", action="store_true", help="keep earlier outputs (the first run then resumes)")
    a = ap.parse_args()
    if not SHARED.exists():
        print(f"{SHARED} not present", file=sys.stderr)
        return 2
    out = Path(a.out)
    if out.exists() and not a.keep:
        shutil.rmtree(out)
    jobs = write_jobs(out, a.frames)
    argv = ["batch", str(jobs), "--workers", str(a.workers), "--quiet"] + (["--ray", a.ray] if a.ray else [])
    codes = []
    for run in (1, 2):
        print(f"== run {run}: talkinghead {' '.join(argv)}", flush=True)
        t0 = time.perf_counter()
        codes.append(talkinghead(argv))
        print(f"   (exit code {codes[-1]}, {time.perf_counter() - t0:.1f} s wall)", flush=True)
    return max(codes)


if __name__ == "__main__":
    sys.exit(main())
