"""The ``cachelayer`` command line, run as a user would."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


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
    result = run(
        "demo", "--no-serve", "--requests", "600", "--lessons", "300", "--loader-ms", "0.5"
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "no --redis-url: started /" in out and "it is stopped at exit" in out
    assert "hit ratio:" in out and "loader alone" in out and "through the cache" in out
    for outcome in ("L1 hit", "Redis hit", "miss"):
        assert f"\n  {outcome} " in out
    assert "compression:" in out


def test_demo_against_a_given_redis(redis_url):
    result = run(
        "demo",
        "--no-serve",
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
    assert "started" not in result.stdout and "hit ratio:" in result.stdout


def test_demo_without_any_redis_runs_l1_only(tmp_path):
    env = dict(os.environ, PATH=str(tmp_path), CACHELAYER_REDIS_SERVER=str(tmp_path / "none"))
    result = run(
        "demo", "--no-serve", "--requests", "300", "--lessons", "100", "--loader-ms", "0", env=env
    )
    assert result.returncode == 0, result.stderr
    assert "running with the in-process L1 only" in result.stdout
    assert "hit ratio:" in result.stdout


def test_demo_asks_before_clearing_a_namespace_in_use(redis_url):
    import redis

    client = redis.Redis.from_url(redis_url)
    client.set("demo:mine", b"keep me")
    small = ["--requests", "50", "--lessons", "20", "--loader-ms", "0"]
    refused = run("demo", "--no-serve", "--redis-url", redis_url, *small)
    assert refused.returncode == 2
    assert "namespace 'demo'" in refused.stderr and "--force" in refused.stderr
    assert client.get("demo:mine") == b"keep me"
    elsewhere = run("demo", "--no-serve", "--redis-url", redis_url, "--namespace", "demo2", *small)
    assert elsewhere.returncode == 0, elsewhere.stderr
    assert client.get("demo:mine") == b"keep me"
    forced = run("demo", "--no-serve", "--redis-url", redis_url, "--force", *small)
    assert forced.returncode == 0, forced.stderr
    assert client.get("demo:mine") is None
    client.close()


@pytest.mark.parametrize(
    ("argv", "prog"),
    [
        (["-m", "cachelayer", "demo", "--help"], "cachelayer demo"),
        (["-m", "cachelayer", "bench", "--help"], "cachelayer bench"),
        (["-m", "cachelayer", "compress-bench", "--help"], "cachelayer compress-bench"),
        (["-m", "cachelayer.testing.topology", "--help"], "python -m cachelayer.testing.topology"),
        (["-m", "cachelayer.testing.chaos", "--help"], "python -m cachelayer.testing.chaos"),
    ],
)
def test_help_texts_are_plain_and_name_the_command(argv, prog):
    result = subprocess.run([sys.executable, *argv], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: {prog} ")
    for markup in ("``", ":class:", ":func:", ":mod:", ":data:", "::\n"):
        assert markup not in result.stdout, markup


def test_demo_help_shows_every_default():
    out = " ".join(run("demo", "--no-serve", "--help").stdout.split())
    for default in ("20000", "5000", "1.0", "2.0", "1", "demo", "1000"):
        assert f"(default: {default})" in out, default


def test_compress_bench_help_lists_the_codecs():
    from cachelayer.compress_bench import DEFAULT_CANDIDATES

    out = " ".join(run("compress-bench", "--help").stdout.split())
    assert ", ".join(DEFAULT_CANDIDATES) in out


def test_bench_reports_peers_that_are_not_installed(tmp_path):
    # a module that shadows one optional peer and fails to import, as a missing one does
    (tmp_path / "theine.py").write_text("raise ImportError('not installed here')\n")
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    code = (
        "from cachelayer import bench; "
        "print(bench.not_measured(bench.missing_peers())); "
        "print([p.name for p in bench.peers()])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == 0, result.stderr
    line, present = result.stdout.splitlines()
    # which other peers are installed depends on the extras (README's test command installs
    # [test] only): the shadowed one is listed as missing, the stdlib one is always present
    assert line.startswith("not measured, not installed: ")
    assert "theine (theine)" in line
    assert "pip install 'cachelayer[bench]'" in line
    assert "'theine'" not in present and "'functools.lru_cache'" in present
