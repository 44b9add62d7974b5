"""The README's logrotate configuration, run by the real logrotate: no line lost, none twice."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.ingest.helpers import dump, ingest_ok, sipparse_bin
from tests.ingest.siplog import make_log

README = Path(__file__).resolve().parents[2] / "README.md"
LOGROTATE = shutil.which("logrotate") or "/usr/sbin/logrotate"


def readme_config() -> str:
    """The configuration block that follows the README's logrotate example marker."""
    text = README.read_text()
    found = re.search(r"<!-- logrotate example[^>]*-->\n```\n(.*?)```", text, re.DOTALL)
    assert found, "the README's logrotate example is missing"
    return found[1]


def run_logrotate(config: Path, state: Path, db_url: str) -> None:
    env = {**os.environ, "SIPPARSE_DB": db_url, "TZ": "UTC"}
    done = subprocess.run([LOGROTATE, "--force", "--state", str(state), str(config)], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


@pytest.mark.skipif(not os.path.exists(LOGROTATE), reason="logrotate is not installed")
def test_the_readme_logrotate_example_loses_no_line(sqlite_url: str, tmp_path: Path) -> None:
    logs = tmp_path / "asterisk"
    logs.mkdir()
    log = logs / "pjsip"
    program = " ".join(sipparse_bin())
    config = readme_config().replace("/var/log/asterisk/pjsip", str(log))
    config = config.replace("/usr/local/bin/sipparse ingest", f"{program} ingest --tz UTC")
    # no Asterisk here to reopen its log: the writer below reopens by itself
    config = re.sub(r"(postrotate\n).*?\n", r"\1        true\n", config)
    (tmp_path / "pjsip.conf").write_text(config)
    parts = [make_log(3, first=n * 3) for n in range(4)]
    log.write_bytes(parts[0])
    ingest_ok(sqlite_url, str(log))
    for part in parts[1:]:
        with open(log, "ab") as fh:
            fh.write(part[:700])  # written before the rotation; its message ends after it
        run_logrotate(tmp_path / "pjsip.conf", tmp_path / "state", sqlite_url)
        with open(logs / "pjsip.1", "ab") as fh:  # the writer, not reopened yet
            fh.write(part[700:])
        log.write_bytes(b"")
    ingest_ok(sqlite_url, str(log))
    assert sorted(os.listdir(logs)) == ["pjsip", "pjsip.1", "pjsip.2.gz", "pjsip.3.gz"]
    ref = f"sqlite:///{tmp_path / 'ref.db'}"
    (tmp_path / "whole").write_bytes(b"".join(parts))
    ingest_ok(ref, str(tmp_path / "whole"))
    assert dump(sqlite_url) == dump(ref)
