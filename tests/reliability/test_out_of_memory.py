"""A run that cannot allocate a batch (``ulimit -v`` below what it needs) says so in one line.

The limit is found here, not written down: the smallest address-space limit, in steps of
8 MiB, under which a run of a small log succeeds, and one step more. A batch of 31 MiB
cannot be allocated under it, in the storing process or in a parse worker; the run must
then end with one clear line and exit 1, its checkpoints where they were, and the next run
without the limit store what one clean run stores.
"""

from __future__ import annotations

import os
import resource
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.reliability.helpers import (
    Content,
    assert_one_line_error,
    checkpoints,
    child_env,
    cut_at_message,
    ingest_argv,
    ingest_ok,
    make_log,
    reference,
)

STEP = 8 << 20
BATCH = ("--batch-bytes", str(1 << 30))  # the whole appended part in one batch


def _limited(limit: int) -> Callable[[], None]:
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    return apply


def _run_limited(db_url: str, limit: int, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(ingest_argv(db_url, *BATCH, *args), capture_output=True, text=True, timeout=timeout,
                          env=child_env(SIPPARSE_LOCK_DIR=os.environ["SIPPARSE_LOCK_DIR"]),
                          preexec_fn=_limited(limit))


def _smallest_limit_that_runs(tmp_path: Path, workers: str) -> int:
    """The smallest limit (a multiple of ``STEP``) under which a small log is ingested."""
    small = tmp_path / "small"
    small.write_bytes(make_log(20))
    for limit in range(4 * STEP, 64 * STEP, STEP):
        db = tmp_path / f"probe-{limit}.db"
        try:
            if _run_limited(f"sqlite:///{db}", limit, "--workers", workers, str(small), timeout=30).returncode == 0:
                return limit
        except subprocess.TimeoutExpired:
            continue  # starved so far that it did not end (a thread or fork that cannot start): not this limit
    pytest.skip("no address-space limit under 512 MiB lets a small ingest run here")


@pytest.mark.slow
@pytest.mark.parametrize("workers", ["0", "1"])
def test_a_batch_that_cannot_be_allocated_is_one_line_and_moves_no_checkpoint(tmp_path: Path, workers: str) -> None:
    limit = _smallest_limit_that_runs(tmp_path, workers) + STEP
    data = make_log(16000)  # 42 MiB: all but its first quarter is one batch of 31 MiB
    first = cut_at_message(data, 0.25)
    log = tmp_path / "pjsip"
    log.write_bytes(data[:first])
    db_url = f"sqlite:///{tmp_path / 'sip.db'}"
    ingest_ok(db_url, str(log))
    before = checkpoints(db_url)
    log.write_bytes(data)

    starved = _run_limited(db_url, limit, "--workers", workers, str(log))

    line = assert_one_line_error(starved)
    assert "out of memory" in line and "ulimit -v" in line, line
    assert checkpoints(db_url) == before
    ingest_ok(db_url, str(log))
    want, got = reference(tmp_path, {log.name: data}), Content.of(db_url)
    assert (got.messages, got.calls, got.checkpoints) == (want.messages, want.calls, want.checkpoints)
