"""The echo table and the invalidation scan on their own: a debug (CL_DEBUG)
+ sanitizer build of csrc/echoes.c driven by random operations against a
model and by truncated and mutated RESP2 messages (tests/csrc/fuzz_echoes.c).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.test_csrc_codec import CSRC, ROOT, _compiler


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory) -> Path:
    exe = tmp_path_factory.mktemp("csrc-echoes") / "fuzz_echoes"
    flags = ["-std=c99", "-O1", "-g", "-Wall", "-Wextra", "-Werror", "-pedantic", "-DCL_DEBUG"]
    if sys.platform.startswith("linux"):
        flags += ["-fsanitize=address,undefined", "-fno-sanitize-recover=all"]
    cmd = [_compiler(), *flags, f"-I{CSRC}", str(ROOT / "tests/csrc/fuzz_echoes.c")]
    cmd += [str(CSRC / "echoes.c"), "-o", str(exe)]
    subprocess.run(cmd, check=True)
    return exe


@pytest.mark.parametrize("seed", [1, 2])
def test_echo_table_and_scan_under_sanitizers(driver: Path, seed: int) -> None:
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=1")
    env.pop("LD_PRELOAD", None)
    result = subprocess.run(
        [str(driver), "300000", str(seed)], capture_output=True, text=True, env=env, timeout=300
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    assert result.stdout.strip() == "ok 300000"
