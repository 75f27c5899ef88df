"""Speech-animation metrics and the held-out-speaker evaluation.

Metrics (pure functions on per-frame series):

* :func:`lagged_corr` / :func:`sync_scores`: Pearson r of our mouth-opening series against the real
  speaker's, at lag 0 and the best lag within +/- ``max_lag`` frames.
* :func:`lmd`: mouth landmark distance (Chen et al. 2018, "Lip movements generation at a glance"):
  mean 2-D distance over the lip landmarks, here in the canonical pose-free frame (unit =
  inter-ocular distance), after aligning each sequence's closed-mouth neutral.
* :func:`blink_stats`: blinks per minute and blink durations from an eye-openness series.
* :func:`silence_ratio`: std of the mouth opening in silent stretches (> 0.5 s from speech) / std
  in speech.

The evaluation (:func:`evaluate_clip`, ``python -m talkinghead.eval.speech``) renders the held-out
speaker's own first frame with the speaker's own audio through :class:`SpeakPipeline`, re-tracks
the *rendered video* with our face analysis, and compares it with the tracked real video; the
baseline opens the mouth from the audio energy alone and is rendered and tracked the same way.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from talkinghead.drivers.speech_features import bool_runs
from talkinghead.face import topology as T
from talkinghead.io.atomic import write_json

LIP_POINTS = sorted(set(T.OUTER_LIPS + T.INNER_LIPS))


# -- metrics --------------------------------------------------------------------------------------

def lagged_corr(a: np.ndarray, b: np.ndarray, lag: int) -> float:
    """Pearson r of ``a[k]`` and ``b[k + lag]`` over the overlap (nan when constant)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    n = min(a.shape[0], b.shape[0])
    a, b = a[:n], b[:n]
    if lag >= 0:
        x, y = a[: n - lag], b[lag:]
    else:
        x, y = a[-lag:], b[: n + lag]
    if x.size < 3 or x.std() < 1e-12 or y.std() < 1e-12:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1])


def sync_scores(ours: np.ndarray, real: np.ndarray, max_lag: int = 10) -> dict[str, float]:
    """{"r": r at lag 0, "best_lag": lag of the max r (positive = real trails ours), "r_best"}."""
    rs = {L: lagged_corr(ours, real, L) for L in range(-max_lag, max_lag + 1)}
    finite = {k: v for k, v in rs.items() if np.isfinite(v)}
    if not finite:
        return {"r": float("nan"), "best_lag": 0, "r_best": float("nan")}
    L = max(finite, key=finite.get)
    return {"r": rs[0], "best_lag": int(L), "r_best": finite[L]}


def lmd(ours: np.ndarray, real: np.ndarray, ours_neutral: np.ndarray | None = None,
        real_neutral: np.ndarray | None = None, points: list[int] | None = None) -> float:
    """Mean lip-landmark distance between two (T, 478, >=2) canonical landmark sequences.

    Each sequence is expressed relative to its neutral (given, or the median shape of its 10 % most
    closed frames, as the training targets use) so a different resting shape of the source is not
    counted, only the motion. (A single most-closed frame as the neutral made the figure jump by up
    to 25 % between re-renders of the same motion: the tracker's noise on that one frame.)
    """
    idx = LIP_POINTS if points is None else points
    A = np.asarray(ours)[:, idx, :2]
    B = np.asarray(real)[:, idx, :2]
    n = min(A.shape[0], B.shape[0])
    A, B = A[:n], B[:n]
    na = np.median(A[_closed_frames(ours[:n])], 0) if ours_neutral is None else np.asarray(ours_neutral)[idx, :2]
    nb = np.median(B[_closed_frames(real[:n])], 0) if real_neutral is None else np.asarray(real_neutral)[idx, :2]
    return float(np.linalg.norm((A - na) - (B - nb), axis=-1).mean())


