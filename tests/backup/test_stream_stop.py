"""``cachelayer backup stream`` ends cleanly on SIGTERM or SIGINT, its segment closed.

A real ``backup stream`` process taps a real redis-server; the signal lands
while the tap holds unwritten commands (the segment is far from due), and
the process must write that segment completely (archive and manifest), then
exit with status 0.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from cachelayer.backup.archive import ArchiveReader
from cachelayer.backup.catalog import list_manifests, partial_archives
from cachelayer.backup.storage import Storage


def _poll(check, proc: subprocess.Popen, what: str, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def,type-arg]
    deadline = time.monotonic() + timeout
    while not check():
        assert proc.poll() is None, f"backup stream exited early ({what})"
        assert time.monotonic() < deadline, f"timed out waiting for: {what}"
        time.sleep(0.05)


def _acknowledged(r: redis.Redis) -> bool:
    info = r.info("replication")
    replica = info.get("slave0")
    return isinstance(replica, dict) and int(replica["offset"]) >= int(info["master_repl_offset"])


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_the_stream_with_its_segment_closed(
    redis_server_factory, tmp_path: Path, signum: int
) -> None:
    src = redis_server_factory()
    rs = redis.Redis.from_url(src.url)
    url = f"file://{tmp_path}/archives"
    storage = Storage(url)
    command = [sys.executable, "-m", "cachelayer", "backup", "stream"]
    command += ["--redis-url", src.url, "--segment-seconds", "3600", url]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _poll(lambda: bool(list_manifests(storage, "rdb")), proc, "the base archive")
        for i in range(100):
            rs.set(f"s:{i}", i)
        _poll(lambda: _acknowledged(rs), proc, "the tap acknowledged every write")
        assert list_manifests(storage, "log") == []  # the segment is still open
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    stderr = err.decode(errors="replace")
    assert proc.returncode == 0, stderr
    assert f"stopped by signal {int(signum)}" in stderr
    segments = list_manifests(storage, "log")
    assert len(segments) == 1 and segments[0].commands == 100
    assert partial_archives(storage) == []
    with open(storage.path(segments[0].name), "rb") as fh:
        ArchiveReader(fh, segments[0].name).check()  # complete: manifest and end chunk
    table = out.decode()
    assert "segments" in table and "100" in table
