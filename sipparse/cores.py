"""How many cores this process may use, and whether the machine already has work for them.

Both ``grok`` (matching blocks of lines) and ``ingest`` (a parse worker ahead of the storing
process) add processes only where a core can run them: on a machine already past saturation,
extra processes add only their own overhead.
"""

from __future__ import annotations

import os
import time

# How long ``saturated`` watches the cores when the load average says they are busy.
IDLE_SAMPLE_SECONDS = 0.1


def usable_cores() -> int:
    """The cores this process may run on (its affinity mask, else every core)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def saturated(cores: int) -> bool:
    """Whether the machine's load already fills ``cores``.

    The one-minute load average says so first; when it does, a look at what the cores do now
    must confirm it. The average lags by a minute: a run that starts just after another heavy
    job (a previous ingest, a build) would otherwise take that job's load for its own
    neighbours' and run alone on an idle machine.
    """
    try:
        if os.getloadavg()[0] < cores + 0.5:
            return False
    except OSError:
        return False
    idle = idle_cores(IDLE_SAMPLE_SECONDS)
    return idle is None or idle < cores - 0.5


def idle_cores(seconds: float) -> float | None:
    """How many of this process's cores were idle over the next ``seconds`` (Linux's
    ``/proc/stat``), or None where that cannot be read."""
    before = _cpu_times()
    if before is None:
        return None
    time.sleep(seconds)
    after = _cpu_times()
    if after is None:
        return None
    idle = 0.0
    for cpu, (busy_then, idle_then) in before.items():
        if cpu in after:
            busy_now, idle_now = after[cpu]
            total = (busy_now - busy_then) + (idle_now - idle_then)
            idle += (idle_now - idle_then) / total if total > 0 else 1.0
    return idle


def _cpu_times() -> dict[int, tuple[int, int]] | None:
    """(busy, idle) clock ticks of each core this process may run on, since boot."""
    try:
        allowed = os.sched_getaffinity(0)
        with open("/proc/stat", encoding="ascii") as stat:
            lines = stat.read().splitlines()
    except (AttributeError, OSError, UnicodeDecodeError):
        return None
    times: dict[int, tuple[int, int]] = {}
    for line in lines:
        name, _, rest = line.partition(" ")
        if not name.startswith("cpu") or not name[3:].isdigit() or int(name[3:]) not in allowed:
            continue
        ticks = [int(v) for v in rest.split()]
        if len(ticks) < 5:
            return None
        idle = ticks[3] + ticks[4]  # idle and iowait
        # user nice system idle iowait irq softirq steal (guest time is inside user and nice)
        times[int(name[3:])] = (sum(ticks[:8]) - idle, idle)
    return times or None
