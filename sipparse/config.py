"""Where settings come from: command-line option > environment > TOML config file > default.

The config file is TOML (``--config FILE``, else ``SIPPARSE_CONFIG``, else
``/etc/sipparse/sipparse.toml`` when it exists). Sections used by the commands::

    [database]
    url = "mysql://sipparse@db.example.net/sip?option_files=/etc/sipparse/my.cnf"

    [ingest]
    paths = ["/var/log/asterisk/pjsip"]
    tz = "Europe/Berlin"

    [grok]
    patterns_dir = ["/etc/sipparse/patterns"]

A relative path in the config file (a log path or glob, a patterns directory, an SQLite
file, a MySQL option file or CA file) is read from the directory of the config file, as
nginx and logrotate read theirs: cron runs in $HOME and systemd in /, and the file must name
the same files there as by hand. Paths given on the command line or in the environment stay
relative to the current directory.

The embedded default database is an SQLite file, ``$XDG_DATA_HOME/sipparse/sipparse.db``
(``~/.local/share/sipparse/sipparse.db``), so the tool works on a fresh machine.
"""

from __future__ import annotations

import glob
import os
import re
import stat
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from sipparse.errors import ConfigError

DEFAULT_CONFIG_FILE = Path("/etc/sipparse/sipparse.toml")
ENV_DB = "SIPPARSE_DB"
ENV_CONFIG = "SIPPARSE_CONFIG"
ENV_DB_PASSWORD = "SIPPARSE_DB_PASSWORD"
MYSQL_SCHEMES = ("mysql", "mariadb", "mysql+mysqlconnector")
# Seconds the MySQL client waits for the server to answer, or to take what it sends, before
# it takes the connection for lost (0: as long as it takes); also ``[database]`` keys.
NET_TIMEOUTS = ("read_timeout", "write_timeout")


def default_data_dir(environ: dict[str, str] | None = None) -> Path:
    """The XDG data directory of sipparse, where the embedded SQLite database lives."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "sipparse"


def default_db_url(environ: dict[str, str] | None = None) -> str:
    return "sqlite:///" + str(default_data_dir(environ) / "sipparse.db")


@dataclass(frozen=True)
class DatabaseURL:
    """A parsed ``sqlite:///path`` or ``mysql://user[:password]@host[:port]/database`` URL."""

    scheme: str
    path: str | None = None
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    host: str | None = None
    port: int | None = None
    database: str | None = None
    options: dict[str, str] = field(default_factory=dict)

    @property
    def is_sqlite(self) -> bool:
        return self.scheme == "sqlite"

    @property
    def is_mysql(self) -> bool:
        return self.scheme == "mysql"

    def redacted(self) -> str:
        """The URL as it may appear in messages: never with its password."""
        if self.is_sqlite:
            return f"sqlite:///{self.path}"
        auth = f"{self.user}:***@" if self.password else (f"{self.user}@" if self.user else "")
        port = f":{self.port}" if self.port else ""
        return f"mysql://{auth}{self.host}{port}/{self.database}"

    def __str__(self) -> str:
        return self.redacted()


def parse_db_url(url: str) -> DatabaseURL:
    """Parse a database URL of the contract; raise ConfigError with a one-line reason."""
    text = url.strip()
    if "://" not in text:
        raise ConfigError(f"bad database URL {_shown(text)!r}: expected sqlite:///PATH or mysql://USER@HOST/DB"
                          + _file_hint(text))
    scheme = text.split("://", 1)[0].lower()
    if scheme == "sqlite":
        return _parse_sqlite(text)
    if scheme in MYSQL_SCHEMES:
        return _parse_mysql(text)
    raise ConfigError(f"unknown database scheme {scheme!r} in {_shown(text)!r}: use sqlite:// or mysql://")


def _file_hint(text: str) -> str:
    """For a bare file name, the URL that names it: a path alone is not taken for a database,
    so that a mistyped URL never creates an SQLite file of its name."""
    if not text or "@" in text or text.startswith(("mysql:", "sqlite:")):
        return ""
    return f" (for the SQLite file {text}: sqlite:///{text})"


def _shown(text: str) -> str:
    """Hide a password that may sit in a URL we could not parse."""
    if "://" in text and "@" in text:
        head, rest = text.split("://", 1)
        cred, tail = rest.rsplit("@", 1)
        if ":" in cred:
            return f"{head}://{cred.split(':', 1)[0]}:***@{tail}"
    return text


