"""``restore``: write a key archive (or a point in time) back into a server.

The archive is copied to a local spool file when the storage is remote, its
every chunk is checked (first pass) before the first write, and the target
is checked for existing keys unless ``replace``.  ``at`` selects a point in
time (:mod:`cachelayer.backup.pitr`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Optional

from ..errors import ArchiveCorrupt, BackupError, RestoreConflict
from .apply import KeyFilter, RestoreCounts, find_conflicts, restore_records, target_is_empty
from .archive import CHUNK_DATA, KIND_KEYS, ArchiveReader
from .batch import KeyColumns
from .catalog import Manifest, list_manifests
from .crypto import Keyring
from .endpoints import parse_endpoints
from .outcome import BackupOutcome, record
from .progress import Progress
from .records import KeyRecord, iter_records
from .storage import Storage

__all__ = ["RestoreResult", "key_batches", "key_chunks", "key_records", "local_copy", "restore"]


@dataclass
class RestoreResult:
    """What a restore did: the archive(s) used and the counts."""

    archive: str
    keys: int = 0
    bytes: int = 0
    expired: int = 0
    filtered: int = 0
    dry_run: bool = False
    point_in_time: Optional[float] = None
    types: dict[str, int] = field(default_factory=dict)


@contextlib.contextmanager
def local_copy(storage: Storage, name: str) -> Iterator[str]:
    """A local file path holding object *name* (the object itself for ``file://``)."""
    if storage.local:
        path = storage.path(name)
        if not os.path.exists(path):
            raise BackupError(f"storage {storage.shown!r}: no archive {name!r}")
        yield path
        return
    fd, path = tempfile.mkstemp(prefix="cachelayer-restore-", suffix=".clbk")
    try:
        with os.fdopen(fd, "wb") as out, storage.reader(name) as src:
            shutil.copyfileobj(src, out, 1 << 20)
        yield path
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)


def key_chunks(path: str, shown: str, keyring: Optional[Keyring]) -> Iterator[bytes]:
    """The raw data chunks of the key archive at *path*, each checked as it is read."""
    with open(path, "rb") as fh:
        reader = ArchiveReader(fh, shown, keyring)
        if reader.header.kind != KIND_KEYS:
            raise ArchiveCorrupt(f"{shown}: not a key archive", path=shown)
        for ctype, _, raw in reader.chunks():
            if ctype == CHUNK_DATA:
                yield raw


def key_records(path: str, shown: str, keyring: Optional[Keyring]) -> Iterator[KeyRecord]:
    """The key records of the key archive at *path*, one object each (every chunk checked)."""
    for rec in iter_records(key_chunks(path, shown, keyring), shown):
        if not isinstance(rec, KeyRecord):
            raise ArchiveCorrupt(f"{shown}: a command record in a key archive", path=shown)
        yield rec


def key_batches(
    path: str, shown: str, keyring: Optional[Keyring], keys: KeyFilter
) -> Iterator[KeyColumns]:
    """The records of *path* that *keys* selects and that have not expired, a chunk at a time."""
    now_ms = int(time.time() * 1000)
    return keys.columns(key_chunks(path, shown, keyring), shown, now_ms)


def restore_file(
    redis_url: str,
    path: str,
    shown: str,
    *,
    keys: KeyFilter,
    replace: bool,
    dry_run: bool,
    keyring: Optional[Keyring],
    progress: Optional[Progress],
) -> RestoreCounts:
    """Check then apply the local key archive *path* (see :func:`restore`)."""
    endpoints = parse_endpoints(redis_url)
    planned = RestoreCounts()
    first: Optional[bytes] = None
    if dry_run or not (replace or target_is_empty(endpoints)):
        columns = key_batches(path, shown, keyring, keys)
        first = find_conflicts(endpoints, columns, planned, check=not replace)
    else:  # nothing to compare with: check every chunk without decoding the records
        with open(path, "rb") as fh:
            manifest = Manifest.from_json(ArchiveReader(fh, shown, keyring).check(), shown)
        planned.keys = manifest.keys
    if dry_run:
        return planned
    if first is not None:
        raise RestoreConflict(
            f"the target already holds {planned.conflicts} of the {planned.keys} keys to restore "
            f"(first: {first[:80]!r}); pass --replace to overwrite them; nothing was written"
        )
    if progress is not None:
        progress.total = planned.keys
    done = RestoreCounts()
    restore_records(
        endpoints,
        key_batches(path, shown, keyring, keys),
        done,
        replace=replace,
        on_batch=progress.update if progress is not None else None,
    )
    return done


def _latest_full(storage: Storage, at: Optional[float]) -> Manifest:
    fulls = [m for m in list_manifests(storage, "keys") if at is None or m.finished_at <= at]
    if not fulls:
        when = f" finished before {at}" if at is not None else ""
        raise BackupError(f"storage {storage.shown!r} holds no complete full backup{when}")
    return fulls[-1]


def restore(
    redis_url: str,
    storage_url: str,
    *,
    at: Optional[float] = None,
    archive: Optional[str] = None,
    namespace: Optional[str] = None,
    to_namespace: Optional[str] = None,
    replace: bool = False,
    dry_run: bool = False,
    keyring: Optional[Keyring] = None,
    progress: Optional[Progress] = None,
    storage_options: Optional[dict[str, object]] = None,
) -> RestoreResult:
    """Restore the latest full backup, a named *archive*, or the state at Unix time *at*.

    With *at*, the latest base before *at* plus the replication log up to
    *at* is rebuilt in a scratch server first (:mod:`cachelayer.backup.pitr`).
    Keys whose absolute expiry has passed are not restored.  Raises
    :class:`RestoreConflict` (nothing written) when target keys exist and
    *replace* is false, :class:`ArchiveCorrupt` (nothing written) for a bad
    archive.  Records a :class:`BackupOutcome`.
    """
    started = time.time()
    outcome = BackupOutcome("restore", "pitr" if at is not None else "full", started_at=started)
    try:
        keys = KeyFilter(namespace, to_namespace)
        storage = Storage(storage_url, storage_options)
        outcome.storage = storage.shown
        if at is not None and archive is None:
            from .pitr import materialize

            with materialize(storage, at, keyring=keyring) as (path, label, ring):
                outcome.archive = label
                counts = restore_file(
                    redis_url,
                    path,
                    label,
                    keys=keys,
                    replace=replace,
                    dry_run=dry_run,
                    keyring=ring,
                    progress=progress,
                )
        else:
            name = archive or _latest_full(storage, None).name
            outcome.archive = name
            shown = f"{storage.shown}/{name}"
            with local_copy(storage, name) as path:
                counts = restore_file(
                    redis_url,
                    path,
                    shown,
                    keys=keys,
                    replace=replace,
                    dry_run=dry_run,
                    keyring=keyring,
                    progress=progress,
                )
        outcome.keys, outcome.bytes = counts.keys, counts.bytes
        return RestoreResult(
            outcome.archive,
            counts.keys,
            counts.bytes,
            counts.expired,
            counts.filtered,
            dry_run,
            at,
            counts.types,
        )
    except Exception as exc:
        outcome.error = f"{type(exc).__name__}: {exc}"
        raise
    finally:
        outcome.duration_seconds = time.time() - started
        if progress is not None:
            progress.close()
        record(outcome)
