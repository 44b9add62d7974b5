"""Small helpers shared by the rotation tests: log files with known lines, and their generations."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

from sipparse.rotate import RotateOptions, RotateSummary, rotate_paths


def append_lines(path: Path, tag: str, count: int = 50) -> list[bytes]:
    """Append ``count`` distinct lines to ``path``; return them."""
    lines = [f"{tag} line {i:05d} {'x' * 40}\n".encode() for i in range(count)]
    with open(path, "ab") as fh:
        fh.writelines(lines)
    return lines


def read_any(path: Path) -> bytes:
    """The content of a plain or gzipped file."""
    if path.name.endswith(".gz"):
        with gzip.open(path, "rb") as fh:
            return fh.read()
    return path.read_bytes()


def names(directory: Path) -> list[str]:
    return sorted(os.listdir(directory))


def all_lines(directory: Path) -> list[bytes]:
    """Every line of every file in ``directory`` (plain or gzipped), sorted."""
    out: list[bytes] = []
    for name in names(directory):
        out.extend(read_any(directory / name).splitlines(keepends=True))
    return sorted(out)


class Recorder:
    """An ingest function that records which paths it was asked to finish, and when."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[str]]] = []

    def __call__(self, path: str) -> int:
        self.calls.append((path, sorted(os.listdir(os.path.dirname(path)))))
        return os.path.getsize(path)


def rotate(path: Path, **kwargs: object) -> tuple[RotateSummary, list[str]]:
    """Rotate one path with the given options; return the summary and the action lines."""
    actions: list[str] = []
    ingest = kwargs.pop("ingest_fn", None)
    summary = rotate_paths([str(path)], RotateOptions(**kwargs), ingest, actions.append)  # type: ignore[arg-type]
    return summary, actions
