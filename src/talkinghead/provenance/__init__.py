"""Provenance of generated media: invisible watermark, C2PA credentials, visible label, verify.

* :class:`Watermarker` / :func:`new_payload` / :func:`detect_watermark` (``watermark``): a keyed,
  always-on invisible watermark in every frame and still, carrying tool, version and a per-output id.
* :func:`sign_file` / :func:`read_credentials` (``credentials``): C2PA manifests ("created" by a
  trained algorithm, with the source photo and driver as ingredients), signed with a local
  identity created on first use or a user-supplied one.
* :func:`draw_label` (``label``): the optional visible "AI-generated" mark.
* :func:`verify_file` (``verify``): watermark + C2PA report for the ``verify`` command.

Nothing here unpickles anything.
"""
from __future__ import annotations

from talkinghead.provenance.credentials import C2paStatus, config_dir, ensure_identity, read_credentials, sign_file
from talkinghead.provenance.label import draw_label
from talkinghead.provenance.verify import VerifyReport, verify_file
from talkinghead.provenance.watermark import (
    MIN_SIDE,
    Watermarker,
    WatermarkPayload,
    WatermarkResult,
    detect_watermark,
    new_payload,
)

__all__ = [
    "MIN_SIDE",
    "C2paStatus",
    "VerifyReport",
    "WatermarkPayload",
    "WatermarkResult",
    "Watermarker",
    "config_dir",
    "detect_watermark",
    "draw_label",
    "ensure_identity",
    "new_payload",
    "read_credentials",
    "sign_file",
    "verify_file",
]
