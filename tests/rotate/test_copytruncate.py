"""copytruncate under a fast writer: what falls in the window between the last copy and the truncate.

The writer appends numbered lines as fast as it can (O_APPEND, one write per line) while the
log is rotated several times; afterwards every line still found anywhere is counted. The
figure is compared with a naive copy-then-truncate run in the same test, as the baseline.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from sipparse.rotate import RotateOptions, rotate_paths
from tests.rotate.helpers import read_any

LINE = re.compile(rb"[0-9]{9} x{80}")
WRITER = r"""
import os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
stop = sys.argv[2]
n = 0
pad = "x" * 80
while not os.path.exists(stop):
    for _ in range(200):
        os.write(fd, b"%09d %s\n" % (n, pad.encode()))
        n += 1
print(n)
"""


def measure(directory: Path, rotate_once: Callable[[Path, int], None], rotations: int = 8,
            seconds: float = 1.6) -> tuple[int, int]:
    """Run the writer while rotating; return (lines written, lines lost)."""
    directory.mkdir()
    log, stop = directory / "pjsip", directory.parent / f"{directory.name}.stop"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(log), str(stop)],
                              stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 10
    while not log.exists() or log.stat().st_size < (1 << 20):  # a log of some size, so copying takes time
        assert time.monotonic() < deadline, "the writer did not start"
        time.sleep(0.01)
    for i in range(rotations):
        time.sleep(seconds / rotations)
        rotate_once(log, i + 1)
    stop.touch()
    written = int(writer.communicate(timeout=30)[0])
    return written, written - len(_numbers_found(directory))


def _numbers_found(directory: Path) -> set[int]:
    """The numbers of the whole lines found; a line torn by the truncate counts as lost."""
    seen: set[int] = set()
    for name in os.listdir(directory):
        for line in read_any(directory / name).splitlines():
            if not LINE.fullmatch(line):
                continue
            number = int(line[:9])
            assert number not in seen, f"line {number} found twice"
            seen.add(number)
    return seen


def sipparse_copytruncate(log: Path, _: int) -> None:
    options = RotateOptions(copytruncate=True, keep=50, compress=False, ingest=False)
    summary = rotate_paths([str(log)], options)
    assert summary.errors == []


def naive_copytruncate(log: Path, n: int) -> None:
    """What a simple script does: copy the file, then truncate it."""
    shutil.copyfile(log, f"{log}.naive{n}")
    os.truncate(log, 0)


def test_copytruncate_loses_at_most_a_few_lines_and_far_fewer_than_a_naive_copy(tmp_path: Path) -> None:
    written, lost = measure(tmp_path / "ours", sipparse_copytruncate)
    base_written, base_lost = measure(tmp_path / "naive", naive_copytruncate)
    per_rotation, base_per_rotation = lost / 8, base_lost / 8
    print(f"\ncopytruncate under a fast writer: {written} lines written, {lost} lost in 8 rotations "
          f"({per_rotation:.1f} per rotation); naive copy+truncate: {base_written} written, {base_lost} lost "
          f"({base_per_rotation:.1f} per rotation)")
    assert lost >= 0 and written > 100_000
    # the window is a few system calls: far below one copy's worth of writes
    assert per_rotation <= max(100.0, base_per_rotation / 3)
