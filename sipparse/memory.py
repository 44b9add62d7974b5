"""Large blocks of memory straight from the kernel, so a parse worker's memory stays flat,
and the buffers of batches kept for the next ones (``Mappings``).

glibc gives a block of at least its mmap threshold a mapping of its own, which ``free``
returns to the kernel. But it raises that threshold to the size of each such block freed
(up to 32 MiB): after the first batch, a batch's buffers of a few MiB (the file's reads,
the packed rows, the pickle) come from the heap, and from the arena of each thread that
allocates them, where a freed block stays resident among the live ones. Fixing the
threshold (``mallopt``) ends the raising. Each batch then pays the page faults of fresh
mappings for the blocks it does not take from ``Mappings``, so only the parse worker does
this, which has time to spare on two cores while the storing process is the longer side.
A process that parses and stores alike does the opposite (``keep_freed_heap``): its CPU
time is the run's, and a batch's blocks serve the next from the heap.
"""

from __future__ import annotations

import ctypes
import mmap
import sys
from typing import Any

M_TRIM_THRESHOLD = -1  # glibc's malloc.h
M_MMAP_THRESHOLD = -3
LARGE_BLOCK_BYTES = 1 << 20
# What ``keep_freed_heap`` sets: blocks under HEAP_BLOCK_BYTES come from the heap, which
# keeps up to HEAP_KEPT_BYTES freed at its top instead of handing them back to the kernel.
HEAP_BLOCK_BYTES = 8 << 20
HEAP_KEPT_BYTES = 16 << 20


def _mallopt() -> Any:
    """The C library's ``mallopt``, or None where there is none (not glibc)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return None
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return mallopt


def map_large_blocks(threshold: int = LARGE_BLOCK_BYTES) -> bool:
    """Have the C library map every block of ``threshold`` bytes or more, for good, in this
    process and the ones it forks. False where the C library has no such setting (not glibc)."""
    mallopt = _mallopt()
    return mallopt is not None and bool(mallopt(M_MMAP_THRESHOLD, threshold))


def keep_freed_heap(block: int = HEAP_BLOCK_BYTES, kept: int = HEAP_KEPT_BYTES) -> bool:
    """Have the C library serve blocks under ``block`` bytes from the heap and keep up to
    ``kept`` bytes freed there for the next ones, in a process that parses and stores alike.

    Each batch reads its 2 MiB of log into a new block and joins it to the carried tail of the
    last in another. glibc's defaults gave them pages new to the process each time (the heap
    was trimmed back after every batch): a page fault and a cleared page for each 4 KiB,
    50,000 of the 70,000 faults of a 256 MiB ingest. Kept, the same pages serve again; the
    process holds at most ``kept`` bytes more. False where the C library has no such setting."""
    mallopt = _mallopt()
    return mallopt is not None and bool(mallopt(M_MMAP_THRESHOLD, block)) and bool(mallopt(M_TRIM_THRESHOLD, kept))


class Mappings:
    """Buffers for batches, the large ones each in a mapping of its own, kept for reuse.

    From the heap, each freed buffer of a few MiB stayed resident in its thread's arena (16 MiB
    more at the peak of a 1 GiB ingest); a new mapping for each batch cost a page fault for
    each of its pages, 130,000 in a 256 MiB ingest on each side of a parse worker's
    handover. So the last ``kept`` mappings are kept, and one that no buffer uses any more (a
    mapping can be resized only then) serves again. A buffer under ``LARGE_BLOCK_BYTES``
    comes from the heap.
    """

    def __init__(self, kept: int) -> None:
        self._kept = kept
        self._mappings: list[mmap.mmap] = []

    def take(self, size: int) -> memoryview:
        """``size`` writable bytes that nothing else uses; what they held is not cleared."""
        if size < LARGE_BLOCK_BYTES:
            return memoryview(bytearray(size))
        for mapping in self._mappings:
            try:
                mapping.resize(max(size, len(mapping)))  # refused while a buffer still uses it
            except (BufferError, OSError, SystemError):  # in use, or no mremap here
                continue
            return memoryview(mapping)[:size]
        mapping = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE)
        self._mappings = [mapping, *self._mappings][: self._kept]
        return memoryview(mapping)[:size]
