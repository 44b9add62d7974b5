"""copytruncate under a fast writer: what falls in the window between the last copy and the truncate.

The writer appends numbered lines as fast as it can (O_APPEND, one write per line) while the
log is rotated several times. Each rotation's loss is the gap in numbers between the last
whole line of its copy and the first whole line written after the truncate; lines are never
lost anywhere else. The median is the figure (a rotation preempted inside its window on a
busy machine is an outlier); a naive copy-then-truncate in the same run is the baseline.
"""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from sipparse.rotate import RotateOptions, rotate_paths

ROTATIONS = 8
LINE = re.compile(rb"[0-9]{9} x{80}")
WRITER = r"""
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
n = 0
pad = b"x" * 80
while not os.path.exists(sys.argv[2]):
    for _ in range(200):
        os.write(fd, b"%09d %s\n" % (n, pad))
        n += 1
print(n)
"""


def measure(directory: Path, rotate_once: Callable[[Path, int], str]) -> tuple[int, list[int]]:
    """Run the writer while rotating; return (lines written, lines lost at each rotation)."""
    directory.mkdir()
    log, stop = directory / "pjsip", directory.parent / f"{directory.name}.stop"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(log), str(stop)],
                              stdout=subprocess.PIPE, text=True)
    copies = []
    try:
        _wait_for_size(log, 1 << 20)  # a log of some size, so that copying it takes a while
        for i in range(1, ROTATIONS + 1):
            time.sleep(0.2)
            copies.append(rotate_once(log, i))
    finally:
        stop.touch()
        written = int(writer.communicate(timeout=60)[0])
    files = [*copies, str(log)]
    numbers = [_whole_lines(Path(name)) for name in files]
    for found in numbers:
        assert found == list(range(found[0], found[0] + len(found))), "lines lost inside a file"
    assert numbers[0][0] == 0 and numbers[-1][-1] == written - 1
    return written, [after[0] - before[-1] - 1 for before, after in zip(numbers, numbers[1:], strict=False)]


def _wait_for_size(path: Path, size: int) -> None:
    deadline = time.monotonic() + 20
    while not path.exists() or path.stat().st_size < size:
        assert time.monotonic() < deadline, "the writer did not start"
        time.sleep(0.01)


def _whole_lines(path: Path) -> list[int]:
    """The numbers of the whole lines of a file; a line torn by the truncate is lost."""
    return [int(line[:9]) for line in path.read_bytes().splitlines() if LINE.fullmatch(line)]


def sipparse_copytruncate(log: Path, n: int) -> str:
    options = RotateOptions(copytruncate=True, keep=ROTATIONS + 1, compress=False, ingest=False,
                            dateext=True, now=1_700_000_000.0)
    summary = rotate_paths([str(log)], options)
    assert summary.errors == []
    return str(summary.results[0].rotated_to)


def naive_copytruncate(log: Path, n: int) -> str:
    """What a simple script does: copy the file, then truncate it."""
    target = f"{log}.naive{n}"
    shutil.copyfile(log, target)
    os.truncate(log, 0)
    return target


def test_copytruncate_loses_only_what_the_writer_adds_within_a_few_system_calls(tmp_path: Path) -> None:
    written, lost = measure(tmp_path / "ours", sipparse_copytruncate)
    base_written, base_lost = measure(tmp_path / "naive", naive_copytruncate)
    median, base_median = statistics.median(lost), statistics.median(base_lost)
    print(f"\ncopytruncate under a fast writer: {written} lines written, lost per rotation: "
          f"median {median:g}, "
          f"max {max(lost)}, total {sum(lost)} in {ROTATIONS}; naive copy+truncate: {base_written} written, "
          f"median {base_median:g}, max {max(base_lost)}, total {sum(base_lost)}")
    assert written > 50_000 and min(lost) >= 0
    assert median <= 25
