"""A time limit for stdlib ``re`` matching, which has no timeout of its own.

Logstash stops any grok match after ``timeout_millis``. The ``regex`` module takes a
timeout; ``re`` does not, and an expression that ``re`` compiles is not always linear: two
``%{DATA}`` in an unanchored search take cubic time on a long line of spaces. But ``re``'s
matching loop checks for signals, so a ``SIGALRM`` handler that raises stops it. Only the
main thread of a process receives signals; elsewhere (and where there is no ``setitimer``)
the limit is not enforced.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


class TimeLimitExpired(Exception):
    """The work under :func:`time_limit` ran past it."""


def _expire(signum: int, frame: FrameType | None) -> None:
    raise TimeLimitExpired()


def enforceable() -> bool:
    """Whether a limit can be enforced here: a main thread on a system with ``setitimer``."""
    return hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()


@contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Raise :class:`TimeLimitExpired` inside the block once ``seconds`` have passed."""
    if not seconds or not enforceable():
        yield
        return
    previous = signal.signal(signal.SIGALRM, _expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
