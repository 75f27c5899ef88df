"""Text-to-speech with espeak-ng (libespeak-ng through ctypes): audio + exact phoneme timing.

``synthesize("Hello", voice="en")`` returns the 22.05 kHz mono waveform and one
:class:`PhonemeEvent` per phoneme (IPA symbol, start/end in seconds), taken from the synthesiser's
own phoneme events (``espeakINITIALIZE_PHONEME_EVENTS``), so visemes line up with the audio exactly.

The library is a process-wide singleton that is not thread-safe: calls are serialised by a lock.
Struct layouts follow ``speak_lib.h`` of espeak-ng 1.51 (x86-64 / LP64).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from talkinghead.errors import InputError

# speak_lib.h constants
AUDIO_OUTPUT_SYNCHRONOUS = 2
espeakINITIALIZE_PHONEME_EVENTS = 0x0001
espeakINITIALIZE_PHONEME_IPA = 0x0002
espeakINITIALIZE_DONT_EXIT = 0x8000
espeakCHARS_UTF8 = 1
POS_CHARACTER = 1
espeakRATE, espeakVOLUME, espeakPITCH = 1, 2, 3
EVENT_LIST_TERMINATED, EVENT_WORD, EVENT_SENTENCE, EVENT_END, EVENT_MSG_TERMINATED, EVENT_PHONEME = 0, 1, 2, 5, 6, 7

MAX_TEXT_CHARS = 20000  # ~20 min of speech; longer text: split it yourself


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    _fields_ = [("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint), ("text_position", ctypes.c_int),
                ("length", ctypes.c_int), ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
                ("user_data", ctypes.c_void_p), ("id", _EventId)]


class _Voice(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("languages", ctypes.c_void_p), ("identifier", ctypes.c_char_p),
                ("gender", ctypes.c_ubyte), ("age", ctypes.c_ubyte), ("variant", ctypes.c_ubyte),
                ("xx1", ctypes.c_ubyte), ("score", ctypes.c_int), ("spare", ctypes.c_void_p)]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))


@dataclass(frozen=True)
class PhonemeEvent:
    """One phoneme of the synthesised speech: IPA symbol (espeak's, may carry stress/length marks)."""

    phoneme: str
    start: float  # seconds
    end: float  # seconds


@dataclass
class Speech:
    """Synthesised speech: mono float32 samples at ``sr`` Hz and the phoneme timeline."""

    samples: np.ndarray
    sr: int
    phonemes: list[PhonemeEvent]

    @property
    def duration(self) -> float:
        return self.samples.shape[0] / self.sr


class _Espeak:
    """The loaded library and its synth callback (initialised once per process)."""

    _lock = threading.Lock()
    _instance: "_Espeak | None" = None

    def __init__(self) -> None:
        name = ctypes.util.find_library("espeak-ng") or "libespeak-ng.so.1"
        try:
            self.lib = ctypes.CDLL(name)
        except OSError:
            raise InputError(None, "espeak-ng is not installed (apt-get install espeak-ng)") from None
        lib = self.lib
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetSynthCallback.argtypes = [_CALLBACK]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_Synth.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
                                     ctypes.c_uint, ctypes.POINTER(ctypes.c_uint), ctypes.c_void_p]
        lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(_Voice))
        lib.espeak_ListVoices.argtypes = [ctypes.c_void_p]
        opts = espeakINITIALIZE_PHONEME_EVENTS | espeakINITIALIZE_PHONEME_IPA | espeakINITIALIZE_DONT_EXIT
        self.sr = lib.espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 200, None, opts)
        if self.sr <= 0:
            raise InputError(None, "espeak-ng failed to initialise (espeak-ng-data missing?)")
        self._chunks: list[np.ndarray] = []
        self._events: list[tuple[int, int, str]] = []
        self._cb = _CALLBACK(self._callback)  # keep a reference: the C side stores the pointer
        lib.espeak_SetSynthCallback(self._cb)

    @classmethod
    def get(cls) -> "_Espeak":
        if cls._instance is None:
            cls._instance = _Espeak()
        return cls._instance

    def _callback(self, wav, n, events) -> int:
        if n > 0 and wav:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).astype(np.float32) / 32768.0)
        i = 0
        while events[i].type != EVENT_LIST_TERMINATED:
            ev = events[i]
            if ev.type == EVENT_PHONEME:
                sym = bytes(ev.id.string).split(b"\0", 1)[0].decode("utf-8", "replace")
                self._events.append((EVENT_PHONEME, ev.audio_position, sym))
            elif ev.type in (EVENT_WORD, EVENT_END, EVENT_SENTENCE):
                self._events.append((ev.type, ev.audio_position, ""))
            i += 1
        return 0

    def voices(self) -> list[tuple[str, list[str]]]:
        """(identifier, languages) of every installed voice (e.g. ("sit/cmn", ["zh-cmn", "zh"]))."""
        out = []
        arr = self.lib.espeak_ListVoices(None)
        i = 0
        while arr[i]:
            v = arr[i].contents
            out.append(((v.identifier or b"").decode(), _languages(v.languages)))
            i += 1
        return out

    def synth(self, text: str, voice: str, rate: int | None, pitch: int | None) -> Speech:
        lib = self.lib
        if lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise InputError(None, f"unknown espeak-ng voice {voice!r} (see `espeak-ng --voices`)")
        lib.espeak_SetParameter(espeakRATE, int(rate) if rate else 160, 0)
        lib.espeak_SetParameter(espeakPITCH, int(pitch) if pitch is not None else 50, 0)
        self._chunks, self._events = [], []
        data = text.encode("utf-8") + b"\0"
        buf = ctypes.create_string_buffer(data)
        err = lib.espeak_Synth(buf, len(data), 0, POS_CHARACTER, 0, espeakCHARS_UTF8, None, None)
        if err != 0:
            raise InputError(None, f"espeak-ng synthesis failed (error {err})")
        lib.espeak_Synchronize()
        samples = np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.float32)
        return Speech(samples, self.sr, _phoneme_timeline(self._events, samples.shape[0] / self.sr))


