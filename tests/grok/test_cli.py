"""``sipparse grok match|list|expand`` through click, in process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from sipparse.cli import cli

SYSLOG = "%{SYSLOGTIMESTAMP:ts} %{SYSLOGHOST:host} %{SYSLOGPROG}: %{GREEDYDATA:msg}"


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("SIPPARSE_DB", f"sqlite:///{tmp_path}/x.db")
    monkeypatch.delenv("SIPPARSE_CONFIG", raising=False)
    return CliRunner()


def lines(output: str) -> list[object]:
    return [json.loads(line) for line in output.splitlines()]


def test_match_writes_one_json_line_per_input_line(runner: CliRunner) -> None:
    stdin = "Feb  1 18:32:31 pbx-a asterisk[6541]: CSeq: 1 INVITE\nnot a syslog line\n\n"
    result = runner.invoke(cli, ["grok", "match", SYSLOG], input=stdin)
    assert result.exit_code == 0, result.output
    assert lines(result.output) == [
        {"ts": "Feb  1 18:32:31", "host": "pbx-a", "program": "asterisk", "pid": "6541", "msg": "CSeq: 1 INVITE"},
        None, None,
    ]


def test_match_options(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "mine").write_text("WORD \\b[0-1]\\b\n")
    result = runner.invoke(cli, ["grok", "match", "--patterns-dir", str(tmp_path), "%{WORD:w}"], input="hello\n0\n")
    assert lines(result.output) == [None, {"w": "0"}]
    args = ["grok", "match", "--define", "PBX=pbx-[a-z]", "%{PBX:p}%{INT:n:int}"]
    result = runner.invoke(cli, args, input="pbx-a7\n")
    assert lines(result.output) == [{"p": "pbx-a", "n": 7}]
    result = runner.invoke(cli, ["grok", "match", "--keep-empty", "%{DATA:x}x"], input="x\n")
    assert lines(result.output) == [{"x": ""}]


def test_several_expressions(runner: CliRunner) -> None:
    args = ["grok", "match", "%{INT:foo}", "%{WORD:bar}"]
    assert lines(runner.invoke(cli, args, input="line 23\n").output) == [{"foo": "23"}]
    merged = runner.invoke(cli, [*args[:2], "--no-break-on-match", *args[2:]], input="line 23\n")
    assert lines(merged.output) == [{"foo": "23", "bar": "line"}]


def test_config_patterns_dir_is_read(runner: CliRunner, tmp_path: Path) -> None:
    patterns = tmp_path / "cfgpatterns"
    patterns.mkdir()
    (patterns / "site").write_text("SITE site-\\d+\n")
    config = tmp_path / "sipparse.toml"
    config.write_text(f'[grok]\npatterns_dir = ["{patterns}"]\n')
    result = runner.invoke(cli, ["--config", str(config), "grok", "match", "%{SITE:s}"], input="at site-12\n")
    assert lines(result.output) == [{"s": "site-12"}]


@pytest.mark.parametrize(
    ("expression", "message"),
    [("%{NOT_A_PATTERN:x}", "Error: pattern %{NOT_A_PATTERN} not defined\n"),
     ("(%{WORD:x}", "Error: bad regex in grok expression '(%{WORD:x}': end pattern with unmatched parenthesis"
                    " at position 0\n")],
)
def test_bad_expressions_exit_1_with_one_line(
    expression: str, message: str, runner: CliRunner, capsys: pytest.CaptureFixture[str]
) -> None:
    from sipparse.cli.base import run

    with pytest.raises(SystemExit) as exit_info:
        run(["grok", "match", expression])
    assert exit_info.value.code == 1
    assert capsys.readouterr().err == message


def test_bad_expression_message(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["grok", "match", "%{NOT_A_PATTERN:x}"], input="x\n")
    assert result.exit_code == 1
    assert "pattern %{NOT_A_PATTERN} not defined" in str(result.exception)


def test_bad_define_is_a_usage_error(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["grok", "match", "--define", "NOEQUALS", "x"], input="")
    assert result.exit_code == 2 and "NAME=REGEX" in result.output


def test_list_shows_name_file_line_and_regex(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["grok", "list", "IPV4"])
    assert result.exit_code == 0
    name, where, regex = result.output.splitlines()[0].split("\t")
    assert name == "IPV4" and where.split("/")[-1].startswith("grok-patterns:") and "25[0-5]" in regex
    defined = runner.invoke(cli, ["grok", "list", "ZZ", "--define", "ZZTOP=x"])
    assert defined.output == "ZZTOP\t--define\tx\n"


def test_expand_prints_the_python_regex(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["grok", "expand", "%{INT:n} \\h"])
    assert result.exit_code == 0
    assert result.output == "(?P<g0>(?:[\\+\\-]?[0-9]+)) [0-9a-fA-F]\n"


def test_help_texts(runner: CliRunner) -> None:
    for command in ("match", "list", "expand"):
        result = runner.invoke(cli, ["grok", command, "--help"])
        assert result.exit_code == 0 and "Usage:" in result.output


def test_a_float_beyond_a_double_is_still_valid_json(runner: CliRunner) -> None:
    """Ruby's ``"1e999".to_f`` is Infinity, which JSON cannot hold: it goes as a string."""
    stdin = "1e999 a\n-1e999 b\n2.5 c\n"
    result = runner.invoke(cli, ["grok", "match", "%{NOTSPACE:n:float} %{WORD:w}"], input=stdin)
    assert result.exit_code == 0, result.output
    strict = [json.loads(line, parse_constant=lambda name: pytest.fail(f"not JSON: {name}"))
              for line in result.output.splitlines()]
    assert strict == [{"n": "Infinity", "w": "a"}, {"n": "-Infinity", "w": "b"}, {"n": 2.5, "w": "c"}]


