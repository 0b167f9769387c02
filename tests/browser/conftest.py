"""The browser tests reuse the report tests' hand-made verdicts and recorded runs (tests/unit)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parents[1] / "unit"
sys.path[:0] = [str(UNIT), str(UNIT / "report")]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        item.add_marker(pytest.mark.browser)
