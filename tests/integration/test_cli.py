"""The ``cachelayer`` command line, run as a user would."""

from __future__ import annotations

import os
import subprocess
import sys


def run(*args: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cachelayer", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def test_help_lists_every_command():
    result = run("--help")
    assert result.returncode == 0
    for command in ("demo", "bench", "compress-bench"):
        assert command in result.stdout
    assert run("--version").stdout.startswith("cachelayer ")


def test_demo_with_an_embedded_redis():
    result = run("demo", "--requests", "600", "--lessons", "300", "--loader-ms", "0.5")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "started an embedded Redis" in out
    assert "hit ratio:" in out and "loader alone" in out and "through the cache" in out
    assert "compression:" in out


def test_demo_against_a_given_redis(redis_url):
    result = run(
        "demo",
        "--redis-url",
        redis_url,
        "--requests",
        "300",
        "--lessons",
        "100",
        "--loader-ms",
        "0",
    )
    assert result.returncode == 0, result.stderr
    assert "embedded" not in result.stdout and "hit ratio:" in result.stdout


def test_demo_without_any_redis_runs_l1_only(tmp_path):
    env = dict(os.environ, PATH=str(tmp_path), CACHELAYER_REDIS_SERVER=str(tmp_path / "none"))
    result = run("demo", "--requests", "300", "--lessons", "100", "--loader-ms", "0", env=env)
    assert result.returncode == 0, result.stderr
    assert "running with the in-process L1 only" in result.stdout
    assert "hit ratio:" in result.stdout
