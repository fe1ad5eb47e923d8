"""Incremental and differential backups, built on the continuous log.

An *incremental* backup bundles the log segments (``backup stream``) written
since the last backup of any type; a *differential* one those since the last
full backup.  A bundle is one log archive (``backup_type`` ``incremental`` /
``differential``) holding the segments' commands in order; it is
self-contained, so segments may be pruned once bundled.  Point-in-time
restores read the segments themselves (bundles are for shipping and keeping).
"""

from __future__ import annotations

import os
import time
from typing import Callable, Optional

from ..errors import BackupError
from .archive import KIND_LOG, ArchiveWriter
from .catalog import Manifest, archive_name, list_manifests
from .crypto import Keyring
from .outcome import BackupOutcome, record
from .pitr import _commands
from .records import CommandRecord, encode_command
from .restore import local_copy
from .storage import Storage

__all__ = ["backup_log_bundle"]


def _since(
    manifests: list[Manifest], kind: str
) -> tuple[list[Manifest], Callable[[Manifest, CommandRecord], bool]]:
    """The log segments a new *kind* bundle takes, and which of their commands it keeps.

    The cut is the previous backup: for a differential the latest full backup
    or base, for an incremental the latest backup of any type.  It is that
    backup's replication offset (where an RDB stands, the end of a bundle's
    log, where the source stood when a SCAN+DUMP scan was over): exact, so a
    command flushed into a segment only after the previous bundle was written,
    or logged in the millisecond a full backup finished, is still taken.  A
    backup without a position in the segments' history (a cluster's) cuts
    at its time.
    """
    kinds = ("full", "base") + (("incremental", "differential") if kind == "incremental" else ())
    previous = max(
        (m for m in manifests if m.backup_type in kinds),
        key=lambda m: m.finished_at,
        default=None,
    )
    logged = [m for m in manifests if m.backup_type == "segment"]
    if previous is not None and previous.replid and previous.offset_end >= 0:
        replid, cut = previous.replid, previous.offset_end
        segments = [m for m in logged if m.replid == replid and m.offset_end > cut]

        def keep(seg: Manifest, rec: CommandRecord) -> bool:
            return rec.offset > cut

    else:
        # after a bundle: what it did not hold; after a full: from the millisecond it finished
        since_ms = -1
        if previous is not None:
            since_ms = (
                previous.last_ts_ms
                if previous.kind == "log"
                else int(previous.finished_at * 1000) - 1
            )
        segments = [m for m in logged if m.last_ts_ms > since_ms]

        def keep(seg: Manifest, rec: CommandRecord) -> bool:
            return rec.ts_ms > since_ms

    segments.sort(key=lambda m: m.offset_start)
    return segments, keep


def backup_log_bundle(
    storage_url: str,
    kind: str,
    *,
    keyring: Optional[Keyring] = None,
    encrypt: bool = False,
    storage_options: Optional[dict[str, object]] = None,
) -> Manifest:
    """Write an ``incremental`` or ``differential`` bundle of log segments; return its manifest."""
    if kind not in ("incremental", "differential"):
        raise BackupError(f"bundle kind must be incremental or differential, got {kind!r}")
    started = time.time()
    outcome = BackupOutcome("backup", kind, started_at=started)
    try:
        storage = Storage(storage_url, storage_options)
        outcome.storage = storage.shown
        manifests = list_manifests(storage)
        segments, keep = _since(manifests, kind)
        if not segments:
            since = "backup" if kind == "incremental" else "full backup"
            raise BackupError(
                f"no log segments since the last {since} (is `cachelayer backup stream` running?)"
            )
        name = archive_name("log", started, os.urandom(16))
        manifest = Manifest(
            "log",
            kind,
            "",
            name=name,
            started_at=started,
            source={"segments": [m.name for m in segments]},
            replid=segments[-1].replid,
            offset_start=segments[0].offset_start,
            offset_end=segments[-1].offset_end,
            gap_before=any(a.offset_end != b.offset_start for a, b in zip(segments, segments[1:])),
        )
        with storage.writer(name) as stream:
            writer = ArchiveWriter(stream, KIND_LOG, keyring=keyring, encrypt=encrypt)
            for seg in segments:
                with local_copy(storage, seg.name) as path:
                    for rec in _commands(path, f"{storage.shown}/{seg.name}", keyring):
                        if not keep(seg, rec):
                            continue
                        if not manifest.first_ts_ms:
                            manifest.first_ts_ms = rec.ts_ms
                        manifest.last_ts_ms = rec.ts_ms
                        manifest.commands += 1
                        writer.add(encode_command(rec.ts_ms, rec.offset, rec.db, rec.args))
            manifest.archive_id = writer.header.archive_id.hex()
            manifest.raw_bytes = writer.raw_bytes
            manifest.key_id = writer.header.key_id
            manifest.finished_at = time.time()
            writer.close(manifest.to_json())
            manifest.stored_bytes = writer.stored_bytes
        storage.write_bytes(name + ".json", manifest.to_json())
        outcome.keys, outcome.bytes, outcome.archive = (
            manifest.commands,
            manifest.stored_bytes,
            name,
        )
        return manifest
    except Exception as exc:
        outcome.error = f"{type(exc).__name__}: {exc}"
        raise
    finally:
        outcome.duration_seconds = time.time() - started
        record(outcome)
