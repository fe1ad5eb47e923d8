"""The C table on its own: a debug (CL_DEBUG) + sanitizer build of csrc/ driven
by random operation sequences (tests/csrc/stress_table.c).

Every mutation runs the full consistency check (cl_table_check), so a broken
invariant aborts the program; AddressSanitizer/UBSan catch memory errors.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CSRC = ROOT / "csrc"
SOURCES = [
    CSRC / n for n in ("table.c", "table_check.c", "wheel.c", "ghost.c", "sketch.c", "s3fifo.c")
]


def _compiler() -> str:
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.fail("a C compiler is needed to build the csrc/ stress test")
    return cc


def _build(tmp: Path, sanitize: bool) -> Path:
    exe = tmp / ("stress_san" if sanitize else "stress")
    flags = ["-std=c99", "-O1", "-g", "-Wall", "-Wextra", "-Werror", "-pedantic", "-DCL_DEBUG"]
    if sanitize:
        flags += ["-fsanitize=address,undefined", "-fno-sanitize-recover=all"]
    cmd = [_compiler(), *flags, f"-I{CSRC}", str(ROOT / "tests/csrc/stress_table.c")]
    cmd += [str(s) for s in SOURCES] + ["-lm", "-o", str(exe)]
    subprocess.run(cmd, check=True)
    return exe


@pytest.fixture(scope="module")
def stress(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("csrc")
    if sys.platform.startswith("linux"):
        return _build(tmp, sanitize=True)
    return _build(tmp, sanitize=False)  # pragma: no cover - CI runs Linux


@pytest.mark.parametrize(
    ("max_entries", "ops", "policy", "hashes", "step", "weighted"),
    [
        (50, 100_000, 0, "random", 0.001, 0),
        (50, 100_000, 1, "random", 0.001, 0),
        (300, 60_000, 1, "random", 0.001, 0),
        (40, 60_000, 1, "few", 0.001, 0),
        (300, 8_000, 1, "same", 0.001, 0),
        (300, 8_000, 0, "same", 0.001, 0),
        (200, 30_000, 1, "random", 100_000.0, 0),  # months of clock: epoch rebases
        (200, 30_000, 0, "random", 3600.0, 0),
        (100, 40_000, 1, "random", 0.01, 1),
        (100, 40_000, 0, "few", 0.3, 1),
    ],
)
def test_random_operations_keep_every_invariant(
    stress, max_entries, ops, policy, hashes, step, weighted
):
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=1")
    for seed in (1, 2):
        result = subprocess.run(
            [
                str(stress),
                str(max_entries),
                str(ops),
                str(policy),
                hashes,
                str(step),
                str(weighted),
                str(seed),
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=600,
        )
        assert result.returncode == 0, result.stderr[-2000:]
        assert result.stdout.startswith("ok ")
