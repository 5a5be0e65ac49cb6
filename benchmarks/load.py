"""Is the machine busy? The share of its CPU that other processes use while the benchmark times.

A reading is (busy jiffies of all CPUs, total jiffies of all CPUs, this
process's CPU seconds), from the first line of ``/proc/stat`` and
``resource.getrusage(RUSAGE_SELF)``. Between two readings, the other
processes' share of the machine is the busy CPU time minus this process's own,
over all the CPU time there was. Parsing and arithmetic take the readings as
arguments, so tests can feed made-up ones; off Linux the readings are None and
so is every number.
"""

from __future__ import annotations

import os
import time
from typing import NamedTuple

IDLE_FIELDS = (3, 4)  # idle, iowait (0-based among the cpu line's numbers)
COUNTED_FIELDS = 8  # user nice system idle iowait irq softirq steal (guest time is already in user)


class CpuReading(NamedTuple):
    """One sample: jiffies of all CPUs since boot (busy, total), and this process's CPU seconds."""

    busy: int
    total: int
    self_seconds: float


def parse_proc_stat(text: str) -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs from the text of ``/proc/stat``.

    Args:
        text: the file's contents; its first line is ``cpu  user nice system idle iowait ...``.

    Returns:
        (busy, total): total counts the first eight fields, busy those less idle and iowait.

    Raises:
        ValueError: the text has no aggregate ``cpu`` line.
    """
    for line in text.splitlines():
        parts = line.split()
        if parts and parts[0] == "cpu":
            values = [int(value) for value in parts[1 : 1 + COUNTED_FIELDS]]
            total = sum(values)
            return total - sum(values[i] for i in IDLE_FIELDS if i < len(values)), total
    raise ValueError("no aggregate 'cpu' line in /proc/stat")


def read_cpu() -> CpuReading | None:
    """The current reading, or None where there is no ``/proc/stat`` (not Linux)."""
    try:
        import resource

        with open("/proc/stat", encoding="ascii") as handle:
            busy, total = parse_proc_stat(handle.read())
        usage = resource.getrusage(resource.RUSAGE_SELF)
    except (OSError, ValueError, ImportError):
        return None
    return CpuReading(busy, total, usage.ru_utime + usage.ru_stime)


def clock_ticks() -> int:
    """Jiffies per second (``SC_CLK_TCK``, usually 100)."""
    try:
        return int(os.sysconf("SC_CLK_TCK"))
    except (AttributeError, ValueError, OSError):
        return 100


def other_cpu_fraction(
    before: CpuReading | None, after: CpuReading | None, ticks: int = 100
) -> float | None:
    """Share of the machine's CPU time between two readings that other processes used.

    Args:
        before, after: readings (`read_cpu`); None (no /proc) gives None.
        ticks: jiffies per second (`clock_ticks`).

    Returns:
        A fraction in [0, 1] (1 = every core busy with other work), or None.
    """
    if before is None or after is None:
        return None
    total = (after.total - before.total) / ticks
    if total <= 0:
        return None
    busy = (after.busy - before.busy) / ticks
    own = after.self_seconds - before.self_seconds
    return min(1.0, max(0.0, (busy - own) / total))


def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages; None where the platform has none."""
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def sample_other_load(seconds: float = 2.0, reader=read_cpu, sleep=time.sleep) -> float | None:
    """Other processes' share of the CPU over `seconds` of this process sleeping."""
    before = reader()
    sleep(seconds)
    return other_cpu_fraction(before, reader(), clock_ticks())


class LoadMonitor:
    """Load averages and other processes' CPU share over a timing window.

    Args:
        max_other: above this share the machine counts as busy.
        precheck: the share sampled before timing (`sample_other_load`), or None.
        reader: the reading function (`read_cpu`; tests pass fake readings).

    Example:
    >>> monitor = LoadMonitor(0.15, precheck=0.02)  # doctest: +SKIP
    >>> with monitor:  # doctest: +SKIP
    ...     time_things()
    >>> monitor.summary()["busy"]  # doctest: +SKIP
    """

    def __init__(self, max_other: float, precheck: float | None = None, reader=read_cpu):
        self.max_other = max_other
        self.precheck = precheck
        self.reader = reader
        self.before = self.after = None
        self.start = self.end = None

    def __enter__(self) -> LoadMonitor:
        self.before = load_average()
        self.start = self.reader()
        return self

    def __exit__(self, *exc) -> None:
        self.end = self.reader()
        self.after = load_average()

    def summary(self) -> dict:
        """``before``/``after`` (load averages), ``cpu_count``, ``precheck_other_cpu_fraction``,
        ``other_cpu_fraction`` (during the timing), ``max_other_load`` and ``busy``."""
        during = other_cpu_fraction(self.start, self.end, clock_ticks())
        shares = [share for share in (self.precheck, during) if share is not None]
        return {
            "before": self.before,
            "after": self.after,
            "cpu_count": os.cpu_count(),
            "precheck_other_cpu_fraction": self.precheck,
            "other_cpu_fraction": during,
            "max_other_load": self.max_other,
            "busy": any(share > self.max_other for share in shares) if shares else None,
        }
