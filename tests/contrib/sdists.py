"""Framework test suites from their sdists on PyPI, downloaded once and cached.

``suite_tree("django", "tests/cache")`` downloads the sdist of the installed
Django version (``pip download --no-binary :all: --no-deps``) into the cache
directory (``$CACHELAYER_SDIST_CACHE``, else ``~/.cache/cachelayer-sdists``),
extracts the members under the given prefix next to it, and returns the
directory holding them.  The installed version is the one whose tests match
its code, so the sdist always follows the installed package.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

CACHE = Path(
    os.environ.get("CACHELAYER_SDIST_CACHE") or Path.home() / ".cache" / "cachelayer-sdists"
)


def installed_version(project: str) -> str:
    return importlib.metadata.version(project)


def _sdist(project: str, version: str) -> Path:
    CACHE.mkdir(parents=True, exist_ok=True)
    stem = project.replace("-", "_").lower()
    for path in CACHE.glob("*.tar.gz"):
        name = path.name.replace("-", "_").lower()
        if name == f"{stem}_{version}.tar.gz":
            return path
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-binary",
            ":all:",
            "--no-deps",
            f"{project}=={version}",
            "-d",
            str(CACHE),
        ],
        check=True,
        timeout=600,
    )
    return _sdist(project, version)


def suite_tree(project: str, member: str) -> Path:
    """Directory holding *member* (e.g. ``tests/cache``) of the installed *project*'s sdist.

    Returns the parent of the extracted *member* (``.../tests`` for ``tests/cache``).
    """
    version = installed_version(project)
    target = CACHE / f"{project}-{version}"
    done = target / ".complete"
    if not done.exists():
        archive = _sdist(project, version)
        scratch = Path(tempfile.mkdtemp(dir=CACHE, prefix=".extract-"))
        try:
            with tarfile.open(archive) as tar:
                top = tar.getnames()[0].split("/", 1)[0]
                prefix = f"{top}/{member}"
                members = [
                    m
                    for m in tar.getmembers()
                    if (m.name == prefix or m.name.startswith(prefix + "/"))
                    and (m.isfile() or m.isdir())
                ]
                if not members:
                    raise RuntimeError(f"{archive.name} has no {member}/")
                if hasattr(tarfile, "data_filter"):
                    tar.extractall(scratch, members=members, filter="data")
                else:  # pragma: no cover - Python < 3.9.17
                    tar.extractall(scratch, members=members)
            shutil.rmtree(target, ignore_errors=True)
            (scratch / top).rename(target)
            done.write_text(archive.name + "\n")
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return (target / member).parent
