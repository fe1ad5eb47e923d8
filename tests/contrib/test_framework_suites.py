"""The frameworks' own backend test suites, from their sdists, against our backends.

Each runs in a subprocess against the session's redis-server: Django's
``BaseCacheTests`` (tests/cache/tests.py of the installed Django's sdist) and
Flask-Caching's ``GenericCacheTests`` (tests/test_backend_cache.py of its
sdist).  The sdists are downloaded once into ``$CACHELAYER_SDIST_CACHE``
(default ``~/.cache/cachelayer-sdists``).  A failure prints the suite's output.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from .sdists import suite_tree

SUITES = Path(__file__).parent / "suites"

pytestmark = pytest.mark.slow


def _run(args: list[str], redis_url: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, CACHELAYER_SUITE_REDIS_URL=redis_url)
    env.pop("PYTEST_ADDOPTS", None)
    return subprocess.run(
        [sys.executable, *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def _report(proc: subprocess.CompletedProcess[str]) -> str:
    out, err = proc.stdout[-20000:], proc.stderr[-20000:]
    return f"exit {proc.returncode}\n--- stdout\n{out}\n--- stderr\n{err}"


def test_django_base_cache_tests(redis_url):
    tests_dir = suite_tree("django", "tests/cache")
    proc = _run([str(SUITES / "run_django.py"), str(tests_dir)], redis_url)
    assert proc.returncode == 0, _report(proc)
    line = r"django cache suite: (\d+) passed, (\d+) failed, (\d+) skipped"
    summary = re.search(line, proc.stdout)
    assert summary, _report(proc)
    passed, failed, skipped = map(int, summary.groups())
    # two configurations (msgpack, signed pickle) of BaseCacheTests minus the exclusions
    assert passed >= 90 and failed == 0 and skipped == 0, _report(proc)


def test_flask_caching_generic_cache_tests(redis_url, tmp_path):
    tests_dir = suite_tree("flask-caching", "tests") / "tests"
    proc = _run([str(SUITES / "run_flask_caching.py"), str(tests_dir), str(tmp_path)], redis_url)
    assert proc.returncode == 0, _report(proc)
    summary = re.search(r"(\d+) passed", proc.stdout)
    assert summary and int(summary.group(1)) >= 52, _report(proc)
    assert "skipped" not in proc.stdout.splitlines()[-1], _report(proc)
