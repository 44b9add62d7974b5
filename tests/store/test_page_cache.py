"""A large ingest's database pages leave the page cache once copied; a small one's stay."""

from __future__ import annotations

import ctypes
import mmap
import os
import time
from collections.abc import Callable
from datetime import datetime

import pytest

import sipparse.store.sqlite as sqlite_store
from sipparse.sip.message import Source
from sipparse.store import open_store
from tests.store.factory import mixed_traffic
from tests.store.helpers import count

SOURCE = Source("/var/log/asterisk/pjsip", "fp-cache")
START = datetime(2025, 2, 1, 18, 32, 31)

pytestmark = pytest.mark.skipif(not hasattr(os, "posix_fadvise"), reason="no posix_fadvise here")


def cached_fraction(path: str) -> float:
    """The share of the file's pages in the page cache, as mincore(2) reports them."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
    libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p]
    libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    size = os.path.getsize(path)
    pages = -(-size // mmap.PAGESIZE)
    fd = os.open(path, os.O_RDONLY)
    try:
        address = libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
        assert address not in (None, ctypes.c_void_p(-1).value), os.strerror(ctypes.get_errno())
        try:
            vector = (ctypes.c_ubyte * pages)()
            assert libc.mincore(address, size, vector) == 0, os.strerror(ctypes.get_errno())
            return sum(byte & 1 for byte in vector) / pages
        finally:
            libc.munmap(address, size)
    finally:
        os.close(fd)


def wait_for(condition: Callable[[], bool], seconds: float = 20) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@pytest.fixture
def droppable(tmp_path) -> None:
    """Skips where the filesystem keeps a file's pages whatever it is told (tmpfs)."""
    probe = tmp_path / "probe"
    probe.write_bytes(os.urandom(1 << 20))
    with open(probe, "rb+") as handle:
        os.fsync(handle.fileno())
    sqlite_store.drop_cached_pages(str(probe))
    if cached_fraction(str(probe)) > 0.5:
        pytest.skip("this filesystem keeps its pages in memory")


def test_drop_cached_pages_leaves_the_file_as_it_was(tmp_path, droppable) -> None:
    path = tmp_path / "data"
    content = os.urandom(3 << 20)
    path.write_bytes(content)
    with open(path, "rb+") as handle:
        os.fsync(handle.fileno())
    assert cached_fraction(str(path)) > 0.9
    sqlite_store.drop_cached_pages(str(path))
    assert cached_fraction(str(path)) < 0.1
    assert path.read_bytes() == content
    sqlite_store.drop_cached_pages(str(tmp_path / "gone"))  # no file: nothing to do, no error


def test_a_large_write_leaves_the_page_cache_once_copied(sqlite_url: str, monkeypatch, droppable) -> None:
    monkeypatch.setattr(sqlite_store, "DROP_CACHE_BYTES", 256 << 10)
    path = sqlite_url.removeprefix("sqlite:///")
    traffic = mixed_traffic(SOURCE, 400, START)
    with open_store(sqlite_url) as store:
        store.write_batch(traffic)
        assert os.path.getsize(path + "-wal") > 1 << 20
        assert wait_for(lambda: cached_fraction(path) < 0.2), cached_fraction(path)
        assert count(store, "sip_transactions") == len(traffic)
        assert store.fetchall("PRAGMA integrity_check") == [{"integrity_check": "ok"}]


def test_a_small_write_keeps_its_pages_cached(sqlite_url: str, droppable) -> None:
    path = sqlite_url.removeprefix("sqlite:///")
    traffic = mixed_traffic(SOURCE, 400, START)
    with open_store(sqlite_url) as store:
        store.write_batch(traffic)
        assert wait_for(lambda: os.path.getsize(path) > 1 << 20)  # copied by the checkpoint thread
        time.sleep(0.5)
        assert cached_fraction(path) > 0.8


def test_dropping_pages_keeps_the_locks_sqlite_holds(sqlite_url: str) -> None:
    """Closing any descriptor of a file drops all of the process's POSIX locks on it. Were the
    drop to close the one it opened, the writer's shared lock would go, and a reader closing
    its connection would take itself for the last one and delete the WAL under the writer."""
    import subprocess
    import sys

    path = sqlite_url.removeprefix("sqlite:///")
    reader = ("import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); "
              "c.execute('SELECT COUNT(*) FROM calls').fetchall(); c.close()")
    first, then = mixed_traffic(SOURCE, 20, START), mixed_traffic(Source(SOURCE.path, "fp-then"), 20, START)
    with open_store(sqlite_url) as store:
        store.write_batch(first)
        for _ in range(2):  # the descriptor kept from the first drop serves the second
            sqlite_store.drop_cached_pages(path)
            subprocess.run([sys.executable, "-c", reader, path], check=True, timeout=60)
            assert os.path.exists(path + "-wal"), "a reader took the WAL away from an open writer"
        store.write_batch(then)
        assert count(store, "sip_transactions") == len(first) + len(then)
        assert store.fetchall("PRAGMA integrity_check") == [{"integrity_check": "ok"}]