def _parse_sqlite(text: str) -> DatabaseURL:
    rest = text[len("sqlite://"):]
    if not rest.startswith("/") or len(rest) < 2:
        raise ConfigError(f"bad SQLite URL {text!r}: use sqlite:///relative.db or sqlite:////absolute.db")
    path = rest[1:].split("?", 1)[0]
    return DatabaseURL(scheme="sqlite", path=_home_expanded(unquote(path)))


def _home_expanded(path: str) -> str:
    """A path with its leading ``~`` or ``~user`` made the home directory, as a shell would:
    in a URL, a crontab's or a TOML file's, no shell does it, and SQLite would make a
    directory named ``~`` where the command runs."""
    if not path.startswith("~"):
        return path
    expanded = os.path.expanduser(path)
    if expanded.startswith("~"):
        head = path.split("/", 1)[0]
        raise ConfigError(f"cannot expand {head} in {path}: no user {head[1:]!r} on this machine")
    return expanded


# the user name that starts the user part of a MySQL URL (its password may hold anything)
_USER = re.compile(r"[^/?#:]*(?::|$)")
# what follows the user part of a MySQL URL: host[:port]/database[?options]; the whole of
# a URL without a user part
_AFTER_USER = re.compile(r"[^@/?#:\s]+(?::\d*)?/[^/?#@]+(?:\?.*)?", re.DOTALL)


def _encoded_user_part(text: str) -> str:
    """``text`` with the ``/ ? # @`` of its password percent-encoded, where they were typed
    as they are: the user part ends at the first ``@`` that a host, a port and a database
    follow (an ``@`` of the options, a socket's path, comes after those). A URL that reads
    whole without a user part keeps its ``@`` in the options: ``db:3306/sip?option_files=
    /home/jdoe@corp/my.cnf`` has no password ``3306/sip?option_files=/home/jdoe``."""
    head, rest = text.split("://", 1)
    if _AFTER_USER.fullmatch(rest):
        return text
    for at in (i for i, char in enumerate(rest) if char == "@"):
        if _USER.match(rest, 0, at) and _AFTER_USER.fullmatch(rest, at + 1):
            user_part = rest[:at].translate({ord(c): f"%{ord(c):02X}" for c in "/?#@"})
            return f"{head}://{user_part}{rest[at:]}"
    return text


def _parse_mysql(text: str) -> DatabaseURL:
    text = _encoded_user_part(text)
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"bad MySQL URL {_shown(text)!r}: {exc}") from None
    database = unquote(parts.path.lstrip("/"))
    if not parts.hostname or not database or "/" in database:
        raise ConfigError(f"bad MySQL URL {_shown(text)!r}: expected mysql://USER[:PASSWORD]@HOST[:PORT]/DATABASE")
    options = dict(parse_qsl(parts.query))
    if "option_files" in options:
        options["option_files"] = _home_expanded(options["option_files"])
    unknown = set(options) - {"option_files", "unix_socket", "charset", "ssl_ca", "ssl_disabled", *NET_TIMEOUTS}
    if unknown:
        raise ConfigError(f"unknown option {sorted(unknown)[0]!r} in MySQL URL {_shown(text)!r}")
    for name in NET_TIMEOUTS:
        if name in options and not options[name].isdigit():
            raise ConfigError(f"bad {name} {options[name]!r} in MySQL URL {_shown(text)!r}: "
                              "give whole seconds (0: no limit)")
    return DatabaseURL(
        scheme="mysql",
        user=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
        host=parts.hostname,
        port=port,
        database=database,
        options=options,
    )


def _with_net_timeouts(db_url: DatabaseURL, database: dict[str, Any], config_path: Path | None) -> DatabaseURL:
    """The URL with the config file's ``[database]`` timeouts, where it gives none of its own."""
    given = {name: database[name] for name in NET_TIMEOUTS if name in database and name not in db_url.options}
    for name, seconds in given.items():
        if seconds < 0:
            raise ConfigError(f"{config_location(config_path, 'database', name)}: [database] {name} must be 0 or more "
                              f"seconds, not {seconds}")
    if not given:
        return db_url
    return replace(db_url, options={**db_url.options, **{name: str(value) for name, value in given.items()}})


