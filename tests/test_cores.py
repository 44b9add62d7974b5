"""Whether the machine has a core to spare: the load average, confirmed by the cores' idle time."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from sipparse import cores


def test_idle_cores_counts_this_process_s_cores() -> None:
    idle = cores.idle_cores(0.05)
    assert idle is not None
    assert 0.0 <= idle <= cores.usable_cores() + 0.01


def test_a_busy_core_is_not_idle() -> None:
    spin = "import time\nend = time.time() + 3\nwhile time.time() < end: pass"
    spinner = subprocess.Popen([sys.executable, "-c", spin])
    try:
        time.sleep(0.3)  # running
        idle = cores.idle_cores(0.4)
    finally:
        spinner.kill()
        spinner.wait()
    assert idle is not None
    assert idle <= cores.usable_cores() - 0.6


def test_a_low_load_average_is_enough_and_the_cores_are_not_watched(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "getloadavg", lambda: (1.4, 0.0, 0.0))

    def watched(seconds: float) -> float:
        raise AssertionError("the cores were watched")

    monkeypatch.setattr(cores, "idle_cores", watched)
    assert not cores.saturated(2)


@pytest.mark.parametrize(("idle", "want"), [
    (2.0, False),  # the load was a job that has ended: the machine is idle now
    (1.5, False),
    (1.2, True),  # another process keeps a core busy
    (0.1, True),
    (None, True),  # cannot tell: trust the load average
])
def test_a_high_load_average_is_confirmed_by_the_idle_cores(monkeypatch: pytest.MonkeyPatch, idle: float | None,
                                                           want: bool) -> None:
    monkeypatch.setattr(os, "getloadavg", lambda: (2.6, 2.0, 1.0))
    monkeypatch.setattr(cores, "idle_cores", lambda seconds: idle)
    assert cores.saturated(2) is want


def test_without_a_load_average_the_machine_counts_as_free(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_load() -> tuple[float, float, float]:
        raise OSError("no load average")

    monkeypatch.setattr(os, "getloadavg", no_load)
    assert not cores.saturated(2)


def test_without_proc_stat_the_idle_time_is_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cores, "_cpu_times", lambda: None)
    assert cores.idle_cores(0.01) is None
