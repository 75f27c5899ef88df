"""``talkinghead ui``: a Gradio app on localhost running the same pipelines as the command line.

Upload a portrait (or pick the bundled example), choose a driver (a video, speech audio or text),
set the motion channels, render, then preview and download the watermarked, C2PA-signed result.
User errors (:class:`~talkinghead.errors.TalkingHeadError`) are shown as messages, never tracebacks.
The app has no animation logic of its own: it builds an ``AnimateConfig`` / ``SpeakConfig`` from
the controls and calls ``AnimatePipeline`` / ``SpeakPipeline``.
"""
from __future__ import annotations

import functools
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio is imported: no phoning home

import gradio as gr  # noqa: E402

from talkinghead.errors import ConfigError, TalkingHeadError  # noqa: E402

__all__ = ["build_app", "launch", "speak_available", "example_inputs", "render", "DEFAULT_CACHE"]

log = logging.getLogger("talkinghead.ui")
DEFAULT_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "talkinghead" / "ui"
EXAMPLE_SECONDS = 4.0
KEEP_RESULTS_S = 24 * 3600
VOICES = ["en", "en-us", "de", "fr", "es", "it", "pt", "nl", "pl", "ru", "cmn", "ja"]
DRIVERS = ("Video", "Audio", "Text")
SPEAK_UNAVAILABLE = "Audio and text drivers are not available in this version of talkinghead (no speak pipeline)."


def speak_available() -> bool:
    try:
        from talkinghead.pipelines.speak import SpeakPipeline  # noqa: F401
    except ImportError:
        return False
    return True


def example_inputs(cache_dir: str | os.PathLike) -> tuple[Path, Path] | None:
    """The bundled example (portrait.png, driving.mp4), made by scripts/make_demo_inputs.py on first use."""
    d = Path(cache_dir) / "examples"
    portrait, driving = d / "portrait.png", d / "driving.mp4"
    if portrait.is_file() and driving.is_file():
        return portrait, driving
    script = Path(__file__).resolve().parents[3] / "scripts" / "make_demo_inputs.py"
    if not script.is_file():
        return None
    d.mkdir(parents=True, exist_ok=True)
    r = subprocess.run([sys.executable, str(script), str(d), "--seconds", str(EXAMPLE_SECONDS)],
                       capture_output=True, text=True)
    if r.returncode != 0 or not driving.is_file():
        log.warning("could not make the bundled example: %s", r.stderr.strip()[-300:])
        return None
    return portrait, driving


def _message(e: TalkingHeadError) -> str:
    """The error for the user: the uploaded file's name, not the server's temp path."""
    return f"{Path(e.path).name}: {e.reason}" if e.path else e.reason


def _guard(fn: Callable) -> Callable:
    """Turn every exception into a message in the page (no traceback reaches the user)."""

    @functools.wraps(fn)
    def wrapper(*a, **k):
        try:
            return fn(*a, **k)
        except gr.Error:
            raise
        except TalkingHeadError as e:
            raise gr.Error(_message(e), duration=None, print_exception=False) from None
        except Exception as e:  # noqa: BLE001 - a bug: one line for the user, the traceback in the log
            log.exception("render failed")
            raise gr.Error(f"internal error: {type(e).__name__}: {e}", duration=None, print_exception=False) from None

    return wrapper


@_guard
def preview(portrait: str | None):
    """Read the uploaded portrait with the pipeline's own reader (bad files fail here, with a message)."""
    if not portrait:
        return None
    from talkinghead.io.image import read_image

    return read_image(portrait)


def _new_output(results: Path, portrait: str) -> Path:
    results.mkdir(parents=True, exist_ok=True)
    now = time.time()
    for old in results.iterdir():  # results are served from gradio's cache: ours are kept a day
        if old.is_dir() and now - old.stat().st_mtime > KEEP_RESULTS_S:
            shutil.rmtree(old, ignore_errors=True)
    d = Path(tempfile.mkdtemp(prefix="run-", dir=results))
    return d / f"{Path(portrait).stem}_talkinghead.mp4"


def _provenance(output: Path) -> str:
    from talkinghead.provenance.verify import verify_file

    r = verify_file(output, max_frames=8)
    wm = "watermark found" if r.marked else "watermark NOT found"
    return f"{wm}; C2PA {r.c2pa.state}"


