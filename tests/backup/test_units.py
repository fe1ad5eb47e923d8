"""Scheduler cron, retention config, outcomes and the progress line."""

from __future__ import annotations

import calendar
import io
import threading
import time

import pytest

from cachelayer.backup import outcome
from cachelayer.backup.command import parse_time
from cachelayer.backup.progress import Progress
from cachelayer.backup.schedule import Cron, ScheduleConfig, run_schedule
from cachelayer.errors import BackupError, ConfigError


def _utc(*fields: int) -> float:
    return float(calendar.timegm((*fields, 0, 0, 0)))


def test_cron_next_after() -> None:
    assert Cron("0 2 * * *").next_after(_utc(2024, 1, 31, 3, 0, 0)) == _utc(2024, 2, 1, 2, 0, 0)
    assert Cron("*/15 * * * 1-5").next_after(_utc(2024, 2, 3, 3, 7, 0)) == _utc(2024, 2, 5, 0, 0, 0)
    assert Cron("30 4 1 * *").next_after(_utc(2024, 2, 1, 4, 30, 0)) == _utc(2024, 3, 1, 4, 30, 0)
    assert Cron("0 0 * * 7").next_after(_utc(2024, 2, 3, 0, 0, 0)) == _utc(2024, 2, 4, 0, 0, 0)


@pytest.mark.parametrize("bad", ["0 2 * *", "61 * * * *", "a * * * *", "0 0 0 * *", "*/0 * * * *"])
def test_cron_rejects(bad: str) -> None:
    with pytest.raises(ConfigError, match="BACKUP_SCHEDULE"):
        Cron(bad)


def test_schedule_config_from_env(tmp_path) -> None:
    cfg = ScheduleConfig.from_env(
        {
            "BACKUP_STORAGE_TYPE": "s3",
            "BACKUP_URL": "bucket/x",
            "BACKUP_RETENTION_DAYS": "3",
            "BACKUP_ENABLED": "false",
        }
    )
    assert cfg.storage_url == "s3://bucket/x" and cfg.retention_days == 3 and not cfg.enabled
    with pytest.raises(ConfigError, match="BACKUP_RETENTION_DAYS"):
        ScheduleConfig.from_env({"BACKUP_RETENTION_DAYS": "-1"})
    with pytest.raises(ConfigError, match="BACKUP_STORAGE_TYPE"):
        ScheduleConfig.from_env({"BACKUP_STORAGE_TYPE": "ftp", "BACKUP_URL": "x"})


def test_scheduler_runs_on_schedule_and_prunes(tmp_path, clock) -> None:
    clock.now = _utc(2024, 1, 31, 1, 59, 0)
    calls: list[float] = []
    stop = threading.Event()

    def job() -> None:
        calls.append(clock.now)
        clock.advance(86400 - 60)
        if len(calls) == 1:
            raise BackupError("first run fails")

    original = stop.wait

    def fake_wait(seconds: float) -> bool:
        clock.advance(seconds)
        return original(0)

    stop.wait = fake_wait  # type: ignore[method-assign]
    cfg = ScheduleConfig(schedule="0 2 * * *", storage_url=f"file://{tmp_path}")
    assert run_schedule(cfg, stop=stop, clock=clock, run=job, max_runs=2) == 2
    assert calls == [_utc(2024, 1, 31, 2, 0, 0), _utc(2024, 2, 1, 2, 0, 0)]
    assert outcome.summary("prune")["runs_total"] == 1  # only after the success


def test_outcome_summary() -> None:
    assert (
        outcome.summary()["runs_total"] == 0 and outcome.summary()["last_success_timestamp"] is None
    )
    outcome.record(
        outcome.BackupOutcome("backup", started_at=100.0, duration_seconds=2.0, keys=5, bytes=50)
    )
    outcome.record(
        outcome.BackupOutcome("backup", started_at=200.0, duration_seconds=1.0, error="boom")
    )
    s = outcome.summary()
    assert s == {
        "runs_total": 2,
        "failures_total": 1,
        "last_success_timestamp": 102.0,
        "last_failure_timestamp": 201.0,
        "last_duration_seconds": 1.0,
        "last_bytes": 50,
        "last_keys": 5,
    }
    assert [o.ok for o in outcome.recent("backup")] == [True, False]


def test_outcome_status_file(tmp_path, monkeypatch) -> None:
    path = tmp_path / "status.jsonl"
    monkeypatch.setenv("CACHELAYER_BACKUP_STATUS_FILE", str(path))
    outcome.record(outcome.BackupOutcome("restore", keys=3))
    assert '"operation": "restore"' in path.read_text()


def test_progress_line_and_quiet_off_terminal() -> None:
    out = io.StringIO()
    p = Progress("backup", total=200, stream=out, enabled=True)
    p.update(100, 2_000_000)
    p.close()
    text = out.getvalue()
    assert "50.0%" in text and "100/200 keys" in text and "MB" in text and "keys/s" in text
    quiet = io.StringIO()
    q = Progress("backup", stream=quiet)
    q.update(1, 1)
    q.close()
    assert quiet.getvalue() == ""


def test_parse_time() -> None:
    assert parse_time("1700000000.5") == 1700000000.5
    assert parse_time("2024-01-31T02:00:00Z") == _utc(2024, 1, 31, 2, 0, 0)
    with pytest.raises(ConfigError, match="--at"):
        parse_time("yesterday")
    assert time.time() > 0