@pytest.mark.parametrize("expressions", [["%{INT:x}"], ["%{INT:x}", "%{WORD:w}"]])
def test_a_reader_that_stops_early_is_not_a_failure(tmp_path: Path, expressions: list[str]) -> None:
    """``grok match ... | head -1``: exit 0 and nothing on stderr (click made it a silent exit 1,
    which a pipefail script takes for a failure)."""
    import subprocess

    from tests.reliability.helpers import child_env, sipparse_argv

    numbers = tmp_path / "numbers"
    numbers.write_text("".join(f"{n}\n" for n in range(300_000)))
    with numbers.open("rb") as stdin:
        proc = subprocess.Popen([*sipparse_argv(), "grok", "match", *expressions], stdin=stdin,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=child_env())
        assert proc.stdout is not None and proc.stderr is not None
        assert json.loads(proc.stdout.readline()) == {"x": "0"}
        proc.stdout.close()
        stderr = proc.stderr.read()
        assert proc.wait(timeout=60) == 0, stderr
    assert stderr == b""


def test_an_integer_beyond_the_digit_limit_is_written_in_full(runner: CliRunner) -> None:
    """Ruby's ``to_i`` has no digit limit: the JSON number has every digit."""
    long_number = "1" + "0" * 5000
    stdin = f"{long_number} a\n-{long_number}_1 b\n12 c\n"
    result = runner.invoke(cli, ["grok", "match", "%{NOTSPACE:n:int} %{WORD:w}"], input=stdin)
    assert result.exit_code == 0, result.output
    out = result.output.splitlines()
    assert out[0] == f'{{"n": {long_number}, "w": "a"}}'
    assert out[1] == f'{{"n": -{long_number}1, "w": "b"}}'
    assert json.loads(out[2]) == {"n": 12, "w": "c"}


@pytest.mark.parametrize("opener", ["(", "(?:", "(?<n>", "[", "(?="])
def test_a_regex_nested_too_deeply_is_a_bad_regex_error(
    opener: str, runner: CliRunner, capsys: pytest.CaptureFixture[str]
) -> None:
    from sipparse.cli.base import run

    closer = "]" if opener == "[" else ")"
    expression = opener * 3000 + "x" + closer * 3000
    with pytest.raises(SystemExit) as exit_info:
        run(["grok", "match", expression])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith("Error: bad regex in grok expression ") and "nests too deeply" in err
    assert err.count("\n") == 1


def test_a_closed_stdin_is_one_clear_line_exit_1(tmp_path: Path) -> None:
    """Run from cron or a unit with stdin closed (``<&-``), grok match ended with 'unexpected
    AttributeError: 'NoneType' object has no attribute 'buffer''."""
    import subprocess

    from tests.reliability.helpers import child_env, sipparse_argv

    argv = [*sipparse_argv(), "--db", f"sqlite:///{tmp_path}/x.db", "grok", "match", "%{INT:x}"]
    result = subprocess.run(["sh", "-c", 'exec "$@" <&-', "sh", *argv], capture_output=True, text=True,
                            env=child_env(), timeout=60)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr == "Error: stdin is closed: grok match reads the lines to match from it\n"
