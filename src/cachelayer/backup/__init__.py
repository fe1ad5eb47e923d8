"""Backup and recovery of Redis keys: full, continuous and point-in-time.

The one module that works on Redis keys directly, below the Cache API.

* :func:`backup_full` -- SCAN + DUMP with absolute expiry into a key archive;
* :func:`backup_rdb` -- an RDB snapshot over the replication protocol;
* :class:`ReplicationTap` / :func:`stream` -- the continuous replication log;
* :func:`restore` -- a full backup, an archive, or the state at a moment (``at``);
* :func:`list_backups`, :func:`verify`, :func:`prune` -- storage housekeeping;
* :mod:`cachelayer.backup.outcome` -- every run's outcome, for the metrics.

Storage is any fsspec URL (``file://``, ``memory://``, ``s3://``, ``az://``,
``gs://``); docs/backup.md explains the operations, docs/backup-format.md the
archive format.
"""

from __future__ import annotations

from .catalog import Manifest, list_manifests
from .crypto import Keyring
from .full import backup_full
from .incremental import backup_log_bundle
from .ops import VerifyReport, backup_rdb, prune, verify
from .outcome import BackupOutcome
from .restore import RestoreResult, restore
from .storage import Storage
from .tap import ReplicationTap

__all__ = [
    "BackupOutcome",
    "Keyring",
    "Manifest",
    "ReplicationTap",
    "RestoreResult",
    "Storage",
    "VerifyReport",
    "backup_full",
    "backup_log_bundle",
    "backup_rdb",
    "list_backups",
    "prune",
    "restore",
    "stream",
    "verify",
]


def stream(
    redis_url: str, storage_url: str, *, max_seconds: float | None = None, **options: object
) -> ReplicationTap:
    """Run the continuous replication tap in this thread (see :class:`ReplicationTap`)."""
    tap = ReplicationTap(redis_url, storage_url, **options)  # type: ignore[arg-type]
    tap.run(max_seconds=max_seconds)
    return tap


def list_backups(storage_url: str, kind: str | None = None) -> list[Manifest]:
    """Manifests of the complete archives in *storage_url*, oldest first."""
    return list_manifests(Storage(storage_url), kind)
