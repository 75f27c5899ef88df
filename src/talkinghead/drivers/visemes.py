"""Phoneme timing -> viseme tracks (25 fps) that sharpen the audio model's mouth.

Used when the words are known (TTS: espeak-ng's own phoneme events; a recording with a transcript:
forced alignment). Each phoneme (IPA, any language espeak-ng speaks) maps to a viseme class:

==============  ==========================================  ===============================
class           phonemes (IPA)                               effect on the mouth
==============  ==========================================  ===============================
``bilabial``    p b m ɓ ʙ ɸ β                                lips sealed (closure = 1)
``labiodental`` f v ɱ ʋ                                      lower lip to the teeth (0.8)
``rounded``     u ʊ o ɔ ɒ y ʏ ø œ ɵ ʉ w ʍ ɥ                  lip rounding / protrusion
``glide``       w ʍ ɥ                                        rounded, lips nearly closed (0.75)
``open``        a ɑ æ ɐ ʌ ɶ (and ɔ ɒ: open + rounded)        at least a wide jaw opening
``mid``         e ɛ ə ɜ ɘ ɞ ɤ o                              at least a medium opening
``spread``      i ɪ e ɛ j ɨ ɯ                                lips spread (wider)
==============  ==========================================  ===============================

Closures are applied with a max-kernel (not a smoothing blur) so a 30 ms /p/ still seals the lips
in at least one 40 ms video frame; the other tracks are smoothed with a short Gaussian
(coarticulation, ~30 ms) and sampled at the video frame times.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from talkinghead.drivers.procedural import convolve_same
from talkinghead.drivers.tts import PhonemeEvent, check_text

BILABIAL = set("pbmɓʙɸβ")
LABIODENTAL = set("fvɱʋ")
ROUNDED = set("uʊoɔɒyʏøœɵʉwʍɥ")
OPEN = set("aɑæɐʌɶɔɒ")
MID = set("eɛəɜɘɞɤo")
SPREAD = set("iɪeɛjɨɯ")
LABIAL_GLIDES = set("wʍɥ")  # consonants, though in ROUNDED: not vowels (no minimum opening)
_IGNORE = set("ˈˌːˑ.‿̃ʰʲʷ̩̯-_|'")

# Closure of the labial approximants /w ʍ ɥ/. On the six clips of ../shared with known words (forced
# alignment), the real inner-lip opening inside each of the six /w/ (four in GRID, two in VidTIMIT, three
# speakers) reaches 0.025-0.048 of the mouth width, against 0.006-0.025 in /p b m/ and 0.13-0.20 at the
# peaks of open vowels. (Before, /w/ counted as a rounded *vowel* and forced a quarter-open mouth.)
LABIAL_APPROXIMANT = 0.75
GLIDE_SPAN = 0.5  # ... held over the first half of the glide (its constriction; the rest moves into the vowel)
CLOSURE_PAD_S = 0.02  # closure held this long beyond the phoneme's own interval
CLOSURE_RAMP_S = 0.05  # then released over this long
SMOOTH_S = 0.05  # Gaussian sigma of the other tracks


@dataclass
class VisemeTracks:
    """Per-video-frame viseme weights in [0, 1] (each (n,) float32)."""

    closure: np.ndarray  # lips sealed (bilabials; labiodentals at 0.8)
    rounded: np.ndarray
    spread: np.ndarray
    open_min: np.ndarray  # minimum mouth opening as a fraction of a wide-open vowel
    voiced: np.ndarray  # 1 inside any phoneme (speech), 0 in pauses

    def __len__(self) -> int:
        return self.closure.shape[0]

    def slice(self, a: int, b: int) -> "VisemeTracks":
        return VisemeTracks(*(getattr(self, k)[a:b] for k in ("closure", "rounded", "spread", "open_min", "voiced")))


def classify(phoneme: str) -> dict[str, float]:
    """Viseme weights of one IPA phoneme symbol (diphthongs: the mean over their vowels)."""
    core = [c for c in phoneme if c not in _IGNORE and not c.isdigit()]
    if not core or phoneme.startswith("("):  # language-switch markers like "(en)"
        return {}
    head = core[0]
    if head in BILABIAL:
        return {"closure": 1.0}
    if head in LABIODENTAL:
        return {"closure": 0.8}
    if head in LABIAL_GLIDES:  # w, ʍ, ɥ: rounded lips nearly closed (a narrower aperture than /u/)
        return {"rounded": 1.0, "closure": LABIAL_APPROXIMANT, "glide": 1.0}
    vowels = [c for c in core if c in (OPEN | MID | SPREAD | ROUNDED) - LABIAL_GLIDES]
    if not vowels:
        return {}
    out = {"rounded": 0.0, "spread": 0.0, "open_min": 0.0}
    for c in vowels:
        out["rounded"] += (1.0 if c in ROUNDED else 0.0) / len(vowels)
        out["spread"] += (1.0 if c in SPREAD and c not in ROUNDED else 0.0) / len(vowels)
        level = 1.0 if c in OPEN else 0.55 if c in MID else 0.25
        out["open_min"] = max(out["open_min"], level)
    return out


def viseme_tracks(phonemes: list[PhonemeEvent], n_frames: int, fps: float = 25.0,
                  offset: float = 0.0) -> VisemeTracks:
    """Build the tracks for ``n_frames`` video frames; ``offset`` (s) shifts all events
    (e.g. silence padded before the speech)."""
    dt = 0.01
    n_fine = int(np.ceil(n_frames / fps / dt)) + 2
    t_fine = np.arange(n_fine) * dt
    tracks = {k: np.zeros(n_fine) for k in ("rounded", "spread", "open_min", "voiced")}
    t_frames = np.arange(n_frames) / fps
    closure = np.zeros(n_frames)
    for ev in phonemes:
        s, e = ev.start + offset, ev.end + offset
        if e <= s:
            continue
        w = classify(ev.phoneme)
        sel = (t_fine >= s) & (t_fine < e)
        tracks["voiced"][sel] = 1.0
        for k in ("rounded", "spread", "open_min"):
            if w.get(k):
                tracks[k][sel] = np.maximum(tracks[k][sel], w[k])
        if w.get("closure"):
            if w.get("glide"):  # the constriction is the glide's start; the rest moves into the vowel
                e = s + GLIDE_SPAN * (e - s)
            # 1 within [s - pad, e + pad], cosine ramps of CLOSURE_RAMP_S outside (max-combined)
            d = np.maximum(np.maximum(s - CLOSURE_PAD_S - t_frames, t_frames - e - CLOSURE_PAD_S), 0.0)
            # the frame nearest the phoneme's centre is always fully closed
            k = int(np.clip(np.round((s + e) / 2 * fps), 0, n_frames - 1)) if n_frames else 0
            c = np.where(d < CLOSURE_RAMP_S, 0.5 * (1 + np.cos(np.pi * d / CLOSURE_RAMP_S)), 0.0)
            if n_frames:
                c[k] = 1.0
            closure = np.maximum(closure, w["closure"] * c)
    sig = SMOOTH_S / dt
    kx = np.arange(-int(3 * sig) - 1, int(3 * sig) + 2)
    kern = np.exp(-0.5 * (kx / sig) ** 2)
    kern /= kern.sum()
    out = {}
    for k, v in tracks.items():
        sm = convolve_same(v, kern)
        out[k] = np.interp(t_frames, t_fine, sm).astype(np.float32)
    return VisemeTracks(closure=closure.astype(np.float32), rounded=out["rounded"], spread=out["spread"],
                        open_min=out["open_min"], voiced=out["voiced"])


# -- forced alignment of a transcript (English, pocketsphinx) ------------------------------------------

# CMU/ARPABET phones of pocketsphinx's en-us model -> IPA (only the viseme class matters).
ARPABET_IPA = {
    "AA": "ɑ", "AE": "æ", "AH": "ə", "AO": "ɔ", "AW": "aʊ", "AY": "aɪ", "EH": "ɛ", "ER": "ɜ", "EY": "eɪ",
    "IH": "ɪ", "IY": "i", "OW": "oʊ", "OY": "ɔɪ", "UH": "ʊ", "UW": "u", "B": "b", "CH": "tʃ", "D": "d",
    "DH": "ð", "F": "f", "G": "ɡ", "HH": "h", "JH": "dʒ", "K": "k", "L": "l", "M": "m", "N": "n", "NG": "ŋ",
    "P": "p", "R": "ɹ", "S": "s", "SH": "ʃ", "T": "t", "TH": "θ", "V": "v", "W": "w", "Y": "j", "Z": "z",
    "ZH": "ʒ",
}


def align_transcript(audio, transcript: str) -> list[PhonemeEvent]:
    """Phoneme timing of a recording from its (English) transcript by pocketsphinx forced
    alignment (10 ms resolution). Needs ``pip install pocketsphinx==5.1.1`` (optional extra).

    Raises:
        InputError: pocketsphinx missing, empty transcript, or the alignment failed (e.g. words
            the dictionary does not know, or a transcript that does not match the audio).
    """
    import re
    import unicodedata

    from talkinghead.errors import InputError
    from talkinghead.io.audio import read_audio

    text = check_text(transcript, "transcript")
    digits = re.findall(r"\d+", text)
    if digits:  # the pronouncing dictionary has no numerals: "1984" would silently vanish
        raise InputError(None, f"transcript has numerals ({', '.join(digits[:3])}): write numbers as words")
    # accented Latin letters lose their marks ("café" -> "cafe", "Zoë" -> "zoe"), as the dictionary spells
    # them; before, the letter split the word ("caf" + "e")
    plain = "".join(c for c in unicodedata.normalize("NFKD", text.lower()) if not unicodedata.combining(c))
    words = re.sub(r"[^a-z' ]+", " ", plain.replace("\u2019", "'")).split()
    if not words:
        raise InputError(None, "empty transcript")
    try:
        from pocketsphinx import Decoder
    except ImportError:
        raise InputError(None, "--transcript needs pocketsphinx (pip install pocketsphinx==5.1.1)") from None
    x, _ = read_audio(audio, sr=16000)
    pcm = (np.clip(x, -1.0, 1.0) * 32767).astype(np.int16).tobytes()
    try:
        d = Decoder(samprate=16000, bestpath=False, loglevel="FATAL")
        unknown = [w for w in words if d.lookup_word(w) is None]
        if unknown:
            raise InputError(None, f"transcript words not in the English dictionary: {' '.join(unknown[:5])}")
        d.set_align_text(" ".join(words))
        d.start_utt()
        d.process_raw(pcm, full_utt=True)
        d.end_utt()
        d.set_alignment()  # second pass: phone-level alignment of the word hypothesis
        d.start_utt()
        d.process_raw(pcm, full_utt=True)
        d.end_utt()
        al = d.get_alignment()
    except InputError:
        raise
    except Exception as e:  # noqa: BLE001 - pocketsphinx raises RuntimeError/ValueError variously
        raise InputError(audio, f"could not align the transcript ({e})") from None
    if al is None:
        raise InputError(audio, "could not align the transcript to the audio")
    out = []
    for w in al:
        for p in w:
            ipa = ARPABET_IPA.get(p.name)
            if ipa:
                out.append(PhonemeEvent(ipa, p.start / 100.0, (p.start + p.duration) / 100.0))
    if not out:
        raise InputError(audio, "could not align the transcript to the audio")
    return out
