"""Provenance for every output of every pipeline: watermark each frame, sign each file.

There is deliberately no switch to turn this off (see the README's "Provenance" section).
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from talkinghead.provenance import Watermarker, draw_label, new_payload, sign_file


_FIXED_OUTPUT_ID: int | None = None


@contextmanager
def fixed_payload_id(output_id: int):
    """Outputs made inside get the payload id ``output_id`` instead of a random one (evals: the static
    pattern differs per id and moves a tracker's reading of faint detail, so figures reproduce only
    with a fixed id). The watermark and the credentials stay on."""
    global _FIXED_OUTPUT_ID
    previous, _FIXED_OUTPUT_ID = _FIXED_OUTPUT_ID, int(output_id) & 0xFFFFFFFF
    try:
        yield
    finally:
        _FIXED_OUTPUT_ID = previous


_GENERATION: dict | None = None


@contextmanager
def generation_record(record: dict):
    """Outputs made inside carry ``record`` (small, JSON-able) in their C2PA manifest, as the
    ``org.talkinghead.generation`` assertion (batch: which job made the file, so a resume can tell a
    changed job from a finished one)."""
    global _GENERATION
    previous, _GENERATION = _GENERATION, dict(record)
    try:
        yield
    finally:
        _GENERATION = previous


class Provenance:
    """One per output: ``mark(frame)`` watermarks (and labels) a frame; ``signer(...)`` signs the file."""

    def __init__(self, cfg) -> None:
        self.payload = new_payload(output_id=_FIXED_OUTPUT_ID)
        self.wm = Watermarker(self.payload)
        self.label = bool(getattr(cfg, "label", False))
        self.cert = getattr(cfg, "sign_cert", None)
        self.key = getattr(cfg, "sign_key", None)
        self.record = dict(_GENERATION) if _GENERATION else None

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
