"""Visible "AI-generated" label (``--label``): a small caption in a translucent box."""
from __future__ import annotations

import cv2
import numpy as np

__all__ = ["draw_label"]


def draw_label(rgb: np.ndarray, text: str = "AI-generated", corner: str = "bottom-right",
               opacity: float = 0.55) -> np.ndarray:
    """Return a copy of the uint8 RGB frame with ``text`` drawn in a translucent dark box.

    The text height is about 3.5 % of the frame's smaller side (at least ~9 px), placed in
    ``corner`` ("bottom-right", "bottom-left", "top-right", "top-left") with a small margin.
    Apply it before the invisible watermark so the watermark covers the label too.
    """
    a = np.asarray(rgb)
    if a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"expected a uint8 RGB image (H, W, 3), got {a.dtype} {a.shape}")
    h, w = a.shape[:2]
    font = cv2.FONT_HERSHEY_SIMPLEX
    target = max(9.0, 0.035 * min(h, w))
    (tw0, th0), _ = cv2.getTextSize(text, font, 1.0, 1)
    scale = target / max(th0, 1)
    thick = max(1, int(round(scale * 1.6)))
    (tw, th), base = cv2.getTextSize(text, font, scale, thick)
    if tw + 8 > w:  # narrow frame: shrink to fit
        scale *= (w - 8) / (tw + 8)
        (tw, th), base = cv2.getTextSize(text, font, scale, thick)
    pad = max(2, int(round(th * 0.35)))
    margin = max(2, int(round(min(h, w) * 0.02)))
    bw, bh = tw + 2 * pad, th + base + 2 * pad
    x0 = margin if "left" in corner else w - margin - bw
    y0 = margin if "top" in corner else h - margin - bh
    x0, y0 = max(0, x0), max(0, y0)
    x1, y1 = min(w, x0 + bw), min(h, y0 + bh)
    out = a.copy()
    roi = out[y0:y1, x0:x1]
    roi[:] = (roi.astype(np.float32) * (1.0 - opacity)).astype(np.uint8)  # darkened box
    cv2.putText(out, text, (x0 + pad, y0 + pad + th), font, scale, (255, 255, 255), thick, cv2.LINE_AA)
    return out
