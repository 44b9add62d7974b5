"""The ``calls`` table of real logs does not depend on how their bytes arrived: cut anywhere
and ingested piece by piece, rotated files read in the wrong order, with or without parse
workers, it equals the table of one run over the whole log."""

from __future__ import annotations

import re
import tempfile
from functools import cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sipparse.logs.files import FINGERPRINT_MIN_BYTES
from tests.conftest import SHARED
from tests.ingest.helpers import dump_calls, ingest_ok

LOGS = ("samples/pjsip-full.log", "samples/asterisk-real/full", "samples/pjsip-syslog-markers.log",
        "samples/asterisk-real/rsyslog-fileformat.log")
# the line that starts a message in each of them: its <--- Received/Transmitting ... ---> marker
MESSAGE_START = re.compile(rb"(?m)^.*<--- ")
EXAMPLES = settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])

pytestmark = pytest.mark.skipif(not SHARED.is_dir(), reason="../shared is not beside the checkout")


def _ingest(url: str, *paths: Path, workers: int = 0) -> None:
    ingest_ok(url, "--year", "2026", "--host", "pbx1", "--workers", str(workers), *map(str, paths))


@cache
def one_run(name: str) -> tuple[str, ...]:
    """The calls table of one run over the whole log."""
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/whole.db"
        _ingest(url, SHARED / name)
        return tuple(dump_calls(url))


def _message_starts(data: bytes) -> list[int]:
    """Where messages start that leave both parts long enough to be told apart (shorter
    files wait to grow). Asterisk writes a message at once, so a rotation falls between two."""
    least = FINGERPRINT_MIN_BYTES
    return [m.start() for m in MESSAGE_START.finditer(data) if least <= m.start() <= len(data) - least]


@EXAMPLES
@given(name=st.sampled_from(LOGS), cuts=st.lists(st.floats(0.0, 1.0), max_size=6),
       workers=st.sampled_from([0, 2]))
def test_a_log_cut_anywhere_and_ingested_piece_by_piece(name: str, cuts: list[float], workers: int) -> None:
    data = (SHARED / name).read_bytes()
    ends = sorted({int(c * len(data)) for c in cuts} - {0}) + [len(data)]
    with tempfile.TemporaryDirectory() as tmp:
        url, log = f"sqlite:///{tmp}/pieces.db", Path(tmp) / "pjsip"
        start = 0
        for end in ends:
            with open(log, "ab") as fh:
                fh.write(data[start:end])
            start = end
            _ingest(url, log, workers=workers)
        assert tuple(dump_calls(url)) == one_run(name)


@EXAMPLES
@given(name=st.sampled_from(LOGS), at=st.floats(0.0, 1.0))
def test_a_rotated_file_read_after_the_one_that_followed_it(name: str, at: float) -> None:
    """``pjsip`` ingested before ``pjsip.1``, by two runs (the older file found elsewhere later)."""
    data = (SHARED / name).read_bytes()
    starts = _message_starts(data)
    cut = starts[int(at * (len(starts) - 1))]
    with tempfile.TemporaryDirectory() as tmp:
        older, newer = Path(tmp) / "old" / "pjsip.1", Path(tmp) / "pjsip"
        older.parent.mkdir()
        older.write_bytes(data[:cut])
        newer.write_bytes(data[cut:])
        url = f"sqlite:///{tmp}/rotated.db"
        _ingest(url, newer)
        _ingest(url, older)
        assert tuple(dump_calls(url)) == one_run(name)


def test_pieces_and_the_wrong_order_on_every_backend(db_url: str, tmp_path: Path) -> None:
    name = "samples/asterisk-real/full"
    data = (SHARED / name).read_bytes()
    starts = _message_starts(data)
    cut = starts[len(starts) // 2]
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "pjsip.1").write_bytes(data[:cut])
    log = tmp_path / "pjsip"
    log.write_bytes(data[cut:cut + (len(data) - cut) // 3])
    _ingest(db_url, log, workers=2)
    log.write_bytes(data[cut:])
    _ingest(db_url, log)
    _ingest(db_url, tmp_path / "old" / "pjsip.1", workers=2)
    assert tuple(dump_calls(db_url)) == one_run(name)
