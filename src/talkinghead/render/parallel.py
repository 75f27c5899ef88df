"""Render frames in worker processes while the main process drives, watermarks and encodes.

A prepared :class:`~talkinghead.render.warp.WarpRenderer` is a pure function of its per-frame inputs
(target landmarks, driver mouth, scene grid), so frames can be rendered anywhere in any order. The
render is numpy-bound under the GIL, so threads do not help; processes do. Each worker gets a
pickled copy of the prepared renderer once, then frame ``i`` goes to worker ``i % n`` and results
come back in order, with up to ``depth`` frames in flight per worker. Output is bit-identical to
rendering in-process (tested).
"""
from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import traceback
from collections.abc import Iterable, Iterator
from multiprocessing.connection import Connection

import cv2
import numpy as np

AUTO_MAX_WORKERS = 3
AUTO_MIN_FRAMES = 100  # below ~4 s of video a worker's start-up (~1 s) is not repaid


def auto_workers(n_frames: int | None, requested: int | None = None) -> int:
    """Worker processes for a clip of ``n_frames`` (None = unknown length): ``requested`` when given,
    else one per spare core (at most 3) for clips of at least 100 frames, else 0 (in-process).
    Always 0 off POSIX."""
    if os.name != "posix":  # the workers' pipes are passed as POSIX file descriptors
        return 0
    if requested is not None:
        return max(0, int(requested))
    if n_frames is not None and n_frames < AUTO_MIN_FRAMES:
        return 0
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(0, min(AUTO_MAX_WORKERS, cores - 1))


_cv2_lock = threading.Lock()
_cv2_pools = 0  # open pools in this process
_cv2_threads = 0  # OpenCV's thread count before the first of them opened


def _single_threaded_cv2(enter: bool) -> None:
    """OpenCV's thread pool in the parent (watermark, colour conversion) would compete with the
    workers for the cores: one thread while any pool is open, the caller's setting back after the last
    closes (pools may overlap and close in any order). Each worker sets its own to 1."""
    global _cv2_pools, _cv2_threads
    with _cv2_lock:
        if enter:
            if _cv2_pools == 0:
                _cv2_threads = cv2.getNumThreads()
                cv2.setNumThreads(1)
            _cv2_pools += 1
        else:
            _cv2_pools -= 1
            if _cv2_pools == 0:
                cv2.setNumThreads(_cv2_threads)


def _serve(conn: Connection) -> None:
    """Worker loop: receive the renderer, then (target, mouth, scene) jobs until None."""
    try:
        cv2.setNumThreads(1)  # one core each (see RenderWorkers)
        renderer = conn.recv()
        while True:
            job = conn.recv()
            if job is None:
                break
            try:
                conn.send(("ok", renderer.render(*job)))
            except Exception as e:  # noqa: BLE001 - sent back and re-raised in the parent
                conn.send(("error", f"{type(e).__name__}: {e}\n{traceback.format_exc()}"))
    except (EOFError, KeyboardInterrupt, BrokenPipeError):
        pass
    finally:
        conn.close()


