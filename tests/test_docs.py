"""Every command has help and is documented in the README; the README's links resolve."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from sipparse.cli import cli
from sipparse.cli.base import COMMAND_MODULES

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


@pytest.mark.parametrize("name", sorted(COMMAND_MODULES))
def test_command_has_help(name: str) -> None:
    result = CliRunner().invoke(cli, [name, "--help"])
    assert result.exit_code == 0, result.output
    assert len(result.output.splitlines()) > 3


@pytest.mark.parametrize("name", sorted(COMMAND_MODULES))
def test_command_is_documented(name: str) -> None:
    assert f"`sipparse {name}" in README


def test_help_lists_exactly_the_commands() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    listed = re.findall(r"^  (\w+)\s", result.output.split("Commands:")[1], re.M)
    assert sorted(listed) == sorted(COMMAND_MODULES)


def test_readme_links_exist() -> None:
    for target in re.findall(r"\]\(([^)#:]+)\)", README):
        assert (ROOT / target).exists(), target


def test_quick_start_has_two_commands() -> None:
    quick = README.split("## Quick start")[1].split("\n## ")[0]
    assert quick.count("```sh") == 2