def _closed_frames(C: np.ndarray, fraction: float = 0.1) -> np.ndarray:
    """Indices of the ``fraction`` of frames with the smallest mouth opening (at least one)."""
    from talkinghead.motion.extract import summaries

    op = np.array([summaries(c)[2] for c in C])
    return np.argsort(op, kind="stable")[: max(1, int(round(fraction * len(op))))]


def blink_stats(eyes: np.ndarray, fps: float, drop: float = 0.5, window_s: float = 1.0) -> dict[str, float]:
    """Blinks from a per-frame eye-openness series (mean of both eyes).

    A blink is a dip below ``drop`` x the open level (the series' 90th percentile). Its duration
    (closing + closed + reopening, seconds) runs between the frames where the openness crosses 80 %
    of the way back up to the *local* open level (median within +/- ``window_s``), so slow
    drifts of the measured openness (gaze, head pitch) do not count as blink time.
    """
    e = np.asarray(eyes, np.float64)
    nan = float("nan")
    if e.size == 0:
        return {"per_min": 0.0, "n": 0, "mean_s": nan, "min_s": nan, "max_s": nan}
    open_level = np.percentile(e, 90)
    low = e < drop * open_level
    w = max(int(window_s * fps), 1)
    durations = []
    last_right = -1
    for s, t, closed in bool_runs(low):
        if not closed:
            continue
        k = s + int(np.argmin(e[s:t]))
        if k <= last_right:
            continue  # same blink
        local = float(np.median(e[max(0, k - w): k + w + 1]))
        level = e[k] + 0.8 * (local - e[k])
        left, right = k, k
        while left > 0 and e[left - 1] < level:
            left -= 1
        while right < e.size - 1 and e[right + 1] < level:
            right += 1
        durations.append((right - left + 1) / fps)
        last_right = right
    minutes = e.size / fps / 60.0
    if not durations:
        return {"per_min": 0.0, "n": 0, "mean_s": nan, "min_s": nan, "max_s": nan}
    d = np.array(durations)
    return {"per_min": len(durations) / minutes, "n": len(durations), "mean_s": float(d.mean()),
            "min_s": float(d.min()), "max_s": float(d.max())}


def silence_ratio(mouth: np.ndarray, speech: np.ndarray, margin: int = 13) -> dict[str, float]:
    """Mouth-opening std in silent stretches vs in speech.

    Silent stretches are frames at least ``margin`` frames from speech: the default (0.52 s) leaves
    out the anticipatory opening before an utterance (12 frames) and the release after it.
    """
    m = np.asarray(mouth, np.float64)
    s = np.asarray(speech, bool)[: m.shape[0]]
    m = m[: s.shape[0]]
    near = s.copy()
    for k in range(1, margin + 1):
        near[k:] |= s[:-k]
        near[:-k] |= s[k:]
    sil = ~near
    std_sil = float(m[sil].std()) if sil.sum() > 2 else float("nan")
    std_sp = float(m[s].std()) if s.sum() > 2 else float("nan")
    return {"std_silence": std_sil, "std_speech": std_sp, "ratio": std_sil / std_sp if std_sp > 0 else float("nan"),
            "silent_frames": int(sil.sum())}


# -- baseline -------------------------------------------------------------------------------------

