"""The pipe between a forked parse worker and the storing process (``sipparse.handover``)."""

from __future__ import annotations

import mmap
import multiprocessing
import os
import pickle
import signal
import time
from typing import Any

import pytest

from sipparse.handover import Handover
from sipparse.store.sqlite import BINDER, PackedRows
from tests.store.helpers import pack

FORK = multiprocessing.get_context("fork")


def packed(count: int, seed: int) -> PackedRows:
    rows = [(f"call-{seed}-{n}", n, None, b"raw\x00" * n, 2.5) for n in range(count)]
    if BINDER is None:
        pytest.skip("the C binder is not built")
    return PackedRows(pack(rows), count, 5)


def run_worker(handover: Handover, items: list[Any], then: str = "close") -> Any:
    """A forked process putting ``items``; ``then`` says how it ends."""

    def work() -> None:
        for item in items:
            handover.put(item)
        if then == "close":
            handover.close()
        elif then == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        os._exit(0)  # without close: what was handed over may not all be written

    process = FORK.Process(target=work, daemon=True)
    process.start()
    handover.parent_side()
    return process


def test_items_arrive_in_order_and_packed_rows_whole() -> None:
    handover = Handover(FORK)
    sent = [packed(3, 1), {"calls": [1, 2]}, None, packed(2000, 2), "last"]
    process = run_worker(handover, sent)
    got = [handover.get() for _ in sent]
    process.join()
    assert got == sent
    assert got[0].tuples() == sent[0].tuples() and got[3].tuples() == sent[3].tuples()
    # a large buffer arrives in a mapping of its own, which goes back to the kernel with it
    assert isinstance(got[3].data.obj, mmap.mmap) and isinstance(got[0].data.obj, bytearray)
    with pytest.raises(EOFError):  # the worker closed its end: no wait
        handover.get()
    handover.close_reader()


def test_mappings_of_stored_batches_serve_again_and_never_one_still_in_use() -> None:
    handover = Handover(FORK)
    sent = [packed(count, n) for n, count in enumerate((3000, 2000, 4000, 1500, 3500, 2500, 3000))]
    process = run_worker(handover, sent)
    held = handover.get()  # kept all along: its mapping must not serve another batch
    mappings = [held.data.obj]
    for expected in sent[1:]:
        got = handover.get()
        assert got.tuples() == expected.tuples()
        mappings.append(got.data.obj)
        del got  # stored: its mapping may serve again
    process.join()
    assert held.tuples() == sent[0].tuples()
    assert all(isinstance(m, mmap.mmap) for m in mappings)
    assert len({id(m) for m in mappings}) <= 1 + 3  # the held one, and the few kept in turn
    handover.close_reader()


def test_a_killed_worker_ends_the_reading() -> None:
    handover = Handover(FORK)
    process = run_worker(handover, [packed(50, 3)] * 4, then="kill")
    started = time.monotonic()
    with pytest.raises(EOFError):
        while True:
            handover.get()
    process.join()
    assert time.monotonic() - started < 30
    handover.close_reader()


def test_qsize_counts_what_was_handed_over_and_not_taken() -> None:
    handover = Handover(FORK)
    process = run_worker(handover, ["a", "b", "c"])
    process.join()
    assert handover.qsize() == 3
    assert handover.get() == "a"
    assert handover.qsize() == 2
    handover.get(), handover.get()
    assert handover.qsize() == 0
    handover.close_reader()


def test_waited_is_what_get_spent_waiting_and_the_worker_sees_it() -> None:
    """The worker judges from it whether the storing process is the idle side."""
    handover = Handover(FORK)
    seen = FORK.RawValue("d", -1.0)

    def work() -> None:
        time.sleep(0.5)  # the storing process waits meanwhile
        handover.put("a")
        while handover.qsize():  # taken: ``get`` has counted its wait
            time.sleep(0.01)
        seen.value = handover.waited()
        handover.close()
        os._exit(0)

    process = FORK.Process(target=work, daemon=True)
    process.start()
    handover.parent_side()
    assert handover.waited() == 0.0
    assert handover.get() == "a"
    assert 0.3 < handover.waited() < 30
    process.join(timeout=30)
    assert seen.value == handover.waited()
    handover.close_reader()


def test_a_worker_whose_reader_is_gone_still_ends() -> None:
    handover = Handover(FORK)
    big = [packed(3000, n) for n in range(4)]  # far more than a pipe holds
    process = run_worker(handover, big)
    handover.close_reader()  # nobody reads: the writes fail, the worker must not hang
    process.join(timeout=30)
    assert process.exitcode == 0


def test_the_next_batch_is_received_while_the_storing_process_is_busy() -> None:
    """A batch far larger than the socket holds crosses before the first ``get``: the storing
    process receives one batch ahead while it stores the one before, and no more."""
    handover = Handover(FORK)
    big = [packed(3000, n) for n in range(3)]
    process = run_worker(handover, big[:1])
    process.join(timeout=30)
    assert process.exitcode == 0  # its write went through with nobody calling get
    assert handover.qsize() == 1  # received is not taken: the worker still sees it waiting
    assert handover.get() == big[0]
    with pytest.raises(EOFError):
        handover.get()
    with pytest.raises(EOFError):  # and again: the end is not forgotten
        handover.get()
    handover.close_reader()

    handover = Handover(FORK)
    process = run_worker(handover, big)
    process.join(timeout=2)
    assert process.is_alive()  # one batch received ahead, the next waits in the worker
    assert [handover.get() for _ in big] == big
    process.join(timeout=30)
    assert process.exitcode == 0
    handover.close_reader()


def test_closing_while_a_received_batch_waits_to_be_taken_is_prompt() -> None:
    handover = Handover(FORK)
    process = run_worker(handover, [packed(3000, n) for n in range(4)])
    time.sleep(0.5)  # one batch waits to be taken, the next is held by the receiving thread
    started = time.monotonic()
    handover.close_reader()
    assert time.monotonic() - started < 5
    process.join(timeout=30)
    assert process.exitcode == 0


def test_an_item_that_cannot_be_pickled_ends_the_reading() -> None:
    handover = Handover(FORK)
    process = run_worker(handover, ["first", lambda: None, "never"])
    assert handover.get() == "first"
    with pytest.raises(EOFError):  # not "never": a batch is never skipped
        handover.get()
    process.join(timeout=30)
    assert process.exitcode == 0
    handover.close_reader()


def test_packed_rows_pickle_in_band_as_ever() -> None:
    rows = packed(10, 4)
    for protocol in range(2, pickle.HIGHEST_PROTOCOL + 1):
        again = pickle.loads(pickle.dumps(rows, protocol=protocol))
        assert again == rows and type(again.data) is bytes
