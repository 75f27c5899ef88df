"""Speech- and text-driven animation: features, model, VAD, visemes, TTS, pipeline, CLI, bad input."""
from __future__ import annotations

import argparse
import json
import os
import shutil

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from talkinghead.drivers import audio as A  # noqa: E402
from talkinghead.drivers import speech_features as SF  # noqa: E402
from talkinghead.errors import ConfigError, InputError  # noqa: E402
from talkinghead.io.audio import write_wav  # noqa: E402

torch.set_num_threads(1)

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")


@pytest.fixture(scope="module")
def face_image() -> str:
    import matplotlib.cbook as cbook

    return cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)


def _tiny_model():
    from talkinghead.models.audio_to_motion import AudioToMotion, AudioToMotionConfig

    torch.manual_seed(0)
    m = AudioToMotion(AudioToMotionConfig(channels=8, dilations=(1, 2), n_mouth=3, n_points=4))
    with torch.no_grad():
        for p in m.parameters():
            p.normal_(0, 0.1)
        m.mouth_basis.normal_()
    return m.eval()


def _speech_with_pauses(tmp_path, lead=1.0, gap=1.5, tail=1.0):
    """espeak-ng speech with silence before, between and after two phrases (16 kHz wav)."""
    from scipy.signal import resample_poly

    from talkinghead.drivers.tts import synthesize

    parts = []
    for text in ("Bob bought a map.", "Peter met my mom."):
        s = synthesize(text, "en")
        parts.append(resample_poly(s.samples, 160, 441).astype(np.float32))
    z = lambda t: np.zeros(int(t * 16000), np.float32)  # noqa: E731
    x = np.concatenate([z(lead), parts[0], z(gap), parts[1], z(tail)])
    p = tmp_path / "pauses.wav"
    write_wav(p, x, 16000)
    return p, x


# -- features -------------------------------------------------------------------------------------

def test_log_mel_shape_and_framing():
    x = np.random.default_rng(0).standard_normal(16000).astype(np.float32) * 0.1
    mel = SF.log_mel(x)
    assert mel.shape == (100, SF.N_MELS) and mel.dtype == np.float32  # 1 s -> 25 frames x 4
    assert np.isfinite(mel).all()
    assert SF.log_mel(np.concatenate([x, x[:1]])).shape[0] == 104  # a partial video frame gets its 4 mel frames
    e = SF.frame_energy_db(x)
    assert e.shape == (100,) and abs(float(np.median(e)) - 10 * np.log10(0.01)) < 1.5


def test_streaming_energy_matches_whole_signal(tmp_path):
    x = (np.random.default_rng(1).standard_normal(16000 * 3 + 77) * 0.2).astype(np.float32)
    p = tmp_path / "n.wav"
    write_wav(p, x, 16000)
    plan = A.plan_audio(p)
    assert plan.n_frames == int(np.ceil((16000 * 3 + 77) / 640))
    ref = SF.frame_energy_db(np.clip(x, -1, 1), 4 * plan.n_frames).reshape(-1, 4).mean(1)
    assert np.allclose(plan.energy, ref, atol=0.05)  # 16-bit quantisation only


# -- model ------------------------------------------------------------------------------------------

def test_model_forward_shape_and_decode():
    m = _tiny_model()
    y = m(torch.randn(2, 64, 80), torch.ones(2, 64))
    assert y.shape == (2, 16, m.config.n_out)
    d = m.decode(y)
    assert d["mouth"].shape == (2, 16, 4, 3) and d["head"].shape == (2, 16, 3) and d["opening"].shape == (2, 16)
    with pytest.raises(ValueError):
        m(torch.randn(1, 63, 80))  # not a multiple of 4 mel frames


def test_save_load_roundtrip_bit_exact(tmp_path):
    from talkinghead.models.audio_to_motion import from_pretrained, save_pretrained

    m = _tiny_model()
    save_pretrained(m, tmp_path / "am", {"note": "test"})
    assert (tmp_path / "am.safetensors").is_file() and (tmp_path / "am.json").is_file()
    m2 = from_pretrained(tmp_path / "am.safetensors")
    for k, v in m.state_dict().items():
        assert torch.equal(v, m2.state_dict()[k]), k
    x = torch.randn(1, 40, 80)
    assert torch.equal(m(x), m2(x))
    # strict config: an unknown key is an error, as is a shape mismatch
    cfg = json.loads((tmp_path / "am.json").read_text())
    (tmp_path / "bad.json").write_text(json.dumps({**cfg, "hidden": 3}))
    shutil.copy(tmp_path / "am.safetensors", tmp_path / "bad.safetensors")
    with pytest.raises(ConfigError):
        from_pretrained(tmp_path / "bad")
    (tmp_path / "bad.json").write_text(json.dumps({**cfg, "channels": 16}))
    with pytest.raises(InputError):
        from_pretrained(tmp_path / "bad")


