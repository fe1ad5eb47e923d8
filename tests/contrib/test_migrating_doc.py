"""docs/migrating.md runs as written: every python block in a fresh interpreter
against the test's redis-server (only ``redis://localhost:6379/0`` is replaced)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "migrating.md"
BLOCKS = re.findall(r"^```python\n(.*?)^```$", DOC.read_text(), re.S | re.M)
DOC_REDIS = "redis://localhost:6379/0"


def test_the_page_has_its_snippets():
    assert len(BLOCKS) == 5
    assert all(DOC_REDIS in code for code in BLOCKS)


@pytest.mark.parametrize(
    "code", BLOCKS, ids=["django", "flask", "asyncio", "cachetools", "dogpile"]
)
def test_snippet_runs(code, redis_url, tmp_path):
    script = tmp_path / "snippet.py"
    script.write_text(code.replace(DOC_REDIS, redis_url))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DJANGO_SETTINGS_MODULE")}
    for _ in range(2):  # pasted twice, it still runs
        result = subprocess.run(
            [sys.executable, str(script)],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, f"{code}\n--- stderr\n{result.stderr}"
