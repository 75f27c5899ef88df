"""Provenance for every output of every pipeline: watermark each frame, sign each file.

There is deliberately no switch to turn this off (see the README's "Provenance" section).
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

import numpy as np

from talkinghead.provenance import Watermarker, draw_label, new_payload, sign_file


# Per-context settings (contextvars: a thread, e.g. one web-UI request, sees only its own).
_FIXED_OUTPUT_ID: ContextVar[int | None] = ContextVar("talkinghead_fixed_output_id", default=None)
_GENERATION: ContextVar[dict | None] = ContextVar("talkinghead_generation_record", default=None)


@contextmanager
def _scoped(var: ContextVar, value):
    token = var.set(value)
    try:
        yield
    finally:
        var.reset(token)


def fixed_payload_id(output_id: int):
    """Outputs made inside get the payload id ``output_id`` instead of a random one (evals: the static
    pattern differs per id and moves a tracker's reading of faint detail, so figures reproduce only
    with a fixed id). The watermark and the credentials stay on."""
    return _scoped(_FIXED_OUTPUT_ID, int(output_id) & 0xFFFFFFFF)


def generation_record(record: dict):
    """Outputs made inside carry ``record`` (small, JSON-able) in their C2PA manifest, as the
    ``org.talkinghead.generation`` assertion (batch: which job made the file, so a resume can tell a
    changed job from a finished one)."""
    return _scoped(_GENERATION, dict(record))


class Provenance:
    """One per output: ``mark(frame)`` watermarks (and labels) a frame; ``signer(...)`` signs the file."""

    def __init__(self, cfg) -> None:
        self.payload = new_payload(output_id=_FIXED_OUTPUT_ID.get())
        self.wm = Watermarker(self.payload)
        self.label = bool(getattr(cfg, "label", False))
        self.cert = getattr(cfg, "sign_cert", None)
        self.key = getattr(cfg, "sign_key", None)
        record = _GENERATION.get()
        self.record = dict(record) if record else None

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        if self.label:
            frame = draw_label(frame)
        return self.wm.embed(frame)

    def signer(self, ingredients: list, output: str | os.PathLike):
        """The ``finalize`` hook for a writer: C2PA-sign the finished temp file before it is renamed."""
        def finalize(tmp: Path) -> None:
            sign_file(tmp, [Path(i) for i in ingredients if i is not None], title=Path(output).name,
                      cert=self.cert, key=self.key, extra=self.record)
        return finalize