def _phoneme_timeline(events: list[tuple[int, int, str]], duration: float) -> list[PhonemeEvent]:
    """Phoneme events (start ms) -> intervals: each ends where the next event (of any kind) starts."""
    times = sorted({t for _, t, _ in events})
    out = []
    for typ, t, sym in events:
        if typ != EVENT_PHONEME or not sym.strip():
            continue
        later = [u for u in times if u > t]
        end = min(later[0] / 1000.0 if later else duration, duration)
        out.append(PhonemeEvent(sym, t / 1000.0, max(end, t / 1000.0)))
    # events of one phoneme can repeat at the same time (e.g. stress marks): keep the last
    dedup: dict[float, PhonemeEvent] = {}
    for e in out:
        dedup[e.start] = e
    evs = sorted(dedup.values(), key=lambda e: e.start)
    out = []
    for i, e in enumerate(evs):
        nxt = evs[i + 1].start if i + 1 < len(evs) else None
        out.append(PhonemeEvent(e.phoneme, e.start, nxt if nxt is not None and nxt < e.end else e.end))
    return out


def _languages(addr: int | None) -> list[str]:
    """espeak's voice ``languages`` field (a raw pointer): (priority byte, name, NUL) repeated,
    ended by a 0 priority byte."""
    out = []
    for _ in range(32):
        if not addr or ctypes.string_at(addr, 1) == b"\0":
            break
        name = ctypes.string_at(addr + 1)
        out.append(name.decode("utf-8", "replace"))
        addr += len(name) + 2
    return out


def list_voices() -> list[tuple[str, str]]:
    """(identifier, language) of the installed espeak-ng voices, e.g. ("gmw/en", "en-gb")."""
    with _Espeak._lock:
        return [(ident, langs[0] if langs else "") for ident, langs in _Espeak.get().voices()]


def resolve_voice(voice: str) -> str | None:
    """The name espeak-ng's ``SetVoiceByName`` takes for ``voice``: a voice file (gmw/en) or its
    name (en), or any language a voice declares (en-gb, fr-fr, zh), case-insensitive, optionally
    with a +variant suffix (en+f3) that is kept; None if no installed voice matches (espeak-ng
    itself would silently fall back to English)."""
    base, plus, variant = str(voice).strip().partition("+")
    base = base.strip().lower()
    if not base:
        return None
    with _Espeak._lock:
        voices = _Espeak.get().voices()
    for ident, _ in voices:  # a voice file or its name first
        if base in (ident.lower(), ident.lower().rsplit("/", 1)[-1]):
            return ident + plus + variant
    for ident, langs in voices:
        if base in (lang.lower() for lang in langs):
            return ident + plus + variant
    return None


def check_text(text: str, what: str | None = None) -> str:
    """``text`` if it is valid Unicode that encodes as UTF-8, else :class:`InputError` naming
    ``what`` (e.g. ``"--text"`` or a file name).

    Command-line bytes that are not UTF-8 reach Python as lone surrogates (``os.fsdecode``'s
    surrogateescape, e.g. Latin-1 "caf\\xe9"); those, and any other unpaired surrogate, are refused
    here instead of failing deep inside the synthesiser.
    """
    s = str(text)
    try:
        s.encode("utf-8")
    except UnicodeEncodeError as e:
        bad = s[e.start]
        code = ord(bad)
        what_byte = f"byte 0x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else f"code point U+{code:04X}"
        raise InputError(what, f"not valid UTF-8 text ({what_byte} at character {e.start + 1}); "
                               "re-encode it as UTF-8") from None
    return s


def synthesize(text: str, voice: str = "en", rate: int | None = None, pitch: int | None = None) -> Speech:
    """Speak ``text`` with espeak-ng ``voice`` (a language code like "en", "de", "fr", "zh" or a
    voice name); ``rate`` in words per minute (default 160), ``pitch`` 0-99 (default 50).

    Raises:
        InputError: empty text, text that is not valid UTF-8 (lone surrogates from undecodable
            bytes), text too long, unknown voice, espeak-ng missing, nothing spoken.
    """
    if text is not None:
        text = check_text(text)
    if text is None or not str(text).strip():
        raise InputError(None, "empty text: nothing to say")
    if len(text) > MAX_TEXT_CHARS:
        raise InputError(None, f"text too long ({len(text)} characters, max {MAX_TEXT_CHARS}); split it")
    name = resolve_voice(voice)
    if name is None:
        raise InputError(None, f"unknown espeak-ng voice {voice!r} (see `espeak-ng --voices`)")
    with _Espeak._lock:
        speech = _Espeak.get().synth(str(text), name, rate, pitch)
    if speech.samples.size == 0 or float(np.abs(speech.samples).max()) < 1e-4:
        raise InputError(None, f"espeak-ng produced no speech for the text {text[:40]!r}")
    return speech


def write_speech_wav(speech: Speech, path: str | os.PathLike) -> Path:
    """Write the synthesised audio as 16-bit WAV (atomically)."""
    from talkinghead.io.audio import write_wav

    write_wav(path, speech.samples, speech.sr)
    return Path(os.fspath(path))
