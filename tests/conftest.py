"""Shared helpers for the tests: where the recorded runs live."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

RECORDED = Path(__file__).resolve().parent.parent / "fixtures" / "recorded"


@pytest.fixture
def recorded() -> Path:
    return RECORDED
