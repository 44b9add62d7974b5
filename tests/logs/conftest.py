"""Fixtures of the log parser tests."""

from __future__ import annotations

import pytest

from sipparse.sip import accel


@pytest.fixture(params=["c", "python"])
def reader(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each test runs with the C reader and with Python's alone: they must agree."""
    if request.param == "python":
        monkeypatch.setattr(accel, "reader", None)
    elif accel.reader is None:
        pytest.skip("C scanner not built")
    return request.param