def test_bundled_model_loads():
    from talkinghead.models.audio_to_motion import from_pretrained

    m = from_pretrained()
    assert not m.training and m.config.n_points == int(m.mouth_index.numel())
    assert sum(p.numel() for p in m.parameters()) < 2_000_000
    # it listens with the pretrained speech features, reduced by a fitted (non-zero) projection
    assert m.config.embed_dims > 0 and float(m.embed_proj.abs().sum()) > 0


# -- VAD, silence, blinks -----------------------------------------------------------------------------

def test_gate_is_zero_in_silence_and_crisp():
    sp = np.zeros(400, bool)
    sp[100:200] = True
    g = SF.speech_gate(sp, attack=2, release=2)
    assert g.shape == (100,)
    assert g[25:50].min() == 1.0 and g[:22].max() == 0.0 and g[53:].max() == 0.0
    assert 0 < g[23] < 1 and 0 < g[51] < 1  # short ramps, not a slow fade


@needs_espeak
def test_silence_gives_closed_still_mouth(tmp_path, face_image):
    from talkinghead.models.audio_to_motion import from_pretrained
    from talkinghead.pipelines.source import prepare_source
    from talkinghead.pipelines.speak import SpeakPipeline
    from talkinghead.motion.extract import motion_from_landmarks

    path, _ = _speech_with_pauses(tmp_path)
    plan = A.plan_audio(path)
    pipe = SpeakPipeline()
    src = prepare_source(face_image, pipe.render_config())
    ref = motion_from_landmarks(src.points)
    drv = A.SpeechMotionDriver(from_pretrained(), ref, A.SpeechStyle(blink_rate=0), chunk_frames=40)
    mouth = np.array([m.mouth for m in drv.motions(path, plan)])
    assert mouth.shape == (plan.n_frames,)
    # silent stretches (>= 10 frames from speech): exactly the source's closed mouth, no quiver
    near = np.convolve(plan.gate > 0, np.ones(21), mode="same") > 0
    assert (~near).sum() > 20
    assert np.ptp(mouth[~near]) == 0.0 and abs(mouth[~near][0] - ref.mouth) < 1e-6
    assert mouth[plan.gate > 0.99].std() > 0.02  # and it does move in speech
    # chunked (40-frame chunks) equals one chunk up to the per-chunk input normalisation
    drv1 = A.SpeechMotionDriver(drv.model, ref, A.SpeechStyle(blink_rate=0), chunk_frames=10_000)
    mouth1 = np.array([m.mouth for m in drv1.motions(path, plan)])
    assert np.corrcoef(mouth, mouth1)[0, 1] > 0.95


def test_blink_statistics():
    from talkinghead.drivers.procedural import blink_schedule
    from talkinghead.eval.speech import blink_stats

    n = 25 * 120
    pauses = np.arange(50, n, 200)
    closure, blinks = blink_schedule(n, 25.0, 17.0, pauses=pauses, rng=np.random.default_rng(3))
    st = blink_stats(1.0 - closure, 25.0)
    assert 10 <= st["per_min"] <= 30 and 10 <= len(blinks) / 2 <= 30
    assert all(0.1 <= d <= 0.4 for _, d in blinks)
    assert 0.1 <= st["min_s"] and st["max_s"] <= 0.4
    # more blinks shortly after pause starts than chance
    after = sum(any(0 <= k - p <= 8 for p in pauses) for k, _ in blinks)
    assert after / len(blinks) > 8 * len(pauses) / n * 2
    assert blink_schedule(n, 25.0, 0.0)[0].max() == 0.0


# -- TTS and visemes -------------------------------------------------------------------------------------

@needs_espeak
def test_tts_phoneme_events_and_bilabial_closures():
    from talkinghead.drivers.tts import synthesize
    from talkinghead.drivers.visemes import classify, viseme_tracks

    s = synthesize("Bob bought a map", voice="en")
    assert s.sr == 22050 and 0.5 < s.duration < 3.0
    ph = [e.phoneme for e in s.phonemes]
    assert {"b", "p", "m"} <= set(ph)
    assert all(0 <= e.start <= e.end <= s.duration + 1e-6 for e in s.phonemes)
    assert classify("b")["closure"] == 1.0 and classify("uː")["rounded"] == 1.0 and classify("ˈa")["open_min"] == 1.0
    n = int(np.ceil(s.duration * 25))
    v = viseme_tracks(s.phonemes, n)
    for e in s.phonemes:
        if e.phoneme in ("p", "b", "m"):
            k = int(round((e.start + e.end) / 2 * 25))
            assert v.closure[min(k, n - 1)] == 1.0  # lips sealed in the frame of every p/b/m
    assert v.closure.min() == 0.0


