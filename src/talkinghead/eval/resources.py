"""Process memory readings shared by the benchmarks."""
from __future__ import annotations

import math
import os
import resource
import threading
import time


def rss_mb(pid: int | str = "self") -> float:
    """Current resident set size of process ``pid`` (default: this one), MB (Linux /proc); NaN when
    it has none (a zombie). Raises OSError when the process is gone."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_pids(pid: int) -> list[int]:
    """Direct children of process ``pid`` (Linux /proc; empty when it is gone)."""
    kids = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                kids += [int(k) for k in f.read().split()]
    except OSError:
        pass
    return kids


def tree_rss_mb() -> float:
    """Current resident set size of this process plus all its descendants (render workers), MB."""
    total, todo = 0.0, [os.getpid()]
    while todo:
        pid = todo.pop()
        try:
            mb = rss_mb(pid)
        except OSError:  # exited meanwhile
            continue
        total += 0.0 if math.isnan(mb) else mb  # a zombie holds no memory
        todo += child_pids(pid)
    return total


class RssSampler(threading.Thread):
    """Samples :func:`tree_rss_mb` every ``period`` s until ``stop`` is set (benchmarks' memory curve)."""

    def __init__(self, period: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.samples: list[float] = []
        self.period, self.stop = period, False

    def run(self) -> None:
        while not self.stop:
            self.samples.append(tree_rss_mb())
            time.sleep(self.period)
