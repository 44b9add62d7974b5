"""The README's logrotate configuration, run by the real logrotate: no line lost, none twice."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from sipparse.cli import cli
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


needs_logrotate = pytest.mark.skipif(not os.path.exists(LOGROTATE), reason="logrotate is not installed")


def readme_config_for(log: Path, extra: str = "") -> str:
    """The README's configuration for ``log``, this checkout's sipparse, ``extra`` directives,
    and no Asterisk to reopen the log: the writer of ``rotate_rounds`` reopens by itself."""
    program = " ".join(sipparse_bin())
    config = readme_config().replace("/var/log/asterisk/pjsip", str(log))
    config = config.replace("/usr/local/bin/sipparse ingest", f"{program} ingest --tz UTC")
    config = re.sub(r"(postrotate\n).*?\n", r"\1        true\n", config)
    return config.replace("    daily\n", f"    daily\n{extra}")


def rotate_rounds(tmp_path: Path, log: Path, config: str, db_url: str, *paths: str) -> list[bytes]:
    """Three rotations by logrotate of a log a writer appends to, each ending a message after
    the rename (in the generation it still has open); then one last ingest. The log's parts."""
    (tmp_path / "logrotate.conf").write_text(config)
    parts = [make_log(3, first=n * 3) for n in range(4)]
    log.write_bytes(parts[0])
    ingest_ok(db_url, *paths)
    for part in parts[1:]:
        time.sleep(1.1)  # a dateformat of seconds names each rotation apart
        with open(log, "ab") as writer:
            writer.write(part[:700])
            writer.flush()
            run_logrotate(tmp_path / "logrotate.conf", tmp_path / "state", db_url)
            writer.write(part[700:])  # not reopened yet: into the rotated generation
        log.touch()  # reopened
    ingest_ok(db_url, *paths)
    return parts


def stored_once(tmp_path: Path, db_url: str, parts: list[bytes]) -> bool:
    ref = f"sqlite:///{tmp_path / 'ref.db'}"
    (tmp_path / "whole").write_bytes(b"".join(parts))
    ingest_ok(ref, str(tmp_path / "whole"))
    return dump(db_url) == dump(ref)


@needs_logrotate
@pytest.mark.parametrize(("name", "extra", "generations"), [
    ("pjsip", "", {"pjsip.1", "pjsip.2.gz", "pjsip.3.gz"}),
    ("pjsip", "    dateext\n    dateformat -%Y%m%d-%s\n", None),
    ("pjsip.log", "    extension .log\n", {"pjsip.1.log", "pjsip.2.log.gz", "pjsip.3.log.gz"}),
    ("pjsip", "    compresscmd /usr/bin/bzip2\n    compressext .bz2\n", {"pjsip.1", "pjsip.2.bz2", "pjsip.3.bz2"}),
    ("pjsip", "    compresscmd /usr/bin/xz\n    compressext .xz\n", {"pjsip.1", "pjsip.2.xz", "pjsip.3.xz"}),
], ids=["numbered", "dateext", "extension", "bzip2", "xz"])
def test_logrotate_s_generations_are_finished(sqlite_url: str, tmp_path: Path, name: str, extra: str,
                                              generations: set[str] | None) -> None:
    tool = re.search(r"compresscmd (\S+)", extra)
    if tool and not os.path.exists(tool[1]):
        pytest.skip(f"{tool[1]} is not installed")
    logs = tmp_path / "asterisk"
    logs.mkdir()
    log = logs / name
    parts = rotate_rounds(tmp_path, log, readme_config_for(log, extra), sqlite_url, str(log))
    made = set(os.listdir(logs)) - {name}
    assert len(made) == 3 and (generations is None or made == generations), made
    assert stored_once(tmp_path, sqlite_url, parts)


@needs_logrotate
def test_generations_logrotate_moves_to_olddir_are_finished_when_named(sqlite_url: str, tmp_path: Path) -> None:
    """``olddir`` moves each generation out of the log's directory, where ingest does not look
    for them: named by a glob of their own, they are finished all the same."""
    logs = tmp_path / "asterisk"
    (logs / "old").mkdir(parents=True)
    log = logs / "pjsip"
    config = readme_config_for(log, f"    olddir {logs / 'old'}\n")
    parts = rotate_rounds(tmp_path, log, config, sqlite_url, str(log), str(logs / "old" / "pjsip*"))
    assert sorted(os.listdir(logs / "old")) == ["pjsip.1", "pjsip.2.gz", "pjsip.3.gz"]
    assert stored_once(tmp_path, sqlite_url, parts)


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


@needs_logrotate
@pytest.mark.parametrize("tool", ["bzip2", "xz"])
def test_sipparse_rotate_taking_over_prunes_what_logrotate_left(sqlite_url: str, tmp_path: Path, tool: str) -> None:
    """An admin moving from logrotate (``compresscmd bzip2`` or ``xz``) to `sipparse rotate`:
    the generations left count for ``--keep`` (oldest gone first), and no line is lost."""
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed")
    logs = tmp_path / "asterisk"
    logs.mkdir()
    log = logs / "pjsip"
    extension = ".bz2" if tool == "bzip2" else ".xz"
    extra = f"    compresscmd {shutil.which(tool)}\n    compressext {extension}\n"
    parts = rotate_rounds(tmp_path, log, readme_config_for(log, extra), sqlite_url, str(log))
    assert sorted(os.listdir(logs)) == ["pjsip", "pjsip.1", f"pjsip.2{extension}", f"pjsip.3{extension}"]
    last = make_log(3, first=40)
    log.write_bytes(last)
    result = CliRunner().invoke(cli, ["--db", sqlite_url, "rotate", "--tz", "UTC", "--keep", "2", str(log)])
    assert result.exit_code == 0, (result.output, result.exception)
    assert sorted(os.listdir(logs)) == ["pjsip", "pjsip.1", "pjsip.2.gz"]
    assert stored_once(tmp_path, sqlite_url, [*parts, last])
