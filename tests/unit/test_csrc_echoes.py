"""The echo table and the invalidation scan on their own: a debug (CL_DEBUG)
+ sanitizer build of csrc/echoes.c driven by random operations against a
model and by truncated and mutated RESP2 messages (tests/csrc/fuzz_echoes.c).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.unit.test_csrc_codec import CSRC, build_driver


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_driver(tmp_path_factory, "fuzz_echoes", [CSRC / "echoes.c"])


@pytest.mark.parametrize("seed", [1, 2])
def test_echo_table_and_scan_under_sanitizers(driver: Path, seed: int) -> None:
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=1")
    env.pop("LD_PRELOAD", None)
    result = subprocess.run(
        [str(driver), "300000", str(seed)], capture_output=True, text=True, env=env, timeout=300
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    assert result.stdout.strip() == "ok 300000"
