"""DistinctCount: exact up to its limit, a close estimate above, in bounded memory."""

from __future__ import annotations

import sys

from hypothesis import given
from hypothesis import strategies as st

from sipparse.distinct import DistinctCount


@given(st.lists(st.lists(st.text(max_size=12), max_size=30), max_size=20))
def test_exact_below_the_limit(batches: list[list[str]]) -> None:
    count = DistinctCount(exact_limit=1000)
    for batch in batches:
        count.update(batch)
    assert len(count) == len({v for batch in batches for v in batch})


def test_an_estimate_within_two_per_cent_above_the_limit_whatever_the_repeats() -> None:
    count = DistinctCount(exact_limit=1000)
    for start in range(0, 300_000, 3000):  # batches that overlap: calls spanning batches
        count.update(f"{n:x}-call@10.0.0.{n % 250}" for n in range(max(0, start - 500), start + 3000))
    assert abs(len(count) - 300_000) < 0.02 * 300_000  # five standard errors


def test_memory_stays_bounded_past_the_limit() -> None:
    count = DistinctCount(exact_limit=1000)
    count.update(str(n) for n in range(5000))
    assert count._exact is None and sys.getsizeof(count._registers) < 70_000


def test_crossing_the_limit_keeps_what_was_counted() -> None:
    count = DistinctCount(exact_limit=100)
    count.update(str(n) for n in range(100))
    assert len(count) == 100
    count.update(str(n) for n in range(100, 200))
    assert abs(len(count) - 200) <= 6
