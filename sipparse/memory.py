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
"""

from __future__ import annotations

import ctypes
import mmap
import sys

M_MMAP_THRESHOLD = -3  # glibc's malloc.h
LARGE_BLOCK_BYTES = 1 << 20


def map_large_blocks(threshold: int = LARGE_BLOCK_BYTES) -> bool:
    """Have the C library map every block of ``threshold`` bytes or more, for good, in this
    process and the ones it forks. False where the C library has no such setting (not glibc)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, threshold))


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
