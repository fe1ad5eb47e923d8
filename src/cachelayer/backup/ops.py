"""RDB snapshots, archive verification and retention pruning."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Optional

import hiredis

from ..errors import BackupError, ConnectionLost
from .batch import key_columns, keyset_digest
from .catalog import Manifest, list_manifests, partial_archives
from .connection import Address, RawConnection, encode
from .crypto import Keyring
from .endpoints import Endpoints, parse_endpoints
from .full import KeysetDigest
from .outcome import BackupOutcome, record
from .records import KeyRecord
from .replication import ReplicationLink
from .restore import key_chunks, key_records, local_copy
from .storage import Storage
from .tap import write_rdb_archive

__all__ = ["VerifyReport", "backup_rdb", "prune", "verify"]


def backup_rdb(
    redis_url: str,
    storage_url: str,
    *,
    keyring: Optional[Keyring] = None,
    encrypt: bool = False,
    storage_options: Optional[dict[str, object]] = None,
) -> Manifest:
    """A point-in-time RDB snapshot over the replication protocol (like ``redis-cli --rdb``).

    Needs a server that allows ``PSYNC`` (not every managed Redis does).
    """
    started = time.time()
    outcome = BackupOutcome("backup", "rdb", started_at=started)
    try:
        storage = Storage(storage_url, storage_options)
        outcome.storage = storage.shown
        endpoints = parse_endpoints(redis_url)
        if endpoints.kind == "cluster":
            raise BackupError("an RDB snapshot is per server: use backup run --full for a cluster")
        link = ReplicationLink(endpoints, endpoints.primaries()[0])
        try:
            manifest, _ = write_rdb_archive(
                storage,
                link,
                None,
                -1,
                keyring=keyring,
                encrypt=encrypt,
                backup_type="full",
                source={"url": endpoints.shown, "db": endpoints.db},
                rdb_only=True,
            )
        finally:
            link.close()
        outcome.bytes, outcome.archive = manifest.stored_bytes, manifest.name
        return manifest
    except ConnectionLost as exc:
        outcome.error = f"Redis connection lost: {exc}"
        raise BackupError(f"RDB backup failed, no archive written: {exc}") from exc
    except Exception as exc:
        outcome.error = f"{type(exc).__name__}: {exc}"
        raise
    finally:
        outcome.duration_seconds = time.time() - started
        record(outcome)


@dataclass
class VerifyReport:
    """Archives checked, and what differed in a restore comparison."""

    archives: int = 0
    keys: int = 0
    mismatched: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether nothing differed."""
        return not self.mismatched and not self.missing


def _check_keys_archive(storage: Storage, m: Manifest, keyring: Optional[Keyring]) -> int:
    digest = KeysetDigest()
    count = 0
    shown = f"{storage.shown}/{m.name}"
    with local_copy(storage, m.name) as path:
        for cols in key_columns(key_chunks(path, shown, keyring), shown):
            digest.fold(keyset_digest(cols.keys, cols.payloads))
            count += len(cols)
    if count != m.keys or digest.hex() != m.keyset_digest:
        raise BackupError(
            f"{shown}: holds {count} keys (digest {digest.hex()}), its manifest says {m.keys} "
            f"({m.keyset_digest})"
        )
    return count


def verify(
    storage_url: str,
    *,
    keyring: Optional[Keyring] = None,
    name: Optional[str] = None,
    against: Optional[str] = None,
    storage_options: Optional[dict[str, object]] = None,
) -> VerifyReport:
    """Check every chunk of every archive (or *name*), and key archives against their manifest.

    With *against* (a Redis URL holding a restore of the archive), compare
    each key's DUMP and absolute expiry with the archive.
    """
    started = time.time()
    outcome = BackupOutcome("verify", "archive", started_at=started)
    report = VerifyReport()
    try:
        storage = Storage(storage_url, storage_options)
        outcome.storage = storage.shown
        from .archive import ArchiveReader

        for m in list_manifests(storage):
            if name is not None and m.name != name:
                continue
            report.archives += 1
            if m.kind == "keys":
                report.keys += _check_keys_archive(storage, m, keyring)
                if against is not None:
                    _compare(storage, m, keyring, against, report)
            else:
                with local_copy(storage, m.name) as path, open(path, "rb") as fh:
                    ArchiveReader(fh, f"{storage.shown}/{m.name}", keyring).check()
        if name is not None and not report.archives:
            raise BackupError(f"storage {storage.shown!r} has no complete archive {name!r}")
        outcome.keys = report.keys
        if not report.ok:
            outcome.error = (
                f"{len(report.mismatched)} mismatched, {len(report.missing)} missing keys"
            )
        return report
    except Exception as exc:
        outcome.error = f"{type(exc).__name__}: {exc}"
        raise
    finally:
        outcome.duration_seconds = time.time() - started
        record(outcome)