def energy_baseline_amounts(path, n_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """Mouth opening from audio energy alone: the RMS envelope (25 fps) between the noise floor and
    the speech peak, gated by the same voice-activity detector. Returns (amount 0..1, gate)."""
    from talkinghead.drivers.audio import plan_audio

    plan = plan_audio(path)
    e = plan.energy[:n_frames]
    th = plan.thresholds
    amt = np.clip((e - th.off) / max(th.peak - th.off, 1e-6), 0.0, 1.0)
    return (amt * plan.gate[:n_frames]).astype(np.float32), plan.gate[:n_frames]


def render_baseline(source_png, audio, output, amounts: np.ndarray, cfg=None) -> None:
    """Render the energy baseline (procedural jaw opening by ``amounts``) with the speak renderer."""
    from talkinghead.drivers.procedural import compose
    from talkinghead.io.video_writer import VideoWriter
    from talkinghead.pipelines.animate import render_motions
    from talkinghead.pipelines.source import prepare_source
    from talkinghead.pipelines.speak import SpeakPipeline
    from talkinghead.motion.extract import motion_from_landmarks

    rcfg = SpeakPipeline(cfg).render_config()
    src = prepare_source(source_png, rcfg, log=lambda *a, **k: None)
    ref = motion_from_landmarks(src.points)
    motions = (compose(ref, np.zeros(3), float(a), 0.0) for a in amounts)
    W, H = src.output_size()
    with VideoWriter(output, fps=25, size=(W, H), audio_from=audio) as w:
        for frame, _ in render_motions(src, motions, ref, rcfg):
            w.write(frame)


# -- the held-out evaluation ----------------------------------------------------------------------

def _track_series(path) -> dict[str, np.ndarray]:
    from talkinghead.drivers.video import track_driver

    tr = track_driver(path)
    C = np.stack([m.canonical for m in tr.motions])
    return {"canonical": C, "mouth": np.array([m.mouth for m in tr.motions]),
            "eyes": np.array([float(np.mean(m.eyes)) for m in tr.motions]), "fps": tr.fps}


def _resample(x: np.ndarray, fps: float, n: int) -> np.ndarray:
    if abs(fps - 25.0) < 1e-3:
        return x[:n]
    t = np.arange(n) / 25.0
    src = np.arange(x.shape[0]) / fps
    flat = x.reshape(x.shape[0], -1)
    return np.stack([np.interp(t, src, flat[:, j]) for j in range(flat.shape[1])], 1).reshape(n, *x.shape[1:])


# The words of the held-out clips (GRID file names encode the command sentence; VidTIMIT sa1).
TRANSCRIPTS = {
    "talk_m_grid_01": "bin blue at f two now", "talk_f_grid_02": "bin red by k seven now",
    "talk_m_grid_03a": "place white in j three please", "talk_m_grid_03b": "set white with p two soon",
    "talk_f_grid_04": "lay red with p nine again",
    "talk_f_vidtimit": "she had your dark suit in greasy wash water all year",
}


def evaluate_clip(clip, out_dir, config=None, model=None, baseline: bool = True,
                  transcript: str | None = None) -> dict:
    """Render a held-out speaker's neutral frame with their own audio; compare with their video.

    Returns sync scores (r, best lag) and LMD for ours and the energy baseline (both measured on
    the rendered videos, re-tracked), plus blink and silence statistics of ours.
    """
    from talkinghead.io.image import write_image
    from talkinghead.io.video import VideoReader
    from talkinghead.motion.extract import neutral_index
    from talkinghead.drivers.video import track_driver
    from talkinghead.pipelines.speak import SpeakPipeline

    clip, out_dir = Path(clip), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tr = track_driver(clip)
    k = neutral_index(tr.motions)
    with VideoReader(clip) as r:
        for i, fr in enumerate(r):
            if i == k:
                frame = fr
                break
    src_png = out_dir / f"{clip.stem}_source.png"
    write_image(src_png, frame)
    real_C = np.stack([m.canonical for m in tr.motions])
    real_mouth = np.array([m.mouth for m in tr.motions])
    ours_mp4 = out_dir / f"{clip.stem}_ours{'_transcript' if transcript else ''}.mp4"
    t0 = time.time()
    res = SpeakPipeline(config, model=model)(src_png, audio=clip, output=ours_mp4, transcript=transcript)
    t_render = time.time() - t0
    n = res.n_frames
    real_C, real_mouth = _resample(real_C, tr.fps, n), _resample(real_mouth, tr.fps, n)
    ours = _track_series(ours_mp4)
    row = {"clip": clip.stem, "frames": n, "render_fps": n / t_render,
           "ours": sync_scores(ours["mouth"][:n], real_mouth),
           "ours_motion": sync_scores(res.mouth, real_mouth),
           "lmd_ours": lmd(ours["canonical"][:n], real_C),
           "blinks": blink_stats(ours["eyes"], 25.0),
           "silence": silence_ratio(ours["mouth"][:n], res.gate > 0)}
    if baseline:
        amounts, _ = energy_baseline_amounts(clip, n)
        # same overall amplitude as ours (no ground truth used): match the opening std in speech
        base_mp4 = out_dir / f"{clip.stem}_energy.mp4"
        render_baseline(src_png, clip, base_mp4, amounts * _amount_scale(res, amounts), config)
        base = _track_series(base_mp4)
        row["energy"] = sync_scores(base["mouth"][:n], real_mouth)
        row["lmd_energy"] = lmd(base["canonical"][:n], real_C)
    return row


def _amount_scale(res, amounts: np.ndarray) -> float:
    """Scale of the baseline's procedural amount so its mouth-opening std in speech matches ours."""
    from talkinghead.drivers.procedural import JAW_DROP

    sp = res.gate > 0
    if sp.sum() < 3 or amounts[sp].std() < 1e-6:
        return 1.0
    # open_mouth(amount=1) changes the inner-lip gap by ~(JAW_DROP + 0.06) canonical units; a
    # typical mouth is ~0.8 units wide, so Motion.mouth changes by ~(JAW_DROP + 0.06) / 0.8 per unit.
    per_unit = (JAW_DROP + 0.06) / 0.8
    return float(res.mouth[sp].std() / (amounts[sp].std() * per_unit))


def evaluate_long(audio, portrait, out_dir, config=None, model=None) -> dict:
    """Blink and silence statistics over a long recording (re-tracked output)."""
    from talkinghead.pipelines.speak import SpeakPipeline

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    mp4 = out_dir / f"{Path(audio).stem}_long.mp4"
    t0 = time.time()
    res = SpeakPipeline(config, model=model)(portrait, audio=audio, output=mp4)
    dt = time.time() - t0
    ours = _track_series(mp4)
    n = res.n_frames
    return {"audio": Path(audio).name, "seconds": res.duration, "render_fps": n / dt,
            "blinks": blink_stats(ours["eyes"][:n], 25.0), "blinks_motion": blink_stats(res.eyes, 25.0),
            "silence": silence_ratio(ours["mouth"][:n], res.gate > 0),
            "silence_motion": silence_ratio(res.mouth, res.gate > 0)}


def pauses_audio(clips, out_wav, pause_s: float = 2.5) -> Path:
    """Held-out speech with long pauses: the clips' audio joined by ``pause_s`` of each clip's own
    room tone (its quietest 0.2 s tiled), so the pauses are realistic silence, not digital zeros."""
    from talkinghead.io.audio import read_audio, write_wav

    parts = []
    for c in clips:
        x, _ = read_audio(c, 16000)
        e = np.convolve(x ** 2, np.ones(3200) / 3200, mode="valid")
        i = int(np.argmin(e))
        tone = x[i:i + 3200]
        parts += [x, np.tile(tone, int(np.ceil(pause_s * 16000 / tone.shape[0])))[: int(pause_s * 16000)]]
    write_wav(out_wav, np.concatenate(parts), 16000)
    return Path(out_wav)


DEFAULT_CLIPS = ("talk_m_grid_03a", "talk_m_grid_03b", "talk_f_vidtimit")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Held-out-speaker evaluation of the speak pipeline.")
    ap.add_argument("--data", type=Path, default=Path("../shared/data/real"))
    ap.add_argument("--clips", nargs="*", default=list(DEFAULT_CLIPS), help="clip stems under videos/")
    ap.add_argument("--long-audio", default="audio/speech_en_long60s.wav", help="for blink/silence stats ('' = skip)")
    ap.add_argument("--portrait", default="portraits/photo_f_diana.jpg")
    ap.add_argument("--out", type=Path, default=Path("out/eval_speech"))
    ap.add_argument("--model", default=None)
    ap.add_argument("--transcripts", action="store_true",
                    help="also evaluate with the known words (forced alignment -> visemes; needs pocketsphinx)")
    ap.add_argument("--json", dest="json_out", default=None)
    from talkinghead.config import RenderOutput

    ap.add_argument("--resolution", type=int, default=RenderOutput.resolution,
                    help="output short side as speak's --resolution (default %(default)s; 0 = the face crop's scale)")
    ap.add_argument("--payload", type=int, default=0,
                    help="watermark payload id of every rendered output (fixed, so figures reproduce; default 0)")
    a = ap.parse_args(argv)
    from talkinghead.pipelines.provenance import fixed_payload_id

    with fixed_payload_id(a.payload):
        return _run(a)


def _run(a) -> int:
    import torch

    from talkinghead.config import SpeakConfig

    torch.set_num_threads(1)
    cfg = SpeakConfig(model=a.model, resolution=a.resolution)
    rows = []
    for stem in a.clips:
        clip = next((a.data / "videos").glob(f"{stem}.*"))
        row = evaluate_clip(clip, a.out, cfg)
        rows.append(row)
        if a.transcripts and stem in TRANSCRIPTS:
            rt = evaluate_clip(clip, a.out, cfg, baseline=False, transcript=TRANSCRIPTS[stem])
            row["transcript"] = {"ours": rt["ours"], "lmd_ours": rt["lmd_ours"]}
            print(f"{stem:20s} with transcript: r {rt['ours']['r']:.3f} lag {rt['ours']['best_lag']:+d} "
                  f"LMD {rt['lmd_ours']:.4f}", flush=True)
        print(f"{stem:20s} r {row['ours']['r']:.3f} lag {row['ours']['best_lag']:+d} (motion r "
              f"{row['ours_motion']['r']:.3f}) | energy r {row['energy']['r']:.3f} lag {row['energy']['best_lag']:+d}"
              f" | LMD ours {row['lmd_ours']:.4f} energy {row['lmd_energy']:.4f} | {row['render_fps']:.1f} fps",
              flush=True)
    if len(rows) > 1:
        print(f"{'mean':20s} r {np.mean([r['ours']['r'] for r in rows]):.3f} | energy r "
              f"{np.mean([r['energy']['r'] for r in rows]):.3f} | LMD ours {np.mean([r['lmd_ours'] for r in rows]):.4f}"
              f" energy {np.mean([r['lmd_energy'] for r in rows]):.4f}")
    clips = [next((a.data / "videos").glob(f"{stem}.*")) for stem in a.clips]
    pw = pauses_audio(clips, a.out / "held_out_with_pauses.wav")
    pz = evaluate_long(pw, a.data / a.portrait, a.out, cfg)
    b, s = pz["blinks"], pz["silence"]
    print(f"pauses {pz['seconds']:.0f}s (held-out speech + 2.5 s room-tone pauses): silence std ratio "
          f"{s['ratio']:.3f} ({s['silent_frames']} silent frames; motion-level {pz['silence_motion']['ratio']:.3f})"
          f" | blinks {b['per_min']:.1f}/min", flush=True)
    long = None
    if a.long_audio:
        long = evaluate_long(a.data / a.long_audio, a.data / a.portrait, a.out, cfg)
        b, bm, s = long["blinks"], long["blinks_motion"], long["silence"]
        print(f"long {long['audio']} ({long['seconds']:.0f}s): blinks (re-tracked video) {b['per_min']:.1f}/min, "
              f"duration {b['min_s']:.2f}-{b['max_s']:.2f}s (mean {b['mean_s']:.2f}); "
              f"generated {bm['per_min']:.1f}/min, "
              f"{bm['min_s']:.2f}-{bm['max_s']:.2f}s | silence std ratio {s['ratio']:.3f} "
              f"({s['silent_frames']} silent frames) | {long['render_fps']:.1f} fps")
    if a.json_out:
        write_json(a.json_out, {"clips": rows, "pauses": pz, "long": long})
    return 0


if __name__ == "__main__":
    sys.exit(main())
