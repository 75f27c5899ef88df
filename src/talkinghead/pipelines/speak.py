"""The speak pipeline: portrait + speech (audio file, or text through espeak-ng) -> talking video.

One ``__call__``::

    from talkinghead.pipelines.speak import SpeakPipeline
    from talkinghead.config import SpeakConfig
    SpeakPipeline(SpeakConfig(voice="en"))("photo.jpg", text="Hello there.", output="out.mp4")

Stages: (1) inputs are checked and, for text, synthesised (audio + phoneme events) before any
output is opened; (2) pass 1 over the audio (:func:`plan_audio`: length, voice activity, prosody);
(3) the source face is prepared; (4) pass 2 streams motions chunk by chunk
(:class:`SpeechMotionDriver`) into the shared render loop (:func:`render_motions`) and the frames
into the writer, with the audio muxed in. The video has ``ceil(duration * 25)`` frames at 25 fps,
so it lasts as long as the audio (to within one frame, 40 ms); memory does not grow with length.

Audio without any speech (digital silence, room tone or hum, anything the voice-activity detector
never marks as speech, e.g. everything below -55 dBFS) is refused with
``InputError("<file>: audio is silent (no speech found ...): nothing to say")`` (steady loud sound:
``"<file>: no speech found in ... s of audio (...)"``): pass 1 finds this
in one streaming pass (2 h of silence: ~2 s, constant memory) and nothing is rendered. Audio with
speech anywhere is rendered in full; its pauses give a closed, still mouth (still blinking).
Unreadable, empty (0 s) or unsupported audio, empty text and a source without a face raise
:class:`~talkinghead.errors.InputError`; an exception never leaves a partial output file.
"""
from __future__ import annotations

import os
import sys
import tempfile
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from talkinghead.config import AnimateConfig, MotionStrength, SpeakConfig
from talkinghead.drivers.audio import FPS, SpeechMotionDriver, SpeechPlan, SpeechStyle, plan_audio
from talkinghead.errors import ArgumentTypeError, ConfigError, InputError, check_paths
from talkinghead.motion.extract import motion_from_landmarks
from talkinghead.provenance.credentials import VIDEO_EXTENSIONS


@dataclass
class SpeakResult:
    """What the pipeline produced. ``frames`` only when no output path was given.

    ``mouth``, ``eyes`` and ``gate`` are per-frame series of the motions that were rendered
    (mouth opening, mean eye openness, speech gate), for evaluation and tests.
    """

    output: Path | None
    fps: float
    n_frames: int
    duration: float  # seconds of audio
    has_speech: bool
    mouth: np.ndarray = field(repr=False)
    eyes: np.ndarray = field(repr=False)
    gate: np.ndarray = field(repr=False)
    frames: list[np.ndarray] | None = field(default=None, repr=False)
    phonemes: list | None = field(default=None, repr=False)


def silent_reason(plan: SpeechPlan) -> str:
    """The error text for audio in which the voice-activity detector found no speech."""
    loudest = float(plan.energy.max()) if plan.energy.size else -100.0
    if loudest <= -90.0:
        return f"audio is silent (no speech found in {plan.duration:.1f} s; digital silence): nothing to say"
    if loudest < -55.0:
        return (f"audio is silent (no speech found in {plan.duration:.1f} s; loudest 40 ms at {loudest:.0f} dBFS, "
                f"speech needs more than -55): nothing to say")
    return (f"no speech found in {plan.duration:.1f} s of audio (a steady sound up to {loudest:.0f} dBFS: "
            f"noise, hum or a tone, no syllables): nothing to say")


