"""How many cores this process may use, and whether the machine already has work for them.

Both ``grok`` (matching blocks of lines) and ``ingest`` (a parse worker ahead of the storing
process) add processes only where a core can run them: on a machine already past saturation,
extra processes add only their own overhead.
"""

from __future__ import annotations

import os


def usable_cores() -> int:
    """The cores this process may run on (its affinity mask, else every core)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def saturated(cores: int) -> bool:
    """Whether the machine's load (one-minute average) already fills ``cores``."""
    try:
        return os.getloadavg()[0] >= cores + 0.5
    except OSError:
        return False
