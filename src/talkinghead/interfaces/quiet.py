"""Keep mediapipe/TFLite C++ start-up chatter off the user's terminal.

Those libraries log straight to file descriptor 2 from C++ (absl, before any log initialisation),
so Python's logging cannot silence them. ``filtered_stderr()`` routes fd 2 through a pipe and
drops only lines that start with their prefixes; everything else passes through unchanged.

Child processes inherit the pipe's write end (a process pool's resource tracker lives until this
process exits), so when fd 2 is handed back the pump drains what is there and stops once the pipe
has been quiet for a moment, rather than waiting for an end-of-file that only our exit would bring.
"""
from __future__ import annotations

import contextlib
import os
import select
import sys
import threading

NOISE = (b"W0000 ", b"I0000 ", b"E0000 ", b"INFO: Created TensorFlow", b"WARNING: All log messages before absl")


def _pump(r: int, out: int, stop: threading.Event | None = None, quiet_s: float = 0.1) -> bool:
    """Copy ``r`` to ``out`` without the noise lines, until end-of-file, or (once ``stop`` is set)
    until nothing has arrived for ``quiet_s``. Returns True at end-of-file."""
    buf, eof = b"", False
    while True:
        if stop is not None and not select.select([r], [], [], quiet_s)[0]:
            if stop.is_set():
                break
            continue
        chunk = os.read(r, 65536)
        if not chunk:
            eof = True
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
    return eof


def _noise_fragment(tail: bytes) -> bool:
    """An unterminated last piece that is noise, or the start of a noise line cut off when fd 2 was
    given back (it would otherwise prefix the next message: "INFO: error: ...")."""
    t = tail.lstrip(b"\r")
    return t.startswith(NOISE) or any(n.startswith(t) for n in NOISE)


@contextlib.contextmanager
def filtered_stderr():
    """fd 2 through the noise filter; Python's own ``sys.stderr`` (errors, warnings, progress bars)
    goes straight to the real stderr. The C++ loggers write a line in pieces from their own threads
    ("INFO: " ... "Created TensorFlow Lite ..."), so a message sharing their pipe could land inside
    a noise line: "INFO: error: ..." passed mangled, "W0000 ...error: ..." was dropped with the
    noise (exit code 2 and no message at all). Lines written to fd 2 itself (C++ messages that are
    not noise, a child's output) pass the filter thread, so they may show after a later Python line."""
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
    stop, eof = threading.Event(), []
    t = threading.Thread(target=lambda: eof.append(_pump(r, saved, stop)), daemon=True)
    t.start()
    python_stderr = sys.stderr
    try:
        sys.stderr = open(os.dup(saved), "w", buffering=1, encoding=python_stderr.encoding or "utf-8",
                          errors="backslashreplace")  # line-buffered, as Python's own stderr
        yield
    finally:
        direct, sys.stderr = sys.stderr, python_stderr
        if direct is not python_stderr:
            # flushed, not closed: a logger set up inside (gradio's, uvicorn's) may still write to it
            # on its way out; its fd is a copy of the real stderr, so that still lands there
            direct.flush()
        sys.stderr.flush()
        os.dup2(saved, fd)  # our last write end: the pump drains and stops (children may hold others)
        stop.set()
        t.join(timeout=5)
        if not t.is_alive():
            os.close(saved)
            if eof == [True]:
                os.close(r)
            # else a child still holds the write end: the read end stays open, so the child's few
            # late bytes wait in the pipe buffer rather than failing with EPIPE