class SpeakPipeline:
    """``SpeakPipeline(cfg)(source, audio=... | text=..., output=None)``; see :class:`SpeakConfig`."""

    def __init__(self, config: SpeakConfig | None = None, model=None, renderer=None, notify=None):
        self.config = config or SpeakConfig()
        self._model = model
        # warnings for the user (e.g. a cut-off WAV: the part that is there is spoken); stderr by default
        self.notify = notify or (lambda *a, **k: print(*a, file=sys.stderr))
        from talkinghead.pipelines.renderers import renderer_for

        self.renderer = renderer if renderer is not None else renderer_for(self.config)

    @property
    def model(self):
        if self._model is None:
            from talkinghead.models.audio_to_motion import from_pretrained

            self._model = from_pretrained(self.config.model)
        return self._model

    def render_config(self) -> AnimateConfig:
        c = self.config
        return AnimateConfig(size=c.size, relative=True, reference="first", mode="face", face_index=c.face_index,
                             strength=MotionStrength(), mouth_interior="synth",
                             max_output_side=c.max_output_side, crf=c.crf,
                             resolution=c.resolution)

    def __call__(self, source: str | os.PathLike, audio: str | os.PathLike | None = None, text: str | None = None,
                 output: str | os.PathLike | None = None, transcript: str | None = None, progress: bool = False,
                 max_frames: int | None = None) -> SpeakResult:
        cfg = self.config
        log = (lambda *a, **k: print(*a, **k)) if progress else (lambda *a, **k: None)
        if (audio is None) == (text is None):
            raise ValueError("give exactly one of audio= or text=")
        check_paths(("audio", "output"), source=source, audio=audio, output=output)
        if text is not None and not isinstance(text, str):
            raise ArgumentTypeError(None, f"text= must be a str, got {type(text).__name__}")
        if max_frames is not None and max_frames < 1:
            raise ConfigError(None, f"max_frames must be at least 1, got {max_frames}")
        if text is not None and transcript is not None:
            raise InputError(None, "a transcript goes with recorded audio; text input has exact phoneme timing already")
        if output is not None:
            from talkinghead.io.atomic import probe_writable

            probe_writable(output, VIDEO_EXTENSIONS, inputs=(source, audio))
        with tempfile.TemporaryDirectory(prefix="talkinghead-speak-") as tmp:
            phonemes = None
            if text is not None:
                from talkinghead.drivers.tts import synthesize, write_speech_wav

                speech = synthesize(text, voice=cfg.voice, rate=cfg.rate)
                audio = write_speech_wav(speech, Path(tmp) / "speech.wav")
                phonemes = speech.phonemes
            plan = plan_audio(audio)
            from talkinghead.io.audio import mp3_truncation, wav_truncation

            note = wav_truncation(audio) or mp3_truncation(audio, plan.duration)
            if note:
                self.notify(f"warning: {audio}: {note}")
            if transcript is not None and cfg.visemes:
                from talkinghead.drivers.visemes import align_transcript

                phonemes = align_transcript(audio, transcript)
            if not plan.has_speech:  # nothing to lip-sync: refuse before any output is opened
                raise InputError(audio, silent_reason(plan))
            return self._run(source, audio, plan, phonemes, output, progress, max_frames, log)

    # -- internals ------------------------------------------------------------------------------
    def _run(self, source, audio, plan: SpeechPlan, phonemes, output, progress, max_frames, log) -> SpeakResult:
        from talkinghead.drivers.visemes import viseme_tracks
        from talkinghead.io.video import first_audio_time
        from talkinghead.io.video_writer import VideoWriter
        from talkinghead.pipelines.animate import render_motions
        from talkinghead.pipelines.provenance import Provenance
        from talkinghead.pipelines.renderers import person_notice
        from talkinghead.pipelines.source import NO_FACE, prepare_source
        from talkinghead.render.parallel import auto_workers

        cfg = self.config
        rcfg = self.render_config()
        src = prepare_source(source, rcfg, log=self.notify,  # notices print even without a progress bar
                             no_face=f"{NO_FACE} (speech moves a face's lips, eyes and head; `talkinghead "
                                     f"animate` moves a face-less image, e.g. an animal, with a driving video)")
        notice = person_notice(self.renderer, source)
        if notice:
            self.notify(notice)
        ref = motion_from_landmarks(src.points)
        style = SpeechStyle(blink_rate=cfg.blink_rate, head_motion=cfg.head_motion, expression=cfg.expression,
                            mouth=cfg.mouth, still=cfg.still, seed=cfg.seed)
        driver = SpeechMotionDriver(self.model, ref, style, chunk_frames=int(round(cfg.chunk_seconds * FPS)))
        vis = viseme_tracks(phonemes, plan.n_frames, FPS) if (phonemes and cfg.visemes) else None
        n_total = plan.n_frames if max_frames is None else min(max_frames, plan.n_frames)
        mouth, eyes = np.zeros(n_total, np.float32), np.zeros(n_total, np.float32)

        def recorded():
            for i, m in enumerate(driver.motions(audio, plan, vis)):
                if i >= n_total:
                    return
                mouth[i], eyes[i] = m.mouth, float(np.mean(m.eyes))
                yield m

        mark = Provenance(cfg)  # every frame watermarked, every file C2PA-signed (no switch)
        workers = auto_workers(n_total, cfg.workers)
        rendered = render_motions(src, recorded(), ref, rcfg, self.renderer, workers=workers)
        with closing(rendered):  # on an error or an interrupt the render workers stop at once
            frames_iter = ((mark(f), c) for f, c in rendered)
            bar = tqdm(total=n_total, desc="speaking", unit="f", disable=not progress)
            frames: list[np.ndarray] | None = None
            n = 0
            if output is None:
                frames = []
                for frame, _ in frames_iter:
                    frames.append(frame)
                    n += 1
                    bar.update(1)
            else:
                W, H = src.output_size()
                # the motion was computed from the audio's first decoded sample on: mux from there too (an
                # MP3's first frame sits at its encoder delay, a video's audio may start after its picture)
                with VideoWriter(output, fps=FPS, size=(W, H), audio_from=audio, audio_start=first_audio_time(audio),
                                 crf=cfg.crf, finalize=mark.signer([source, audio], output)) as writer:
                    for frame, _ in frames_iter:
                        writer.write(frame)
                        n += 1
                        bar.update(1)
        bar.close()
        return SpeakResult(None if output is None else Path(output), FPS, n, plan.duration, plan.has_speech,
                           mouth[:n], eyes[:n], plan.gate[:n].copy(), frames, phonemes)


def speak(source, audio=None, text=None, output=None, config: SpeakConfig | None = None, **kw) -> SpeakResult:
    """Functional shortcut for ``SpeakPipeline(config)(source, audio=..., text=..., output=...)``."""
    return SpeakPipeline(config)(source, audio=audio, text=text, output=output, **kw)
