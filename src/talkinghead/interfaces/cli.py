"""``talkinghead`` command line. Errors in the user's input print one line and exit with code 2."""
from __future__ import annotations

import argparse
import os
import sys

from talkinghead import __version__
from talkinghead.errors import TalkingHeadError
from talkinghead.interfaces.quiet import filtered_stderr


from talkinghead.interfaces.args import at_least_two, output_resolution as _resolution, positive_int, render_workers as _workers  # noqa: E402,E501
from talkinghead.interfaces.args import strength as _strength  # noqa: E402


def _add_animate(sub) -> None:
    p = sub.add_parser("animate", help="animate a portrait from a driving video")
    p.add_argument("--source", "-s", required=True, help="portrait image (photo, painting, cartoon...)")
    p.add_argument("--driving", "-d", required=True, help="driving video (any format ffmpeg reads)")
    p.add_argument("-o", "--output", required=True, help="output video (.mp4)")
    p.add_argument("--size", type=int, default=256, choices=[256, 512], help="face-crop resolution (px)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--relative", dest="relative", action="store_true", default=True,
                   help="transfer the driver's motion relative to its reference frame (default)")
    g.add_argument("--absolute", dest="relative", action="store_false", help="use the driver's pose and expression as is")
    p.add_argument("--reference", choices=["neutral", "first"], default="neutral",
                   help="driver frame relative motion is measured from (default: most neutral)")
    p.add_argument("--mode", choices=["auto", "face", "object"], default="auto",
                   help="face: require a face; object: global motion only; auto: object mode when no face")
    for ch in ("pose", "expression", "eyes", "mouth"):
        p.add_argument(f"--{ch}", type=_strength, default=1.0, metavar="STRENGTH", help=f"{ch} strength (0..3, default 1)")
    p.add_argument("--face-index", type=int, default=None, help="which face (0 = leftmost); default: the largest")
    p.add_argument("--mouth-interior", choices=["transfer", "synth"], default="transfer",
                   help="fill an opening mouth from the driver (transfer) or synthesise it")
    p.add_argument("--crf", type=int, default=18, help="H.264 quality (0-51, lower is better)")
    _add_renderer_args(p)
    _add_provenance_args(p)
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_animate)


def _add_renderer_args(p) -> None:
    p.add_argument("--renderer", choices=["warp", "neural"], default="warp",
                   help="warp: geometric (default, measured best); neural: warp + trained refiner")
    p.add_argument("--person", default=None, metavar="DIR",
                   help="a person folder from `talkinghead finetune` (few-shot neural talking head)")
    from talkinghead.config import RenderOutput

    p.add_argument("--resolution", type=_resolution, default=RenderOutput.resolution, metavar="PX",
                   help="short side of the output video, at most the photo's own (default %(default)s); the face is "
                        "rendered at --size and the photo keeps its detail; 0 = the face crop's scale")
    p.add_argument("--workers", type=_workers, default=None, metavar="N",
                   help="render processes beside the main one (default: one per spare core, at most 3, "
                        "for clips of 100+ frames; 0 = none); the frames are the same")


def _add_provenance_args(p) -> None:
    g = p.add_argument_group("provenance (the invisible watermark and C2PA credentials are always on)")
    g.add_argument("--label", action="store_true", help='also draw a visible "AI-generated" mark')
    g.add_argument("--sign-cert", default=None, help="PEM certificate chain for the C2PA signature")
    g.add_argument("--sign-key", default=None, help="PEM private key for the C2PA signature")


def check_sign_args(a) -> None:
    """--sign-cert and --sign-key come together and must be readable files."""
    from talkinghead.errors import ConfigError
    from talkinghead.io.atomic import check_input_file

    if (a.sign_cert is None) != (a.sign_key is None):
        raise ConfigError(None, "--sign-cert and --sign-key must be given together")
    for f in (a.sign_cert, a.sign_key):
        if f is not None:
            check_input_file(f)
    if a.sign_cert is not None:
        from talkinghead.provenance.credentials import check_user_identity

        check_user_identity(a.sign_cert, a.sign_key)


def _cmd_animate(a) -> int:
    from talkinghead.config import AnimateConfig, MotionStrength
    from talkinghead.io.atomic import check_input_file, probe_writable
    from talkinghead.pipelines.animate import AnimatePipeline
    from talkinghead.provenance.credentials import VIDEO_EXTENSIONS

    check_input_file(a.source)
    check_input_file(a.driving)
    probe_writable(a.output, VIDEO_EXTENSIONS, inputs=(a.source, a.driving))
    check_sign_args(a)
    cfg = AnimateConfig(size=a.size, relative=a.relative, reference=a.reference, mode=a.mode,
                        face_index=a.face_index, mouth_interior=a.mouth_interior, crf=a.crf,
                        label=a.label, sign_cert=a.sign_cert, sign_key=a.sign_key,
                        renderer=a.renderer, person=a.person, workers=a.workers, resolution=a.resolution,
                        strength=MotionStrength(pose=a.pose, expression=a.expression, eyes=a.eyes, mouth=a.mouth))
    res = AnimatePipeline(cfg)(a.source, a.driving, a.output, progress=not a.quiet)
    print(f"wrote {res.output} ({res.n_frames} frames at {res.fps:.2f} fps, {res.mode} mode)")
    return 0


