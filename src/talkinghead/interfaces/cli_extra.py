"""``talkinghead ui``, ``talkinghead batch`` and ``talkinghead live``.

Registered by :func:`add_extra` from ``interfaces/cli.py``::

    talkinghead ui [--port 7860]
    talkinghead batch jobs.csv [--workers 2] [--ray ADDRESS]
    talkinghead live --source photo.jpg --driving /dev/video0|FILE|- (-o out.mp4 | --stdout | --mjpeg PORT)
"""
from __future__ import annotations

import argparse
import sys

from talkinghead.interfaces.args import bounded_float, port_number, positive_int


def add_extra(subparsers) -> None:
    """Register the ``ui``, ``batch`` and ``live`` subcommands on an argparse subparsers object."""
    _add_ui(subparsers)
    _add_batch(subparsers)
    _add_live(subparsers)


# -- ui -----------------------------------------------------------------------------------------
def _add_ui(sub) -> None:
    p = sub.add_parser("ui", help="web app on localhost (upload a portrait, pick a driver, render)",
                       description="A Gradio app running the same pipelines as the command line.")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=port_number, default=7860, help="port (default 7860)")
    p.add_argument("--cache", default=None, help="folder for the bundled examples and results "
                                                 "(default: ~/.cache/talkinghead/ui)")
    p.add_argument("--no-examples", dest="examples", action="store_false", help="do not make the bundled examples")
    p.set_defaults(func=_cmd_ui)


def _cmd_ui(a) -> int:
    from pathlib import Path

    from talkinghead.errors import ConfigError
    from talkinghead.interfaces.web import launch

    if a.cache is not None and Path(a.cache).exists() and not Path(a.cache).is_dir():
        raise ConfigError(Path(a.cache), "--cache: not a folder")
    launch(host=a.host, port=a.port, cache_dir=a.cache, examples=a.examples)
    return 0


# -- batch --------------------------------------------------------------------------------------
def _add_batch(sub) -> None:
    p = sub.add_parser("batch", help="render many jobs from a CSV or YAML file, in parallel, resumable",
                       description="Each row/entry: source, and driving (video) or audio or text, optional output, "
                                   "max_frames and any animate/speak option. Finished outputs are skipped.")
    p.add_argument("jobs", help="jobs file (.csv with a header row, or .yaml)")
    p.add_argument("--workers", "-j", type=int, default=2, help="parallel worker processes (default 2)")
    p.add_argument("--out-dir", default=None, help="where outputs without an 'output' column go "
                                                   "(default: out/ beside the jobs file)")
    p.add_argument("--ray", metavar="ADDRESS", default=None,
                   help="run the jobs on a Ray cluster (e.g. auto, 10.0.0.5:6379; 'local' starts one here)")
    p.add_argument("--no-resume", dest="resume", action="store_false", help="re-render outputs that are complete")
    p.add_argument("--quiet", "-q", action="store_true", help="only the summary")
    p.set_defaults(func=_cmd_batch)


def _cmd_batch(a) -> int:
    from talkinghead.pipelines.batch import load_jobs, print_progress, run_batch

    jobs = load_jobs(a.jobs, a.out_dir)
    summary = run_batch(jobs, workers=a.workers, ray_address=a.ray, resume=a.resume,
                        progress=None if a.quiet else print_progress)
    print(summary.describe())
    return 0 if summary.ok else 1


