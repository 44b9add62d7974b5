"""Exactly-once under appends: a log cut anywhere and ingested piece by piece equals one run."""

from __future__ import annotations

import random
import re
from datetime import datetime
from pathlib import Path

import pytest

from tests.ingest.helpers import checkpoints, count, dump, execute_raw, ingest_ok, open_db
from tests.ingest.siplog import make_log, message_count
from tests.logs.helpers import DATA
from tests.reliability.helpers import call, entry

CALLS = 12


def grow_and_ingest(db_url: str, path: Path, data: bytes, cuts: list[int]) -> None:
    """Write ``data`` in pieces ending at ``cuts``, ingesting after each piece."""
    previous = 0
    with open(path, "wb") as fh:
        for cut in [*cuts, len(data)]:
            fh.write(data[previous:cut])
            fh.flush()
            previous = cut
            ingest_ok(db_url, str(path))


def reference(tmp_path: Path, data: bytes, sqlite_ref: str) -> list[str]:
    whole = tmp_path / "whole.log"
    whole.write_bytes(data)
    ingest_ok(sqlite_ref, str(whole))
    return dump(sqlite_ref)


@pytest.mark.parametrize("dialect", ["syslog", "full"])
def test_random_cuts_equal_one_run(db_url: str, tmp_path: Path, dialect: str) -> None:
    data = make_log(CALLS, dialect)
    want = reference(tmp_path, data, f"sqlite:///{tmp_path / 'ref.db'}")
    assert len(want) == message_count(CALLS)
    cuts = sorted(random.Random(dialect).sample(range(1, len(data)), 9))
    grow_and_ingest(db_url, tmp_path / "pjsip", data, cuts)
    assert dump(db_url) == want


def _relayed(hosts: tuple[str, str], calls: int) -> bytes:
    """Two hosts' ``pjsip`` files through one central rsyslog: each SIP line its own syslog
    line, Asterisk's marker inside, the hosts' lines merged in a random order."""
    streams = []
    for n, host in enumerate(hosts):
        lines = []
        for k in range(n * 100, n * 100 + calls):
            for direction, msg in call(k):
                lines += entry(direction, msg, datetime(2025, 6, 1, 9, 0, k % 60), "syslog", host=host).splitlines(True)
        streams.append(lines)
    rng, out = random.Random(5), []
    while any(streams):
        out.append(rng.choice([s for s in streams if s]).pop(0))
    return b"".join(out)


def test_interleaved_hosts_cut_anywhere_equal_one_run(db_url: str, tmp_path: Path) -> None:
    """A message read whole whose host's lines run past the checkpoint (another host's message
    began inside it) is read again from its marker, not a second time from its start line."""
    data = _relayed(("pbx-a", "pbx-b"), 6)
    want = reference(tmp_path, data, f"sqlite:///{tmp_path / 'ref.db'}")
    assert len(want) == 2 * 6 * len(call(0))
    # 15000 and 45200 fall where a run ends with such a message behind the checkpoint (the
    # reader before the fix stored one twice from any cut in 14653-15689 or 45030-45363)
    cuts = sorted({15000, 45200, *random.Random(11).sample(range(1, len(data)), 12)})
    grow_and_ingest(db_url, tmp_path / "pjsip", data, cuts)
    assert dump(db_url) == want


def test_cuts_mid_line_mid_message_mid_sdp(db_url: str, tmp_path: Path) -> None:
    data = make_log(4)
    want = reference(tmp_path, data, f"sqlite:///{tmp_path / 'ref.db'}")
    sdp = data.index(b"m=audio")
    line = data.index(b"Call-ID", 2000)
    header = data.index(b"CSeq", 3000)
    blank = data.index(b"#015", 4000)
    cuts = sorted({sdp + 3, line + 4, header - 1, blank + 2, data.index(b"\n\n", 5000) + 1})
    grow_and_ingest(db_url, tmp_path / "pjsip", data, cuts)
    assert dump(db_url) == want


def dump_rejects(db_url: str) -> list[tuple[int, int, str, bytes]]:
    """Where each reject lies, why, and its bytes."""
    store = open_db(db_url)
    try:
        found = store.fetchall("SELECT source_offset, source_end, reason, raw FROM rejects")
    finally:
        store.close()
    return sorted((r["source_offset"], r["source_end"], r["reason"], bytes(r["raw"])) for r in found)