@dataclass
class Settings:
    """Everything a command needs to know about where things are, already resolved."""

    db_url: DatabaseURL
    config_path: Path | None = None
    config: dict[str, Any] = field(default_factory=dict)
    debug: bool = False

    def section(self, name: str) -> dict[str, Any]:
        """A TOML section of the config file (empty when absent)."""
        value = self.config.get(name, {})
        if not isinstance(value, dict):
            raise ConfigError(f"{self.config_path}: [{name}] must be a table")
        return value

    def get(self, section: str, key: str, default: Any = None) -> Any:
        return self.section(section).get(key, default)

    def patterns_dirs(self) -> list[str]:
        """``[grok] patterns_dir`` as a list (the file may give one string). A directory that
        is not there is the config file's error, named with the file."""
        value = self.get("grok", "patterns_dir", [])
        directories = [value] if isinstance(value, str) else [str(item) for item in value]
        for directory in directories:
            if not os.path.isdir(directory):
                raise ConfigError(f"{config_location(self.config_path, 'grok', 'patterns_dir')}: "
                                  f"[grok] patterns_dir: {directory} "
                                  "does not exist or is not a directory")
        return directories


def find_config_file(option: str | None, environ: dict[str, str],
                     system_default: Path = DEFAULT_CONFIG_FILE) -> Path | None:
    """The config file named by the option, else the environment, else the system default."""
    if option:
        return Path(option)
    if environ.get(ENV_CONFIG):
        return Path(environ[ENV_CONFIG])
    if system_default.exists():
        return system_default
    return None


# What the sections other than [rotate] (``rotate.check_section``) and [[dialects]]
# (``logs.dialects``) may hold, with the TOML types each key takes: a key misspelt or of the
# wrong type is named with its file when the file is read, not met later as an exception.
CONFIG_KEYS: dict[str, dict[str, tuple[type, ...]]] = {
    "database": {"url": (str,), "password": (str,), **dict.fromkeys(NET_TIMEOUTS, (int,))},
    "ingest": {"paths": (str, list), "host": (str,), "tz": (str,), "year": (int,), "format": (str,)},
    "grok": {"patterns_dir": (str, list)},
}
# Keys whose empty value would be taken for an absent key, the default: a template's
# `url = ""` left to fill in would write into the embedded database.
_NOT_EMPTY = {"url", "tz", "format", "host"}
_TYPE_NAMES = {str: "a string", list: "a list of strings", int: "an integer", dict: "a table"}


_TABLE_HEADER = re.compile(r"\s*\[\[?\s*([^\[\]\s]+)\s*\]\]?\s*(?:#.*)?$")


def config_location(path: Path | str | None, section: str | None = None, key: str | None = None) -> str:
    """``config file PATH, line N``: where a section's header, or a key of it (``section``
    None: a key outside any section), is written. TOML parsers give no positions once a file
    has parsed, and a user putting a value right looks for its line."""
    line = _line_of(path, section, key) if path else None
    return f"config file {path}" + (f", line {line}" if line else "")


def _line_of(path: Path | str, section: str | None, key: str | None) -> int | None:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    assignment = re.compile(rf"""\s*["']?{re.escape(key)}["']?\s*=""") if key else None
    current: str | None = None
    for number, line in enumerate(text.splitlines(), 1):
        header = _TABLE_HEADER.match(line)
        if header:
            current = header[1].strip("\"'")
            if assignment is None and current == section:
                return number
        elif assignment and current == section and assignment.match(line):
            return number
    return None


def load_config_file(path: Path) -> dict[str, Any]:
    """Read a TOML config file; unreadable, invalid or mistyped files are a ConfigError."""
    try:
        with open(path, "rb") as fh:
            _refuse_writable_by_others(path, os.fstat(fh.fileno()))
            data = tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"invalid config file {path}: {exc}") from None
    _check_types(path, data)
    _refuse_exposed_password(path, data)
    return data


