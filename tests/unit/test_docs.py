"""The documentation stays true to the code."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from cachelayer import CacheConfig

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_every_cache_option_is_documented():
    doc = (DOCS / "operations.md").read_text()
    missing = [f.name for f in dataclasses.fields(CacheConfig) if f"| `{f.name}` |" not in doc]
    assert missing == []
