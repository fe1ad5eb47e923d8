"""The codec kernels on their own: a debug (CL_DEBUG) + sanitizer build of
csrc/codec_*.c driven by random, mutated and truncated inputs
(tests/csrc/fuzz_codec.c).

Every input sits in a heap block of exactly its length, so AddressSanitizer
reports any read past the length the kernels are given; CL_DEBUG turns on
the selector's invariant checks; the driver checks canonical re-encoding of
every header, varint and integer that parses.
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
SOURCES = sorted(CSRC.glob("codec_*.c"))


def _compiler() -> str:
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.fail("a C compiler is needed to build the codec fuzz driver")
    return cc


def build_driver(tmp_path_factory: pytest.TempPathFactory, name: str, sources: list[Path]) -> Path:
    """Compile tests/csrc/*name*.c with *sources*: strict C99, CL_DEBUG, ASan/UBSan on Linux."""
    exe = tmp_path_factory.mktemp(f"csrc-{name}") / name
    flags = ["-std=c99", "-O1", "-g", "-Wall", "-Wextra", "-Werror", "-pedantic", "-DCL_DEBUG"]
    if sys.platform.startswith("linux"):
        flags += ["-fsanitize=address,undefined", "-fno-sanitize-recover=all"]
    cmd = [_compiler(), *flags, f"-I{CSRC}", str(ROOT / f"tests/csrc/{name}.c")]
    cmd += [str(s) for s in sources] + ["-o", str(exe)]
    subprocess.run(cmd, check=True)
    return exe


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_driver(tmp_path_factory, "fuzz_codec", SOURCES)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_codec_kernels_under_sanitizers(driver: Path, seed: int) -> None:
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=1")
    env.pop("LD_PRELOAD", None)
    result = subprocess.run(
        [str(driver), "200000", str(seed)], capture_output=True, text=True, env=env, timeout=300
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert result.stdout.strip() == "ok 200000"
