"""StoreThread: items stored in order, in another thread; a failure stops everything after it."""

from __future__ import annotations

import threading
import time

import pytest

from sipparse.store_thread import StoreThread


class Recorder:
    """A store that records what it was given, failing at ``fail_at`` when asked to."""

    def __init__(self, fail_at: int | None = None, delay: float = 0.0) -> None:
        self.stored: list[int] = []
        self.threads: set[str] = set()
        self.fail_at = fail_at
        self.delay = delay

    def __call__(self, item: int) -> None:
        self.threads.add(threading.current_thread().name)
        if self.delay:
            time.sleep(self.delay)
        if item == self.fail_at:
            raise RuntimeError(f"cannot store {item}")
        self.stored.append(item)


def test_everything_put_is_stored_in_order_by_the_time_close_returns() -> None:
    store = Recorder(delay=0.001)
    with StoreThread(store, depth=2) as storing:
        for n in range(50):
            storing.put(n)
    assert store.stored == list(range(50))
    assert store.threads == {"sipparse-store"}


def test_a_failed_write_is_raised_at_the_next_put_and_nothing_later_is_stored() -> None:
    store = Recorder(fail_at=3)
    with pytest.raises(RuntimeError, match="cannot store 3"):
        with StoreThread(store) as storing:
            for n in range(100):
                storing.put(n)
                time.sleep(0.001)
    assert store.stored == [0, 1, 2]


def test_a_failure_of_the_last_write_is_raised_by_close() -> None:
    store = Recorder(fail_at=4)
    storing = StoreThread(store)
    for n in range(5):
        storing.put(n)
    with pytest.raises(RuntimeError, match="cannot store 4"):
        storing.close()
    assert store.stored == [0, 1, 2, 3]


def test_an_error_of_the_caller_drops_what_waits_and_ends_the_thread() -> None:
    store = Recorder(delay=0.05)
    with pytest.raises(KeyError):
        with StoreThread(store, depth=3) as storing:
            for n in range(4):
                storing.put(n)
            raise KeyError("the parser failed")
    assert store.stored == sorted(store.stored)
    assert len(store.stored) < 4  # the item in hand finished; the waiting ones were dropped
    assert not any(t.name == "sipparse-store" for t in threading.enumerate())


def test_put_never_blocks_for_ever_after_a_failure() -> None:
    store = Recorder(fail_at=0)
    storing = StoreThread(store, depth=1)
    storing.put(0)
    deadline = time.monotonic() + 5
    with pytest.raises(RuntimeError):
        while time.monotonic() < deadline:
            storing.put(1)
    storing.close()  # the failure was raised once; close now just ends the thread
    assert store.stored == []


def test_without_background_put_stores_at_once_in_the_callers_thread() -> None:
    store = Recorder(fail_at=2)
    with pytest.raises(RuntimeError, match="cannot store 2"):
        with StoreThread(store, background=False) as storing:
            for n in range(5):
                storing.put(n)
                assert store.stored == list(range(n + 1))
    assert store.stored == [0, 1]
    assert store.threads == {threading.current_thread().name}
