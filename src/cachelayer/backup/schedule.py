"""``backup schedule``: cron-style scheduled full backups with retention pruning.

Configuration (the original system's names): ``BACKUP_ENABLED`` (true/false),
``BACKUP_SCHEDULE`` (five cron fields, default ``0 2 * * *``, UTC),
``BACKUP_RETENTION_DAYS`` (default 7), ``BACKUP_STORAGE_TYPE`` (``local``,
``s3``, ``azure``, ``gcs``, ``memory``) with ``BACKUP_URL`` (a full fsspec
URL, or a path/bucket the storage type's scheme is put in front of).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Callable, Optional, Union

from ..errors import CacheError, ConfigError
from .progress import Progress
from .signals import StopFlag, StopRequest

__all__ = ["Cron", "ScheduleConfig", "StopFlag", "run_schedule"]

log = logging.getLogger("cachelayer.backup")
_SCHEMES = {
    "local": "file://",
    "file": "file://",
    "s3": "s3://",
    "azure": "az://",
    "az": "az://",
    "gcs": "gs://",
    "gs": "gs://",
    "memory": "memory://",
}
_FIELDS = (
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day of month", 1, 31),
    ("month", 1, 12),
    ("day of week", 0, 7),
)


def _parse_field(text: str, name: str, low: int, high: int) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        body, _, step_text = part.partition("/")
        try:
            step = int(step_text) if step_text else 1
            if body == "*":
                start, end = low, high
            elif "-" in body:
                a, b = body.split("-", 1)
                start, end = int(a), int(b)
            else:
                start = int(body)
                end = high if step_text else start
        except ValueError:
            raise ConfigError(f"BACKUP_SCHEDULE: bad {name} field {text!r}") from None
        if step < 1 or not low <= start <= end <= high:
            raise ConfigError(f"BACKUP_SCHEDULE: {name} {text!r} is outside {low}-{high}")
        values.update(range(start, end + 1, step))
    if name == "day of week" and 7 in values:  # 0 and 7 are both Sunday
        values.discard(7)
        values.add(0)
    return frozenset(values)


class Cron:
    """Five-field cron expression (minute hour day-of-month month day-of-week), in UTC."""

    def __init__(self, expression: str) -> None:
        parts = expression.split()
        if len(parts) != 5:
            raise ConfigError(
                f"BACKUP_SCHEDULE must have 5 cron fields (e.g. '0 2 * * *'), got {expression!r}"
            )
        self.expression = expression
        self.fields = [_parse_field(p, *f) for p, f in zip(parts, _FIELDS)]
        self._dom_any = parts[2] == "*"
        self._dow_any = parts[4] == "*"

    def matches(self, ts: float) -> bool:
        """Whether the minute holding Unix time *ts* is scheduled."""
        t = time.gmtime(ts)
        minute, hour, dom, month, dow = self.fields
        day_ok = (
            (t.tm_mday in dom)
            if self._dow_any
            else (
                ((t.tm_wday + 1) % 7 in dow)
                if self._dom_any
                else (t.tm_mday in dom or (t.tm_wday + 1) % 7 in dow)
            )
        )
        return t.tm_min in minute and t.tm_hour in hour and t.tm_mon in month and day_ok

    def next_after(self, ts: float) -> float:
        """The first scheduled minute strictly after *ts* (Unix time).

        Days and hours that cannot match are skipped whole, so even a
        schedule that fires once in four years is found in a few thousand steps.
        """
        t = (int(ts) // 60 + 1) * 60
        limit = t + 5 * 366 * 86400
        minutes, hours = self.fields[0], self.fields[1]
        while t < limit:
            if not self._day_matches(t):
                t = (t // 86400 + 1) * 86400
                continue
            if time.gmtime(t).tm_hour not in hours:
                t = (t // 3600 + 1) * 3600
                continue
            if time.gmtime(t).tm_min in minutes:
                return float(t)
            t += 60
        raise ConfigError(f"BACKUP_SCHEDULE {self.expression!r} never fires")

    def _day_matches(self, ts: float) -> bool:
        t = time.gmtime(ts)
        _, _, dom, month, dow = self.fields
        if t.tm_mon not in month:
            return False
        if self._dow_any:
            return t.tm_mday in dom
        if self._dom_any:
            return (t.tm_wday + 1) % 7 in dow
        return t.tm_mday in dom or (t.tm_wday + 1) % 7 in dow


class _Cancelled(CacheError):
    """The scheduled backup was stopped by a stop request."""


class _StopCheck(Progress):
    """A silent progress sink that aborts the backup it watches once *stop* is set."""

    def __init__(self, stop: StopRequest) -> None:
        super().__init__("backup", enabled=False)
        self._stop = stop

    def update(self, keys: int = 0, nbytes: int = 0) -> None:
        """Count, and raise :class:`_Cancelled` if the stop was requested."""
        if self._stop.is_set():
            raise _Cancelled("backup stopped: the scheduler is shutting down")
        super().update(keys, nbytes)


@dataclass
class ScheduleConfig:
    """The scheduler's settings."""

    enabled: bool = True
    schedule: str = "0 2 * * *"
    retention_days: float = 7.0
    storage_url: str = ""
    redis_url: str = "redis://localhost:6379/0"
    namespace: Optional[str] = None

    @classmethod
    def from_env(cls, environ: Optional[Mapping[str, str]] = None) -> ScheduleConfig:
        """Read ``BACKUP_*`` and ``REDIS_URL``."""
        env = os.environ if environ is None else environ
        url = env.get("BACKUP_URL", "")
        kind = env.get("BACKUP_STORAGE_TYPE", "").lower()
        if url and "://" not in url and kind:
            if kind not in _SCHEMES:
                raise ConfigError(
                    f"BACKUP_STORAGE_TYPE must be one of {sorted(set(_SCHEMES))}, got {kind!r}"
                )
            url = _SCHEMES[kind] + (os.path.abspath(url) if kind in ("local", "file") else url)
        try:
            retention = float(env.get("BACKUP_RETENTION_DAYS", "7"))
        except ValueError:
            raise ConfigError("BACKUP_RETENTION_DAYS must be a number of days") from None
        if retention <= 0:
            raise ConfigError(f"BACKUP_RETENTION_DAYS must be positive, got {retention}")
        return cls(
            enabled=env.get("BACKUP_ENABLED", "true").lower() in ("1", "true", "yes", "on"),
            schedule=env.get("BACKUP_SCHEDULE", "0 2 * * *"),
            retention_days=retention,
            storage_url=url,
            redis_url=env.get("REDIS_URL", "redis://localhost:6379/0"),
        )


