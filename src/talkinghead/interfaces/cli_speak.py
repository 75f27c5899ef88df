"""``talkinghead speak``: a portrait speaks an audio file or a text (espeak-ng TTS).

Registered by :func:`add_speak` from ``interfaces/cli.py``::

    talkinghead speak --source photo.jpg --audio speech.wav -o out.mp4
    talkinghead speak --source photo.jpg --text "Hello there" --voice en -o out.mp4
"""
from __future__ import annotations

import argparse
import sys


from talkinghead.interfaces.args import bounded_float, non_negative_int

_gain = bounded_float(0.0, 3.0, "gain")
_blink_rate = bounded_float(0.0, 60.0, "blink rate (per minute)")


def add_speak(subparsers) -> argparse.ArgumentParser:
    """Register the ``speak`` subcommand on an argparse subparsers object."""
    p = subparsers.add_parser("speak", help="make a portrait speak an audio file or a text",
                              description="Animate a portrait from speech: lips, blinks, gaze and head motion. "
                                          "The video lasts as long as the audio (25 fps) and carries it.")
    p.add_argument("--source", "-s", required=True, help="portrait image with a face")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--audio", "-a", help="speech audio (wav, mp3, flac, ogg, m4a, or a video's audio track)")
    src.add_argument("--text", "-t", help="text to speak with espeak-ng")
    p.add_argument("-o", "--output", required=True, help="output video (.mp4)")
    p.add_argument("--voice", default=None,
                   help="espeak-ng voice/language for --text (en, en-us, de, fr, es, ...; default en)")
    p.add_argument("--rate", type=int, default=None, help="speaking rate for --text, words per minute (default 160)")
    p.add_argument("--transcript", default=None,
                   help="the words of --audio (English): forced alignment sharpens visemes (needs pocketsphinx)")
    p.add_argument("--size", type=int, default=256, choices=[256, 512], help="face-crop resolution (px)")
    p.add_argument("--blink-rate", type=_blink_rate, default=17.0, help="blinks per minute (default 17; 0 = none)")
    p.add_argument("--head-motion", type=_gain, default=1.0, help="head motion gain (0..3, default 1)")
    p.add_argument("--expression", type=_gain, default=1.0, help="brow-raise gain (0..3, default 1)")
    p.add_argument("--mouth", type=_gain, default=1.0, help="mouth motion gain (0..3, default 1)")
    p.add_argument("--still", action="store_true", help="no head motion, gaze shifts or brow raises (keeps blinking)")
    p.add_argument("--no-visemes", dest="visemes", action="store_false",
                   help="ignore phoneme timing (audio model only)")
    p.add_argument("--face-index", type=int, default=None, help="which face (0 = leftmost); default: the largest")
    p.add_argument("--seed", type=non_negative_int, default=0, help="seed of blinks, gaze and sway (>= 0)")
    p.add_argument("--model", default=None,
                   help="audio-to-motion weights (.safetensors with its .json); default: bundled")
    p.add_argument("--crf", type=int, default=18, help="H.264 quality (0-51, lower is better)")
    from talkinghead.interfaces.cli import _add_provenance_args, _add_renderer_args

    _add_renderer_args(p)
    _add_provenance_args(p)
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_speak)
    return p


def _cmd_speak(a) -> int:
    from talkinghead.config import SpeakConfig
    from talkinghead.io.atomic import check_input_file, probe_writable
    from talkinghead.drivers.tts import check_text
    from talkinghead.pipelines.speak import VIDEO_EXTENSIONS, SpeakPipeline

    # text arguments first: bytes that are not UTF-8 arrive as lone surrogates (one-line error, exit 2)
    if a.text is not None:
        check_text(a.text, "--text")
    if a.transcript is not None:
        check_text(a.transcript, "--transcript")
    check_input_file(a.source)
    if a.audio is not None:
        check_input_file(a.audio)
    probe_writable(a.output, VIDEO_EXTENSIONS, inputs=(a.source, a.audio))
    from talkinghead.interfaces.cli import check_sign_args

    check_sign_args(a)
    tts = {k: v for k, v in (("voice", a.voice), ("rate", a.rate)) if v is not None}  # else the config's defaults
    if a.audio is not None and tts:
        given = " and ".join(f"--{k}" for k in tts)
        print(f"note: {given} appl{'y' if len(tts) > 1 else 'ies'} to --text only; "
              "the recording in --audio is used as it is", file=sys.stderr)
    cfg = SpeakConfig(size=a.size, face_index=a.face_index, **tts, blink_rate=a.blink_rate,
                      head_motion=a.head_motion, expression=a.expression, mouth=a.mouth, still=a.still,
                      visemes=a.visemes, seed=a.seed, model=a.model, crf=a.crf,
                      renderer=a.renderer, person=a.person, label=a.label, sign_cert=a.sign_cert,
                      sign_key=a.sign_key, workers=a.workers, resolution=a.resolution)
    res = SpeakPipeline(cfg)(a.source, audio=a.audio, text=a.text, output=a.output, transcript=a.transcript,
                             progress=not a.quiet)
    print(f"wrote {res.output} ({res.n_frames} frames at {res.fps:.0f} fps, {res.duration:.2f} s of audio)")
    return 0