def test_w_nearly_closes_the_lips_early_in_the_glide():
    """/w/ (a labial glide) is no rounded vowel: it narrows the lips to near closure at its start and
    forces no opening; the vowel after it opens the mouth again."""
    from talkinghead.drivers.tts import PhonemeEvent
    from talkinghead.drivers.visemes import LABIAL_APPROXIMANT, classify, viseme_tracks

    w = classify("w")
    assert w["closure"] == LABIAL_APPROXIMANT and w["rounded"] == 1.0 and not w.get("open_min")
    assert classify("u")["open_min"] > 0 and not classify("u").get("closure")
    ev = [PhonemeEvent("ɑ", 0.0, 0.4), PhonemeEvent("w", 0.4, 0.6), PhonemeEvent("ɑ", 0.6, 1.0)]
    v = viseme_tracks(ev, 25)
    assert v.closure[10] == LABIAL_APPROXIMANT  # the glide's first frame (0.40 s)
    assert v.closure[15] < 0.1 and v.closure[5] == 0.0  # open again in the vowel after it, and before
    assert v.open_min[10] < v.open_min[5]


@needs_espeak
def test_tts_voices_and_errors():
    from talkinghead.drivers.tts import list_voices, synthesize

    langs = {lang.split("-")[0] for _, lang in list_voices()}
    assert {"en", "de", "fr"} <= langs
    assert synthesize("Guten Tag", voice="de").duration > 0.3
    with pytest.raises(InputError, match="empty text"):
        synthesize("   ")
    with pytest.raises(InputError, match="unknown espeak-ng voice"):
        synthesize("hello", voice="xx-nonexistent")


# -- pipeline + CLI ----------------------------------------------------------------------------------------

def _cli(argv: list[str]) -> int:
    """Run the real CLI; registers ``speak`` here if cli.py does not yet."""
    from talkinghead.interfaces import cli
    from talkinghead.interfaces.cli_speak import add_speak

    build = cli.build_parser

    def build_with_speak():
        p = build()
        sub = next(a for a in p._actions if isinstance(a, argparse._SubParsersAction))
        if "speak" not in sub.choices:
            add_speak(sub)
        return p

    cli.build_parser = build_with_speak
    try:
        return cli.main(argv)
    finally:
        cli.build_parser = build


@needs_espeak
def test_speak_text_end_to_end(tmp_path, face_image, capsys):
    from talkinghead.io.video import VideoReader, probe_video

    out = tmp_path / "out.mp4"
    text = "Hello, I am Grace."
    # one render worker process (auto would render this short clip in-process)
    assert _cli(["speak", "--source", face_image, "--text", text, "-o", str(out), "-q", "--seed", "1", "--workers", "1"]) == 0
    info = probe_video(out)
    assert info.fps == 25.0 and info.has_audio
    import av

    with av.open(str(out)) as c:  # the speech that was synthesised and muxed
        a = c.streams.audio[0]
        dur = float(a.duration * a.time_base)
    assert 0.5 < dur < 3.0
    # as long as the audio: ceil(duration * 25) frames (to one frame; AAC frames are 21 ms)
    assert abs(info.n_frames / 25.0 - dur) <= 0.04 + 0.022
    with VideoReader(out) as r:
        frames = [f for f in r]
    assert len(frames) == info.n_frames
    # the mouth region changes over the clip (it talks), the background does not
    f = np.stack(frames).astype(np.float32)
    assert f.std(0).max() > 20
    # provenance: the output is watermarked and C2PA-signed like every other output
    from talkinghead.provenance.verify import verify_file

    rep = verify_file(out)
    assert rep.ok, rep.describe()


@needs_espeak
def test_mp3_audio_is_muxed_in_step_with_the_motion(tmp_path, face_image, write_mono_audio):
    """An MP3's first frame is stamped at its encoder delay (~70 ms at 16 kHz). The motion is computed
    from the first decoded sample, so the muxed track must start there too, not lead in with silence."""
    from talkinghead.io.audio import read_audio
    from talkinghead.io.video import first_audio_time
    from talkinghead.pipelines.speak import SpeakPipeline

    _, x = _speech_with_pauses(tmp_path, lead=0.3, gap=0.3, tail=0.3)
    mp3 = write_mono_audio(tmp_path / "speech.mp3", x, 16000, "libmp3lame")
    assert first_audio_time(mp3) > 0.02  # the container does stamp the delay
    out = tmp_path / "out.mp4"
    SpeakPipeline()(face_image, audio=mp3, output=out)
    src, _ = read_audio(mp3, 16000)
    got, _ = read_audio(out, 16000)
    n = min(src.shape[0], got.shape[0], 16000 * 2)
    c = np.correlate(got[:n], src[:n], "full")
    lag_ms = (int(np.argmax(c)) - (n - 1)) / 16.0
    assert abs(lag_ms) <= 2.0, lag_ms


