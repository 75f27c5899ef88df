"""Argument types shared by the subcommands (one-line argparse errors, exit code 2)."""
from __future__ import annotations

import argparse

from talkinghead.config import MAX_RENDER_WORKERS, MAX_RESOLUTION, MIN_RESOLUTION


def bounded_float(lo: float, hi: float, what: str = "value"):
    """An argparse ``type`` accepting a number in [lo, hi]."""

    def parse(v: str) -> float:
        try:
            x = float(v)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {v!r}") from None
        if not lo <= x <= hi:
            raise argparse.ArgumentTypeError(f"{what} must be in [{lo:g}, {hi:g}], got {x}")
        return x

    parse.__name__ = what.replace(" ", "_")
    return parse


def _int_at_least(lo: int):
    def parse(v: str) -> int:
        try:
            x = int(v)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {v!r}") from None
        if x < lo:
            raise argparse.ArgumentTypeError(f"must be at least {lo}, got {x}")
        return x

    return parse


def port_number(v: str) -> int:
    """An argparse ``type`` accepting a TCP port (1-65535)."""
    x = _int_at_least(1)(v)
    if x > 65535:
        raise argparse.ArgumentTypeError(f"a port is at most 65535, got {x}")
    return x


positive_int = _int_at_least(1)
"""An argparse ``type`` accepting a whole number >= 1 (frame counts, worker counts)."""
at_least_two = _int_at_least(2)
"""An argparse ``type`` accepting a whole number >= 2 (eval reenact --max-frames: frame 1 is the source)."""
non_negative_int = _int_at_least(0)
"""An argparse ``type`` accepting a whole number >= 0 (step counts)."""


strength = bounded_float(0.0, 3.0, "strength")


def render_workers(v: str) -> int:
    """An argparse ``type`` for --workers: a whole number in [0, MAX_RENDER_WORKERS]."""
    x = _int_at_least(0)(v)
    if x > MAX_RENDER_WORKERS:
        raise argparse.ArgumentTypeError(f"at most {MAX_RENDER_WORKERS} render workers, got {x}")
    return x


def output_resolution(v: str) -> int:
    """An argparse ``type`` for --resolution: 0 or a whole number in [MIN_RESOLUTION, MAX_RESOLUTION]."""
    x = _int_at_least(0)(v)
    if x != 0 and not MIN_RESOLUTION <= x <= MAX_RESOLUTION:
        raise argparse.ArgumentTypeError(f"must be 0 or in [{MIN_RESOLUTION}, {MAX_RESOLUTION}] px, got {x}")
    return x