def run_schedule(
    config: ScheduleConfig,
    *,
    stop: Optional[Union[threading.Event, StopFlag, StopRequest]] = None,
    clock: Callable[[], float] = time.time,
    run: Optional[Callable[[], object]] = None,
    max_runs: Optional[int] = None,
) -> int:
    """Run backups on the schedule until *stop* is set; prune after each success.

    Returns the number of runs.  A failed run is logged and recorded (its
    outcome) and the scheduler goes on.  A stop requested during the default
    backup job aborts it at the next key (the partial archive is removed,
    the run is recorded as failed) instead of waiting for it to finish.
    """
    from .full import backup_full
    from .ops import prune

    if not config.enabled:
        log.info("backup schedule: BACKUP_ENABLED is false; nothing to do")
        return 0
    if not config.storage_url:
        raise ConfigError("backup schedule needs BACKUP_URL (or a STORAGE argument)")
    cron = Cron(config.schedule)
    stopper: StopRequest = stop if stop is not None else threading.Event()
    runs = 0

    def default_run() -> object:
        return backup_full(
            config.redis_url,
            config.storage_url,
            namespace=config.namespace,
            progress=_StopCheck(stopper),
        )

    job = run or default_run
    while not stopper.is_set() and (max_runs is None or runs < max_runs):
        due = cron.next_after(clock())
        when = time.strftime("%Y-%m-%d %H:%M", time.gmtime(due))
        log.info("backup schedule: next run at %s UTC", when)
        while not stopper.is_set() and clock() < due:
            stopper.wait(min(30.0, max(0.0, due - clock())))
        if stopper.is_set():
            break
        runs += 1
        try:
            job()
        except _Cancelled as exc:
            log.info("%s", exc)
            break
        except CacheError as exc:
            log.error("scheduled backup failed: %s", exc)
            continue
        if stopper.is_set():
            break
        try:
            removed = prune(config.storage_url, config.retention_days)
            log.info("scheduled backup done; pruned %d old archive(s)", len(removed))
        except CacheError as exc:
            log.error("pruning after the scheduled backup failed: %s", exc)
    return runs
