"""Speech driver: audio -> one :class:`Motion` per video frame (25 fps).

Stages, each a plain function so training, evaluation and the pipeline share them:

1-3. :mod:`talkinghead.drivers.speech_features`: :func:`iter_audio_blocks` streams 16 kHz mono
   samples (constant memory for any length); :func:`log_mel` turns samples into 80-band log-mel
   frames at 100 Hz (4 per video frame) and :func:`frame_energy_db` gives per-10 ms energy;
   :func:`vad` marks speech (adaptive noise floor, hysteresis, hang-over); :func:`speech_gate`
   turns it into a 25 fps gate with a short anticipatory attack and a quick release, so silence
   gives an exactly closed, still mouth and onsets/offsets stay crisp.
4. The audio-to-motion network (:mod:`talkinghead.models.audio_to_motion`) maps normalised
   log-mels to mouth PCA coefficients, a brow raise and head-rotation offsets, chunk by chunk.
5. :class:`SpeechMotionDriver` composes those with blinks, gaze shifts and idle head motion into
   :class:`Motion` frames relative to the source face (a generator: motions are produced as the
   renderer consumes them).

Conventions: samples float32 in [-1, 1]; mel frame ``i`` is centred at ``i * 10 ms``; video frame
``k`` (time ``k / 25`` s) owns mel frames ``4k .. 4k + 3``.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from talkinghead.drivers.speech_features import (
    FPS,
    HOP,
    SR,
    WIN,
    VadThresholds,
    iter_audio_blocks,
    model_input,
    speech_gate,
    bool_runs,
    vad,
    vad_thresholds,
)
from talkinghead.errors import InputError

if TYPE_CHECKING:
    from talkinghead.motion.types import Motion


# -- pass 1: the plan (small per-frame arrays for the whole audio) -----------------------------

@dataclass
class SpeechPlan:
    """Everything the driver needs besides the mouth: per-frame arrays (n_frames,) at 25 fps.

    Memory is O(n_frames) floats (10 min = 15 000 frames): the mel features and the mouth are
    produced chunk by chunk in pass 2.
    """

    n_samples: int
    n_frames: int
    thresholds: VadThresholds
    speech: np.ndarray  # (4 n,) bool, 100 Hz speech mask
    gate: np.ndarray  # (n,) mouth gate
    energy: np.ndarray  # (n,) dB, 25 fps
    accents: np.ndarray  # (n,) prosodic accent strength (0 outside accents)

    @property
    def duration(self) -> float:
        return self.n_samples / SR

    @property
    def has_speech(self) -> bool:
        return bool(self.speech.any())

    def pauses(self, min_pause_s: float = 0.25) -> np.ndarray:
        """Frames where a pause of at least ``min_pause_s`` starts (speech -> silence)."""
        g = self.gate > 0
        out = []
        for s, t, val in bool_runs(g):
            if not val and s > 0 and (t - s) / FPS >= min_pause_s:
                out.append(s)
        return np.array(out, int)


def _prosodic_accents(energy_25: np.ndarray, gate: np.ndarray) -> np.ndarray:
    """Accent strength per frame: prominent peaks of the smoothed energy inside speech.

    A peak counts when it rises >= 4 dB above the lowest point since the previous peak (syllable
    nuclei of stressed syllables are louder); strength = prominence / 12 dB, capped at 1.
    """
    n = energy_25.shape[0]
    out = np.zeros(n, np.float32)
    if n < 3:
        return out
    k = np.array([1, 2, 3, 2, 1], np.float64)
    e = np.convolve(np.pad(energy_25, 2, mode="edge"), k / k.sum(), mode="valid")
    lo = e[0]
    last_peak = -10
    for i in range(1, n - 1):
        lo = min(lo, e[i])
        if e[i] >= e[i - 1] and e[i] > e[i + 1] and gate[i] > 0.5:
            prom = e[i] - lo
            if prom >= 4.0 and i - last_peak >= 5:
                out[i] = min(prom / 12.0, 1.0)
                last_peak, lo = i, e[i]
    return out


class _EnergyStream:
    """dB energy frames from consecutive sample blocks, identical to :func:`frame_energy_db` on the
    concatenated signal (frame i centred at sample i * HOP, zero padding at both ends)."""

    def __init__(self) -> None:
        self.buf = np.zeros(WIN // 2, np.float32)  # the left zero pad of _frames
        self.base = -(WIN // 2)  # global sample index of buf[0]
        self.next = 0  # next frame index to emit
        self.out: list[np.ndarray] = []
        self.n_samples = 0

    def push(self, block: np.ndarray) -> None:
        self.n_samples += block.shape[0]
        self.buf = np.concatenate([self.buf, block.astype(np.float32, copy=False)])
        self._emit(None)

    def finish(self, n_frames: int) -> np.ndarray:
        self.buf = np.concatenate([self.buf, np.zeros(WIN + HOP * 4, np.float32)])
        self._emit(n_frames)
        e = np.concatenate(self.out) if self.out else np.zeros(0, np.float32)
        return e[:n_frames]

    def _emit(self, n_total: int | None) -> None:
        start = self.next * HOP - WIN // 2 - self.base  # buffer offset of the next window
        avail = (self.buf.shape[0] - start - WIN) // HOP + 1
        n = max(0, avail if n_total is None else min(avail, n_total - self.next))
        if n:
            fr = np.lib.stride_tricks.sliding_window_view(self.buf[start:], WIN)[::HOP][:n]
            self.out.append((10.0 * np.log10(np.mean(fr.astype(np.float64) ** 2, axis=1) + 1e-10)).astype(np.float32))
            self.next += n
        keep = max(self.next * HOP - WIN // 2 - self.base, 0)
        self.buf = self.buf[keep:]
        self.base += keep


def plan_audio(path: str | os.PathLike, attack: int = 6, release: int = 3) -> SpeechPlan:
    """Pass 1 over the audio: length, energy, voice activity, gate and prosodic accents.

    Raises:
        InputError: unreadable / empty audio (see :func:`iter_audio_blocks`), or 0 s long.
    """
    stream = _EnergyStream()
    for block in iter_audio_blocks(path):
        stream.push(block)
    n_samples = stream.n_samples
    if n_samples == 0:
        raise InputError(path, "audio is empty (0 s)")
    n_frames = int(np.ceil(n_samples / (SR / FPS)))
    e = stream.finish(4 * n_frames)
    th = vad_thresholds(e)
    speech = vad(e, th)
    gate = speech_gate(speech, attack=attack, release=release)
    e25 = e.reshape(n_frames, 4).mean(axis=1)
    return SpeechPlan(n_samples, n_frames, th, speech, gate, e25.astype(np.float32),
                      _prosodic_accents(e25, gate))


# -- pass 2: model inference chunk by chunk -------------------------------------------------------

def iter_mouth_chunks(path: str | os.PathLike, plan: SpeechPlan, model, chunk_frames: int = 750,
                      context_frames: int = 25) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
    """Yield (first frame, decoded model outputs for frames [first, first + len)) chunk by chunk.

    Each chunk is computed from its own audio plus ``context_frames`` of audio on each side (more
    than the network's receptive field), so chunk borders do not show; the input normalisation
    uses the chunk's speech frames. Memory: one chunk of samples and features at a time.
    """
    import torch

    spf = int(SR / FPS)  # samples per video frame (640)
    n = plan.n_frames
    blocks = iter_audio_blocks(path, block=SR * 5)
    buf = np.zeros(0, np.float32)
    buf_start = 0  # global sample index of buf[0]
    eof = False
    for k0 in range(0, n, chunk_frames):
        k1 = min(k0 + chunk_frames, n)
        a0, a1 = (k0 - context_frames), min(k1 + context_frames, n)
        s0, s1 = a0 * spf, a1 * spf + WIN
        while not eof and buf_start + buf.shape[0] < s1:
            try:
                buf = np.concatenate([buf, next(blocks)])
            except StopIteration:
                eof = True
        lo = max(s0, 0)
        seg = buf[lo - buf_start: s1 - buf_start]
        if s0 < 0:
            seg = np.concatenate([np.zeros(-s0, np.float32), seg])
        n_mel = 4 * (a1 - a0)
        mel = model_input(seg, n_mel, model.config.embed_dims > 0)
        sp = plan.speech[max(4 * a0, 0): 4 * a1]
        if a0 < 0:
            sp = np.concatenate([np.zeros(-4 * a0, bool), sp])
        with torch.no_grad():
            y = model(torch.from_numpy(mel)[None], torch.from_numpy(sp.astype(np.float32))[None])[0]
            dec = {k: v.numpy() for k, v in model.decode(y).items()}
        a, b = k0 - a0, k1 - a0
        yield k0, {k: v[a:b] for k, v in dec.items()}
        drop = max((k1 - context_frames) * spf - WIN - buf_start, 0)  # keep the next chunk's left context
        buf, buf_start = buf[drop:], buf_start + drop


# -- composition: parameters -> Motion ------------------------------------------------------------

@dataclass
class SpeechStyle:
    """Knobs of the speech driver (the CLI flags)."""

    blink_rate: float = 17.0  # blinks per minute (0 = never)
    head_motion: float = 1.0  # gain of all head motion (0 = none)
    expression: float = 1.0  # gain of brow raises
    mouth: float = 1.0  # gain of the mouth motion
    still: bool = False  # no head motion, gaze shifts or brow raises (blinks and mouth continue)
    seed: int = 0


@dataclass
class SourceShapes:
    """Per-source displacement fields (canonical units), computed once."""

    canonical: np.ndarray  # (478, 3) the source's canonical landmarks
    mouth_scale: float  # source mouth width / training mean width
    seal: np.ndarray  # (478, 3) closes the source's lips (zero when they are closed)
    base: np.ndarray  # (478, 3) applied to every frame (= seal when the source mouth is open)
    jaw: np.ndarray  # (478, 3) opening of +1 Motion.mouth unit
    rounding: np.ndarray  # (478, 3) full lip rounding
    brow: np.ndarray  # (478, 3) unit brow raise
    width: float = 1.0


SOURCE_OPEN_CLOSE = 0.1  # a source whose mouth opening exceeds this is closed at rest ...
# ... unless it exceeds this: a wide-open mouth (a scream, 0.75; the open portraits of ../shared reach
# 0.22) stays open, as a 2-D warp can only close it by squashing the tongue into a lip
SOURCE_OPEN_KEEP = 0.4
LIP_UPPER_SHARE = 0.3  # of a residual lip gap, the upper lip closes this part (the jaw-borne lower lip the rest)
LIP_FALLOFF = 0.25  # canonical units (inter-ocular = 1) over which lip closure fades into the skin around
JAW_SEAL_MAX = 0.8  # most jaw closure (units of the opening template) a seal uses; the lips close the rest


def lip_seal(X: np.ndarray, J: np.ndarray, jaw_units: float) -> np.ndarray:
    """(478, 3) displacement that closes the source's parted lips ``X`` (canonical, y down).

    First the jaw closes (``-jaw_units * J``, the opening template) until the centre of the
    inner lips meets, by at most ``JAW_SEAL_MAX`` (a 2-D warp tears the cheeks when it lifts a
    dropped jaw much further). An open mouth is an oval, and a jaw that is closed enough for the
    centre over-closes the corners (the lips would cross there). So the residual gap of each inner-lip
    pair is then closed column by column: interpolated across the mouth (zero at the corners),
    shared between upper and lower lip, and applied to the whole lip (inner and outer contour
    alike, so lip thickness is kept), fading out over ``LIP_FALLOFF`` into the skin around."""
    from talkinghead.face import topology as T
    from talkinghead.motion.regions import INNER_LIP_PAIRS

    seal = -J * min(jaw_units, JAW_SEAL_MAX)
    Y = X + seal
    c0, c1 = (X[i, :2] for i in T.MOUTH_CORNERS)
    if c0[0] > c1[0]:
        c0, c1 = c1, c0
    pairs = sorted(INNER_LIP_PAIRS, key=lambda p: X[p[1], 0])
    xs = np.array([c0[0], *(X[lo, 0] for _, lo in pairs), c1[0]])
    xs = np.maximum.accumulate(np.clip(xs, c0[0], c1[0]))  # np.interp needs them in order
    rs = np.array([0.0, *(Y[lo, 1] - Y[up, 1] for up, lo in pairs), 0.0])  # residual gap (<0: crossed)
    upper_out, lower_out = T.OUTER_LIPS[:5] + T.OUTER_LIPS[16:], T.OUTER_LIPS[6:15]
    P = X[:, :2]
    line = np.interp(P[:, 0], [c0[0], c1[0]], [c0[1], c1[1]])  # the corner-to-corner mouth line
    below = P[:, 1] > line  # skin: by the line; the lips by name (a smile's corners curl above it)
    below[upper_out + T.INNER_LIPS[:5] + T.INNER_LIPS[16:]] = False
    below[lower_out + T.INNER_LIPS[6:15]] = True
    edge_up = np.interp(P[:, 0], *_sorted_xy(X[upper_out]))  # outer contours, as functions of x
    edge_lo = np.interp(P[:, 0], *_sorted_xy(X[lower_out]))
    dist = np.where(below, np.maximum(P[:, 1] - edge_lo, 0.0), np.maximum(edge_up - P[:, 1], 0.0))
    inside = (P[:, 0] > c0[0]) & (P[:, 0] < c1[0])
    w = np.clip(1.0 - dist / LIP_FALLOFF, 0.0, 1.0) * inside
    r = np.interp(P[:, 0], xs, rs) * w
    seal[:, 1] += np.where(below, -(1.0 - LIP_UPPER_SHARE) * r, LIP_UPPER_SHARE * r)
    return seal


def _sorted_xy(pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    o = np.argsort(pts[:, 0])
    return pts[o, 0], pts[o, 1]


def source_shapes(source: "Motion", model_mouth_width: float) -> SourceShapes:
    from talkinghead.drivers.procedural import brow_shape, lip_round_shape, open_mouth
    from talkinghead.face import topology as T
    from talkinghead.motion.regions import INNER_LIP_PAIRS

    X = source.canonical.astype(np.float64)
    width = float(np.linalg.norm(X[T.MOUTH_CORNERS[0], :2] - X[T.MOUTH_CORNERS[1], :2]))
    parted = any(X[lo, 1] > X[up, 1] for up, lo in INNER_LIP_PAIRS)

    def gap_of(Y):  # the inner-lip gap as Motion.mouth measures it (centre pairs), unclipped
        return float(np.mean([Y[lo, 1] - Y[up, 1] for up, lo in INNER_LIP_PAIRS[3:6]]))

    J = open_mouth(X, 1.0) - X
    per_unit = max(gap_of(X + J) - gap_of(X), 1e-3)  # inner-lip gap change of open_mouth(X, 1)
    closable = parted and source.mouth <= SOURCE_OPEN_KEEP  # (a bilabial viseme cannot close it either)
    seal = lip_seal(X, J, max(gap_of(X), 0.0) / per_unit) if closable else np.zeros_like(X)
    jaw = J * (width / per_unit)  # +1 in gap / width
    base = seal if source.mouth > SOURCE_OPEN_CLOSE else np.zeros_like(X)
    return SourceShapes(X, float(np.clip(width / max(model_mouth_width, 1e-6), 0.6, 1.6)), seal, base, jaw,
                        lip_round_shape(X), brow_shape(X), width)


class SpeechMotionDriver:
    """Audio (+ optional viseme tracks) -> a stream of :class:`Motion` for one source face.

    ``motions(path, plan)`` is a generator: it runs the network chunk by chunk and composes each
    frame as  source + base + mouth (gated, visemes applied) + rounding + brow, then blinks, gaze
    and head rotation (model head offsets + prosodic nods + slow sway) on top.
    """

    BROW_ACCENT = 0.03  # canonical units of brow raise on the strongest accents
    NOD_DEG = 1.6  # head pitch (down) on an accent of strength 1
    # Idle sway (yaw, pitch, roll amplitudes). With the nods and the network's head motion the head
    # turns with std 1.3 / 1.1 / 0.9 deg over a 60 s recording; the 19 real talking clips of
    # ../shared (tracked) have a median std of 1.2 / 2.4 / 1.2 deg (the quietest 0.6-0.9). Before
    # (1.5 deg, roll 0.35) it was 0.7 / 0.9 / 0.3 deg: a frozen head next to a real speaker.
    SWAY_DEG = 3.0
    SWAY_AXES = (1.0, 0.6, 0.7)
    WIDE_OPEN = 0.28  # Motion.mouth change of a wide-open vowel (viseme open_min = 1)

    def __init__(self, model, source: "Motion", style: SpeechStyle | None = None,
                 chunk_frames: int = 750):
        self.model = model
        self.source = source
        self.style = style or SpeechStyle()
        self.chunk_frames = int(chunk_frames)
        self.shapes = source_shapes(source, float(model.mouth_width))
        self.index = model.mouth_index.numpy()

    # per-frame small arrays for the whole clip
    def _frame_controls(self, plan: SpeechPlan, visemes=None) -> dict[str, np.ndarray]:
        from talkinghead.drivers.procedural import blink_schedule, convolve_same, gaze_shifts, head_sway

        st, n = self.style, plan.n_frames
        rng = np.random.default_rng(st.seed)
        blink, _ = blink_schedule(n, FPS, st.blink_rate, pauses=plan.pauses(), rng=rng)
        head_gain = 0.0 if st.still else st.head_motion
        sway = head_sway(n, FPS, amplitude_deg=self.SWAY_DEG, rng=rng, axes=self.SWAY_AXES)
        bump = np.hanning(11)[1:-1]  # ~0.36 s nod / brow raise
        acc = convolve_same(plan.accents, bump)
        nod = np.zeros((n, 3), np.float32)
        nod[:, 1] = self.NOD_DEG * acc
        strong = np.where(plan.accents >= np.quantile(plan.accents[plan.accents > 0], 0.7), plan.accents, 0.0) \
            if (plan.accents > 0).any() else plan.accents
        brow = self.BROW_ACCENT * convolve_same(strong, bump)
        gaze = gaze_shifts(n, FPS, 0.0 if st.still else 1.0, rng=rng)
        return {"anticipation": self._anticipation(plan), "blink": blink, "head": head_gain * (sway + nod),
                "head_gain": np.float32(head_gain),
                "brow": (0.0 if st.still else st.expression) * brow, "gaze": gaze,
                "brow_gain": np.float32(0.0 if st.still else st.expression)}

    def _anticipation(self, plan: SpeechPlan, min_pause: int = 10) -> np.ndarray:
        """(n,) opening before each utterance onset that follows a pause (the model's learned
        pre-speech profile; people part their lips and breathe in before they speak). It never
        reaches back into the previous utterance (at least 3 frames of rest stay closed)."""
        prof = self.model.onset_open.numpy().astype(np.float32)
        L, n = prof.shape[0], plan.n_frames
        s25 = plan.speech[: 4 * n].reshape(n, 4).any(axis=1)
        out = np.zeros(n, np.float32)
        last_end = -10**9
        for s, t, val in bool_runs(s25):
            if not val:
                continue
            if s - max(last_end, 0) >= min_pause or (last_end < 0 and s >= 1):
                lo = max(s - L, last_end + 3 if last_end >= 0 else 0)
                for k in range(lo, s):
                    out[k] = max(out[k], prof[L - (s - k)])
            last_end = t
        return out

    def motions(self, path: str | os.PathLike, plan: SpeechPlan, visemes=None) -> Iterator["Motion"]:
        """Yield plan.n_frames motions (see the class docstring)."""
        ctl = self._frame_controls(plan, visemes)
        for k0, dec in iter_mouth_chunks(path, plan, self.model, self.chunk_frames):
            vis = visemes.slice(k0, k0 + dec["opening"].shape[0]) if visemes is not None else None
            for j in range(dec["opening"].shape[0]):
                yield self.compose(k0 + j, dec, j, plan, ctl, vis)

    def compose(self, k: int, dec: dict[str, np.ndarray], j: int, plan: SpeechPlan, ctl: dict, vis) -> "Motion":
        from talkinghead.drivers.procedural import close_eyes, shift_gaze
        from talkinghead.face.types import HeadPose
        from talkinghead.motion.extract import summaries
        from talkinghead.motion.types import Motion

        sh, st = self.shapes, self.style
        g = float(plan.gate[k])
        gain = st.mouth * sh.mouth_scale
        X = sh.canonical + sh.base
        mouth = np.zeros_like(X)
        mouth[self.index] = gain * g * dec["mouth"][j]
        opening = gain * g * float(dec["opening"][j])
        pre = gain * float(ctl["anticipation"][k])
        if pre > opening:  # anticipatory opening before an utterance
            mouth += (pre - max(opening, 0.0)) * sh.jaw
            opening = pre
        if vis is not None:
            c = float(vis.closure[j])
            want = st.mouth * self.WIDE_OPEN * float(vis.open_min[j])
            if want > opening:  # known open vowel: at least this open
                mouth += (want - opening) * sh.jaw
            mouth = (1.0 - c) * mouth + c * (sh.seal - sh.base)
            X = X + st.mouth * (float(vis.rounded[j]) - 0.4 * float(vis.spread[j])) * sh.rounding
        X = X + mouth
        head = ctl["head"][k] + ctl["head_gain"] * g * dec["head"][j]
        brow = ctl["brow"][k] + ctl["brow_gain"] * g * float(dec["brow"][j])
        X = X + brow * sh.brow
        X = close_eyes(X, float(ctl["blink"][k]))
        X = shift_gaze(X, ctl["gaze"][k]).astype(np.float32)
        src = self.source.pose
        R = HeadPose.rotation_from_euler(*head) @ src.rotation
        pose = HeadPose(R, src.translation.copy(), src.scale, src.tz)
        eyes, gaze, m = summaries(X)
        return Motion(pose, X, eyes, gaze, m)
