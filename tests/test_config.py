"""Settings resolution and database URLs."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from sipparse.cli import cli
from sipparse.config import parse_db_url, resolve_settings
from sipparse.errors import ConfigError


def test_sqlite_relative_and_absolute() -> None:
    assert parse_db_url("sqlite:///rel/x.db").path == "rel/x.db"
    assert parse_db_url("sqlite:////abs/x.db").path == "/abs/x.db"


def test_mysql_url_parts() -> None:
    url = parse_db_url("mysql://bob:s%40cret@db.example:3307/sip?option_files=/etc/my.cnf")
    assert (url.user, url.password, url.host, url.port, url.database) == ("bob", "s@cret", "db.example", 3307, "sip")
    assert url.options == {"option_files": "/etc/my.cnf"}
    assert "s@cret" not in url.redacted() and "s@cret" not in repr(url)


@pytest.mark.parametrize("url", [
    "mysql://sip:p/s?s#w@rd@db.example:3307/sip?unix_socket=/run/a@b/mysqld.sock",
    "mysql://sip:p%2Fs%3Fs%23w%40rd@db.example:3307/sip?unix_socket=/run/a@b/mysqld.sock",
])
def test_a_password_with_url_delimiters_is_read_whole_encoded_or_not(url: str) -> None:
    """A generated password holds any of / ? # @: percent-encoded as RFC 3986 wants, or as
    typed (the host, port and database after the last @ of the user part say where it ends)."""
    parsed = parse_db_url(url)
    assert (parsed.user, parsed.password, parsed.host, parsed.port, parsed.database) == (
        "sip", "p/s?s#w@rd", "db.example", 3307, "sip")
    assert parsed.options == {"unix_socket": "/run/a@b/mysqld.sock"}
    no_user = parse_db_url("mysql://db.example/sip?option_files=/home/a@b/my.cnf")
    assert (no_user.user, no_user.host, no_user.options) == (None, "db.example", {"option_files": "/home/a@b/my.cnf"})


@pytest.mark.parametrize("bad", ["nonsense", "sqlite://", "sqlite:/x.db", "mysql://host-only", "mysql://h:notaport/db",
                                 "mysql://u@h/db?evil=1"])
def test_bad_urls_are_one_line_config_errors(bad: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_db_url(bad)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(("path", "url"), [("/var/lib/sip.db", "sqlite:////var/lib/sip.db"),
                                           ("sip.db", "sqlite:///sip.db")])
def test_a_bare_path_is_refused_with_the_url_that_names_it(path: str, url: str) -> None:
    with pytest.raises(ConfigError, match=f"for the SQLite file {path}: {url}"):
        parse_db_url(path)


def test_unknown_scheme() -> None:
    with pytest.raises(ConfigError, match="unknown database scheme 'postgres'"):
        parse_db_url("postgres://u:pw@h/db")


def test_password_hidden_in_errors() -> None:
    with pytest.raises(ConfigError) as err:
        parse_db_url("mysql://u:topsecret@h:xx/db")
    assert "topsecret" not in str(err.value)


def test_mysql_timeouts_from_the_url_or_else_the_config_file(tmp_path: Path) -> None:
    conf = tmp_path / "c.toml"
    conf.write_text('[database]\nread_timeout = 60\nwrite_timeout = 0\n')
    env = {"SIPPARSE_CONFIG": str(conf)}
    from_file = resolve_settings("mysql://bob@h/db", environ=env).db_url.options
    assert from_file == {"read_timeout": "60", "write_timeout": "0"}
    from_url = resolve_settings("mysql://bob@h/db?read_timeout=5", environ=env).db_url.options
    assert from_url == {"read_timeout": "5", "write_timeout": "0"}


@pytest.mark.parametrize(("url", "config", "says"), [
    ("mysql://u@h/db?read_timeout=ten", "", "bad read_timeout 'ten' in MySQL URL"),
    ("mysql://u@h/db?write_timeout=-1", "", "bad write_timeout '-1' in MySQL URL"),
    ("mysql://u@h/db", "read_timeout = -5", "[database] read_timeout must be 0 or more seconds"),
    ("mysql://u@h/db", 'read_timeout = "30"', "[database] read_timeout must be an integer"),
])
def test_bad_mysql_timeouts_are_one_line(tmp_path: Path, url: str, config: str, says: str) -> None:
    conf = tmp_path / "c.toml"
    conf.write_text(f"[database]\n{config}\n")
    with pytest.raises(ConfigError) as err:
        resolve_settings(url, config_option=str(conf), environ={})
    assert says in str(err.value) and "\n" not in str(err.value)


def test_resolution_order(tmp_path: Path) -> None:
    conf = tmp_path / "c.toml"
    conf.write_text('[database]\nurl = "sqlite:///from-config.db"\n')
    env = {"SIPPARSE_CONFIG": str(conf)}
    assert resolve_settings(environ=env).db_url.path == str(tmp_path / "from-config.db")
    env["SIPPARSE_DB"] = "sqlite:///from-env.db"
    assert resolve_settings(environ=env).db_url.path == "from-env.db"
    assert resolve_settings("sqlite:///from-option.db", environ=env).db_url.path == "from-option.db"


def test_default_is_embedded_sqlite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sipparse.config.DEFAULT_CONFIG_FILE", tmp_path / "absent.toml")
    monkeypatch.setattr("sipparse.config.find_config_file.__defaults__", (tmp_path / "absent.toml",))
    settings = resolve_settings(environ={"XDG_DATA_HOME": str(tmp_path)})
    assert settings.config_path is None
    assert settings.db_url.path == str(tmp_path / "sipparse" / "sipparse.db")


def test_system_config_file_used_when_present(tmp_path: Path) -> None:
    from sipparse.config import find_config_file

    system = tmp_path / "sipparse.toml"
    assert find_config_file(None, {}, system) is None
    system.write_text("")
    assert find_config_file(None, {}, system) == system
    assert find_config_file(None, {"SIPPARSE_CONFIG": "/x.toml"}, system) == Path("/x.toml")


def test_password_from_environment() -> None:
    env = {"SIPPARSE_DB": "mysql://bob@h/db", "SIPPARSE_DB_PASSWORD": "pw"}
    assert resolve_settings(environ=env).db_url.password == "pw"


def test_world_readable_config_with_password_refused(tmp_path: Path) -> None:
    conf = tmp_path / "c.toml"
    conf.write_text('[database]\nurl = "mysql://bob:pw@h/db"\n')
    os.chmod(conf, 0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        resolve_settings(config_option=str(conf), environ={})
    os.chmod(conf, 0o600)
    assert resolve_settings(config_option=str(conf), environ={}).db_url.password == "pw"


@pytest.mark.parametrize("url", [
    "mysql://db.example:3306/sip?option_files=/home/jdoe@corp.example/my.cnf",
    "mysql://sip@db.example/sip?unix_socket=/run/my:sql@x/s.sock",
])
def test_a_readable_config_whose_url_has_no_password_is_not_refused(tmp_path: Path, url: str) -> None:
    """An ``@`` after a ``:`` anywhere in the URL (a home directory named after a domain
    account) was taken for a password, and the file refused."""
    conf = tmp_path / "c.toml"
    conf.write_text(f'[database]\nurl = "{url}"\n')
    os.chmod(conf, 0o644)
    assert resolve_settings(config_option=str(conf), environ={}).db_url.password is None


def test_an_at_sign_in_the_options_of_a_url_with_a_port_and_no_user_stays_in_them() -> None:
    """``mysql://db.example:3306/sip?option_files=/home/jdoe@corp.example/my.cnf`` was read as
    user db.example, password ``3306/sip?option_files=/home/jdoe``, host corp.example and
    database my.cnf."""
    url = parse_db_url("mysql://db.example:3306/sip?option_files=/home/jdoe@corp.example/my.cnf")
    assert (url.user, url.password, url.host, url.port, url.database) == (None, None, "db.example", 3306, "sip")
    assert url.options == {"option_files": "/home/jdoe@corp.example/my.cnf"}
    raw = parse_db_url("mysql://sip:3306/x@db.example/sip")  # a password typed as it is: 3306/x
    assert (raw.user, raw.password, raw.host, raw.database) == ("sip", "3306/x", "db.example", "sip")


def test_cli_bad_url_exits_1_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    from sipparse.cli import run

    with pytest.raises(SystemExit) as exc:
        run(["--db", "bogus://u:hunter2@x/db", "info"])
    assert exc.value.code == 1
    err = capsys.readouterr().err
    assert err == "Error: unknown database scheme 'bogus' in 'bogus://u:***@x/db': use sqlite:// or mysql://\n"


def test_cli_unreadable_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from sipparse.cli import run

    with pytest.raises(SystemExit) as exc:
        run(["--config", str(tmp_path / "missing.toml"), "info"])
    assert exc.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith("Error: cannot read config file") and err.count("\n") == 1


def test_cli_version() -> None:
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0 and "sipparse, version" in result.output


def test_info_says_which_parser_runs(tmp_path: Path) -> None:
    from sipparse.sip import accel

    result = CliRunner().invoke(cli, ["--db", f"sqlite:///{tmp_path}/x.db", "info"])
    assert result.exit_code == 0, result.output
    expected = "C reader: in use" if accel.scan_message is not None else "C reader: not built"
    assert expected in result.output
    assert "C writer of MySQL loads: " in result.output
    assert "C binding of SQLite inserts: " in result.output
    assert "C checks of row limits: " in result.output
    assert "C call summaries: " in result.output
    assert "C reader of addresses and start lines: " in result.output


def test_info_says_when_the_c_extensions_are_turned_off(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    # a process of its own: the choice is made once, when the modules load
    result = subprocess.run([sys.executable, "-m", "sipparse", "--db", f"sqlite:///{tmp_path}/x.db", "info"],
                            env={**os.environ, "SIPPARSE_PURE_PYTHON": "1"}, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert "C reader: off (SIPPARSE_PURE_PYTHON is set)" in result.stdout
    assert "C writer of MySQL loads: off (SIPPARSE_PURE_PYTHON is set)" in result.stdout
    assert "C binding of SQLite inserts: off (SIPPARSE_PURE_PYTHON is set)" in result.stdout
    assert "C checks of row limits: off (SIPPARSE_PURE_PYTHON is set)" in result.stdout
    assert "C call summaries: off (SIPPARSE_PURE_PYTHON is set)" in result.stdout
    assert "C reader of addresses and start lines: off (SIPPARSE_PURE_PYTHON is set)" in result.stdout


@pytest.mark.parametrize("text, says", [
    (b'[ingest]\ntz = 7\n', "[ingest] tz must be a string, not 7"),
    (b'[ingest]\npaths = 5\n', "[ingest] paths must be a string or a list of strings, not 5"),
    (b'[ingest]\npaths = ["/var/log/a", 3]\n', "[ingest] paths must be a string or a list of strings"),
    (b'[ingest]\nyear = true\n', "[ingest] year must be an integer, not True"),
    (b'[ingest]\npath = "/var/log/asterisk/pjsip"\n', "unknown key 'path' in [ingest]"),
    (b'database = 5\n', "[database] must be a table"),
    (b'dialects = 3\n', "dialects must be [[dialects]] tables"),
    (b'\xff\xfe[da', "invalid config file"),
    (b'[ingst]\npaths = ["/var/log/asterisk-sip/all.log"]\n', "unknown section [ingst] (known: [database]"),
    (b'url = "sqlite:///x.db"\n', "unknown key 'url' outside any section"),
    (b'[rotate]\nkepe = 14\n', "unknown key 'kepe' in [rotate] (known: paths, keep,"),
    (b'[rotate]\nmin_size = "10Q"\n', "[rotate] min_size: bad size '10Q'"),
    (b'[rotate]\ncompress = "yes"\n', "[rotate] compress: must be true or false, not 'yes'"),
    (b'[rotate]\npostrotate = 5\n', "[rotate] postrotate: bad value 5"),
    (b'[rotate]\npaths = "/var/log/asterisk/pjsip"\n', "[rotate] paths must be a list of strings"),
    (b'[[dialects]]\nname = "relay"\nline = "%{SYSLOGBASE}"\nlayuot = "full"\n',
     "line 4: unknown key 'layuot' in [[dialects]] (known: name, line, fields, layout)"),
    (b'[[dialects]]\nname = "relay"\nline = "%{SYSLOGBASE}"\nfields = { timestmp = "ts" }\n',
     "line 4: unknown field 'timestmp' in [[dialects]] fields (known: timestamp, host, program, pid, message)"),
    (b'[[dialects]]\nname = "relay"\nline = "%{SYSLOGBASE}"\nfields = { host = 3 }\n',
     "line 4: [[dialects]] fields host must be the name of a capture, not 3"),
], ids=["tz", "paths", "paths-item", "year", "misspelt", "database", "dialects", "not-utf8", "section", "top-key",
        "rotate-misspelt", "rotate-size", "rotate-bool", "rotate-postrotate", "rotate-paths",
        "dialect-misspelt", "dialect-field-misspelt", "dialect-field-type"])
def test_config_values_of_the_wrong_kind_are_named_with_their_file(tmp_path: Path, text: bytes, says: str,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    from sipparse.cli import run

    config = tmp_path / "sipparse.toml"
    config.write_bytes(text)
    with pytest.raises(SystemExit) as exc:
        run(["--config", str(config), "--db", f"sqlite:///{tmp_path / 'x.db'}", "info"])
    assert exc.value.code == 1
    err = capsys.readouterr().err
    assert says in err and str(config) in err
    assert err.count("\n") == 1 and "unexpected" not in err


SEED = Path(__file__).parent / "data" / "seed-call.log"


def test_every_command_takes_the_database_after_its_name(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/after.db"
    stored = CliRunner().invoke(cli, ["ingest", "--db", url, "--year", "2025", "--tz", "UTC", str(SEED)])
    assert stored.exit_code == 0, stored.output
    listed = CliRunner().invoke(cli, ["--db", url, "calls", "--format", "json"])
    assert listed.exit_code == 0 and len(json.loads(listed.output)) == 1, listed.output
    again = CliRunner().invoke(cli, ["calls", "--db", url, "--format", "json"])
    assert again.output == listed.output


def test_the_database_after_the_command_wins(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/stored.db"
    CliRunner().invoke(cli, ["--db", url, "ingest", "--year", "2025", "--tz", "UTC", str(SEED)])
    other = f"sqlite:///{tmp_path}/other.db"
    result = CliRunner().invoke(cli, ["--db", other, "calls", "--db", url, "--format", "json"])
    assert result.exit_code == 0 and len(json.loads(result.output)) == 1, result.output
    assert not (tmp_path / "other.db").exists()


def test_cron_jobs_carry_the_database_given_after_the_command(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/jobs.db"
    result = CliRunner().invoke(cli, ["cron", "print", "--db", url], env={"SIPPARSE_DB": None})
    assert result.exit_code == 0, result.output
    assert f"--db sqlite:///{tmp_path}/jobs.db ingest" in result.output


def test_a_bad_database_after_the_command_is_one_line_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    from sipparse.cli import run

    with pytest.raises(SystemExit) as exc:
        run(["stats", "--db", "bogus://x/db"])
    assert exc.value.code == 1
    assert capsys.readouterr().err.startswith("Error: unknown database scheme 'bogus'")


def test_info_shows_a_patterns_dir_given_as_one_string(tmp_path: Path) -> None:
    """``patterns_dir = "/etc/sipparse/patterns"`` (a string, as the file may give it) was
    listed a character a line."""
    (tmp_path / "patterns").mkdir()
    config = tmp_path / "sipparse.toml"
    config.write_text(f'[grok]\npatterns_dir = "{tmp_path}/patterns"\n')
    result = CliRunner().invoke(cli, ["--db", f"sqlite:///{tmp_path}/x.db", "--config", str(config), "info"])
    assert result.exit_code == 0, result.output
    assert [line for line in result.output.splitlines() if line.startswith("user patterns")] == [
        f"user patterns: {tmp_path}/patterns"]


@pytest.mark.parametrize("text, says", [
    ('[ingest]\ntz = "Mars/Olympus"\n', "line 2: [ingest] tz: unknown time zone 'Mars/Olympus'"),
    ('[ingest]\nformat = "sylog"\n', "line 2: [ingest] format: unknown log format 'sylog'"),
    ('[ingest]\nyear = 99999\n', "line 2: [ingest] year: 99999 is not in the range 1970 to 9999"),
    ('[grok]\npatterns_dir = "TMP/gone"\n', "[grok] patterns_dir: TMP/gone does not exist"),
    ('[[dialects]]\nname = "pbx"\nline = "%{NOSUCHPATTERN:x} %{GREEDYDATA:message}"\n', "NOSUCHPATTERN"),
    ('[[dialects]]\nname = 3\n', "a [[dialects]] entry needs a name and a line expression"),
], ids=["tz", "format", "year", "patterns-dir", "dialect-pattern", "dialect-name"])
def test_info_refuses_a_config_the_next_ingest_would_refuse(tmp_path: Path, text: str, says: str,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    """``sipparse info`` is how a deployment is checked: it said all was well with a config
    file on which every cron ingest then failed. It now stops with ingest's own error line."""
    from sipparse.cli import run

    config = tmp_path / "sipparse.toml"
    config.write_text(text.replace("TMP", str(tmp_path)))
    config.chmod(0o600)
    said = []
    for command in (["info"], ["ingest", "--dry-run", "--no-progress", str(SEED)]):
        with pytest.raises(SystemExit) as exc:
            run(["--config", str(config), "--db", f"sqlite:///{tmp_path / 'x.db'}", *command])
        assert exc.value.code == 1
        said.append(capsys.readouterr().err)
    assert said[0] == said[1]
    assert said[0].startswith("Error: ") and says.replace("TMP", str(tmp_path)) in said[0]
    assert said[0].count("\n") == 1 and "unexpected" not in said[0]