def render(portrait: str | None, driver: str, driving: str | None, audio: str | None, text: str | None,
           voice: str, size: int, pose: float, expression: float, eyes: float, mouth: float,
           blink_rate: float, head_motion: float, label: bool, results_dir: Path,
           notify: Callable[[str], Any] = print, progress: bool = True, resolution: int = 512) -> tuple[str, str]:
    """Run the pipeline the controls describe; returns (output path, status line)."""
    from talkinghead.errors import InputError

    if not portrait:
        raise InputError(None, "upload a portrait first (or pick the example)")
    output = _new_output(results_dir, portrait)
    try:
        return _render_into(output, portrait, driver, driving, audio, text, voice, size, pose, expression, eyes,
                            mouth, blink_rate, head_motion, label, notify, progress, int(resolution))
    except BaseException:
        shutil.rmtree(output.parent, ignore_errors=True)  # a failed run leaves no empty run-* folder
        raise


def _render_into(output: Path, portrait, driver, driving, audio, text, voice, size, pose, expression, eyes, mouth,
                 blink_rate, head_motion, label, notify, progress, resolution) -> tuple[str, str]:
    from talkinghead.config import AnimateConfig, MotionStrength, SpeakConfig
    from talkinghead.errors import InputError

    if driver == "Video":
        if not driving:
            raise InputError(None, "upload a driving video first (or pick the example)")
        from talkinghead.pipelines.animate import AnimatePipeline

        cfg = AnimateConfig(size=int(size), label=bool(label), resolution=resolution,
                            strength=MotionStrength(pose=pose, expression=expression, eyes=eyes, mouth=mouth))
        res = AnimatePipeline(cfg, notify=lambda *a, **k: notify(" ".join(map(str, a))))(
            portrait, driving, output, progress=progress)
        what = f"{res.n_frames} frames at {res.fps:.0f} fps, {res.mode} mode"
    else:
        if not speak_available():
            raise InputError(None, SPEAK_UNAVAILABLE)
        if driver == "Audio" and not audio:
            raise InputError(None, "upload a speech recording first")
        if driver == "Text" and not (text or "").strip():
            raise InputError(None, "type the text to speak first")
        from talkinghead.pipelines.speak import SpeakPipeline

        cfg = SpeakConfig(size=int(size), resolution=resolution, voice=voice or "en", blink_rate=blink_rate,
                          head_motion=head_motion, expression=expression, mouth=mouth)
        kw = {"audio": audio} if driver == "Audio" else {"text": text}
        res = SpeakPipeline(cfg, notify=lambda *a, **k: notify(" ".join(map(str, a))))(
            portrait, output=output, progress=progress, **kw)
        what = f"{res.n_frames} frames, {res.duration:.1f} s of speech"
    return str(output), f"Done: {what}. Provenance: {_provenance(output)}."


def _driver_visibility(driver: str):
    video, speech = driver == "Video", driver != "Video"
    return (gr.update(visible=video), gr.update(visible=driver == "Audio"), gr.update(visible=driver == "Text"),
            gr.update(visible=video), gr.update(visible=video), gr.update(visible=speech), gr.update(visible=speech))