def _check_types(path: Path, data: dict[str, Any]) -> None:
    known = [*CONFIG_KEYS, "rotate", "dialects"]
    for name, value in data.items():
        if name not in known:  # a misspelt [ingst] would leave every setting at its default
            section, key = (name, None) if isinstance(value, dict) else (None, name)
            what = f"section [{name}]" if key is None else f"key {name!r} outside any section"
            raise ConfigError(f"{config_location(path, section, key)}: unknown {what} (known: "
                              f"{', '.join(f'[{section}]' for section in CONFIG_KEYS)}, [rotate], [[dialects]])")
    for section, keys in CONFIG_KEYS.items():
        table = data.get(section, {})
        if not isinstance(table, dict):
            raise ConfigError(f"{config_location(path, None, section)}: [{section}] must be a table")
        for key, value in table.items():
            if key not in keys:
                raise ConfigError(f"{config_location(path, section, key)}: unknown key {key!r} in [{section}] "
                                  f"(known: {', '.join(keys)})")
            wanted = keys[key]
            if isinstance(value, bool) or not isinstance(value, wanted) or (
                    isinstance(value, list) and not all(isinstance(item, str) for item in value)):
                kinds = " or ".join(_TYPE_NAMES[kind] for kind in wanted)
                raise ConfigError(f"{config_location(path, section, key)}: [{section}] {key} must be {kinds}, "
                                  f"not {value!r}")
            if isinstance(value, str) and not value.strip() and key in _NOT_EMPTY:
                raise ConfigError(f"{config_location(path, section, key)}: [{section}] {key} is empty: "
                                  "give a value, or leave the key out")
    _check_rotate_section(path, data.get("rotate", {}))
    dialects = data.get("dialects", [])
    if not isinstance(dialects, list) or not all(isinstance(item, dict) for item in dialects):
        raise ConfigError(f"config file {path}: dialects must be [[dialects]] tables")
    for table in dialects:
        _check_dialect_keys(path, table)


# What a [[dialects]] table may hold (the first of each line: the documented names), and the
# fields its ``fields`` may name: those of sipparse.logs.dialects.FIELDS and the message.
DIALECT_KEYS = ("name", "line", "fields", "layout", "expression", "pattern", "kind")
DIALECT_FIELDS = ("timestamp", "host", "program", "pid", "message")


def _check_dialect_keys(path: Path, table: dict[str, Any]) -> None:
    """A misspelt ``layuot`` left the dialect a syslog one, a misspelt field read nothing."""
    for key in table:
        if key not in DIALECT_KEYS:
            raise ConfigError(f"{config_location(path, 'dialects', key)}: unknown key {key!r} in [[dialects]] "
                              f"(known: {', '.join(DIALECT_KEYS[:4])})")
    fields = table.get("fields", {})
    if not isinstance(fields, dict):
        raise ConfigError(f"{config_location(path, 'dialects', 'fields')}: [[dialects]] fields must be a table "
                          f"such as {{ timestamp = \"ts\" }}, not {fields!r}")
    for field_name, capture in fields.items():
        if field_name not in DIALECT_FIELDS:
            raise ConfigError(f"{config_location(path, 'dialects', 'fields')}: unknown field {field_name!r} in "
                              f"[[dialects]] fields (known: {', '.join(DIALECT_FIELDS)})")
        if not isinstance(capture, str):
            raise ConfigError(f"{config_location(path, 'dialects', 'fields')}: [[dialects]] fields {field_name} "
                              f"must be the name of a capture, not {capture!r}")


def _url_source(db_option: str | None, env: dict[str, str], database: dict[str, Any],
                config_path: Path | None) -> str | None:
    """Where a URL that was not on the command line came from, to name it with its error:
    a crontab or a config file set months ago is not where a user looks first."""
    if db_option:
        return None
    if env.get(ENV_DB):
        return f"${ENV_DB}"
    if database.get("url"):
        return f"{config_location(config_path, 'database', 'url')}: [database] url"
    return None


def _check_rotate_section(path: Path, table: Any) -> None:
    """[rotate] is checked by the rotate module, which knows its options (and imports this one),
    a key at a time, so that the error can give the key's line."""
    if not isinstance(table, dict):
        raise ConfigError(f"{config_location(path, None, 'rotate')}: [rotate] must be a table")
    if not table:
        return  # the rotate module is not loaded for nothing: most commands never rotate
    from sipparse.rotate import check_section

    for key, value in table.items():
        try:
            check_section({key: value})
        except ConfigError as exc:
            raise ConfigError(f"{config_location(path, 'rotate', key)}: {exc}") from None


def _refuse_writable_by_others(path: Path, st: os.stat_result) -> None:
    """Like cron and sshd with their files: a config file another user may change is refused.

    Its postrotate runs as the user who rotates, root from cron, and its database URL and
    paths say where that user writes: whoever may change it could run commands as root.
    """
    owners = {0, os.geteuid()}
    if st.st_uid not in owners:
        raise ConfigError(f"config file {path} belongs to another user (uid {st.st_uid}), who could make "
                          f"this run do anything it may; run: chown {os.geteuid()} {path}")
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise ConfigError(f"config file {path} may be changed by other users, who could make this run "
                          f"do anything it may; run: chmod go-w {path}")


