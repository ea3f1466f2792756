"""CPU accounting for the benchmarks (Linux /proc): who used the cores during a measured phase.

On a 2-core machine shared with the load generator, PostgreSQL and other people's runs, a ratio
below target is only explained once it is known how many cores the measured process got.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["CpuMeter", "machine_cpu", "self_cpu", "tree_cpu", "tree_threads_cpu"]

_TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int, task: int | None = None) -> list[str] | None:
    path = f"/proc/{pid}/stat" if task is None else f"/proc/{pid}/task/{task}/stat"
    try:
        return Path(path).read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def _tree(pid: int) -> list[int]:
    """``pid`` and its live children (the workers of a supervisor)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat(int(entry.name))
        if fields and (int(entry.name) == pid or int(fields[1]) == pid):
            found.append(int(entry.name))
    return found


def _ticks(fields: list[str] | None) -> int:
    return int(fields[11]) + int(fields[12]) if fields else 0  # utime + stime


def tree_cpu(pid: int) -> float:
    """CPU seconds used so far by ``pid`` and its live children (the workers of a supervisor)."""
    return sum(_ticks(_stat(p)) for p in _tree(pid)) / _TICK


def tree_threads_cpu(pid: int) -> tuple[float, float]:
    """CPU seconds so far of the tree's main threads (the event loops) and of all its other threads
    (identity's: the hashing pool), so that hashing is told apart from the rest of each request."""
    main = other = 0
    for process in _tree(pid):
        try:
            tasks = [int(t.name) for t in Path(f"/proc/{process}/task").iterdir()]
        except OSError:
            continue
        for task in tasks:
            ticks = _ticks(_stat(process, task))
            if task == process:
                main += ticks
            else:
                other += ticks
    return main / _TICK, other / _TICK


def machine_cpu() -> float:
    """CPU seconds the whole machine spent busy so far (all cores, /proc/stat)."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(values[:8]) - values[3] - values[4]) / _TICK


def self_cpu() -> float:
    """CPU seconds of this process (every thread: the load generator)."""
    usage = os.times()
    return usage.user + usage.system


class CpuMeter:
    """Cores used per second of wall time between :meth:`start` and :meth:`stop`, per named pid tree."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids

    def _read(self) -> dict[str, float]:
        return {"generator": self_cpu(), "machine": machine_cpu(), **{n: tree_cpu(p) for n, p in self.pids.items()}}

    def start(self, now: float) -> None:
        self._started, self._before = now, self._read()

    def stop(self, now: float) -> dict[str, float]:
        after, elapsed = self._read(), max(now - self._started, 1e-9)
        used = {name: (after[name] - self._before[name]) / elapsed for name in after}
        used["others"] = max(0.0, used["machine"] - sum(v for k, v in used.items() if k != "machine"))
        return used