def _render_workers_alive() -> list[int]:
    from talkinghead.eval.resources import child_pids

    alive = []
    for pid in child_pids(os.getpid()):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if b"talkinghead.render.parallel" in f.read():
                    alive.append(pid)
        except OSError:
            pass
    return alive


@needs_espeak
def test_interrupted_speak_stops_its_render_workers(tmp_path, face_image, monkeypatch):
    """Ctrl-C (or any error) while frames are being written: the workers are gone when the error
    reaches the caller, not when the traceback is garbage-collected; nothing is half-written."""
    from talkinghead.pipelines import provenance
    from talkinghead.pipelines.speak import SpeakPipeline
    from talkinghead.config import SpeakConfig

    wav, _ = _speech_with_pauses(tmp_path, lead=0.2, gap=0.3, tail=0.2)
    real_call, seen = provenance.Provenance.__call__, []

    def interrupt_at_frame_10(self, frame):
        seen.append(1)
        if len(seen) == 10:
            raise KeyboardInterrupt
        return real_call(self, frame)

    monkeypatch.setattr(provenance.Provenance, "__call__", interrupt_at_frame_10)
    out = tmp_path / "o.mp4"
    with pytest.raises(KeyboardInterrupt) as info:
        SpeakPipeline(SpeakConfig(workers=1))(face_image, audio=wav, output=out)
    assert info.traceback  # the frames (and the generators in them) are still referenced here
    assert _render_workers_alive() == []
    assert not out.exists() and not list(tmp_path.glob(".*o.mp4*"))


def test_speak_sign_args_must_pair(tmp_path, face_image, capsys):
    out = tmp_path / "o.mp4"
    assert _cli(["speak", "--source", face_image, "--text", "hi", "-o", str(out), "--sign-key", face_image]) == 2
    assert "--sign-cert and --sign-key must be given together" in capsys.readouterr().err
    assert not out.exists()


def test_bad_inputs_one_line_errors(tmp_path, face_image, capsys):
    out = tmp_path / "o.mp4"
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF" + np.random.default_rng(0).bytes(2000))
    text_file = tmp_path / "notes.txt"
    text_file.write_text("hello")
    blank = tmp_path / "blank.png"
    from talkinghead.io.image import write_image

    write_image(blank, np.full((256, 256, 3), 128, np.uint8))
    for argv in (["--audio", str(empty)], ["--audio", str(corrupt)], ["--audio", str(text_file)],
                 ["--audio", str(tmp_path / "missing.wav")], ["--text", ""]):
        assert _cli(["speak", "--source", face_image, *argv, "-o", str(out), "-q"]) == 2, argv
        err = capsys.readouterr().err.strip()
        assert err.startswith("error:") and "\n" not in err, err
    t = np.arange(16000) / 16000.0
    x = (0.3 * np.sin(2 * np.pi * 180 * t) * (np.sin(2 * np.pi * 3 * t) > 0)).astype(np.float32)  # bursts
    bursts = tmp_path / "bursts.wav"
    write_wav(bursts, x, 16000)
    assert _cli(["speak", "--source", str(blank), "--audio", str(bursts), "-o", str(out), "-q", "--voice", "de"]) == 2
    note, err = capsys.readouterr().err.strip().split("\n")  # --voice is for --text: said, not silently dropped
    assert note == "note: --voice applies to --text only; the recording in --audio is used as it is", note
    # one line that names the file and points to animate
    assert err.startswith(f"error: {blank}: no face found") and "talkinghead animate" in err
    assert not out.exists() and not list(tmp_path.glob(".*o.mp4*"))  # nothing half-written