class RenderWorkers:
    """``n`` processes each holding a copy of a prepared renderer; :meth:`map` renders in order.

    A reader thread takes every result off the pipes as soon as it is ready, so a worker never
    waits on a full pipe while the parent sends it a large job (a driver's mouth crop): no deadlock.
    Use as a context manager: the workers are stopped on exit.
    """

    def __init__(self, renderer, n: int, depth: int = 2) -> None:
        if n < 1:
            raise ValueError(f"need at least one worker, got {n}")
        self.depth = depth
        self._conns: list[Connection] = []
        self._procs: list[subprocess.Popen] = []
        self._results: queue.Queue = queue.Queue()
        self._reader: threading.Thread | None = None
        self._single = False
        _single_threaded_cv2(True)  # one core per process (restored when the last open pool closes)
        self._single = True
        try:
            for _ in range(n):
                self._start()
                self._conns[-1].send(renderer)
        except BaseException:  # a worker that could not start or died at once: stop the others
            self.close(abort=True)
            raise
        self._reader = threading.Thread(target=self._read, daemon=True, name="talkinghead-render-reader")
        self._reader.start()

    def _start(self) -> None:
        """A fresh interpreter running this module (not multiprocessing: its spawn re-imports the
        caller's ``__main__``, which breaks scripts without a main guard; fork is unsafe next to
        torch/onnxruntime threads). Jobs and results travel on two pipes as pickles."""
        job_r, job_w = os.pipe()
        res_r, res_w = os.pipe()
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p),
                   OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
        try:
            proc = subprocess.Popen([sys.executable, "-m", __name__, str(job_r), str(res_w)], env=env,
                                    pass_fds=(job_r, res_w), stdin=subprocess.DEVNULL,
                                    start_new_session=True)  # a terminal Ctrl-C reaches the parent only
        finally:
            os.close(job_r)
            os.close(res_w)
        self._procs.append(proc)
        self._conns.append(_Duplex(Connection(res_r, writable=False), Connection(job_w, readable=False)))

    def _read(self) -> None:
        """Round-robin: result ``i`` comes from worker ``i % n``; stop at the first closed pipe."""
        n, i = len(self._conns), 0
        while True:
            k = i % n
            try:
                item = self._conns[k].recv()
            except (EOFError, OSError):
                item = ("stopped", f"render worker {k} stopped unexpectedly (exit code {self._procs[k].poll()})")
            self._results.put(item)
            if item[0] != "ok":
                return
            i += 1

    def map(self, jobs: Iterable[tuple]) -> Iterator[np.ndarray]:
        """The renderer's results for ``jobs`` ((target, mouth, scene) tuples), in order."""
        n, pending = len(self._conns), 0
        for i, job in enumerate(jobs):
            self._conns[i % n].send(job)
            pending += 1
            if pending >= n * self.depth:
                pending -= 1
                yield self._next()
        while pending:
            pending -= 1
            yield self._next()

    def _next(self) -> np.ndarray:
        status, value = self._results.get()
        if status == "ok":
            return value
        raise RuntimeError(value if status == "stopped" else f"render worker failed: {value}")

    def close(self, abort: bool = False) -> None:
        """Stop the workers: after the jobs they have (default), or at once (``abort``: an error or
        an interrupt in the caller, whose pending frames nobody wants)."""
        for c in self._conns if not abort else ():
            try:
                c.send(None)  # the worker finishes the jobs it has, then exits
            except OSError:
                pass
        # a reader that stopped on an error no longer drains the pipes: a worker may be stuck sending
        reading = self._reader is not None and self._reader.is_alive()
        timeout = 0.0 if abort else 5.0 if reading else 0.5
        for p in self._procs:
            try:
                p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        if self._reader is not None:
            self._reader.join(timeout=5.0)
        for c in self._conns:
            c.close()
        self._conns, self._procs = [], []
        if self._single:
            self._single = False
            _single_threaded_cv2(False)

    def __enter__(self) -> "RenderWorkers":
        return self

    def __exit__(self, exc_type, *exc) -> None:
        self.close(abort=exc_type is not None)


class _Duplex:
    """One worker's two one-way connections as a single send/recv endpoint."""

    def __init__(self, rx: Connection, tx: Connection) -> None:
        self.rx, self.tx = rx, tx

    def send(self, obj) -> None:
        self.tx.send(obj)

    def recv(self):
        return self.rx.recv()

    def close(self) -> None:
        self.tx.close()
        self.rx.close()


if __name__ == "__main__":  # the worker: python -m talkinghead.render.parallel JOB_FD RESULT_FD
    _serve(_Duplex(Connection(int(sys.argv[1]), writable=False), Connection(int(sys.argv[2]), readable=False)))