def _add_eval(sub) -> None:
    p = sub.add_parser("eval", help="evaluation protocols")
    esub = p.add_subparsers(dest="protocol", required=True)
    r = esub.add_parser("reenact", help="self-reenactment: source = first frame, driver = the clip itself")
    r.add_argument("clips", nargs="+", help="folder(s) of clips or clip files")
    r.add_argument("--size", type=int, default=256, choices=[256, 512])
    r.add_argument("--max-frames", type=at_least_two, default=150,
                   help="frames per clip (default 150; at least 2: the first is the source)")
    r.add_argument("--json", dest="json_out", default=None, help="also write the results as JSON here")
    r.set_defaults(func=_cmd_reenact)
    c = esub.add_parser("cross", help="cross-identity: each portrait driven by each clip")
    c.add_argument("--portraits", nargs="+", required=True)
    c.add_argument("--clips", nargs="+", required=True)
    c.add_argument("--size", type=int, default=256, choices=[256, 512])
    c.add_argument("--max-frames", type=positive_int, default=150)
    c.add_argument("--payloads", type=positive_int, default=3,
                   help="render each pair with this many fixed watermark payloads and average (default 3)")
    c.add_argument("--json", dest="json_out", default=None)
    c.set_defaults(func=_cmd_cross)


def _cmd_cross(a) -> int:
    from pathlib import Path

    from talkinghead.eval.cross import format_rows, run_cross

    json_path = _json_output(a.json_out, [*a.portraits, *a.clips])
    pairs = [(Path(p), Path(c)) for p in a.portraits for c in a.clips]
    rows = run_cross(pairs, size=a.size, max_frames=a.max_frames, payloads=a.payloads)
    if json_path:
        from talkinghead.io.atomic import write_json

        write_json(json_path, rows)
    print(format_rows(rows))
    return 0


def _json_output(path, inputs) -> "os.PathLike | None":
    """Check ``--json PATH`` before a long evaluation: a .json file in an existing folder, not an input."""
    if not path:
        return None
    from talkinghead.io.atomic import probe_writable

    return probe_writable(path, {".json"}, inputs=tuple(inputs))


def _cmd_reenact(a) -> int:
    from talkinghead.eval.reenact import format_table, run_reenact

    json_path = _json_output(a.json_out, a.clips)
    rows = run_reenact(a.clips, size=a.size, max_frames=a.max_frames, progress=True)
    if json_path:
        from talkinghead.io.atomic import write_json

        write_json(json_path, rows)
    print(format_table(rows))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="talkinghead", description="Bring portraits to life.")
    p.add_argument("--version", action="version", version=f"talkinghead {__version__}")
    p.add_argument("--debug", action="store_true", help="show tracebacks for unexpected errors")
    sub = p.add_subparsers(dest="command", required=True)
    _add_animate(sub)
    _add_eval(sub)
    from talkinghead.interfaces.cli_speak import add_speak
    from talkinghead.interfaces.cli_verify import add_verify

    add_speak(sub)

    add_verify(sub)
    from talkinghead.interfaces.cli_extra import add_extra
    from talkinghead.interfaces.cli_train import add_train

    add_extra(sub)
    add_train(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("GLOG_minloglevel", "2")  # quiet mediapipe's C++ logging
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    parser = build_parser()
    a = parser.parse_args(argv)
    _exit_on_sigterm()
    with filtered_stderr():
        return _run(a)


def _exit_on_sigterm() -> None:
    """SIGTERM (``kill``, a job scheduler, ``timeout``) and SIGHUP (the terminal or ssh session
    closed) unwind like Ctrl-C, so the temporary output is removed; the exit code is the shell's
    128 + the signal number. (SIGHUP is left alone when it is ignored, as under ``nohup``.)"""
    import signal
    import threading

    def stop(signum, frame):
        raise SystemExit(128 + signum)

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, stop)
        if hasattr(signal, "SIGHUP") and signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:
            signal.signal(signal.SIGHUP, stop)


def _run(a) -> int:
    try:
        return a.func(a)
    except TalkingHeadError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # a bug: one line unless --debug
        if a.debug:
            raise
        print(f"internal error: {type(e).__name__}: {e} (rerun with --debug for details)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
