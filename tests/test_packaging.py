"""The wheel carries the pattern library and the C scanner, and works installed outside the checkout."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)],
                   check=True, capture_output=True, timeout=300)
    return next(out.glob("sipparse-*.whl"))


def test_wheel_contains_grok_patterns(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    for pattern_file in ("grok-patterns", "asterisk", "sip"):
        assert f"sipparse/grok_patterns/{pattern_file}" in names


def test_wheel_contains_the_c_scanner(wheel: Path) -> None:
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("no C compiler: the wheel is pure Python, which the suite covers too")
    names = zipfile.ZipFile(wheel).namelist()
    assert any(name.startswith("sipparse/sip/_scan.") and name.endswith(".so") for name in names), names


def test_sdist_carries_the_c_source(tmp_path: Path) -> None:
    """Installing from the source archive builds the scanner, or falls back without it."""
    subprocess.run([sys.executable, "-m", "build", "--sdist", "-o", str(tmp_path), str(ROOT)],
                   check=True, capture_output=True, timeout=300)
    import tarfile

    names = tarfile.open(next(tmp_path.glob("sipparse-*.tar.gz"))).getnames()
    assert any(name.endswith("sipparse/sip/_scan.c") for name in names), names


@pytest.mark.slow
def test_installed_wheel_finds_patterns_outside_checkout(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", str(wheel)], check=True,
                   capture_output=True, timeout=300)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    probe = ("import sipparse, sipparse.grok as g, sipparse.sip.accel as a; print(sipparse.__file__); "
             "print(g.bundled_patterns_dir()); print(a.scan_message is not None)")
    out = subprocess.run([str(python), "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True,
                         check=True, timeout=60).stdout.split("\n")
    assert out[0].startswith(str(venv)), out
    assert out[1].startswith(str(venv)) and (Path(out[1]) / "grok-patterns").is_file()
    if shutil.which("cc") or shutil.which("gcc"):
        assert out[2] == "True", "the installed wheel lacks the C scanner"
    cli = venv / "bin" / "sipparse"
    result = subprocess.run([str(cli), "grok", "expand", "%{IPV4}"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.strip(), result.stderr
    result = subprocess.run([str(python), "-m", "sipparse", "--version"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "sipparse, version" in result.stdout
