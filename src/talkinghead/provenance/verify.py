"""``verify``: is a file one of our outputs? Watermark (found / not, payload) + C2PA status."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from talkinghead.errors import TalkingHeadError
from talkinghead.provenance.credentials import C2paStatus, read_credentials
from talkinghead.provenance.watermark import WatermarkResult, detect_watermark

__all__ = ["VerifyReport", "verify_file", "EXIT_OK", "EXIT_NOT_VERIFIED", "EXIT_BAD_INPUT"]

EXIT_OK = 0
"""Every file carries the watermark and a valid (or trusted) C2PA manifest (trusted with --trust)."""
EXIT_NOT_VERIFIED = 1
"""Some file lacks the watermark, or its C2PA manifest is absent or invalid."""
EXIT_BAD_INPUT = 2
"""Some file could not be read (missing, not an image or video, corrupt)."""


@dataclass
class VerifyReport:
    """What :func:`verify_file` found. ``error`` is set (and the rest empty) for bad input."""

    path: str
    kind: str = "unknown"  # "image" | "video" | "unknown"
    watermark: WatermarkResult | None = None
    c2pa: C2paStatus = field(default_factory=lambda: C2paStatus("absent"))
    frames_analysed: int = 0
    error: str | None = None
    require_trusted: bool = False  # roots were named (--trust): a valid but untrusted signature fails

    @property
    def marked(self) -> bool:
        return self.watermark is not None and self.watermark.found

    @property
    def credentials_ok(self) -> bool:
        return self.c2pa.state == "trusted" if self.require_trusted else self.c2pa.ok

    @property
    def ok(self) -> bool:
        """Watermark found and C2PA valid/trusted (trusted, when roots were named)."""
        return self.error is None and self.marked and self.credentials_ok

    @property
    def verdict(self) -> str:
        """VERIFIED | MARKED, CREDENTIALS ... | NOT MARKED | ERROR."""
        if self.error is not None:
            return "ERROR"
        if self.ok:
            return "VERIFIED"
        if self.marked:
            state = "UNTRUSTED" if self.c2pa.ok else {"absent": "MISSING"}.get(self.c2pa.state, self.c2pa.state.upper())
            return f"MARKED, CREDENTIALS {state}"
        return "NOT MARKED"

    @property
    def exit_code(self) -> int:
        if self.error is not None:
            return EXIT_BAD_INPUT
        return EXIT_OK if self.ok else EXIT_NOT_VERIFIED

    def as_dict(self) -> dict:
        d: dict = {"path": self.path, "kind": self.kind, "ok": self.ok, "verdict": self.verdict}
        if self.error is not None:
            d["error"] = self.error
            return d
        d["watermark"] = self.watermark.as_dict() if self.watermark else None
        d["frames_analysed"] = self.frames_analysed
        d["c2pa"] = self.c2pa.as_dict()
        return d

    def describe(self) -> str:
        """One line for humans: the verdict, then what was found."""
        if self.error is not None:
            return f"{self.path}: error: {self.error}"
        w = self.watermark
        if w is None or not w.found:
            wm = f"watermark NOT found (sync score {w.score:.1f}; marks score 7+)" if w else "watermark NOT found"
        else:
            p = w.payload
            who = f"{p['tool']} {p['version']}, id {p['id']}" if p else "payload unreadable"
            wm = f"watermark found (confidence {w.confidence:.4f}; {who})"
        c = self.c2pa
        cs = f"C2PA {c.state}"
        if c.summary.get("generator"):
            cs += f" ({c.summary['generator']})"
        if c.errors:
            cs += ": " + ", ".join(c.errors[:3])
            if any("hash.mismatch" in e.lower() for e in c.errors):
                cs += " (the file changed after it was signed)"
        if self.require_trusted and c.ok and c.state != "trusted":
            cs += " (signed, but not by a --trust root)"
        hint = ""
        if self.marked and not self.credentials_ok and c.state in ("absent", "unsupported", "invalid"):
            hint = " [made by talkinghead; re-encoded, converted or edited since]"
        return f"{self.path}: {self.verdict}: {self.kind}: {wm}; {cs}{hint}"


def _read_frames(p: Path, max_frames: int) -> tuple[str, list[np.ndarray]]:
    from talkinghead.io.image import is_image_path, read_image
    from talkinghead.io.video import VideoReader

    if is_image_path(p):  # by content: a frame grab saved under a video's name is still an image
        from PIL import Image

        with Image.open(p) as im:
            n = getattr(im, "n_frames", 1)
        if n <= 1:
            return "image", [read_image(p)]
        return "video", _gif_frames(p, max_frames)  # animated GIF / multi-page
    frames: list[np.ndarray] = []
    with VideoReader(p) as reader:
        total = reader.info.n_frames or max_frames
        step = max(1, int(total) // max_frames)
        for i, rgb in enumerate(reader):
            if i % step == 0:
                frames.append(rgb)
                if len(frames) >= max_frames:
                    break
    return "video", frames


def _gif_frames(p: Path, max_frames: int) -> list[np.ndarray]:
    from PIL import Image, ImageSequence

    out = []
    with Image.open(p) as im:
        for fr in ImageSequence.Iterator(im):
            out.append(np.asarray(fr.convert("RGB")))
            if len(out) >= max_frames:
                break
    return out


def verify_file(path: str | os.PathLike, trust: list[str | os.PathLike] | None = None,
                max_frames: int = 48) -> VerifyReport:
    """Check the watermark and the C2PA credentials of an image or a video.

    ``trust``: PEM files of roots to trust (default: the local signing identity's root). When given,
    only a manifest that chains to one of them verifies (``valid`` alone is not enough).
    Never raises for bad input: the report's ``error`` says what is wrong.
    """
    from talkinghead.io.atomic import check_input_file

    p = Path(os.fspath(path))
    rep = VerifyReport(str(p), require_trusted=trust is not None)
    try:
        check_input_file(p)
        rep.kind, frames = _read_frames(p, max_frames)
    except TalkingHeadError as e:
        rep.error = e.reason
        return rep
    except (OSError, ValueError) as e:
        rep.error = f"unreadable ({e})"
        return rep
    if not frames:
        rep.error = "no decodable frames"
        return rep
    rep.frames_analysed = len(frames)
    try:
        rep.watermark = detect_watermark(frames)
    except ValueError as e:  # e.g. frames of differing sizes
        rep.error = f"cannot analyse ({e})"
        return rep
    rep.c2pa = read_credentials(p, trust=trust)
    return rep
