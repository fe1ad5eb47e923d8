"""``cachelayer backup ...`` / ``cachelayer restore ...`` end to end."""

from __future__ import annotations

import os
import subprocess
import sys

import redis

from cachelayer.cli import main


def test_run_list_restore_verify_prune(redis_server_factory, local_storage, capsys) -> None:
    src, dst = redis_server_factory(), redis_server_factory()
    rs = redis.Redis.from_url(src.url)
    for i in range(100):
        rs.set(f"app:{i}", i)
    assert main(["backup", "run", "--redis-url", src.url, "--namespace", "app", local_storage]) == 0
    out = capsys.readouterr().out
    assert "keys" in out and "100" in out
    assert main(["backup", "list", local_storage]) == 0
    assert "keys full" in capsys.readouterr().out
    assert main(["restore", "--redis-url", dst.url, "--dry-run", local_storage]) == 0
    assert "would write" in capsys.readouterr().out
    assert (
        main(
            [
                "restore",
                "--redis-url",
                dst.url,
                "--namespace",
                "app",
                "--to-namespace",
                "b",
                "--verify",
                local_storage,
            ]
        )
        == 0
    )
    assert redis.Redis.from_url(dst.url).get("b:7") == b"7"
    assert "mismatched" in capsys.readouterr().out
    assert (
        main(
            [
                "restore",
                "--redis-url",
                dst.url,
                "--namespace",
                "app",
                "--to-namespace",
                "b",
                local_storage,
            ]
        )
        == 1
    )
    assert "--replace" in capsys.readouterr().err
    assert main(["backup", "verify", local_storage]) == 0
    assert main(["backup", "prune", "--retention-days", "1", local_storage]) == 0


def test_failures_exit_non_zero_with_the_reason(tmp_path) -> None:
    env = dict(os.environ, REDIS_URL="redis://127.0.0.1:1/0")
    proc = subprocess.run(
        [sys.executable, "-m", "cachelayer", "backup", "run", f"file://{tmp_path}/b"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 1 and "cannot connect" in proc.stderr
    proc = subprocess.run(
        [sys.executable, "-m", "cachelayer", "restore", f"file://{tmp_path}/empty"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 1 and "no complete full backup" in proc.stderr
