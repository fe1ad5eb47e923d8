"""``cachelayer backup schedule`` stops promptly, with status 0, on SIGTERM or SIGINT.

The signals are sent to a real scheduler process (``python -m cachelayer
backup schedule``) pointed at a real redis-server: right after it starts
(while the metrics server is still coming up, before the first tick), and
at a steady state (metrics served, waiting for the next run).  A stop that
lands during a scheduled backup aborts that backup and leaves no archive.
"""

from __future__ import annotations

import calendar
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Optional

import pytest
import redis

from cachelayer.backup import outcome
from cachelayer.backup.catalog import list_manifests
from cachelayer.backup.schedule import Cron, ScheduleConfig, run_schedule
from cachelayer.backup.signals import StopFlag
from cachelayer.backup.storage import Storage


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Scheduler:
    """A ``backup schedule`` process whose output lines are collected by a thread."""

    def __init__(self, redis_url: str, storage: Path, metrics_port: Optional[int]) -> None:
        env = {
            **os.environ,
            "REDIS_URL": redis_url,
            "BACKUP_URL": f"file://{storage}",
            "BACKUP_SCHEDULE": "0 0 1 1 *",  # not during the test
        }
        command = [sys.executable, "-m", "cachelayer", "backup", "schedule"]
        if metrics_port is not None:
            command += ["--metrics-port", str(metrics_port)]
        self.proc = subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            line = raw.decode(errors="replace")
            self.output.append(line)
            self.lines.put(line)

    def wait_for(self, text: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if text in self.lines.get(timeout=0.5):
                    return
            except queue.Empty:
                assert self.proc.poll() is None, "".join(self.output)
        pytest.fail(f"no {text!r} line from the scheduler:\n{''.join(self.output)}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def scheduler(redis_url: str, tmp_path: Path) -> Iterator[object]:
    started: list[_Scheduler] = []

    def start(metrics_port: Optional[int] = None) -> _Scheduler:
        started.append(_Scheduler(redis_url, tmp_path / "archives", metrics_port))
        return started[-1]

    yield start
    for proc in started:
        proc.stop()


def _metrics(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
        return str(r.read().decode())


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
@pytest.mark.parametrize("delay", [0.0, 0.02, 0.1])
def test_signal_right_after_start_exits_0(scheduler, signum: int, delay: float) -> None:
    sched = scheduler(_free_port())
    sched.wait_for("backup schedule: starting")
    if delay:
        time.sleep(delay)  # lands while the metrics server starts or the first tick is computed
    sched.proc.send_signal(signum)
    assert sched.proc.wait(20) == 0, "".join(sched.output)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_at_steady_state_exits_0_and_closes_metrics(scheduler, signum: int) -> None:
    port = _free_port()
    sched = scheduler(port)
    sched.wait_for("backup schedule: next run at 20")
    assert "cachelayer_backup_runs_total" in _metrics(port)
    sched.proc.send_signal(signum)
    assert sched.proc.wait(20) == 0, "".join(sched.output)
    assert any(f"stopped by signal {int(signum)}" in line for line in sched.output)
    with pytest.raises(OSError):
        _metrics(port)


def test_sigterm_without_metrics_port_exits_0(scheduler) -> None:
    sched = scheduler(None)
    sched.wait_for("backup schedule: next run at 20")
    sched.proc.terminate()
    assert sched.proc.wait(20) == 0, "".join(sched.output)


def test_stop_flag_wakes_an_unbounded_wait_from_a_signal_handler() -> None:
    flag = StopFlag()
    flag.install([signal.SIGUSR1])
    try:
        timer = threading.Timer(0.05, os.kill, (os.getpid(), signal.SIGUSR1))
        timer.start()
        assert flag.wait(None) is True  # would never return without the wake-up
        assert flag.signal == signal.SIGUSR1
        timer.join()
    finally:
        flag.close()
    assert signal.getsignal(signal.SIGUSR1) == signal.SIG_DFL


class _StopDuringBackup(StopFlag):
    """Requests the stop once the running backup has checked it *after* times."""

    def __init__(self, after: int) -> None:
        super().__init__()
        self.after = after
        self.checks = 0
        self.running = False

    def is_set(self) -> bool:
        if self.running:
            self.checks += 1
            if self.checks >= self.after:
                self.set()
        return super().is_set()


def test_stop_during_a_scheduled_backup_aborts_it_and_leaves_no_archive(
    redis_url: str, tmp_path: Path
) -> None:
    r = redis.Redis.from_url(redis_url)
    p = r.pipeline(transaction=False)
    for i in range(20_000):
        p.set(f"k:{i}", b"v" * 50)
    p.execute()
    start = calendar.timegm((2024, 1, 31, 1, 59, 0, 0, 0, 0))
    times = iter([float(start)] + [float(start + 120)] * 1000)
    flag = _StopDuringBackup(after=5)  # checked once per SCAN page (about 1,000 keys)
    url = f"file://{tmp_path}/archives"
    cfg = ScheduleConfig(schedule="0 2 * * *", storage_url=url, redis_url=redis_url)

    def clock() -> float:
        now = next(times)
        flag.running = now > start  # the due time passed: the backup runs
        return now

    try:
        assert run_schedule(cfg, stop=flag, clock=clock) == 1
    finally:
        flag.close()
    assert flag.checks >= 5
    assert list_manifests(Storage(url)) == []
    assert [f for f in (tmp_path / "archives").rglob("*") if f.is_file()] == []
    last = outcome.recent()[-1]
    assert last.operation == "backup" and not last.ok and "shutting down" in str(last.error)
    assert outcome.summary("prune")["runs_total"] == 0  # no pruning after an aborted run


def test_cron_finds_a_rare_schedule() -> None:
    feb29 = Cron("0 0 29 2 *").next_after(calendar.timegm((2025, 3, 1, 0, 0, 0, 0, 0, 0)))
    assert feb29 == calendar.timegm((2028, 2, 29, 0, 0, 0, 0, 0, 0))
