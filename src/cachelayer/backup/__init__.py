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
from .outcome import BackupOutcome
from .restore import RestoreResult, restore
from .storage import Storage

__all__ = [
    "BackupOutcome",
    "Keyring",
    "Manifest",
    "RestoreResult",
    "Storage",
    "backup_full",
    "list_backups",
    "restore",
]


def list_backups(storage_url: str, kind: str | None = None) -> list[Manifest]:
    """Manifests of the complete archives in *storage_url*, oldest first."""
    return list_manifests(Storage(storage_url), kind)