def test_an_entry_whose_marker_no_pattern_reads_cut_anywhere_equals_one_run(db_url: str, tmp_path: Path) -> None:
    """Such an entry is a reject holding the whole entry: a run that finds its marker line
    but not yet the packet after it waits for the rest, as for an entry whose marker is read,
    instead of rejecting the first lines and skipping the others."""
    full = (DATA / "asterisk-real" / "full").read_bytes()
    data = re.sub(rb"\] VERBOSE\[([0-9]+)\]", rb"] VERBOSE(\1)", full)
    whole = tmp_path / "whole.log"
    whole.write_bytes(data)
    ref = f"sqlite:///{tmp_path / 'ref.db'}"
    ingest_ok(ref, str(whole))
    want = dump_rejects(ref)
    assert len(want) == 154
    header = data.index(b"Call-ID: ", 50000)
    cuts = sorted({header, data.index(b"\r\n\r\n", header) + 2, *random.Random(3).sample(range(1, len(data)), 6)})
    grow_and_ingest(db_url, tmp_path / "pjsip", data, cuts)
    assert dump_rejects(db_url) == want


def test_a_run_with_nothing_new_reads_nothing(sqlite_url: str, tmp_path: Path) -> None:
    log = tmp_path / "pjsip"
    log.write_bytes(make_log(3))
    first = ingest_ok(sqlite_url, str(log))
    assert f"{message_count(3)} messages new" in first
    before = checkpoints(sqlite_url)
    again = ingest_ok(sqlite_url, str(log))
    assert again.startswith("0 files, 0 bytes, 0 messages new")
    assert checkpoints(sqlite_url) == before


def test_same_bytes_under_another_name_add_no_rows(db_url: str, tmp_path: Path) -> None:
    data = make_log(3)
    (tmp_path / "pjsip").write_bytes(data)
    (tmp_path / "copy-of-pjsip").write_bytes(data)
    ingest_ok(db_url, str(tmp_path / "pjsip"))
    ingest_ok(db_url, str(tmp_path / "copy-of-pjsip"))
    assert count(db_url) == message_count(3)


def test_lost_checkpoint_reread_adds_no_rows(db_url: str, tmp_path: Path) -> None:
    log = tmp_path / "pjsip"
    log.write_bytes(make_log(3))
    ingest_ok(db_url, str(log))
    want = dump(db_url)
    execute_raw(db_url, "DELETE FROM checkpoints")  # as after restoring an older backup
    out = ingest_ok(db_url, str(log))
    assert f"{message_count(3)} already stored" in out
    assert dump(db_url) == want


def test_parse_workers_give_the_same_rows(db_url: str, tmp_path: Path) -> None:
    data = make_log(CALLS)
    want = reference(tmp_path, data, f"sqlite:///{tmp_path / 'ref.db'}")
    (tmp_path / "pjsip").write_bytes(data[: len(data) // 2])
    (tmp_path / "other").write_bytes(make_log(2, first=100))
    two = [str(tmp_path / "pjsip"), str(tmp_path / "other")]
    ingest_ok(db_url, "--workers", "2", "--batch-bytes", "8192", *two)
    with open(tmp_path / "pjsip", "ab") as fh:
        fh.write(data[len(data) // 2:])
    ingest_ok(db_url, "--workers", "1", "--batch-bytes", "8192", str(tmp_path / "pjsip"))
    got = dump(db_url)
    assert len(got) == len(want) + message_count(2)
    assert set(want) <= set(got)



@pytest.mark.parametrize("final", [False, True])
def test_a_run_reads_what_was_there_when_it_planned(tmp_path: Path, final: bool) -> None:
    """A writer that never pauses cannot keep a run reading: a file that may still grow is
    read up to its planned size (the rest is the next run's); a final one to its end."""
    from sipparse.ingest import planned
    from sipparse.logs import LogParser, ParseOptions
    from sipparse.logs.files import inspect
    from sipparse.sip import Source

    path = tmp_path / "pjsip"
    path.write_bytes(make_log(CALLS, "full"))
    lf = inspect(str(path))
    assert lf is not None
    with open(path, "ab") as fh:
        fh.write(make_log(3, "full", first=CALLS))
    parser = LogParser(Source(str(path), lf.fingerprint or ""), 0, ParseOptions(year=2025, final=final))
    with open(path, "rb") as fh:
        messages = [m for batch in parser.parse(planned(fh, lf, 0, final), batch_bytes=4096) for m in batch.messages]
    assert len(messages) == message_count(CALLS + 3 if final else CALLS)