@needs_espeak
def test_dc_offset_nan_samples_and_inverted_channel_still_read_as_speech(tmp_path, face_image):
    """Cheap recorders add a DC offset (0.05 of full scale raised the noise floor until the speech
    read as silence), a corrupt float WAV can hold NaN samples, and a stereo file with one channel
    inverted mixes down to nothing: each finds the same speech as the clean recording."""
    import soundfile as sf

    from talkinghead.drivers.audio import plan_audio

    p, x = _speech_with_pauses(tmp_path, lead=0.5, gap=0.8, tail=0.5)
    clean = plan_audio(p).speech
    assert clean.any()
    dc, dc2 = tmp_path / "dc.wav", tmp_path / "dc2.wav"
    sf.write(dc, 0.5 * x + 0.05, 16000, subtype="FLOAT")
    sf.write(dc2, 0.5 * x - 0.1, 16000, subtype="FLOAT")
    nan = tmp_path / "nan.wav"
    y = x.copy()
    y[::997] = np.nan
    sf.write(nan, y, 16000, subtype="FLOAT")
    anti = tmp_path / "anti.wav"
    sf.write(anti, np.stack([x, -x], 1), 16000, subtype="FLOAT")
    for q in (dc, dc2, nan, anti):
        got = plan_audio(q)
        assert np.isfinite(got.energy).all(), q.name
        agree = float(np.mean(got.speech == clean))
        assert agree > 0.97, (q.name, agree)
    # the DC blocker takes the offset and leaves the speech: the features of the same speech without it
    half = tmp_path / "half.wav"
    sf.write(half, 0.5 * x, 16000, subtype="FLOAT")
    mel = lambda q: SF.log_mel(np.concatenate(list(SF.iter_audio_blocks(q))))  # noqa: E731
    assert np.abs(mel(dc) - mel(half)).mean() < 0.05, np.abs(mel(dc) - mel(half)).mean()
    np.testing.assert_array_equal(np.concatenate(list(SF.iter_audio_blocks(p))), sf.read(p, dtype="float32")[0])
    # and the NaN file renders: its muxed track is cleaned too (NaN stopped the AAC encoder)
    from talkinghead.io.audio import read_audio
    from talkinghead.pipelines.speak import SpeakPipeline

    out = tmp_path / "nan.mp4"
    SpeakPipeline()(face_image, audio=nan, output=out, max_frames=40)  # past the 0.5 s lead-in
    got, _ = read_audio(out, 16000)
    assert np.isfinite(got).all() and np.abs(got).max() > 0.05


