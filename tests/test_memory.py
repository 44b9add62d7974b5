"""Large blocks mapped for good (``sipparse.memory``): a freed batch buffer leaves no trace."""

from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path

import pytest

from sipparse.memory import keep_freed_heap, map_large_blocks

GLIBC = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"

# Allocates and frees a 6 MiB buffer in a thread (as the handover's writing thread does),
# then does it again, and prints how much the resident set grew over the second round.
SCRIPT = """
import sys, threading
from sipparse.memory import map_large_blocks

if sys.argv[1] == "mapped":
    assert map_large_blocks()

def resident():
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * 4096

def batch():
    buffer = bytearray(6 << 20)
    buffer[::4096] = b"x" * len(buffer[::4096])
    del buffer

def in_thread():
    worker = threading.Thread(target=batch)
    worker.start()
    worker.join()

in_thread()
before = resident()
in_thread()
keep = [bytearray(64) for _ in range(1000)]  # small blocks on top of the heap, as a batch leaves
print(resident() - before)
"""


def grown(mode: str) -> int:
    done = subprocess.run([sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True, check=True)
    return int(done.stdout)


@pytest.mark.skipif(not GLIBC, reason="the setting is glibc's")
def test_a_freed_batch_buffer_goes_back_to_the_kernel() -> None:
    assert grown("mapped") < 2 << 20


@pytest.mark.skipif(not GLIBC, reason="the setting is glibc's")
def test_without_it_glibc_keeps_the_second_buffer() -> None:
    """The control: what the setting prevents does happen without it."""
    assert grown("default") >= 4 << 20


def test_it_says_whether_it_took_effect() -> None:
    took = map_large_blocks()
    assert isinstance(took, bool)
    assert took or not GLIBC


# Reads a file in 2 MiB blocks, each joined to the tail of the last, as a one-process ingest
# does, and prints the page faults of the later passes.
READING = """
import resource, sys
from sipparse.memory import keep_freed_heap

if sys.argv[2] == "kept":
    assert keep_freed_heap()

def read_all():
    carry = b""
    with open(sys.argv[1], "rb") as fh:
        while chunk := fh.read(2 << 20):
            buf = carry + chunk
            carry = buf[-100:]
            del buf, chunk

read_all()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(3):
    read_all()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def faults_reading(path: str, mode: str) -> int:
    done = subprocess.run([sys.executable, "-c", READING, path, mode], capture_output=True, text=True, check=True)
    return int(done.stdout)


@pytest.mark.skipif(not GLIBC, reason="the setting is glibc's")
def test_a_freed_heap_serves_the_next_batches_without_new_pages(tmp_path: Path) -> None:
    """Kept, the blocks of one batch's read serve the next; by default each batch's are new
    pages, a fault for each 4 KiB (24 MiB read: some 12,000)."""
    log = tmp_path / "log"
    log.write_bytes(bytes(range(256)) * (32 << 12))  # 8 MiB
    assert faults_reading(str(log), "kept") < faults_reading(str(log), "default") / 4


def test_keeping_the_freed_heap_says_whether_it_took_effect() -> None:
    took = keep_freed_heap()
    assert isinstance(took, bool)
    assert took or not GLIBC
