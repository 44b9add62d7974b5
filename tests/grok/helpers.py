"""Shared helpers of the grok tests: a library over the bundled patterns, built once."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from sipparse.grok import PatternLibrary


@lru_cache(maxsize=1)
def bundled() -> PatternLibrary:
    return PatternLibrary.load()


def grok_match(expression: str, text: str, **options: Any) -> dict[str, Any] | None:
    """Match with the bundled library, as ``sipparse grok match EXPR`` would."""
    return bundled().compile(expression, **options).match(text)


def library_with(tmp_path: Any, files: dict[str, str], **kwargs: Any) -> PatternLibrary:
    """A library of the bundled patterns plus a patterns dir holding ``files``."""
    directory = tmp_path / "patterns"
    directory.mkdir(exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(text, encoding="utf-8")
    return PatternLibrary.load(extra_dirs=[directory], **kwargs)
