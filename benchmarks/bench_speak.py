"""Benchmark the speak pipeline: speed (fps vs real time) and memory over long audio.

    python benchmarks/bench_speak.py [--source IMG] [--audio WAV] [--seconds 600] [--size 256] [--resolution 512]
                                     [--workers N]

Runs the whole pipeline (audio pass 1, network in chunks, motions, warp render, paste-back, H.264
+ AAC encode) once on a short clip (warm-up and the speed figure) and once on ``--seconds`` of
audio (default 10 min: a long recording looped, or espeak-ng speech when no recording is given),
printing frames per second, the real-time factor and peak RSS, plus RSS at the start and end of
the long run (flat = constant memory; sampled over this process and its render workers). Torch
runs on one thread; the warp render runs in the pipeline's render workers (``--workers 0``: all
in this process).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from talkinghead.eval.resources import RssSampler, peak_rss_mb  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "real"


def default_source() -> str:
    if SHARED.exists():
        return str(SHARED / "portraits" / "photo_f_diana.jpg")
    import matplotlib.cbook as cbook

    return cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)


def long_audio(seconds: float, out: Path, recording: str | None) -> Path:
    """``seconds`` of speech at 16 kHz: a recording looped, or espeak-ng sentences with pauses."""
    from talkinghead.io.audio import read_audio, write_wav

    if recording is None and SHARED.exists():
        recording = str(SHARED / "audio" / "speech_en_long60s.wav")
    if recording is not None:
        x, _ = read_audio(recording, 16000)
    else:
        from scipy.signal import resample_poly

        from talkinghead.drivers.tts import synthesize

        s = synthesize("The quick brown fox jumps over the lazy dog. Peter picked a peck of pickled peppers. "
                       "How much wood would a woodchuck chuck?", "en")
        x = np.concatenate([resample_poly(s.samples, 160, 441).astype(np.float32), np.zeros(8000, np.float32)])
    n = int(seconds * 16000)
    reps = int(np.ceil(n / x.shape[0]))
    write_wav(out, np.tile(x, reps)[:n], 16000)
    return out


def core_ms() -> float:
    """Best of 5 timings of ``sum(range(10**6))`` (ms): how fast this machine's cores are today, to read
    the real-time factor against (shared machines vary by 2x from day to day)."""
    import timeit

    return 1000 * min(timeit.repeat("sum(range(10**6))", number=1, repeat=5))


def run_once(source: str, audio: str, size: int, out: str, workers: int | None = None,
             resolution: int | None = None) -> tuple[float, int, float, float]:
    from talkinghead.config import SpeakConfig
    from talkinghead.pipelines.speak import SpeakPipeline

    extra = {} if resolution is None else {"resolution": resolution}
    pipe = SpeakPipeline(SpeakConfig(size=size, workers=workers, **extra))
    t0 = time.perf_counter()
    res = pipe(source, audio=audio, output=out)
    dt = time.perf_counter() - t0
    return res.n_frames / dt, res.n_frames, dt, res.duration


def frame_size(path: str) -> str:
    from talkinghead.io.video import probe_video

    info = probe_video(path)
    return f"{info.width}x{info.height}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--source", default=None)
    ap.add_argument("--audio", default=None, help="recording to loop for the long run (default: shared long clip)")
    ap.add_argument("--seconds", type=float, default=600.0, help="length of the long run (0 = skip)")
    ap.add_argument("--size", type=int, default=256, help="face-crop size (the render's resolution)")
    ap.add_argument("--resolution", type=int, default=None,
                    help="output video short side (at most the photo's; default: the pipeline's, 512; 0 = the crop's scale)")
    ap.add_argument("--workers", type=int, default=None,
                    help="render processes (default: the pipeline's auto choice; 0 = render in-process)")
    a = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    src = a.source or default_source()
    from talkinghead.render.parallel import auto_workers

    print(f"source {src}\ncpus {os.cpu_count()} (torch threads {torch.get_num_threads()}; render workers "
          f"{auto_workers(None, a.workers)}); "
          f"core speed: sum(range(10**6)) takes {core_ms():.1f} ms (~15 on a current 3 GHz core)")
    with tempfile.TemporaryDirectory() as td:
        short = long_audio(20.0, Path(td) / "short.wav", a.audio)
        run_once(src, str(short), a.size, os.path.join(td, "warm.mp4"), a.workers, a.resolution)  # warm-up: imports, graphs
        fps, n, dt, dur = run_once(src, str(short), a.size, os.path.join(td, "short.mp4"), a.workers, a.resolution)
        print(f"size {a.size}, output {frame_size(os.path.join(td, 'short.mp4'))}: {n} frames ({dur:.1f} s audio) in {dt:.2f} s -> {fps:.1f} fps = "
              f"{dur / dt:.2f}x real time (full pipeline incl. encode); peak RSS {peak_rss_mb():.0f} MB")
        if a.seconds > 0:
            audio = long_audio(a.seconds, Path(td) / "long.wav", a.audio)
            sampler = RssSampler()
            sampler.start()
            fps, n, dt, dur = run_once(src, str(audio), a.size, os.path.join(td, "long.mp4"), a.workers, a.resolution)
            sampler.stop = True
            sampler.join()
            rs = sampler.samples
            q = max(1, len(rs) // 10)
            print(f"long audio {dur:.0f} s ({n} frames) at {a.size}: {fps:.1f} fps = {dur / dt:.2f}x real time; "
                  f"RSS (this process + render workers) first 10% {max(rs[:q]):.0f} MB, last 10% "
                  f"{max(rs[-q:]):.0f} MB, peak {max(rs):.0f} MB; peak RSS of this process {peak_rss_mb():.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
