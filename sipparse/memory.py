"""Large blocks of memory straight from the kernel and back, so a parse worker's memory stays
flat.

glibc gives a block of at least its mmap threshold a mapping of its own, which ``free``
returns to the kernel. But it raises that threshold to the size of each such block freed
(up to 32 MiB): after the first batch, a batch's buffers of a few MiB (the file's reads,
the packed rows, the pickle) come from the heap, and from the arena of each thread that
allocates them, where a freed block stays resident among the live ones. Fixing the
threshold (``mallopt``) ends the raising. Each batch then pays the page faults of fresh
mappings, so only the parse worker does this, which has time to spare on two cores while
the storing process is the longer side.
"""

from __future__ import annotations

import ctypes
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