def build_app(cache_dir: str | os.PathLike | None = None, examples: bool = True) -> gr.Blocks:
    """The app (not launched). ``cache_dir`` holds the bundled example and the results."""
    cache = Path(cache_dir) if cache_dir is not None else DEFAULT_CACHE
    results = cache / "results"
    speech_ok = speak_available()
    example = example_inputs(cache) if examples else None

    with gr.Blocks(title="talkinghead", analytics_enabled=False) as app:
        gr.Markdown("## talkinghead: bring a portrait to life\nUpload a portrait, choose what drives it, "
                    "then **Animate**. Every result carries an invisible watermark and C2PA content credentials.")
        with gr.Row():
            with gr.Column(scale=1):
                portrait = gr.File(label="Portrait (photo, painting, statue, cartoon)", file_types=["image"],
                                   type="filepath", elem_id="portrait-file")
                portrait_view = gr.Image(label="Portrait", interactive=False, height=220, elem_id="portrait-preview")
                driver = gr.Radio(list(DRIVERS), value="Video", label="Driver", elem_id="driver-kind")
                driving = gr.Video(label="Driving video", sources=["upload"], height=220, elem_id="driving-video")
                with gr.Group(visible=False) as audio_box:
                    if speech_ok:
                        audio = gr.Audio(label="Speech audio", type="filepath", sources=["upload"], elem_id="audio")
                    else:
                        gr.Markdown(SPEAK_UNAVAILABLE, elem_id="audio-unavailable")
                        audio = gr.State(None)
                with gr.Group(visible=False) as text_box:
                    if speech_ok:
                        text = gr.Textbox(label="Text to speak", lines=3, elem_id="text")
                        voice = gr.Dropdown(VOICES, value="en", label="Voice (espeak-ng)", allow_custom_value=True)
                    else:
                        gr.Markdown(SPEAK_UNAVAILABLE, elem_id="text-unavailable")
                        text, voice = gr.State(None), gr.State("en")
                with gr.Accordion("Motion", open=True):
                    pose = gr.Slider(0, 3, 1, step=0.1, label="Head pose", elem_id="pose")
                    expression = gr.Slider(0, 3, 1, step=0.1, label="Expression (brows, cheeks)", elem_id="expression")
                    eyes = gr.Slider(0, 3, 1, step=0.1, label="Eyes (blinks, gaze)", elem_id="eyes")
                    mouth = gr.Slider(0, 3, 1, step=0.1, label="Mouth", elem_id="mouth")
                    blink = gr.Slider(0, 60, 17, step=1, label="Blink rate (per minute)", visible=False, elem_id="blink")
                    head = gr.Slider(0, 3, 1, step=0.1, label="Head motion", visible=False, elem_id="head-motion")
                with gr.Row():
                    size = gr.Radio([256, 512], value=256, label="Face resolution (px)")
                    resolution = gr.Radio([("512", 512), ("720", 720), ("1080", 1080), ("crop scale", 0)],
                                          value=512, label="Output short side (px)",
                                          elem_id="resolution")
                    label = gr.Checkbox(False, label='Visible "AI-generated" mark')
                run = gr.Button("Animate", variant="primary", elem_id="run")
            with gr.Column(scale=1):
                result = gr.Video(label="Result", interactive=False, buttons=["download"], height=420,
                                  elem_id="result-video")
                download = gr.File(label="Download (watermarked, C2PA-signed)", interactive=False, elem_id="result-file")
                status = gr.Markdown("", elem_id="status")
        if example is not None:
            gr.Examples([[str(example[0]), str(example[1])]], inputs=[portrait, driving],
                        label="Bundled example (a painting driven by a clip the project renders itself)")

        portrait.change(preview, portrait, portrait_view)
        driver.change(_driver_visibility, driver, [driving, audio_box, text_box, pose, eyes, blink, head])

        @_guard
        def on_run(portrait_, driver_, driving_, audio_, text_, voice_, size_, pose_, expr_, eyes_, mouth_,
                   blink_, head_, label_, resolution_, progress=gr.Progress(track_tqdm=True)):
            progress(0, desc="preparing")
            out, msg = render(portrait_, driver_, driving_, audio_, text_, voice_, size_, pose_, expr_, eyes_, mouth_,
                              blink_, head_, label_, results, notify=lambda m: gr.Warning(m), resolution=resolution_)
            return out, out, msg

        run.click(on_run, [portrait, driver, driving, audio, text, voice, size, pose, expression, eyes, mouth,
                           blink, head, label, resolution], [result, download, status], concurrency_limit=1)
    app.talkinghead_cache = cache  # type: ignore[attr-defined]
    return app


def launch(host: str = "127.0.0.1", port: int | None = 7860, cache_dir: str | os.PathLike | None = None,
           examples: bool = True, block: bool = True, quiet: bool = False) -> tuple[gr.Blocks, str]:
    """Build and start the app; returns (app, local URL). ``block=False`` returns at once (tests)."""
    app = build_app(cache_dir, examples)
    app.queue(default_concurrency_limit=1)
    try:
        _, url, _ = app.launch(server_name=host, server_port=port, prevent_thread_lock=not block, inbrowser=False,
                               share=False, ssr_mode=False, quiet=quiet, allowed_paths=[str(app.talkinghead_cache)],
                               footer_links=[])
    except (OSError, OverflowError) as e:  # port taken, address not on this machine
        app.close()
        reason = str(e).split(". ")[0].splitlines()[0] if str(e) else type(e).__name__
        raise ConfigError(None, f"cannot serve on {host}:{port}: {reason}") from None
    return app, url