def _refuse_exposed_password(path: Path, data: dict[str, Any]) -> None:
    """Like ssh with private keys: a password in a file other users can read is refused."""
    database = data.get("database", {})
    if not isinstance(database, dict):
        return
    has_password = bool(database.get("password")) or _url_has_password(str(database.get("url", "")))
    if has_password and os.stat(path).st_mode & (stat.S_IRGRP | stat.S_IROTH):
        raise ConfigError(
            f"config file {path} holds a database password and is readable by other users; run: chmod 600 {path}"
        )


def _url_has_password(url: str) -> bool:
    """Whether a URL holds a password; one that does not parse is read the crude way (a ``:``
    before an ``@``), since its text is in the file all the same."""
    try:
        return parse_db_url(url).password is not None if url else False
    except ConfigError:
        return "@" in url and ":" in url.split("://", 1)[-1].split("@")[0]


# The config keys whose values are file system paths (a string or a list of strings), read
# from the config file's directory when relative; the database URL's are in URL_PATH_OPTIONS.
PATH_KEYS = (("ingest", "paths"), ("rotate", "paths"), ("grok", "patterns_dir"))
URL_PATH_OPTIONS = ("option_files", "ssl_ca")


def anchored(path: str, base: str) -> str:
    """``path`` of a config file in ``base``: ``~`` is the home directory, a relative path is
    read from ``base`` (escaped in a glob, where a ``[`` of the directory's name is no class)."""
    path = os.path.expanduser(path)
    if os.path.isabs(path):
        return path
    return os.path.join(glob.escape(base) if glob.has_magic(path) else base, path)


def _anchored_config(config: dict[str, Any], base: str) -> dict[str, Any]:
    """The config with the relative paths of PATH_KEYS read from ``base``."""
    out = dict(config)
    for section, key in PATH_KEYS:
        table = out.get(section)
        if not isinstance(table, dict) or key not in table:
            continue
        value = table[key]
        value = anchored(value, base) if isinstance(value, str) else [anchored(str(v), base) for v in value]
        out[section] = {**table, key: value}
    return out


def _anchored_url(db_url: DatabaseURL, base: str) -> DatabaseURL:
    """A config file's URL with its relative SQLite file and option paths read from ``base``."""
    if db_url.is_sqlite and db_url.path:
        return db_url if db_url.path == ":memory:" else replace(db_url, path=anchored(db_url.path, base))
    options = {name: anchored(value, base) if name in URL_PATH_OPTIONS and value else value
               for name, value in db_url.options.items()}
    return replace(db_url, options=options)


def config_base(config_path: Path | None) -> str | None:
    """The directory relative paths of the config file are read from."""
    return os.path.dirname(os.path.abspath(config_path)) if config_path else None


def resolve_settings(
    db_option: str | None = None,
    config_option: str | None = None,
    debug: bool = False,
    environ: dict[str, str] | None = None,
) -> Settings:
    """Apply the order option > environment > config file > embedded default."""
    env = dict(os.environ if environ is None else environ)
    config_path = find_config_file(config_option, env)
    config = load_config_file(config_path) if config_path else {}
    base = config_base(config_path)
    if base:
        config = _anchored_config(config, base)
    database = config.get("database", {}) if isinstance(config.get("database"), dict) else {}
    url_text = db_option or env.get(ENV_DB) or database.get("url") or default_db_url(env)
    try:
        db_url = parse_db_url(str(url_text))
    except ConfigError as exc:
        source = _url_source(db_option, env, database, config_path)
        raise ConfigError(f"{source}: {exc}" if source else str(exc)) from None
    if base and not db_option and not env.get(ENV_DB) and database.get("url"):
        db_url = _anchored_url(db_url, base)
    if db_url.is_mysql and db_url.password is None:
        password = env.get(ENV_DB_PASSWORD) or database.get("password")
        if password:
            db_url = replace(db_url, password=str(password))
    if db_url.is_mysql:
        db_url = _with_net_timeouts(db_url, database, config_path)
    return Settings(db_url=db_url, config_path=config_path, config=config, debug=debug)
