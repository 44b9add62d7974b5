"""The configuration files of examples/ are valid for the programs that read them.

The rsyslog files are checked by rsyslogd itself (``-N1``) inside Debian's stock
/etc/rsyslog.conf, the way a user installs them (a drop-in must not clash with what the
main file already loads); sipparse.toml by sipparse's own config loader; the shell script by
``sh -n``; and examples/README.md must walk through every file.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from sipparse.config import resolve_settings
from sipparse.rotate import options_from
from tests.integration import rsyslog

DEBIAN_RSYSLOG_CONF = Path("/etc/rsyslog.conf")
STOCK_LOADING = """\
module(load="imuxsock")
module(load="imklog")
$WorkDirectory /var/spool/rsyslog
$IncludeConfig /etc/rsyslog.d/*.conf
"""
RSYSLOG_EXAMPLES = sorted(p.name for p in (rsyslog.EXAMPLES / "rsyslog").glob("*.conf"))


def _debian_main_conf(tmp_path: Path, dropin: Path) -> Path:
    """Debian's /etc/rsyslog.conf with its drop-in directory replaced by the one example."""
    if DEBIAN_RSYSLOG_CONF.exists():
        main = DEBIAN_RSYSLOG_CONF.read_text()
    else:  # the stock file's loading part, for machines without the package's file
        main = STOCK_LOADING
    main = re.sub(r"(?m)^\$IncludeConfig .*$", f"$IncludeConfig {dropin}", main)
    main = re.sub(r"(?m)^\$WorkDirectory .*$", f"$WorkDirectory {tmp_path}", main)
    conf = tmp_path / "rsyslog.conf"
    conf.write_text(main)
    return conf


@pytest.mark.parametrize("name", RSYSLOG_EXAMPLES)
def test_rsyslog_example_is_valid_in_debians_config(name: str, tmp_path: Path) -> None:
    binary = rsyslog.require_rsyslogd()
    dropin = tmp_path / f"10-{name}"
    dropin.write_text((rsyslog.EXAMPLES / "rsyslog" / name).read_text())
    conf = _debian_main_conf(tmp_path, dropin)
    done = subprocess.run([binary, "-N1", "-f", str(conf)], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "error" not in (done.stdout + done.stderr).lower(), done.stdout + done.stderr


def test_there_are_three_rsyslog_examples() -> None:
    assert RSYSLOG_EXAMPLES == ["asterisk-host-imfile.conf", "asterisk-host-syslog.conf", "logserver.conf"]


def test_sipparse_toml_loads_and_points_at_what_the_log_server_writes() -> None:
    path = rsyslog.EXAMPLES / "sipparse" / "sipparse.toml"
    settings = resolve_settings(config_option=str(path), environ={})
    assert settings.db_url.is_mysql and settings.db_url.password is None
    assert settings.db_url.options == {"option_files": "/etc/sipparse/my.cnf"}
    options = options_from(settings.section("rotate"), {})
    assert options.postrotate == "/usr/lib/rsyslog/rsyslog-rotate" and options.keep >= 1
    server = (rsyslog.EXAMPLES / "rsyslog" / "logserver.conf").read_text()
    written = re.findall(r'(?:file|string)="(/var/log/[^"]+)"', server)
    patterns = settings.get("ingest", "paths")
    assert written and all(any(Path(w.replace("%HOSTNAME%", "pbx-a")).match(p) for p in patterns)
                           for w in written), (written, patterns)


def test_my_cnf_has_a_client_password() -> None:
    text = (rsyslog.EXAMPLES / "sipparse" / "my.cnf").read_text()
    assert re.search(r"(?ms)^\[client\]$.*^password = \S+$", text)


def test_ufw_script_is_valid_shell() -> None:
    done = subprocess.run(["sh", "-n", str(rsyslog.EXAMPLES / "firewall" / "ufw.sh")], capture_output=True,
                          text=True, timeout=30)
    assert done.returncode == 0, done.stderr


def test_readme_walks_through_every_example_file() -> None:
    readme = (rsyslog.EXAMPLES / "README.md").read_text()
    files = [p.relative_to(rsyslog.EXAMPLES).as_posix() for p in rsyslog.EXAMPLES.rglob("*")
             if p.is_file() and p.name != "README.md"]
    missing = [name for name in files if f"]({name})" not in readme]
    assert files and not missing, f"examples/README.md does not link {missing}"


def test_imfile_forwarding_never_uses_a_disk_assisted_queue() -> None:
    """A disk-assisted queue reorders lines; line-by-line forwarding must keep their order."""
    text = (rsyslog.EXAMPLES / "rsyslog" / "asterisk-host-imfile.conf").read_text()
    settings = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    assert 'type="omfwd"' in settings and "queue.filename" not in settings