@pytest.mark.parametrize("command", [["grok", "list"], ["ingest", "--no-progress", "x.log"]])
def test_a_configured_patterns_dir_that_is_not_there_names_the_config_file(
        tmp_path: Path, command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    from sipparse.cli import run

    config = tmp_path / "sipparse.toml"
    config.write_text(f'[grok]\npatterns_dir = ["{tmp_path}/gone"]\n')
    with pytest.raises(SystemExit) as exc:
        run(["--db", f"sqlite:///{tmp_path}/x.db", "--config", str(config), *command])
    assert exc.value.code == 1
    assert capsys.readouterr().err == (f"Error: config file {config}, line 2: [grok] patterns_dir: {tmp_path}/gone "
                                       "does not exist or is not a directory\n")


def test_a_bad_url_not_given_on_the_command_line_says_where_it_is(tmp_path: Path) -> None:
    config = tmp_path / "sipparse.toml"
    config.write_text('[database]\nurl = "mysq://sip@db/sip"\n')
    with pytest.raises(ConfigError) as from_file:
        resolve_settings(config_option=str(config), environ={})
    assert str(from_file.value).startswith(f"config file {config}, line 2: [database] url: unknown database scheme "
                                           "'mysq'")
    with pytest.raises(ConfigError) as from_environment:
        resolve_settings(config_option=str(config), environ={"SIPPARSE_DB": "sip.db"})
    assert str(from_environment.value).startswith("$SIPPARSE_DB: bad database URL 'sip.db'")
    with pytest.raises(ConfigError) as from_option:
        resolve_settings("sip.db", str(config), environ={})
    assert str(from_option.value).startswith("bad database URL 'sip.db'")


@pytest.mark.parametrize("text, says", [
    ('[database]\nurl = "sqlite:///x.db"\n\n[ingest]\ntz = "UTC"\n  path = ["/var/log/a"]\n',
     "line 6: unknown key 'path' in [ingest]"),
    ('# sipparse\n[ingst]\npaths = ["/var/log/a"]\n', "line 2: unknown section [ingst]"),
    ('[ingest]\nformat = "auto"\n"year" = "2025"\n', "line 3: [ingest] year must be an integer"),
    ('[rotate]\nkeep = 3\nmin_size = "10Q"\n', "line 3: [rotate] min_size: bad size '10Q'"),
    ('[rotate]  # nightly\nkepe = 3\n', "line 2: unknown key 'kepe' in [rotate]"),
    ('[ingest]\ntz = "Mars/Olympus"\n', "line 2: [ingest] tz: unknown time zone 'Mars/Olympus'"),
], ids=["key", "section", "quoted-key", "rotate-value", "rotate-key", "ingest-value"])
def test_a_config_error_gives_the_line_of_the_key(tmp_path: Path, text: str, says: str,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from sipparse.cli import run

    config = tmp_path / "sipparse.toml"
    config.write_text(text)
    with pytest.raises(SystemExit) as exc:
        run(["--config", str(config), "--db", f"sqlite:///{tmp_path / 'x.db'}", "ingest", "--dry-run", "x.log"])
    assert exc.value.code == 1
    assert capsys.readouterr().err.startswith(f"Error: config file {config}, {says}")


@pytest.mark.parametrize("argv", [
    ["--db", "", "info"], ["info", "--db", ""], ["--config", "", "info"], ["calls", "--config", ""],
    ["--db", "", "ingest", "--dry-run", str(SEED)],
])
def test_an_empty_db_or_config_option_is_bad_usage_not_the_default(tmp_path: Path, argv: list[str]) -> None:
    """``sipparse --db "$URL" ingest`` in a crontab whose URL is unset ingested into the
    embedded default database, and ``--config ""`` read /etc/sipparse/sipparse.toml, as if
    neither option had been given."""
    env = {"SIPPARSE_DB": f"sqlite:///{tmp_path}/env.db", "SIPPARSE_CONFIG": None, "XDG_DATA_HOME": str(tmp_path)}
    result = CliRunner().invoke(cli, argv, env=env)
    assert result.exit_code == 2, result.output
    option = "--db" if "--db" in argv else "--config"
    assert f"Invalid value for '{option}': empty" in result.output
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("section, key", [("database", "url"), ("ingest", "tz"), ("ingest", "format"),
                                          ("ingest", "host")])
def test_an_empty_value_in_the_config_file_is_refused_not_the_default(
        tmp_path: Path, section: str, key: str, capsys: pytest.CaptureFixture[str]) -> None:
    """``url = ""`` (a template's value left to fill in) wrote into the embedded default
    database, and ``tz = ""`` read times in the machine's zone, as if the key were absent."""
    from sipparse.cli import run

    config = tmp_path / "sipparse.toml"
    config.write_text(f'[{section}]\n{key} = ""\n')
    with pytest.raises(SystemExit) as exc:
        run(["--config", str(config), "info"])
    assert exc.value.code == 1
    assert capsys.readouterr().err == (f"Error: config file {config}, line 2: [{section}] {key} is empty: "
                                       "give a value, or leave the key out\n")


def test_a_tilde_in_a_database_url_is_the_home_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No shell expands ``~`` inside a URL or a TOML string: ``sqlite:///~/sip.db`` made a
    directory named ``~`` in the current one (which ``rm -rf ~`` then takes for the home),
    and ``option_files=~/.my.cnf`` was a file not found."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(tmp_path)
    assert parse_db_url("sqlite:///~/sip.db").path == f"{home}/sip.db"
    assert parse_db_url("mysql://u@h/db?option_files=~/.my.cnf").options["option_files"] == f"{home}/.my.cnf"
    assert parse_db_url("sqlite:///a~/sip.db").path == "a~/sip.db"
    with pytest.raises(ConfigError, match="no user 'nosuchuser' on this machine"):
        parse_db_url("sqlite:///~nosuchuser/sip.db")
    result = CliRunner().invoke(cli, ["--db", "sqlite:///~/sip.db", "ingest", "--year", "2025", "--tz", "UTC",
                                      "--no-progress", str(SEED)], env={"SIPPARSE_CONFIG": None})
    assert result.exit_code == 0, result.output
    assert (home / "sip.db").is_file() and not (tmp_path / "~").exists()


def test_the_keys_and_fields_a_dialect_may_name_are_those_the_reader_reads() -> None:
    """The config file checks [[dialects]] tables without importing the readers (every command
    reads it), so it keeps its own lists: they must stay those of the readers."""
    from sipparse.config import DIALECT_FIELDS, DIALECT_KEYS
    from sipparse.logs.dialects import FIELDS, TABLE_KEYS

    assert set(DIALECT_FIELDS) == {*FIELDS, "message"}
    assert set(DIALECT_KEYS) == set(TABLE_KEYS)


def test_an_sqlite_path_that_is_not_utf8_is_opened(tmp_path: Path) -> None:
    """A file name in Latin-1 bytes (``db-\\xe9.db``, as an older system names it) ended the
    command with 'unexpected UnicodeEncodeError ... surrogates not allowed'."""
    path = os.fsdecode(os.fsencode(str(tmp_path)) + b"/db-\xe9.db")
    url = f"sqlite:///{path}"
    stored = CliRunner().invoke(cli, ["--db", url, "ingest", "--year", "2025", "--tz", "UTC", "--no-progress",
                                      str(SEED)], env={"SIPPARSE_CONFIG": None})
    assert stored.exit_code == 0, stored.output
    assert b"db-\xe9.db" in os.listdir(os.fsencode(str(tmp_path)))
    listed = CliRunner().invoke(cli, ["--db", url, "calls", "--format", "json"])
    assert listed.exit_code == 0 and len(json.loads(listed.output)) == 1, listed.output


def _config_in(directory: Path, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "sipparse.toml"
    path.write_text(text)
    path.chmod(0o600)
    return path


def test_relative_paths_of_a_config_file_are_relative_to_its_directory(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Cron runs in $HOME and systemd in /: a config file that worked by hand must name the same
    files there, so its relative paths are read from its own directory, as nginx or logrotate's
    include do."""
    etc = tmp_path / "etc"
    (etc / "patterns").mkdir(parents=True)
    path = _config_in(etc, '[database]\nurl = "mysql://u@h/db?option_files=my.cnf&ssl_ca=ca.pem"\n'
                           '[ingest]\npaths = ["logs/*.log", "/abs/pjsip", "~/home.log"]\n'
                           '[rotate]\npaths = ["logs/pjsip"]\n[grok]\npatterns_dir = "patterns"\n')
    monkeypatch.chdir(tmp_path)
    settings = resolve_settings(config_option=str(path.relative_to(tmp_path)), environ={})
    assert settings.db_url.options == {"option_files": str(etc / "my.cnf"), "ssl_ca": str(etc / "ca.pem")}
    assert settings.get("ingest", "paths") == [str(etc / "logs/*.log"), "/abs/pjsip",
                                               os.path.expanduser("~/home.log")]
    assert settings.get("rotate", "paths") == [str(etc / "logs/pjsip")]
    assert settings.patterns_dirs() == [str(etc / "patterns")]
    sqlite = _config_in(tmp_path / "etc2", '[database]\nurl = "sqlite:///data/sip.db"\n')
    assert resolve_settings(config_option=str(sqlite), environ={}).db_url.path == str(tmp_path / "etc2/data/sip.db")
    memory = _config_in(tmp_path / "etc3", '[database]\nurl = "sqlite:///:memory:"\n')
    assert resolve_settings(config_option=str(memory), environ={}).db_url.path == ":memory:"


def test_relative_paths_of_the_command_line_and_environment_stay_relative_to_the_cwd(tmp_path: Path) -> None:
    path = _config_in(tmp_path / "etc", '[database]\nurl = "sqlite:///in-config.db"\n')
    assert resolve_settings(db_option="sqlite:///x.db", config_option=str(path), environ={}).db_url.path == "x.db"
    from_env = resolve_settings(config_option=str(path), environ={"SIPPARSE_DB": "sqlite:///y.db"})
    assert from_env.db_url.path == "y.db"


def test_a_glob_in_a_config_directory_with_glob_characters_is_anchored_literally(tmp_path: Path) -> None:
    etc = tmp_path / "etc[1]"
    path = _config_in(etc, '[ingest]\npaths = "*.log"\n')
    (etc / "a.log").write_text("")
    from glob import glob
    pattern = resolve_settings(config_option=str(path), environ={}).get("ingest", "paths")
    assert glob(pattern) == [str(etc / "a.log")]


def test_info_says_where_relative_config_paths_are_read_from(tmp_path: Path) -> None:
    path = _config_in(tmp_path / "etc", '[database]\nurl = "sqlite:///sip.db"\n')
    result = CliRunner().invoke(cli, ["--config", str(path), "info"])
    assert result.exit_code == 0, result.output
    assert f"relative paths of the config file: from {tmp_path / 'etc'}" in result.output
    assert f"database: sqlite:///{tmp_path / 'etc' / 'sip.db'}" in result.output
