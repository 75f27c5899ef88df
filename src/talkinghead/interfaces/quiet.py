"""Keep mediapipe/TFLite C++ start-up chatter off the user's terminal.

Those libraries log straight to file descriptor 2 from C++ (absl, before any log initialisation),
so Python's logging cannot silence them. ``filtered_stderr()`` routes fd 2 through a pipe and
drops only lines that start with their prefixes; everything else passes through unchanged.
"""
from __future__ import annotations

import contextlib
import os
import sys
import threading

NOISE = (b"W0000 ", b"I0000 ", b"E0000 ", b"INFO: Created TensorFlow", b"WARNING: All log messages before absl")


def _pump(r: int, out: int) -> None:
    buf = b""
    while True:
        chunk = os.read(r, 65536)
        if not chunk:
            break
        buf += chunk
        *lines, buf = buf.split(b"\n")
        keep = [ln + b"\n" for ln in lines if not ln.lstrip(b"\r").startswith(NOISE)]
        if buf and not buf.lstrip(b"\r").startswith(NOISE[0][:1]) and b"\r" in buf:
            keep.append(buf)  # progress bars redraw with \r and no newline: pass them on now
            buf = b""
        if keep:
            os.write(out, b"".join(keep))
    if buf and not _noise_fragment(buf):
        os.write(out, buf)


def _noise_fragment(tail: bytes) -> bool:
    """An unterminated last piece that is noise, or the start of a noise line cut off when fd 2 was
    given back (it would otherwise prefix the next message: "INFO: error: ...")."""
    t = tail.lstrip(b"\r")
    return t.startswith(NOISE) or any(n.startswith(t) for n in NOISE)


@contextlib.contextmanager
def filtered_stderr():
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, ValueError, OSError):
        yield
        return
    sys.stderr.flush()
    saved = os.dup(fd)
    r, w = os.pipe()
    os.dup2(w, fd)
    os.close(w)
    t = threading.Thread(target=_pump, args=(r, saved), daemon=True)
    t.start()
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, fd)  # closes the pipe's last write end: the pump drains and stops
        t.join(timeout=5)
        os.close(r)
        os.close(saved)
