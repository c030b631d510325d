"""How many CPU threads torch uses during a job, chosen from the cores this process may run on and the load.

Fits are many small tensor ops. With more torch threads than free cores, every
op's OpenMP barrier waits for a thread that another process has taken off its
core: on 2 cores with two other busy processes a fit ran 10-20x slower than on
a quiet machine, against 2-3x for a fair share. A job therefore runs with at
most as many threads as cores are free (``auto_threads``), and unrender's own
thread pools (the mesh rasteriser's tasks, the k-d tree's ``workers``) size
themselves from ``torch.get_num_threads()``, so they never add threads on top.
"""

from __future__ import annotations

import os
import time
from contextlib import contextmanager
from typing import Iterator

import torch

__all__ = ["usable_cores", "busy_cores", "auto_threads", "check_threads", "using_threads"]


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity where the OS tells it)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def busy_cores(samples: int = 5) -> int:
    """Cores other processes keep busy now: on Linux the median, over ``samples`` readings a
    millisecond apart, of the tasks runnable (``/proc/loadavg``) less this one; elsewhere the
    1-minute load average, rounded. (The load average lags by a minute and counts this process's
    own earlier work, so it is only the fallback.)"""
    try:
        counts = []
        for i in range(samples):
            with open("/proc/loadavg") as fh:
                counts.append(int(fh.read().split()[3].split("/")[0]) - 1)
            if i + 1 < samples:
                time.sleep(0.001)
        return max(0, sorted(counts)[len(counts) // 2])
    except (OSError, IndexError, ValueError):
        pass
    try:
        return max(0, int(os.getloadavg()[0] + 0.5))
    except (AttributeError, OSError):
        return 0


def auto_threads() -> int:
    """Threads for a job: the usable cores less the busy ones (:func:`busy_cores`), at least 1."""
    cores = usable_cores()
    return max(1, min(cores, cores - busy_cores()))


def check_threads(threads) -> int:
    """``threads`` as an int >= 0 (0: :func:`auto_threads`); a ``ValueError`` naming it otherwise."""
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 0:
        raise ValueError(f"threads: expected an int >= 0 (0: auto), found {threads!r}")
    return threads


@contextmanager
def using_threads(threads: int = 0) -> Iterator[int]:
    """Run the block with ``torch.set_num_threads(threads)`` (0: :func:`auto_threads`); the previous
    count is restored afterwards. Yields the count in use."""
    n = check_threads(threads) or auto_threads()
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield n
    finally:
        torch.set_num_threads(before)