def _compare(
    storage: Storage, m: Manifest, keyring: Optional[Keyring], url: str, report: VerifyReport
) -> None:
    """Compare every archived key with *url*: DUMP bytes, else encoding-free value digests.

    Two DUMPs of one value may differ (a hash table's order after a reload),
    so differing payloads are both loaded into a scratch server and compared
    with ``DEBUG DIGEST-VALUE``, which does not depend on the encoding.
    """
    from .scratch import scratch_server

    endpoints = parse_endpoints(url)
    with scratch_server(debug=True) as scratch_url:
        scratch = parse_endpoints(scratch_url)
        with scratch.connect(scratch.seeds[0]) as judge, local_copy(storage, m.name) as path:
            batch: list[KeyRecord] = []
            for rec in key_records(path, m.name, keyring):
                if 0 <= rec.expire_at_ms <= int(time.time() * 1000) + 1000:
                    continue  # expired by now (or about to): not restored
                batch.append(rec)
                if len(batch) >= 500:
                    _compare_batch(endpoints, judge, batch, report)
                    batch = []
            if batch:
                _compare_batch(endpoints, judge, batch, report)


def _compare_batch(
    endpoints: Endpoints, judge: RawConnection, batch: list[KeyRecord], report: VerifyReport
) -> None:
    groups: dict[Address, list[KeyRecord]] = {}
    for rec in batch:
        groups.setdefault(endpoints.owner(rec.key), []).append(rec)
    for address, recs in groups.items():
        with endpoints.connect(address) as conn:
            cmds = []
            for rec in recs:
                cmds += [encode(b"DUMP", rec.key), encode(b"PEXPIRETIME", rec.key)]
            replies = conn.pipeline(cmds)
        for i, rec in enumerate(recs):
            payload, expiry = replies[2 * i], replies[2 * i + 1]
            shown = repr(rec.key[:80])
            if payload is None:
                report.missing.append(shown)
            elif (
                isinstance(payload, hiredis.ReplyError)
                or expiry != rec.expire_at_ms
                or (payload != rec.payload and not _same_value(judge, rec.payload, payload))
            ):
                report.mismatched.append(shown)


def _same_value(judge: RawConnection, a: bytes, b: bytes) -> bool:
    replies = judge.pipeline(
        [
            encode(b"RESTORE", b"verify:a", 0, a, b"REPLACE"),
            encode(b"RESTORE", b"verify:b", 0, b, b"REPLACE"),
            encode(b"DEBUG", b"DIGEST-VALUE", b"verify:a", b"verify:b"),
            encode(b"DEL", b"verify:a", b"verify:b"),
        ]
    )
    digests = replies[2]
    if isinstance(digests, hiredis.ReplyError):
        raise BackupError(f"comparing values in the scratch server failed: {digests}")
    return bool(digests[0] == digests[1])


def _stamp_time(name: str) -> float:
    import calendar

    stem = name.rsplit("/", 1)[-1].split("-", 1)[0]
    try:
        return calendar.timegm(time.strptime(stem.split(".")[0], "%Y%m%dT%H%M%S"))
    except ValueError:
        return 0.0


def prune(
    storage_url: str,
    retention_days: float,
    *,
    now: Optional[float] = None,
    storage_options: Optional[dict[str, object]] = None,
) -> list[str]:
    """Delete archives older than *retention_days* (and partial uploads); return their names.

    The newest full backup (key or RDB) is always kept, as are the base and
    log segments a point-in-time restore inside the retention window needs.
    """
    started = time.time()
    outcome = BackupOutcome("prune", "retention", started_at=started)
    try:
        storage = Storage(storage_url, storage_options)
        outcome.storage = storage.shown
        cutoff = (now if now is not None else time.time()) - retention_days * 86400
        manifests = list_manifests(storage)
        fulls = [m for m in manifests if m.kind in ("keys", "rdb")]
        keep: set[str] = {fulls[-1].name} if fulls else set()
        # the newest base at or before the cutoff stays: restores inside the window start there
        older_bases = [m for m in fulls if m.kind == "rdb" and m.started_at <= cutoff]
        floor = older_bases[-1].offset_end if older_bases else None
        if older_bases:
            keep.add(older_bases[-1].name)
        removed: list[str] = []
        for m in manifests:
            if m.name in keep or m.time >= cutoff:
                continue
            if m.kind == "log" and floor is not None and m.offset_start >= floor:
                continue
            storage.delete(m.name + ".json")
            storage.delete(m.name)
            removed.append(m.name)
        for name in partial_archives(storage):
            if _stamp_time(name) < started - 3600:  # not an upload still in flight
                storage.delete(name)
                removed.append(name)
        outcome.keys = len(removed)
        return removed
    except Exception as exc:
        outcome.error = f"{type(exc).__name__}: {exc}"
        raise
    finally:
        outcome.duration_seconds = time.time() - started
        record(outcome)
