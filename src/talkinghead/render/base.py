"""Renderer interface: every renderer (warp, neural) works on the aligned source crop."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass
class MouthSource:
    """Where a mouth interior can be taken from: a driver frame crop and its landmarks (crop px)."""

    image: np.ndarray  # (S, S, 3) uint8 RGB, driver frame in its own aligned crop
    points: np.ndarray  # (478, 2) float32 driver landmarks in that crop


class Renderer(Protocol):
    def prepare(self, image: np.ndarray, points: np.ndarray) -> None:
        """Set the source: ``image`` (S, S, 3) uint8 RGB crop, ``points`` (478, 2) its landmarks in crop px."""

    def render(self, target: np.ndarray, mouth: MouthSource | None = None) -> np.ndarray:
        """Return the source crop re-posed so its landmarks land on ``target`` (478, 2) crop px."""