# -- live ---------------------------------------------------------------------------------------
def _size(v: str) -> tuple[int, int]:
    try:
        w, h = (int(x) for x in v.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WxH, got {v!r}") from None
    if not (16 <= w <= 8192 and 16 <= h <= 8192):
        raise argparse.ArgumentTypeError(f"each side must be 16-8192 px, got {w}x{h}")
    return w, h


def _add_live(sub) -> None:
    from talkinghead.interfaces.cli import _add_provenance_args, _strength

    p = sub.add_parser("live", help="drive a portrait live from a camera, a file or raw frames on stdin",
                       description="Causal, low-latency animation; frames are dropped (never queued up) "
                                   "when the renderer falls behind. Every frame is watermarked.")
    p.add_argument("--source", "-s", required=True, help="portrait image")
    p.add_argument("--driving", "-d", required=True,
                   help="/dev/videoN (camera), a video file, or - (rgb24 frames on stdin, see --raw-size)")
    sink = p.add_mutually_exclusive_group(required=True)
    sink.add_argument("-o", "--output", help="write an H.264 file (C2PA-signed when the run ends)")
    sink.add_argument("--stdout", action="store_true", help="raw rgb24 frames on stdout (for a virtual camera)")
    sink.add_argument("--mjpeg", metavar="[HOST:]PORT", help="serve an MJPEG stream (default host 127.0.0.1)")
    p.add_argument("--size", type=int, default=256, choices=[256, 512], help="face-crop resolution (px)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--relative", dest="relative", action="store_true", default=True,
                   help="motion relative to the first driver frame with a face (default)")
    g.add_argument("--absolute", dest="relative", action="store_false")
    for ch in ("pose", "expression", "eyes", "mouth"):
        p.add_argument(f"--{ch}", type=_strength, default=1.0, metavar="STRENGTH", help=f"{ch} strength (0..3)")
    p.add_argument("--mouth-interior", choices=["transfer", "synth"], default="transfer")
    p.add_argument("--scene", action="store_true", help="hair, torso and background follow the driver's flow")
    p.add_argument("--queue", type=positive_int, default=1, help="driver frames that may wait (default 1; more = more latency)")
    p.add_argument("--no-pace", dest="pace", action="store_false",
                   help="render every driver frame as fast as possible (no drops; a file is not fed at its frame rate)")
    p.add_argument("--max-frames", type=positive_int, default=None, help="stop after this many driver frames")
    p.add_argument("--raw-size", type=_size, default=None, metavar="WxH", help="size of rgb24 frames on stdin")
    p.add_argument("--raw-fps", type=bounded_float(1.0, 240.0, "raw fps"), default=25.0, help="frame rate of frames on stdin (default 25)")
    _add_provenance_args(p)
    p.set_defaults(func=_cmd_live)


def _cmd_live(a) -> int:
    from talkinghead.config import AnimateConfig, MotionStrength
    from talkinghead.errors import ConfigError
    from talkinghead.io.atomic import check_input_file
    from talkinghead.pipelines.live import FileSink, LiveOptions, MjpegSink, RawSink, run_live

    from talkinghead.interfaces.cli import check_sign_args

    check_input_file(a.source)
    check_sign_args(a)
    cfg = AnimateConfig(size=a.size, relative=a.relative, mouth_interior=a.mouth_interior, label=a.label,
                        sign_cert=a.sign_cert, sign_key=a.sign_key,
                        strength=MotionStrength(pose=a.pose, expression=a.expression, eyes=a.eyes, mouth=a.mouth))
    opts = LiveOptions(queue_size=a.queue, pace=a.pace, max_frames=a.max_frames, scene=a.scene,
                       raw_size=a.raw_size, raw_fps=a.raw_fps)
    if a.output:
        sink = FileSink(a.output, inputs=(a.source, a.driving))
    elif a.stdout:
        sink = RawSink()
    else:
        host, _, port = a.mjpeg.rpartition(":")
        if not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ConfigError(None, f"--mjpeg: expected [HOST:]PORT (port 0-65535), got {a.mjpeg!r}")
        try:
            sink = MjpegSink(host or "127.0.0.1", int(port))
        except OSError as e:  # port in use, unknown host, no permission
            raise ConfigError(None, f"--mjpeg {a.mjpeg}: cannot listen there ({e.strerror or e})") from None
        print(f"live: MJPEG stream at {sink.url} (stream: {sink.url}stream)", file=sys.stderr, flush=True)
    stats = run_live(a.source, a.driving, sink, cfg, opts)
    print(f"live: {stats.describe()}" + (f"; wrote {a.output}" if a.output and stats.frames_out else ""),
          file=sys.stderr)
    return 0
