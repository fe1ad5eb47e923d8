"""The outcome of every backup and restore run, kept where the metrics module reads it.

:func:`record` is called once per run (success or failure) by the backup,
restore, stream, verify and prune operations; :func:`summary` gives the
numbers a Prometheus collector exports as ``cachelayer_backup_*``.  Outcomes
live in this process (the scheduler's, for ``cachelayer backup schedule``);
with ``CACHELAYER_BACKUP_STATUS_FILE`` set, each is also appended to that
file as one JSON line, so another process can read them.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

__all__ = ["BackupOutcome", "clear", "recent", "record", "summary"]

#: How many outcomes :func:`recent` keeps.
RECENT_LIMIT = 100


@dataclass
class BackupOutcome:
    """One run: what, when, how long, how much, and the error if it failed."""

    operation: str  # "backup", "restore", "stream", "verify", "prune"
    kind: str = "full"  # full, incremental, differential, rdb, pitr, segment, ...
    started_at: float = field(default_factory=time.time)
    duration_seconds: float = 0.0
    keys: int = 0
    bytes: int = 0
    error: Optional[str] = None
    archive: str = ""
    storage: str = ""

    @property
    def ok(self) -> bool:
        """Whether the run succeeded."""
        return self.error is None

    @property
    def finished_at(self) -> float:
        """Unix time the run ended."""
        return self.started_at + self.duration_seconds

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``ok`` and ``finished_at`` included)."""
        data = asdict(self)
        data["ok"] = self.ok
        data["finished_at"] = self.finished_at
        return data


_lock = threading.Lock()
_recent: deque[BackupOutcome] = deque(maxlen=RECENT_LIMIT)
_totals: dict[str, dict[str, Any]] = {}


def _empty() -> dict[str, Any]:
    return {
        "runs_total": 0,
        "failures_total": 0,
        "last_success_timestamp": None,
        "last_failure_timestamp": None,
        "last_duration_seconds": None,
        "last_bytes": None,
        "last_keys": None,
    }


def record(outcome: BackupOutcome) -> None:
    """Remember *outcome* (thread-safe); also append it to the status file if configured."""
    with _lock:
        _recent.append(outcome)
        totals = _totals.setdefault(outcome.operation, _empty())
        totals["runs_total"] += 1
        totals["last_duration_seconds"] = outcome.duration_seconds
        if outcome.ok:
            totals["last_success_timestamp"] = outcome.finished_at
            totals["last_bytes"] = outcome.bytes
            totals["last_keys"] = outcome.keys
        else:
            totals["failures_total"] += 1
            totals["last_failure_timestamp"] = outcome.finished_at
    path = os.environ.get("CACHELAYER_BACKUP_STATUS_FILE")
    if path:
        try:
            with open(path, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(outcome.to_dict()) + "\n")
        except OSError:  # the status file is advisory; the run's own result stands
            pass


def recent(operation: Optional[str] = None) -> list[BackupOutcome]:
    """The last outcomes, oldest first (only *operation*'s if given)."""
    with _lock:
        return [o for o in _recent if operation is None or o.operation == operation]


def summary(operation: str = "backup") -> dict[str, Any]:
    """Counters of *operation* runs: runs_total, failures_total, last_* (None before any run)."""
    with _lock:
        return dict(_totals.get(operation, _empty()))


def clear() -> None:
    """Forget every outcome (for tests)."""
    with _lock:
        _recent.clear()
        _totals.clear()