def test_silent_audio_is_refused(tmp_path, face_image, capsys):
    """Audio without any speech (digital silence, quiet room tone, a steady hum) is refused up
    front: one line naming the file, exit 2, nothing written."""
    from talkinghead.pipelines.speak import SpeakPipeline

    rng = np.random.default_rng(0)
    t = np.arange(16000 * 2) / 16000.0
    cases = {"sil.wav": np.zeros(16000 * 2, np.float32),
             "roomtone.wav": (rng.standard_normal(16000 * 2) * 10 ** (-70 / 20)).astype(np.float32),
             "hum.wav": (0.2 * np.sin(2 * np.pi * 50 * t)).astype(np.float32)}
    out = tmp_path / "o.mp4"
    for name, x in cases.items():
        p = tmp_path / name
        write_wav(p, x, 16000)
        with pytest.raises(InputError, match="audio is silent|no speech found in 2.0 s of audio .a steady sound"):
            SpeakPipeline()(face_image, audio=p)
        assert _cli(["speak", "--source", face_image, "--audio", str(p), "-o", str(out), "-q"]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error:") and "\n" not in err and name in err and "nothing to say" in err, err
        assert not out.exists() and not list(tmp_path.glob(".*o.mp4*"))
    # speech with long pauses is still rendered in full: the pauses are not refused
    speech, _ = _speech_with_pauses(tmp_path) if shutil.which("espeak-ng") else (None, None)
    if speech is not None:
        res = SpeakPipeline()(face_image, audio=speech, max_frames=10)
        assert res.has_speech and res.n_frames == 10


def test_non_utf8_text_is_refused(tmp_path, face_image, capsys):
    """--text / --transcript bytes that are not UTF-8 (surrogate escapes): one line, exit 2."""
    import os

    from talkinghead.drivers.tts import check_text, synthesize

    bad = os.fsdecode(b"caf\xe9 au lait")
    assert check_text("café au lait") == "café au lait"
    with pytest.raises(InputError, match="UTF-8"):
        synthesize(bad)
    out = tmp_path / "o.mp4"
    sil = tmp_path / "a.wav"
    write_wav(sil, np.zeros(1600, np.float32), 16000)
    for argv, flag in ((["--text", bad], "--text"), (["--audio", str(sil), "--transcript", bad], "--transcript")):
        assert _cli(["speak", "--source", face_image, *argv, "-o", str(out), "-q"]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"error: {flag}: not valid UTF-8") and "0xe9" in err and "\n" not in err, err
        assert not out.exists() and not list(tmp_path.glob(".*o.mp4*"))


# -- real data (skips without ../shared) --------------------------------------------------------------

def test_held_out_speaker_sync_motion_level(shared_data):
    """Motion-level check on a held-out GRID speaker (no rendering): the mouth follows the speech."""
    from talkinghead.drivers.video import track_driver
    from talkinghead.eval.speech import sync_scores
    from talkinghead.models.audio_to_motion import from_pretrained
    from talkinghead.motion.extract import neutral_index

    clip = shared_data / "videos" / "talk_m_grid_03a.mpg"
    tr = track_driver(clip)
    real = np.array([m.mouth for m in tr.motions])
    plan = A.plan_audio(clip)
    src = tr.motions[neutral_index(tr.motions)]
    drv = A.SpeechMotionDriver(from_pretrained(), src, A.SpeechStyle(blink_rate=0, still=True))
    ours = np.array([m.mouth for m in drv.motions(clip, plan)])
    s = sync_scores(ours, real, max_lag=5)
    assert s["r"] > 0.6 and abs(s["best_lag"]) <= 1, s


def test_transcript_alignment_on_a_recording(shared_data):
    """Forced alignment (pocketsphinx) of a held-out GRID recording's known words."""
    pytest.importorskip("pocketsphinx")
    from talkinghead.drivers.visemes import align_transcript, viseme_tracks

    clip = shared_data / "videos" / "talk_m_grid_03a.mpg"
    ph = align_transcript(clip, "Place white in J three, please!")
    names = [p.phoneme for p in ph]
    assert names.count("p") == 2 and "w" in names and names[0] == "p"
    assert 0.3 < ph[0].start < 0.6 and ph[-1].end < 3.0  # speech starts after the lead-in silence
    v = viseme_tracks(ph, 75)
    assert v.closure.max() == 1.0 and v.rounded.max() > 0.5
    with pytest.raises(InputError):
        align_transcript(clip, "   ")
    with pytest.raises(InputError, match=r"numerals \(3\): write numbers as words"):
        align_transcript(clip, "Place white in J 3, please!")
    # accents are dropped, not word breaks ("Plàce" was "pl" + "ce")
    accented = align_transcript(clip, "Plàce whíte in J thrée, pléase!")
    assert [p.phoneme for p in accented] == names


def test_model_input_normalisation_options():
    """norm="meanvar" and floor_db make the network input invariant to the recording level (and the
    level-relative floor to where the fixed -60 dBFS feature floor clips); bad values are refused."""
    from talkinghead.models.audio_to_motion import AudioToMotion, AudioToMotionConfig

    mel = torch.randn(2, 64, 80) * 2.5 - 9.0
    sp = (torch.rand(2, 64) > 0.3).float()
    for cfg in (AudioToMotionConfig(), AudioToMotionConfig(norm="meanvar"), AudioToMotionConfig(floor_db=45.0)):
        m = AudioToMotion(cfg)
        assert torch.allclose(m.normalize(mel, sp), m.normalize(mel + 3.0, sp), atol=1e-4)  # +13 dB gain
    x = AudioToMotion(AudioToMotionConfig(norm="meanvar")).normalize(mel, None)
    assert abs(float(x.std()) - 1.0) < 0.05
    floored = AudioToMotion(AudioToMotionConfig(floor_db=20.0)).normalize(mel, None)
    assert float(floored.min()) > float(AudioToMotion(AudioToMotionConfig()).normalize(mel, None).min())
    for bad in ({"norm": "minmax"}, {"floor_db": -1.0}):
        with pytest.raises(ConfigError):
            AudioToMotionConfig(**bad)


def test_pretrained_speech_features_are_aligned_and_shift_invariant():
    """The opened-up speech_embedding graph runs on any length, returns one feature row per log-mel
    frame, and (pooling phases averaged) a 10 ms delay of the input delays the features by one frame."""
    from talkinghead.models.speech_embedding import N_FEATURES, speech_features

    rng = np.random.default_rng(0)
    t = np.arange(16000 * 2) / 16000
    x = (0.3 * np.sin(2 * np.pi * (200 + 300 * t) * t) * (np.sin(2 * np.pi * 3 * t) > 0)).astype(np.float32)
    x += 0.01 * rng.standard_normal(x.shape[0]).astype(np.float32)
    n = SF.n_mel_frames(x.shape[0])
    f = speech_features(x, n)
    assert f.shape == (n, N_FEATURES) and f.dtype == np.float32 and np.isfinite(f).all()
    g = speech_features(np.concatenate([np.zeros(160, np.float32), x]), n + 1)
    assert np.abs(g[1:] - f).max() < 1e-4 * max(1.0, float(np.abs(f).max()))
    # the features follow the signal: voiced stretches differ from the gaps between them
    on = (np.sin(2 * np.pi * 3 * np.arange(n) / 100) > 0)
    assert np.linalg.norm(f[on].mean(0) - f[~on].mean(0)) > 0.5
    assert speech_features(x[:800], 4).shape == (4, N_FEATURES)  # shorter than the receptive field
    m = SF.model_input(x, n, embed=True)
    assert m.shape == (n, SF.N_MELS + N_FEATURES) and np.array_equal(m[:, :SF.N_MELS], SF.log_mel(x, n))


def test_fit_embedding_whitens_the_training_features():
    """The model's feature projection (train.audio_data.fit_embedding) gives unit-variance,
    uncorrelated components on the clips it was fitted on."""
    from talkinghead.models.speech_embedding import N_FEATURES, speech_features
    from talkinghead.train.audio_data import fit_embedding

    rng = np.random.default_rng(1)
    t = np.arange(16000 * 3) / 16000
    targets = {}
    for i, f0 in enumerate((150.0, 260.0)):
        a = 0.2 * np.sin(2 * np.pi * f0 * t * (1 + 0.3 * np.sin(2 * np.pi * 0.7 * t))) * (np.sin(2 * np.pi * (2 + i) * t) > 0)
        targets[f"c{i}"] = {"audio": (a + 0.01 * rng.standard_normal(t.shape[0])).astype(np.float32),
                            "mouth": np.zeros((75, 4, 3), np.float32)}
    b = fit_embedding(targets, ["c0", "c1"], 6)
    assert b["embed_mean"].shape == (N_FEATURES,) and b["embed_proj"].shape == (N_FEATURES, 6)
    X = np.concatenate([speech_features(v["audio"], 300)[::4] for v in targets.values()])
    Z = ((X - b["embed_mean"]) / b["embed_std"]) @ b["embed_proj"]
    assert np.allclose(Z.std(0), 1.0, atol=1e-2) and np.allclose(np.corrcoef(Z.T), np.eye(6), atol=1e-2)


def test_missing_speech_feature_package_is_a_clear_error(monkeypatch):
    from talkinghead.models import speech_embedding as SE

    monkeypatch.setattr(SE.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ConfigError, match=r"openwakeword==0\.4\.0"):
        SE._model_dir()


def test_model_with_pretrained_features(tmp_path):
    """embed_dims > 0: the input carries the raw pretrained features after the bands; the model's
    whitened-PCA buffers reduce them; wrong widths and bad sizes are refused; save/load is exact."""
    from talkinghead.models.audio_to_motion import AudioToMotion, AudioToMotionConfig, from_pretrained, save_pretrained

    cfg = AudioToMotionConfig(channels=8, dilations=(1, 2), n_mouth=3, n_points=4, embed_dims=5, embed_features=12)
    assert cfg.n_inputs == 92
    m = AudioToMotion(cfg).eval()
    with torch.no_grad():
        m.embed_proj.normal_()
        m.embed_mean.normal_()
    x = torch.randn(1, 40, 92)
    assert m(x).shape == (1, 10, cfg.n_out)
    y = x.clone()
    y[..., 80:] += torch.randn(1, 40, 12)  # the pretrained features reach the output ...
    assert not torch.allclose(m(x), m(y))
    y = x.clone()
    y[..., 80:] += 1.0  # ... without their mean over the speech frames, like the bands
    assert torch.allclose(m(x), m(y), atol=1e-4)
    y[..., :80] += torch.randn(1, 40, 80)
    assert not torch.allclose(m(x), m(y))
    with pytest.raises(ValueError):
        m(torch.randn(1, 40, 80))
    save_pretrained(m, tmp_path / "emb")
    assert torch.equal(from_pretrained(tmp_path / "emb")(x), m(x))
    with pytest.raises(ConfigError):
        AudioToMotionConfig(embed_dims=5, embed_features=4)


def test_model_ensemble_and_output_smoothing(tmp_path):
    """members > 1 averages independently initialised conv stacks (member 0 keeps the single-model
    key names, so load_member copies a single model in exactly); smooth_sigma low-passes the outputs
    in eval mode only, without a lag; both round-trip through save/from_pretrained."""
    from talkinghead.models.audio_to_motion import AudioToMotion, AudioToMotionConfig, from_pretrained, save_pretrained

    base = dict(channels=8, dilations=(1, 2), n_mouth=3, n_points=4)
    singles = [AudioToMotion(AudioToMotionConfig(**base)).eval() for _ in range(3)]
    ens = AudioToMotion(AudioToMotionConfig(**base, members=3)).eval()
    for i, m in enumerate(singles):
        ens.load_member(i, m)
    x = torch.randn(1, 80, 80)
    with torch.no_grad():
        want = torch.stack([m(x) for m in singles]).mean(0)
        assert torch.allclose(ens(x), want, atol=1e-5)
    save_pretrained(ens, tmp_path / "ens")
    assert torch.allclose(from_pretrained(tmp_path / "ens")(x), want, atol=1e-5)
    sm = AudioToMotion(AudioToMotionConfig(**base, smooth_sigma=1.0))
    sm.load_state_dict(singles[0].state_dict())
    sm.eval()
    with torch.no_grad():
        raw, out = singles[0](x), sm(x)
    assert out.shape == raw.shape and float(out.diff(dim=1).abs().mean()) < float(raw.diff(dim=1).abs().mean())
    assert torch.allclose(out.mean(1), raw.mean(1), atol=0.05)  # a low-pass, not a shift or a gain
    sm.train()
    torch.manual_seed(0)
    a = sm(x)
    torch.manual_seed(0)
    singles[0].train()
    assert torch.equal(a, singles[0](x))  # training sees the raw outputs
    for bad in ({"members": 0}, {"smooth_sigma": -1.0}):
        with pytest.raises(ConfigError):
            AudioToMotionConfig(**bad)


def test_lmd_neutral_is_robust_to_one_noisy_closed_frame():
    """LMD takes each sequence's neutral from its most-closed frames (median of 10 %), so tracker
    noise on a single closed frame does not shift every frame's distance."""
    from talkinghead.eval.speech import LIP_POINTS, lmd
    from talkinghead.face.canonical import load_canonical
    from talkinghead.motion.extract import summaries

    base = load_canonical().astype(np.float64)
    lips = np.array(LIP_POINTS)
    centre_y = base[[13, 14], 1].mean()
    lower = lips[base[lips, 1] > centre_y] if base[152, 1] > centre_y else lips[base[lips, 1] < centre_y]
    down = np.sign(base[152, 1] - centre_y)
    rng = np.random.default_rng(0)
    amp = np.abs(rng.normal(0, 1, 60)) * 0.05
    amp[::6] = 0.002  # ten nearly closed frames
    amp[0] = 0.0  # the most closed one
    seq = np.repeat(base[None], 60, 0)
    seq[:, lower, 1] += down * amp[:, None]
    op = np.array([summaries(c)[2] for c in seq])
    assert np.corrcoef(op, amp)[0, 1] > 0.9  # the construction opens the mouth
    assert lmd(seq, seq) < 1e-9
    noisy = seq.copy()
    noisy[0, lips, :2] += 0.03  # the most closed frame's lips tracked 0.03 off (its opening unchanged)
    assert lmd(noisy, seq) < 0.005, lmd(noisy, seq)


def _oval_open_mouth(base, amount, depth):
    """The canonical face with an open, oval mouth (deepest mid-way), and its Motion.mouth."""
    from talkinghead.drivers.procedural import open_mouth
    from talkinghead.face import topology as T
    from talkinghead.motion.extract import summaries

    X = open_mouth(base, amount)
    c0, c1 = (X[i, 0] for i in T.MOUTH_CORNERS)
    xc, half = (c0 + c1) / 2, abs(c1 - c0) / 2
    oval = np.clip(1 - ((X[:, 0] - xc) / half) ** 2, 0, 1)
    lower = T.INNER_LIPS[6:15] + T.OUTER_LIPS[6:15]
    X[lower, 1] += depth * oval[lower]
    return X, summaries(X)[2]


def test_open_source_mouth_is_sealed_at_rest():
    """A source photographed with an open, oval mouth (a laugh) is closed at rest: every
    inner-lip pair meets (the centre and the corners: a jaw template alone leaves the centre open
    or crosses the lips at the corners), and the lips keep a positive thickness. A wide-open one (a
    scream) is left open: a 2-D warp could only close it by squashing the tongue into a lip."""
    from types import SimpleNamespace

    from talkinghead.face.canonical import load_canonical
    from talkinghead.motion.extract import summaries
    from talkinghead.motion.regions import INNER_LIP_PAIRS

    base = load_canonical().astype(np.float64)
    X, mouth = _oval_open_mouth(base, 0.3, 0.05)
    assert A.SOURCE_OPEN_CLOSE < mouth < A.SOURCE_OPEN_KEEP
    sh = A.source_shapes(SimpleNamespace(canonical=X, mouth=mouth), 1.0)
    assert np.array_equal(sh.base, sh.seal)  # an open source is sealed in every frame
    Y = X + sh.seal
    gaps = np.array([Y[lo, 1] - Y[up, 1] for up, lo in INNER_LIP_PAIRS])
    assert np.abs(gaps).max() < 0.01, gaps
    assert summaries(Y)[2] < 0.01
    for outer, inner in ((0, 13), (37, 82), (267, 312)):  # upper lip: outer contour above the inner one
        assert Y[outer, 1] < Y[inner, 1] - 0.02
    for inner, outer in ((14, 17), (87, 84), (317, 314)):  # lower lip: outer contour below the inner one
        assert Y[outer, 1] > Y[inner, 1] + 0.02
    # the canonical face itself is parted (0.17): sealed, it is a closed source, which is left alone
    C = base + A.source_shapes(SimpleNamespace(canonical=base, mouth=summaries(base)[2]), 1.0).seal
    closed = A.source_shapes(SimpleNamespace(canonical=C, mouth=summaries(C)[2]), 1.0)
    assert np.abs(closed.base).max() == 0.0 and np.abs(closed.seal).max() < 0.01
    W, wide = _oval_open_mouth(base, 0.9, 0.15)
    assert wide > A.SOURCE_OPEN_KEEP
    scream = A.source_shapes(SimpleNamespace(canonical=W, mouth=wide), 1.0)
    assert np.abs(scream.base).max() == 0.0 and np.abs(scream.seal).max() == 0.0  # nor a p/b/m viseme
